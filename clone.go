package engram

import (
	"maps"
	"slices"
	"time"
)

// Deep copies, so a tier that holds decoded records never shares memory with
// a caller's record.
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

// Clone returns a deep copy of the episode: it shares no slice, map or
// pointer with e (strings, being immutable, are shared).
func (in *Episode) Clone() *Episode {
	out := *in
	out.Context.Tags = slices.Clone(in.Context.Tags)
	out.EndTime = cloneTime(in.EndTime)
	if in.Steps != nil {
		out.Steps = make([]Step, len(in.Steps))
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

// Clone returns a deep copy of the pattern.
func (in *Pattern) Clone() *Pattern {
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

// Clone returns a deep copy of the heuristic.
func (in *Heuristic) Clone() *Heuristic {
	out := *in
	out.Evidence.EpisodeIDs = slices.Clone(in.Evidence.EpisodeIDs)
	return &out
}

// Clone returns a deep copy of the embedding.
func (in *Embedding) Clone() *Embedding {
	out := *in
	out.Vector = slices.Clone(in.Vector)
	return &out
}
