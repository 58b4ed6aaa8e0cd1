package main

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/engramhq/engram"
)

// episodeFilterFlags are the episode filters `episode list` and `recall`
// share: --since, --until, --domain, --task-type, --tag, --meta, --complete,
// --open, --near and --box. register binds them; fill parses them into f.
type episodeFilterFlags struct {
	since, until, taskType, near, box string
	meta                              []string
	complete, open                    bool
}

func (ff *episodeFilterFlags) register(fl *pflag.FlagSet, f *engram.EpisodeFilter, what string) {
	fl.StringVar(&ff.since, "since", "", "only episodes started at or after this time (RFC 3339, a date, or an age: 36h, 7d)")
	fl.StringVar(&ff.until, "until", "", "only episodes started before this time")
	fl.StringVar(&f.Domain, "domain", "", "only "+what+" of this domain")
	fl.StringVar(&ff.taskType, "task-type", "", "only episodes of this task type ("+joinTypes(engram.TaskTypes)+")")
	fl.StringSliceVar(&f.Tags, "tag", nil, "only "+what+" with this tag (repeat for several; all must match)")
	fl.StringArrayVar(&ff.meta, "meta", nil, "only episodes with metadata key=value (repeatable)")
	fl.BoolVar(&ff.complete, "complete", false, "only complete episodes")
	fl.BoolVar(&ff.open, "open", false, "only open episodes")
	fl.StringVar(&ff.near, "near", "", "only episodes within km of a point: lat,lon,km")
	fl.StringVar(&ff.box, "box", "", "only episodes inside a box: min_lat,min_lon,max_lat,max_lon")
}

// fill sets f's parsed filters; a malformed flag is a usage error naming it.
func (ff *episodeFilterFlags) fill(f *engram.EpisodeFilter) error {
	var err error
	if f.Since, err = parseWhen("--since", ff.since); err != nil {
		return err
	}
	if f.Until, err = parseWhen("--until", ff.until); err != nil {
		return err
	}
	f.TaskType = engram.TaskType(ff.taskType)
	if len(ff.meta) > 0 {
		f.Metadata = map[string]string{}
		for _, kv := range ff.meta {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usagef("--meta %q: want key=value", kv)
			}
			f.Metadata[k] = v
		}
	}
	switch {
	case ff.complete && ff.open:
		return usagef("--complete and --open exclude each other")
	case ff.complete:
		yes := true
		f.Complete = &yes
	case ff.open:
		no := false
		f.Complete = &no
	}
	if ff.near != "" {
		v, err := parseFloats("--near", ff.near, 3, "lat,lon,km")
		if err != nil {
			return err
		}
		f.Near = &engram.GeoRadius{Lat: v[0], Lon: v[1], KM: v[2]}
	}
	if ff.box != "" {
		v, err := parseFloats("--box", ff.box, 4, "min_lat,min_lon,max_lat,max_lon")
		if err != nil {
			return err
		}
		f.Box = &engram.GeoBox{MinLat: v[0], MinLon: v[1], MaxLat: v[2], MaxLon: v[3]}
	}
	return nil
}
