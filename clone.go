package engram

import (
	"maps"
	"time"
	"unsafe"
)

// Deep copies, so a tier that holds decoded records never shares memory with
// a caller's record.
// Strings are immutable and shared; every slice, map and pointer is copied.
// TestCloneSharesNothing walks every field by reflection, so a field added
// to a record type and forgotten here fails it.
//
// A clone is carved from a few blocks instead of one allocation per field:
// the record, every fixed-size struct it points to and (for an episode of
// up to 8 steps) its steps and their results share one block, and the
// elements of all its slices of one element type share one backing array. Each carved slice has its capacity equal to its length, so an
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

// stepsBlock is an episodeBlock with room for n steps and their results
// (S is [n]Step, R is [n]StepResult), so an episode of up to 8
// steps is copied into one allocation besides its maps.
type stepsBlock[S, R any] struct {
	episodeBlock
	steps   S
	results R
}

// newEpisodeBlock returns a zero block and room for n steps and n results:
// in the block when n <= 8, else arrays of their own.
func newEpisodeBlock(n int) (*episodeBlock, []Step, []StepResult) {
	switch n {
	case 0:
		return new(episodeBlock), nil, nil
	case 1:
		return carveSteps[[1]Step, [1]StepResult](n)
	case 2:
		return carveSteps[[2]Step, [2]StepResult](n)
	case 3:
		return carveSteps[[3]Step, [3]StepResult](n)
	case 4:
		return carveSteps[[4]Step, [4]StepResult](n)
	case 5:
		return carveSteps[[5]Step, [5]StepResult](n)
	case 6:
		return carveSteps[[6]Step, [6]StepResult](n)
	case 7:
		return carveSteps[[7]Step, [7]StepResult](n)
	case 8:
		return carveSteps[[8]Step, [8]StepResult](n)
	}
	return new(episodeBlock), make([]Step, n), make([]StepResult, n)
}

// carveSteps allocates a stepsBlock whose arrays S and R hold n steps and n
// results, and returns them as slices. The slices point into the block, at
// arrays of exactly n elements of their type, so the collector sees every
// pointer they hold.
func carveSteps[S, R any](n int) (*episodeBlock, []Step, []StepResult) {
	b := new(stepsBlock[S, R])
	return &b.episodeBlock, unsafe.Slice((*Step)(unsafe.Pointer(&b.steps)), n),
		unsafe.Slice((*StepResult)(unsafe.Pointer(&b.results)), n)
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

	blk, steps, results := newEpisodeBlock(len(in.Steps))
	blk.ep = *in
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
		if len(in.Steps) == 0 {
			steps = []Step{}
		}
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
