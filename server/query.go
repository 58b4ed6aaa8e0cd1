package server

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/engramhq/engram"
)

// This file parses query parameters. Every parser returns EINVALID errors
// whose Field is the parameter's name, and none panics on any input (the
// fuzz tests hold it to that).

// param declares one query parameter of a route: the parsers below read
// only declared parameters, the OpenAPI document lists them, and a request
// carrying an undeclared one is rejected.
type param struct {
	Name   string
	Type   string // OpenAPI type: string, integer, number, boolean
	Format string // OpenAPI format, e.g. date-time
	Repeat bool   // may be given more than once
	Desc   string
}

// formatTimeOrDate marks a parameter parseTime reads: an RFC 3339 time or a
// date (the OpenAPI document says so with anyOf).
const formatTimeOrDate = "date-time|date"

// checkQuery rejects parameters the route does not declare and repeats of
// those it declares once.
func checkQuery(q url.Values, params []param) error {
	for name, vals := range q {
		if name == "" {
			return engram.Invalid("query", "has a parameter without a name")
		}
		if name == "namespace" {
			if len(vals) > 1 {
				return engram.Invalid(name, "is given %d times; give it once", len(vals))
			}
			continue
		}
		var p *param
		for i := range params {
			if params[i].Name == name {
				p = &params[i]
			}
		}
		if p == nil {
			return engram.Invalid(name, "is not a query parameter of this endpoint")
		}
		if !p.Repeat && len(vals) > 1 {
			return engram.Invalid(name, "is given %d times; give it once", len(vals))
		}
	}
	return nil
}

// namespaceOf returns the namespace a request names: the namespace query
// parameter, else the X-Engram-Namespace header, else the default. A
// parameter or header that is present but empty is an error, not the
// default, so that a client bug cannot silently write to "default".
func namespaceOf(q url.Values, h map[string][]string) (engram.Namespace, error) {
	vals, inQuery := q["namespace"]
	if !inQuery {
		vals = h[headerNamespace]
	}
	if len(vals) == 0 {
		return engram.DefaultNamespace, nil
	}
	if len(vals) > 1 {
		return "", engram.Invalid("namespace", "is given %d times; give it once", len(vals))
	}
	ns := engram.Namespace(vals[0])
	return ns, ns.Validate()
}

// parseLimit reads a page size: absent is 0 (the store's default), and a
// given value must be 1-MaxQueryLimit (an explicit 0 is a mistake, not a
// request for the default).
func parseLimit(q url.Values) (int, error) {
	if _, ok := q["limit"]; !ok {
		return 0, nil
	}
	s := q.Get("limit")
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, engram.Invalid("limit", "%q is not an integer; want 1-%d", clip(s), engram.MaxQueryLimit)
	}
	if v < 1 || v > engram.MaxQueryLimit {
		return 0, engram.Invalid("limit", "is %d; must be 1-%d (omit it for the default of %d)", v, engram.MaxQueryLimit, engram.DefaultQueryLimit)
	}
	return v, nil
}

// checkRepeats bounds a repeatable filter parameter.
func checkRepeats(q url.Values, name string, limit int) error {
	if n := len(q[name]); n > limit {
		return engram.Invalid(name, "is given %d times; the limit is %d in one query", n, limit)
	}
	return nil
}

func parseUint(q url.Values, name string) (uint64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, engram.Invalid(name, "%q is not a non-negative integer", clip(s))
	}
	return v, nil
}

func parseFloat(q url.Values, name string) (float64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, engram.Invalid(name, "%q is not a finite number", clip(s))
	}
	return v, nil
}

// parseBool reads true/false (or 1/0); absent is nil.
func parseBool(q url.Values, name string) (*bool, error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return nil, engram.Invalid(name, "%q is not true or false", clip(s))
	}
	return &v, nil
}

// parseTime reads RFC 3339 (with optional fractional seconds) or a date.
func parseTime(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, engram.Invalid(name, "%q is not an RFC 3339 time (2026-01-02T15:04:05Z) or a date (2026-01-02)", clip(s))
}

