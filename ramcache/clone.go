package ramcache

import (
	"time"
	"unsafe"

	"github.com/engramhq/engram"
)

// Size estimates: the bytes a record's fields hold, plus the fixed size of
// its structs. They bound the tier's memory well enough to size it; they
// ignore allocator rounding and map overhead beyond a per-entry constant.

const (
	mapEntryOverhead = 48
	sliceHeader      = 24
)

func sizeStrs(list []string) int {
	n := sliceHeader
	for _, s := range list {
		n += int(unsafe.Sizeof(s)) + len(s)
	}
	return n
}

func sizeMap(m map[string]string) int {
	n := 8
	for k, v := range m {
		n += mapEntryOverhead + len(k) + len(v)
	}
	return n
}

// episodeCopyRoom is what the tier's copy of an episode holds whatever the
// episode uses (engram's Episode.Clone carves it from one block): the
// structs an episode points to, and room for 12 strings, 2 pattern ids, 2
// heuristic ids and 256 bytes of step parameters.
const episodeCopyRoom = int(unsafe.Sizeof(time.Time{})+unsafe.Sizeof(engram.Outcome{})+unsafe.Sizeof(engram.Reward{})+
	unsafe.Sizeof(engram.Reflection{})+unsafe.Sizeof(engram.Location{})) + 12*16 + 2*16 + 2*16 + 256

func sizeEpisode(e *engram.Episode) int {
	n := int(unsafe.Sizeof(*e)) + episodeCopyRoom + len(e.TaskType) + len(e.TaskDescription) + len(e.Context.Language) +
		len(e.Context.Framework) + len(e.Context.Complexity) + len(e.Context.Domain) + sizeStrs(e.Context.Tags) +
		sizeStrs(e.Tags) + sizeMap(e.Metadata) + 16*(len(e.Patterns)+len(e.Heuristics))
	for i := range e.Steps {
		s := &e.Steps[i]
		// Every step has room for a result in the copy.
		n += int(unsafe.Sizeof(*s)+unsafe.Sizeof(engram.StepResult{})) + len(s.Tool) + len(s.Action) + len(s.Parameters) + sizeMap(s.Metadata)
		if s.Result != nil {
			n += len(s.Result.Type) + len(s.Result.Output) + len(s.Result.Message)
		}
	}
	if o := e.Outcome; o != nil {
		n += len(o.Type) + len(o.Verdict) + sizeStrs(o.Artifacts) + sizeStrs(o.Completed) +
			sizeStrs(o.Failed) + len(o.Reason) + len(o.ErrorDetails)
	}
	if r := e.Reflection; r != nil {
		n += sizeStrs(r.Successes) + sizeStrs(r.Improvements) + sizeStrs(r.Insights)
	}
	return n
}

func sizePattern(p *engram.Pattern) int {
	n := int(unsafe.Sizeof(*p)) + len(p.Kind) + sizeStrs(p.Tools) + len(p.Condition) + len(p.Action) +
		len(p.ErrorType) + sizeStrs(p.RecoverySteps) + sizeStrs(p.ContextFeatures) + len(p.RecommendedApproach) +
		16*len(p.Evidence) + len(p.Domain) + len(p.Language) + sizeStrs(p.Tags)
	if p.OutcomeStats != nil {
		n += int(unsafe.Sizeof(*p.OutcomeStats))
	}
	return n
}

func sizeHeuristic(h *engram.Heuristic) int {
	return int(unsafe.Sizeof(*h)) + len(h.Condition) + len(h.Action) + 16*len(h.Evidence.EpisodeIDs) + len(h.Domain)
}

func sizeEmbedding(e *engram.Embedding) int {
	return int(unsafe.Sizeof(*e)) + len(e.ItemType) + len(e.Model) + 4*len(e.Vector)
}
