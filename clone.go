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

// episodeBlock is an episode, every fixed-size struct it may point to, and
// room for the elements of its slices when they are few (the common case):
// slices that fit are carved from the block, larger ones get arrays of
// their own.
type episodeBlock struct {
	ep         Episode
	end        time.Time
	outcome    Outcome
	reward     Reward
	reflection Reflection
	location   Location
	strs       [12]string
	patterns   [2]PatternID
	heuristics [2]HeuristicID
	bytes      [256]byte // the steps' parameters; holds no pointers
}

// newSteps returns n steps and room for n results, in one allocation when
// n is small.
func newSteps(n int) ([]Step, []StepResult) {
	switch n {
	case 1:
		b := new(struct {
			s [1]Step
			r [1]StepResult
		})
		return b.s[:], b.r[:]
	case 2:
		b := new(struct {
			s [2]Step
			r [2]StepResult
		})
		return b.s[:], b.r[:]
	case 3:
		b := new(struct {
			s [3]Step
			r [3]StepResult
		})
		return b.s[:], b.r[:]
	case 4:
		b := new(struct {
			s [4]Step
			r [4]StepResult
		})
		return b.s[:], b.r[:]
	case 5:
		b := new(struct {
			s [5]Step
			r [5]StepResult
		})
		return b.s[:], b.r[:]
	case 6:
		b := new(struct {
			s [6]Step
			r [6]StepResult
		})
		return b.s[:], b.r[:]
	case 7:
		b := new(struct {
			s [7]Step
			r [7]StepResult
		})
		return b.s[:], b.r[:]
	case 8:
		b := new(struct {
			s [8]Step
			r [8]StepResult
		})
		return b.s[:], b.r[:]
	}
	return make([]Step, n), make([]StepResult, n)
}

// carveIDs copies in into room when it fits (capacity = length), else into
// an array of its own; nil stays nil.
func carveIDs[T any](room []T, in []T) []T {
	if in == nil || len(in) > len(room) {
		return clonePlain(in)
	}
	n := copy(room, in)
	return room[:n:n]
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
	nBytes := 0
	for i := range in.Steps {
		nBytes += len(in.Steps[i].Parameters)
	}

	blk := &episodeBlock{ep: *in}
	out := &blk.ep
	strs := strSlab(blk.strs[:])
	if nStr > len(blk.strs) {
		strs = make(strSlab, nStr)
	}
	out.Context.Tags = strs.carve(in.Context.Tags)
	out.Tags = strs.carve(in.Tags)
	if in.EndTime != nil {
		blk.end = *in.EndTime
		out.EndTime = &blk.end
	}
	if in.Steps != nil {
		steps, results := newSteps(len(in.Steps))
		copy(steps, in.Steps)
		params := byteSlab(blk.bytes[:])
		if nBytes > len(blk.bytes) {
			params = make(byteSlab, nBytes)
		}
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
	out.Patterns = carveIDs(blk.patterns[:], in.Patterns)
	out.Heuristics = carveIDs(blk.heuristics[:], in.Heuristics)
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
	out.Metadata = maps.Clone(in.Metadata)
	return &out
}