// parseFloats reads n comma-separated finite numbers.
func parseFloats(q url.Values, name string, n int, form string) ([]float64, error) {
	s := q.Get(name)
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, engram.Invalid(name, "%q: want %s", clip(s), form)
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, engram.Invalid(name, "%q: want %s (finite numbers)", clip(s), form)
		}
		out[i] = v
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

var episodeListParams = []param{
	{Name: "since", Type: "string", Format: formatTimeOrDate, Desc: "only episodes with start_time at or after this time (RFC 3339 or a date)"},
	{Name: "until", Type: "string", Format: formatTimeOrDate, Desc: "only episodes with start_time before this time (RFC 3339 or a date)"},
	{Name: "domain", Type: "string", Desc: "only episodes whose context.domain is this"},
	{Name: "task_type", Type: "string", Desc: "only episodes of this task type"},
	{Name: "tag", Type: "string", Repeat: true, Desc: "only episodes with this tag (in tags or context.tags); repeat for several (at most 32), all must match"},
	{Name: "meta", Type: "string", Repeat: true, Desc: "only episodes with metadata KEY=VALUE; repeat for several (at most 32), all must match"},
	{Name: "complete", Type: "boolean", Desc: "true: only complete episodes; false: only open ones"},
	{Name: "near", Type: "string", Desc: "only episodes within a radius: LAT,LON,KM"},
	{Name: "box", Type: "string", Desc: "only episodes inside a box: MIN_LAT,MIN_LON,MAX_LAT,MAX_LON (MIN_LON > MAX_LON spans the antimeridian)"},
	limitParam, cursorParam,
}

var (
	limitParam  = param{Name: "limit", Type: "integer", Desc: "records per page: 1-1000, default 100"}
	cursorParam = param{Name: "cursor", Type: "string", Desc: "next_cursor of the previous page"}
)

// parseEpisodeFilter reads the episode list parameters.
func parseEpisodeFilter(q url.Values) (engram.EpisodeFilter, error) {
	var f engram.EpisodeFilter
	var err error
	if f.Since, err = parseTime(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = parseTime(q, "until"); err != nil {
		return f, err
	}
	f.Domain = q.Get("domain")
	f.TaskType = engram.TaskType(q.Get("task_type"))
	if err := checkRepeats(q, "tag", engram.MaxFilterTags); err != nil {
		return f, err
	}
	if err := checkRepeats(q, "meta", engram.MaxFilterMetadata); err != nil {
		return f, err
	}
	f.Tags = q["tag"]
	for _, kv := range q["meta"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return f, engram.Invalid("meta", "%q: want KEY=VALUE", clip(kv))
		}
		if f.Metadata == nil {
			f.Metadata = map[string]string{}
		}
		f.Metadata[k] = v
	}
	if f.Complete, err = parseBool(q, "complete"); err != nil {
		return f, err
	}
	if v, err := parseFloats(q, "near", 3, "LAT,LON,KM"); err != nil {
		return f, err
	} else if v != nil {
		f.Near = &engram.GeoRadius{Lat: v[0], Lon: v[1], KM: v[2]}
	}
	if v, err := parseFloats(q, "box", 4, "MIN_LAT,MIN_LON,MAX_LAT,MAX_LON"); err != nil {
		return f, err
	} else if v != nil {
		f.Box = &engram.GeoBox{MinLat: v[0], MinLon: v[1], MaxLat: v[2], MaxLon: v[3]}
	}
	if f.Limit, err = parseLimit(q); err != nil {
		return f, err
	}
	f.Cursor = q.Get("cursor")
	return f, checkEpisodeFilter(f, indexed("tag"))
}

var patternListParams = []param{
	{Name: "domain", Type: "string", Desc: "only patterns of this domain"},
	{Name: "kind", Type: "string", Desc: "only patterns of this kind"},
	{Name: "tag", Type: "string", Desc: "only patterns with this tag"},
	limitParam, cursorParam,
}

