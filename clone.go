package engram

import (
	"maps"
	"time"
)

// Deep copies, so a tier that holds decoded records never shares memory with
// a caller's record.
// Strings are immutable and shared; every slice, map and pointer is copied.
// TestCloneSharesNothing walks every field by reflection, so a field added
// to a record type and forgotten here fails it.
//
// A clone is carved from a few blocks instead of one allocation per field:
// the record and every fixed-size struct it points to share one block, and
// the elements of all its slices of one element type share one backing
// array. Each carved slice has its capacity equal to its length, so an
// append by the owner moves it out of the block instead of writing over its
// neighbour. Maps cannot be carved; each is cloned on its own. Holding any
// part of a clone keeps its whole block alive.

// strSlab hands out parts of one backing array of strings.
type strSlab []string

// carve copies in into the slab's next len(in) elements. It keeps nil as nil
// and empty as empty.
func (s *strSlab) carve(in []string) []string {
	if in == nil {
		return nil
	}
	if len(in) == 0 {
		return []string{}
	}
	n := copy(*s, in)
	out := (*s)[:n:n]
	*s = (*s)[n:]
	return out
}

// byteSlab hands out parts of one backing array of bytes.
type byteSlab []byte

func (s *byteSlab) carve(in []byte) []byte {
	if in == nil {
		return nil
	}
	if len(in) == 0 {
		return []byte{}
	}
	n := copy(*s, in)
	out := (*s)[:n:n]
	*s = (*s)[n:]
	return out
}

// clonePlain copies a slice of pointer-free values (ids, floats): one
// allocation the collector need not scan.
func clonePlain[T any](in []T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	copy(out, in)
	return out
}

// episodeBlock is an episode and every fixed-size struct it may point to.
type episodeBlock struct {
	ep         Episode
	end        time.Time
	outcome    Outcome
	reward     Reward
	reflection Reflection
	location   Location
}

// Clone returns a deep copy of the episode: it shares no slice, map or
// pointer with e (strings, being immutable, are shared).
func (in *Episode) Clone() *Episode {
	nStr := len(in.Context.Tags) + len(in.Tags)
	if o := in.Outcome; o != nil {
		nStr += len(o.Artifacts) + len(o.Completed) + len(o.Failed)
	}
	if r := in.Reflection; r != nil {
		nStr += len(r.Successes) + len(r.Improvements) + len(r.Insights)
	}
	nBytes, nResults := 0, 0
	for i := range in.Steps {
		nBytes += len(in.Steps[i].Parameters)
		if in.Steps[i].Result != nil {
			nResults++
		}
	}

	blk := &episodeBlock{ep: *in}
	out := &blk.ep
	strs := make(strSlab, nStr)
	out.Context.Tags = strs.carve(in.Context.Tags)
	out.Tags = strs.carve(in.Tags)
	if in.EndTime != nil {
		blk.end = *in.EndTime
		out.EndTime = &blk.end
	}
	if in.Steps != nil {
		steps := make([]Step, len(in.Steps))
		copy(steps, in.Steps)
		var results []StepResult
		if nResults > 0 {
			results = make([]StepResult, nResults)
		}
		params := make(byteSlab, nBytes)
		for i := range steps {
			s := &steps[i]
			s.Parameters = params.carve(s.Parameters)
			if s.Result != nil {
				results[0] = *s.Result
				s.Result = &results[0]
				results = results[1:]
			}
			s.Metadata = maps.Clone(s.Metadata)
		}
		out.Steps = steps
	}
	if in.Outcome != nil {
		blk.outcome = *in.Outcome
		o := &blk.outcome
		o.Artifacts = strs.carve(o.Artifacts)
		o.Completed = strs.carve(o.Completed)
		o.Failed = strs.carve(o.Failed)
		out.Outcome = o
	}
	if in.Reward != nil {
		blk.reward = *in.Reward
		out.Reward = &blk.reward
	}
	if in.Reflection != nil {
		blk.reflection = *in.Reflection
		r := &blk.reflection
		r.Successes = strs.carve(r.Successes)
		r.Improvements = strs.carve(r.Improvements)
		r.Insights = strs.carve(r.Insights)
		out.Reflection = r
	}
	out.Patterns = clonePlain(in.Patterns)
	out.Heuristics = clonePlain(in.Heuristics)
	out.Metadata = maps.Clone(in.Metadata)
	if in.Location != nil {
		blk.location = *in.Location
		out.Location = &blk.location
	}
	return out
}

// patternBlock is a pattern and every fixed-size struct it may point to.
type patternBlock struct {
	p        Pattern
	stats    OutcomeStats
	lastUsed time.Time
}

// Clone returns a deep copy of the pattern.
func (in *Pattern) Clone() *Pattern {
	blk := &patternBlock{p: *in}
	out := &blk.p
	strs := make(strSlab, len(in.Tools)+len(in.RecoverySteps)+len(in.ContextFeatures)+len(in.Tags))
	out.Tools = strs.carve(in.Tools)
	out.RecoverySteps = strs.carve(in.RecoverySteps)
	out.ContextFeatures = strs.carve(in.ContextFeatures)
	out.Tags = strs.carve(in.Tags)
	if in.OutcomeStats != nil {
		blk.stats = *in.OutcomeStats
		out.OutcomeStats = &blk.stats
	}
	out.Evidence = clonePlain(in.Evidence)
	if in.Effectiveness.LastUsed != nil {
		blk.lastUsed = *in.Effectiveness.LastUsed
		out.Effectiveness.LastUsed = &blk.lastUsed
	}
	return out
}

// Clone returns a deep copy of the heuristic.
func (in *Heuristic) Clone() *Heuristic {
	out := *in
	out.Evidence.EpisodeIDs = clonePlain(in.Evidence.EpisodeIDs)
	return &out
}

// Clone returns a deep copy of the embedding.
func (in *Embedding) Clone() *Embedding {
	out := *in
	out.Vector = clonePlain(in.Vector)
	return &out
}
