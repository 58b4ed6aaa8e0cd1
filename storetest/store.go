package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/engramhq/engram"
)

// OpenStore opens a fresh, empty store for one subtest and registers its
// cleanup with t.Cleanup.
type OpenStore func(t *testing.T) engram.Store

// RunStore runs the durable-store conformance suite against open.
func RunStore(t *testing.T, open OpenStore) {
	t.Run("Episodes", func(t *testing.T) { testEpisodes(t, open) })
	t.Run("Steps", func(t *testing.T) { testSteps(t, open) })
	t.Run("Complete", func(t *testing.T) { testComplete(t, open) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, open) })
	t.Run("List", func(t *testing.T) { testList(t, open) })
	t.Run("Geo", func(t *testing.T) { testGeo(t, open) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open) })
	t.Run("SearchIsolation", func(t *testing.T) { testSearchIsolation(t, open) })
	t.Run("Patterns", func(t *testing.T) { testPatterns(t, open) })
	t.Run("Heuristics", func(t *testing.T) { testHeuristics(t, open) })
	t.Run("Embeddings", func(t *testing.T) { testEmbeddings(t, open) })
	t.Run("Relationships", func(t *testing.T) { testRelationships(t, open) })
	t.Run("Namespaces", func(t *testing.T) { testNamespaces(t, open) })
	t.Run("HostileText", func(t *testing.T) { testHostileText(t, open) })
	t.Run("ChangeFeed", func(t *testing.T) { testChangeFeed(t, open) })
	t.Run("FeedVisibility", func(t *testing.T) { testFeedVisibility(t, open) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, open) })
}

const ns = engram.DefaultNamespace

func ctx() context.Context { return context.Background() }

// Seed returns the seed for a randomised test: $ENGRAM_TEST_SEED when set,
// otherwise a fresh one. It logs the seed so a failure can be replayed.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ENGRAM_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ENGRAM_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with ENGRAM_TEST_SEED=%d)", seed, seed)
	return seed
}

// NewRand returns a generator seeded by Seed.
func NewRand(t testing.TB) *rand.Rand {
	seed := Seed(t)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// mustJSON renders v for comparison; two records are equal when their JSON is.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}

// Equal fails the test unless got and want encode to the same JSON.
func Equal(t testing.TB, what string, got, want any) {
	t.Helper()
	g, w := mustJSON(t, got), mustJSON(t, want)
	if g != w {
		t.Fatalf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}

// WantCode fails the test unless err is an *engram.Error with code and, when
// field is not empty, that field.
func WantCode(t testing.TB, err error, code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s (field %q)", code, field)
	}
	if got := engram.ErrorCode(err); got != code {
		t.Fatalf("got code %s (%v), want %s", got, err, code)
	}
	if field != "" {
		if got := engram.ErrorField(err); got != field {
			t.Fatalf("got field %q (%v), want %q", got, err, field)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// SampleEpisode returns a fully populated open episode: every field of the
// model set, so a round trip through a store checks them all.
func SampleEpisode(i int) *engram.Episode {
	start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC).Add(time.Duration(i) * time.Minute)
	return &engram.Episode{
		TaskType:        engram.TaskDebugging,
		TaskDescription: fmt.Sprintf("Fix the flaky retry loop in the HTTP client (case %d)", i),
		Context: engram.TaskContext{
			Language: "go", Framework: "net/http", Complexity: engram.ComplexityComplex, Domain: "web-api",
			Tags: []string{"http", "Retry"},
		},
		StartTime: start,
		Steps: []engram.Step{
			{StepNumber: 1, Timestamp: start.Add(time.Second), Tool: "grep", Action: "find retry call sites",
				Parameters: json.RawMessage(`{"pattern": "retry", "paths": ["./client"], "n": 3}`),
				Result:     &engram.StepResult{Type: engram.ResultSuccess, Output: "client/retry.go:42"},
				LatencyMS:  12, TokensUsed: 150, Metadata: map[string]string{"attempt": "1"}},
			{StepNumber: 2, Timestamp: start.Add(2 * time.Second), Tool: "go test", Action: "run the client tests",
				Result:    &engram.StepResult{Type: engram.ResultError, Message: "TestRetry: deadline exceeded"},
				LatencyMS: 3400},
		},
		Patterns:   []engram.PatternID{{UUID: engram.NewUUID()}},
		Heuristics: []engram.HeuristicID{{UUID: engram.NewUUID()}},
		Tags:       []string{"flaky", "client"},
		Metadata:   map[string]string{"repo": "acme/api", "ticket": "OPS-17"},
		Location:   &engram.Location{Lat: 52.52, Lon: 13.405},
	}
}

// SampleCompletion returns a completion with every field set.
func SampleCompletion(end time.Time) *engram.Completion {
	return &engram.Completion{
		Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "retry loop fixed", Artifacts: []string{"client/retry.go"}},
		Reward:  &engram.Reward{Total: 0.9, Base: 1, Efficiency: 0.8, ComplexityBonus: 0.2, QualityMultiplier: 1.1, LearningBonus: 0.05},
		Reflection: &engram.Reflection{Successes: []string{"found the call site fast"}, Improvements: []string{"run tests earlier"},
			Insights: []string{"timeouts hide retries"}, GeneratedAt: end},
		EndTime: &end,
	}
}

// lastSeq reads the store's change-feed position.
func lastSeq(t testing.TB, s engram.Store) uint64 {
	t.Helper()
	seq, err := s.LastSeq(ctx())
	must(t, err)
	return seq
}

// unchanged fails the test if the store's change feed moved since seq: a
// rejected write must leave no trace.
func unchanged(t testing.TB, s engram.Store, seq uint64) {
	t.Helper()
	if got := lastSeq(t, s); got != seq {
		t.Fatalf("a rejected write changed the store: change feed at %d, was %d", got, seq)
	}
}
