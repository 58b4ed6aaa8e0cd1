package engram_test

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// TestCloneSharesNothing fills every field of each record type, copies it,
// and checks the copy is equal but shares no pointer, slice or map with the
// original.
func TestCloneSharesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ep engram.Episode
	var p engram.Pattern
	var h engram.Heuristic
	var e engram.Embedding
	for _, v := range []any{&ep, &p, &h, &e} {
		storetest.FillRandom(v, rng)
	}
	for _, tc := range []struct {
		name      string
		orig, cpy any
	}{
		{"Episode", &ep, ep.Clone()},
		{"Pattern", &p, p.Clone()},
		{"Heuristic", &h, h.Clone()},
		{"Embedding", &e, e.Clone()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.orig, tc.cpy) {
				t.Fatalf("copy differs:\n got %+v\nwant %+v", tc.cpy, tc.orig)
			}
			if path := shared(reflect.ValueOf(tc.orig), reflect.ValueOf(tc.cpy), tc.name); path != "" {
				t.Fatalf("copy shares memory with the original at %s", path)
			}
		})
	}
}

// shared returns the path of the first pointer, slice or map that a and b
// (equal values) share, or "".
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Len() == 0 {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for i := 0; i < a.Len(); i++ {
			if p := shared(a.Index(i), b.Index(i), path+"["+string(rune('0'+i))+"]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// TestCloneAppendStaysInItsSlice appends to every slice of a clone: slices
// carved from one backing array must not grow into their neighbours, in the
// clone or in the original.
func TestCloneAppendStaysInItsSlice(t *testing.T) {
	ep := storetest.RandomEpisode(rand.New(rand.NewPCG(7, 8)), 3)
	ep.Reflection.Successes = []string{"a", "b"}
	ep.Reflection.Improvements = []string{"c"}
	want := ep.Clone()
	c := ep.Clone()
	c.Context.Tags = append(c.Context.Tags, "x")
	c.Tags = append(c.Tags, "x")
	c.Outcome.Artifacts = append(c.Outcome.Artifacts, "x")
	c.Reflection.Successes = append(c.Reflection.Successes, "x")
	c.Reflection.Improvements = append(c.Reflection.Improvements, "x")
	for i := range c.Steps {
		c.Steps[i].Parameters = append(c.Steps[i].Parameters, '!')
	}
	c.Context.Tags, c.Tags, c.Outcome.Artifacts = c.Context.Tags[:len(want.Context.Tags)], c.Tags[:len(want.Tags)], c.Outcome.Artifacts[:len(want.Outcome.Artifacts)]
	c.Reflection.Successes, c.Reflection.Improvements = c.Reflection.Successes[:2], c.Reflection.Improvements[:1]
	for i := range c.Steps {
		c.Steps[i].Parameters = c.Steps[i].Parameters[:len(want.Steps[i].Parameters)]
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("an append changed a neighbouring slice:\n got %+v\nwant %+v", c, want)
	}
	if !reflect.DeepEqual(ep, want) {
		t.Fatalf("an append to the clone changed the original:\n got %+v\nwant %+v", ep, want)
	}
}

// TestCloneFitsAndOverflows copies episodes whose slices fit in the clone's
// block and episodes whose slices do not (more than 8 steps, 12 strings,
// 2 ids or 256 bytes of parameters): both copies are equal to the original
// and share nothing with it.
func TestCloneFitsAndOverflows(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	big := storetest.RandomEpisode(rng, 12)
	for i := 0; i < 20; i++ {
		big.Tags = append(big.Tags, "tag"+string(rune('a'+i)))
	}
	big.Steps[3].Parameters = []byte(`{"blob":"` + strings.Repeat("x", 400) + `"}`)
	big.Steps[4].Result = nil
	big.Steps[5].Parameters = []byte{}
	big.Steps[6].Metadata = map[string]string{}
	for i := 0; i < 4; i++ {
		big.Patterns = append(big.Patterns, engram.NewPatternID())
		big.Heuristics = append(big.Heuristics, engram.NewHeuristicID())
	}
	small := storetest.RandomEpisode(rng, 2)
	small.Patterns, small.Heuristics = []engram.PatternID{}, nil
	small.Reflection = nil
	for name, ep := range map[string]*engram.Episode{"fits": small, "overflows": big, "eight steps": storetest.RandomEpisode(rng, 8), "no steps": storetest.RandomEpisode(rng, 0)} {
		c := ep.Clone()
		if !reflect.DeepEqual(ep, c) {
			t.Fatalf("%s: copy differs:\n got %+v\nwant %+v", name, c, ep)
		}
		if path := shared(reflect.ValueOf(ep), reflect.ValueOf(c), "Episode"); path != "" {
			t.Fatalf("%s: copy shares memory with the original at %s", name, path)
		}
	}
}