func parsePatternFilter(q url.Values) (engram.PatternFilter, error) {
	f := engram.PatternFilter{Domain: q.Get("domain"), Kind: engram.PatternKind(q.Get("kind")), Tag: q.Get("tag"), Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = parseLimit(q); err != nil {
		return f, err
	}
	return f, checkPatternFilter(f, "tag")
}

var heuristicListParams = []param{
	{Name: "domain", Type: "string", Desc: "only heuristics of this domain"},
	{Name: "min_confidence", Type: "number", Desc: "only heuristics at least this confident (0-1)"},
	limitParam, cursorParam,
}

func parseHeuristicFilter(q url.Values) (engram.HeuristicFilter, error) {
	f := engram.HeuristicFilter{Domain: q.Get("domain"), Cursor: q.Get("cursor")}
	var err error
	if f.MinConfidence, err = parseFloat(q, "min_confidence"); err != nil {
		return f, err
	}
	f.Limit, err = parseLimit(q)
	return f, err
}

var embeddingListParams = []param{
	{Name: "item_type", Type: "string", Desc: "only embeddings of items of this type"},
	{Name: "item_id", Type: "string", Format: "uuid", Desc: "with item_type: only embeddings of this item"},
	{Name: "model", Type: "string", Desc: "only embeddings made by this model"},
	limitParam, cursorParam,
}

func parseEmbeddingFilter(q url.Values) (engram.EmbeddingFilter, error) {
	f := engram.EmbeddingFilter{ItemType: engram.ItemType(q.Get("item_type")), Model: q.Get("model"), Cursor: q.Get("cursor")}
	if s := q.Get("item_id"); s != "" {
		u, err := engram.ParseUUID(s)
		if err != nil {
			return f, engram.Invalid("item_id", "%s", err.Error())
		}
		f.ItemID = u
	}
	var err error
	f.Limit, err = parseLimit(q)
	return f, err
}

var searchParams = []param{
	{Name: "q", Type: "string", Desc: "the words to search for (required); punctuation is ignored"},
	{Name: "kind", Type: "string", Repeat: true, Desc: "only hits of this kind: episode, step or pattern; repeat for several"},
	{Name: "any", Type: "boolean", Desc: "true: a hit needs any word, not every word"},
	limitParam,
}

func parseSearch(q url.Values) (engram.SearchQuery, error) {
	sq := engram.SearchQuery{Text: q.Get("q")}
	if err := checkRepeats(q, "kind", 3); err != nil {
		return sq, err
	}
	for _, k := range q["kind"] {
		sq.Kinds = append(sq.Kinds, engram.SearchKind(k))
	}
	anyWord, err := parseBool(q, "any")
	if err != nil {
		return sq, err
	}
	sq.Any = anyWord != nil && *anyWord
	if sq.Limit, err = parseLimit(q); err != nil {
		return sq, err
	}
	return sq, checkSearchKinds(sq.Kinds, indexed("kind"))
}

var relationshipListParams = []param{
	{Name: "direction", Type: "string", Desc: "out (the episode is from), in (it is to) or both (the default)"},
	{Name: "type", Type: "string", Desc: "only relationships of this type"},
}

func parseRelationshipFilter(id engram.EpisodeID, q url.Values) (engram.RelationshipFilter, error) {
	f := engram.RelationshipFilter{Episode: id, Direction: engram.Direction(q.Get("direction")), Type: engram.RelationshipType(q.Get("type"))}
	if err := checkEnum("type", f.Type, engram.RelationshipTypes); err != nil {
		return f, err
	}
	switch f.Direction {
	case "", engram.Outgoing, engram.Incoming, engram.Both:
	default:
		return f, engram.Invalid("direction", "%q is not one of out, in, both", clip(string(f.Direction)))
	}
	return f, nil
}

var changesParams = []param{
	{Name: "after", Type: "integer", Desc: "return changes with seq greater than this (default 0)"},
	limitParam,
}

func parseChanges(q url.Values) (after uint64, limit int, err error) {
	if after, err = parseUint(q, "after"); err != nil {
		return 0, 0, err
	}
	if limit, err = parseLimit(q); err != nil {
		return 0, 0, err
	}
	limit, err = engram.ClampLimit(limit)
	return after, limit, err
}
