package memory_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/storetest"
)

// TestRAMHitResultIsCallerOwned reads each kind of record from the RAM
// tier, changes every field of the result in place (every string, number,
// byte, slice element, map entry and pointee, found by reflection, so a
// field added later is covered), then reads it again: the second read must
// still equal what the durable store holds. With ShareRecords the caller
// gets the tier's own record, and the test checks it does see the change
// (so the check above can fail).
func TestRAMHitResultIsCallerOwned(t *testing.T) {
	for _, share := range []bool{false, true} {
		name := "Owned"
		if share {
			name = "Shared"
		}
		t.Run(name, func(t *testing.T) {
			m := open(t, memory.Config{ShareRecords: share})
			rng := rand.New(rand.NewPCG(5, 6))
			const ns = "default"

			ep := storetest.RandomEpisode(rng, 3)
			partial := storetest.RandomEpisode(rng, 2)
			partial.Outcome = &engram.Outcome{Type: engram.OutcomePartialSuccess, Verdict: "half",
				Completed: []string{"parse", "plan"}, Failed: []string{"apply"}}
			p := storetest.RandomPattern(rng) // decision point
			p.Evidence = nil
			recovery := &engram.Pattern{ID: engram.NewPatternID(), Kind: engram.PatternErrorRecovery,
				ErrorType: "timeout", RecoverySteps: []string{"retry", "shrink the batch"}, Tags: []string{"net"}}
			seq := &engram.Pattern{ID: engram.NewPatternID(), Kind: engram.PatternToolSequence,
				Tools: []string{"shell", "editor"}, AvgLatencyMS: 12}
			feat := &engram.Pattern{ID: engram.NewPatternID(), Kind: engram.PatternContextPattern,
				ContextFeatures: []string{"ci", "go"}, RecommendedApproach: "bisect", Evidence: []engram.EpisodeID{ep.ID}}
			h := storetest.RandomHeuristic(rng)
			e := storetest.RandomEmbedding(rng, 8)
			// An expiry far enough ahead that the mutated copy (+1h) is
			// live too, and metadata, which a RAM hit must not share.
			e.TTL, e.Metadata = 24*time.Hour, map[string]string{"k": "v"}
			for _, x := range []*engram.Episode{ep, partial} {
				if err := m.CreateEpisode(ctx(), ns, x); err != nil {
					t.Fatal(err)
				}
			}
			for _, x := range []*engram.Pattern{p, recovery, seq, feat} {
				if err := m.PutPattern(ctx(), ns, x); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.PutHeuristic(ctx(), ns, h); err != nil {
				t.Fatal(err)
			}
			if err := m.PutEmbeddings(ctx(), ns, []*engram.Embedding{e}); err != nil {
				t.Fatal(err)
			}

			s := m.SQL()
			for _, c := range []struct {
				name    string
				read    func(c context.Context) (any, error)
				durable func() (any, error)
			}{
				{"Episode", func(c context.Context) (any, error) { return m.GetEpisode(c, ns, ep.ID) },
					func() (any, error) { return s.GetEpisode(ctx(), ns, ep.ID) }},
				{"PartialEpisode", func(c context.Context) (any, error) { return m.GetEpisode(c, ns, partial.ID) },
					func() (any, error) { return s.GetEpisode(ctx(), ns, partial.ID) }},
				{"Pattern", func(c context.Context) (any, error) { return m.GetPattern(c, ns, p.ID) },
					func() (any, error) { return s.GetPattern(ctx(), ns, p.ID) }},
				{"RecoveryPattern", func(c context.Context) (any, error) { return m.GetPattern(c, ns, recovery.ID) },
					func() (any, error) { return s.GetPattern(ctx(), ns, recovery.ID) }},
				{"SequencePattern", func(c context.Context) (any, error) { return m.GetPattern(c, ns, seq.ID) },
					func() (any, error) { return s.GetPattern(ctx(), ns, seq.ID) }},
				{"ContextPattern", func(c context.Context) (any, error) { return m.GetPattern(c, ns, feat.ID) },
					func() (any, error) { return s.GetPattern(ctx(), ns, feat.ID) }},
				{"Heuristic", func(c context.Context) (any, error) { return m.GetHeuristic(c, ns, h.ID) },
					func() (any, error) { return s.GetHeuristic(ctx(), ns, h.ID) }},
				{"Embedding", func(c context.Context) (any, error) { return m.GetEmbedding(c, ns, e.Key()) },
					func() (any, error) { return s.GetEmbedding(ctx(), ns, e.Key()) }},
			} {
				t.Run(c.name, func(t *testing.T) {
					stored, err := c.durable()
					if err != nil {
						t.Fatal(err)
					}
					want := jsonOf(t, stored)
					readRAM := func() any {
						var ri engram.ReadInfo
						got, err := c.read(engram.WithReadInfo(ctx(), &ri))
						if err != nil {
							t.Fatal(err)
						}
						if tier, _ := ri.Get(); tier != engram.TierRAM {
							t.Fatalf("read answered by %s, want ram", tier)
						}
						return got
					}
					first := readRAM()
					if got := jsonOf(t, first); got != want {
						t.Fatalf("RAM hit differs from the durable record:\n got %s\nwant %s", got, want)
					}
					if n := mutate(reflect.ValueOf(first)); n < 5 {
						t.Fatalf("only %d fields changed", n)
					}
					if jsonOf(t, first) == want {
						t.Fatal("mutate changed nothing visible")
					}
					again := jsonOf(t, readRAM())
					if !share && again != want {
						t.Fatalf("changing a read's result changed the tier:\n got %s\nwant %s", again, want)
					}
					if share && again == want {
						t.Fatal("ShareRecords: the change to the tier's own record is not visible to the next read")
					}
				})
			}
		})
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// mutate changes, in place, every value reachable from v without replacing
// a slice, map or pointer the value holds (those are what a shallow copy
// would share), and returns how many it changed. Map entries are rewritten
// and one is added.
func mutate(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return mutate(v.Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour)))
			return 1
		}
		n := 0
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				n += mutate(v.Field(i))
			}
		}
		return n
	case reflect.Slice, reflect.Array:
		if v.Type() == rawType {
			return mutateJSON(v.Bytes())
		}
		n := 0
		for i := 0; i < v.Len(); i++ {
			n += mutate(v.Index(i))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return 0
		}
		n := 0
		for _, k := range v.MapKeys() {
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(v.MapIndex(k))
			n += mutate(val)
			v.SetMapIndex(k, val)
		}
		k := reflect.New(v.Type().Key()).Elem()
		mutate(k)
		v.SetMapIndex(k, reflect.New(v.Type().Elem()).Elem())
		return n + 1
	case reflect.String:
		v.SetString(v.String() + "~")
		return 1
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
		return 1
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
		return 1
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
		return 1
	case reflect.Bool:
		v.SetBool(!v.Bool())
		return 1
	}
	return 0
}

// mutateJSON changes the letters inside the strings of a JSON document in
// place, so it stays valid JSON (a record holding invalid JSON would not
// encode).
func mutateJSON(b []byte) int {
	n, inString, escaped := 0, false, false
	for i, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString && c >= 'a' && c < 'z':
			b[i] = c + 1
			n++
		}
	}
	return n
}
