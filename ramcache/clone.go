package ramcache

import (
	"maps"
	"slices"
	"time"
	"unsafe"

	"github.com/engramhq/engram"
)

// Deep copies, so the tier never shares memory with a caller's record.
// Strings are immutable and shared; every slice, map and pointer is copied.
// TestCloneSharesNothing walks every field by reflection, so a field added
// to a record type and forgotten here fails it.

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

func cloneEpisode(in *engram.Episode) *engram.Episode {
	out := *in
	out.Context.Tags = slices.Clone(in.Context.Tags)
	out.EndTime = cloneTime(in.EndTime)
	if in.Steps != nil {
		out.Steps = make([]engram.Step, len(in.Steps))
		for i := range in.Steps {
			s := in.Steps[i]
			s.Parameters = slices.Clone(s.Parameters)
			if s.Result != nil {
				r := *s.Result
				s.Result = &r
			}
			s.Metadata = maps.Clone(s.Metadata)
			out.Steps[i] = s
		}
	}
	if in.Outcome != nil {
		o := *in.Outcome
		o.Artifacts = slices.Clone(o.Artifacts)
		o.Completed = slices.Clone(o.Completed)
		o.Failed = slices.Clone(o.Failed)
		out.Outcome = &o
	}
	if in.Reward != nil {
		r := *in.Reward
		out.Reward = &r
	}
	if in.Reflection != nil {
		r := *in.Reflection
		r.Successes = slices.Clone(r.Successes)
		r.Improvements = slices.Clone(r.Improvements)
		r.Insights = slices.Clone(r.Insights)
		out.Reflection = &r
	}
	out.Patterns = slices.Clone(in.Patterns)
	out.Heuristics = slices.Clone(in.Heuristics)
	out.Tags = slices.Clone(in.Tags)
	out.Metadata = maps.Clone(in.Metadata)
	if in.Location != nil {
		l := *in.Location
		out.Location = &l
	}
	return &out
}

func clonePattern(in *engram.Pattern) *engram.Pattern {
	out := *in
	out.Tools = slices.Clone(in.Tools)
	if in.OutcomeStats != nil {
		s := *in.OutcomeStats
		out.OutcomeStats = &s
	}
	out.RecoverySteps = slices.Clone(in.RecoverySteps)
	out.ContextFeatures = slices.Clone(in.ContextFeatures)
	out.Evidence = slices.Clone(in.Evidence)
	out.Tags = slices.Clone(in.Tags)
	out.Effectiveness.LastUsed = cloneTime(in.Effectiveness.LastUsed)
	return &out
}

func cloneHeuristic(in *engram.Heuristic) *engram.Heuristic {
	out := *in
	out.Evidence.EpisodeIDs = slices.Clone(in.Evidence.EpisodeIDs)
	return &out
}

func cloneEmbedding(in *engram.Embedding) *engram.Embedding {
	out := *in
	out.Vector = slices.Clone(in.Vector)
	return &out
}

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

func sizeEpisode(e *engram.Episode) int {
	n := int(unsafe.Sizeof(*e)) + len(e.TaskType) + len(e.TaskDescription) + len(e.Context.Language) +
		len(e.Context.Framework) + len(e.Context.Complexity) + len(e.Context.Domain) + sizeStrs(e.Context.Tags) +
		sizeStrs(e.Tags) + sizeMap(e.Metadata) + 16*(len(e.Patterns)+len(e.Heuristics))
	for i := range e.Steps {
		s := &e.Steps[i]
		n += int(unsafe.Sizeof(*s)) + len(s.Tool) + len(s.Action) + len(s.Parameters) + sizeMap(s.Metadata)
		if s.Result != nil {
			n += int(unsafe.Sizeof(*s.Result)) + len(s.Result.Type) + len(s.Result.Output) + len(s.Result.Message)
		}
	}
	if o := e.Outcome; o != nil {
		n += int(unsafe.Sizeof(*o)) + len(o.Type) + len(o.Verdict) + sizeStrs(o.Artifacts) + sizeStrs(o.Completed) +
			sizeStrs(o.Failed) + len(o.Reason) + len(o.ErrorDetails)
	}
	if e.Reward != nil {
		n += int(unsafe.Sizeof(*e.Reward))
	}
	if r := e.Reflection; r != nil {
		n += int(unsafe.Sizeof(*r)) + sizeStrs(r.Successes) + sizeStrs(r.Improvements) + sizeStrs(r.Insights)
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
