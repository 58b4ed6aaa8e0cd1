package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/engramhq/engram"
)

// Sample records for cache tests and benchmarks. Every optional field is
// set, so a round trip that drops a field shows. Times are UTC, as
// Normalize leaves them.

var sampleBase = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

func sampleID(rng *rand.Rand) engram.UUID {
	var u engram.UUID
	for i := range u {
		u[i] = byte(rng.UintN(256))
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u
}

func sampleTime(rng *rand.Rand) time.Time {
	return sampleBase.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
}

func sampleWords(rng *rand.Rand, n int) string {
	words := []string{"agent", "retry", "cache", "timeout", "payment", "refactor", "parser", "flaky", "deadline", "index",
		"schema", "migrate", "rollback", "token", "latency", "stream", "buffer", "shard", "replica", "quorum"}
	b := make([]byte, 0, n*8)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[rng.IntN(len(words))]...)
	}
	return string(b)
}

// RandomEpisode returns a complete episode with the given number of steps.
// With 8 steps it encodes to about 2 KB in boltcache's record format.
func RandomEpisode(rng *rand.Rand, steps int) *engram.Episode {
	start := sampleTime(rng)
	end := start.Add(time.Duration(steps+1) * time.Second)
	ep := &engram.Episode{
		ID:              engram.EpisodeID{UUID: sampleID(rng)},
		TaskType:        engram.TaskDebugging,
		TaskDescription: "fix: " + sampleWords(rng, 12),
		Context: engram.TaskContext{Language: "go", Framework: "net/http", Complexity: engram.ComplexityComplex,
			Domain: "payments", Tags: []string{"flaky", "ci"}},
		StartTime: start,
		EndTime:   &end,
		Outcome: &engram.Outcome{Type: engram.OutcomeSuccess, Verdict: sampleWords(rng, 6),
			Artifacts: []string{"payments/checkout.go", "payments/checkout_test.go"}},
		Reward: &engram.Reward{Total: rng.Float64(), Base: 1, Efficiency: 0.8, ComplexityBonus: 0.2,
			QualityMultiplier: 1.1, LearningBonus: 0.05},
		Reflection: &engram.Reflection{Successes: []string{sampleWords(rng, 5)}, Improvements: []string{sampleWords(rng, 5)},
			Insights: []string{sampleWords(rng, 7)}, GeneratedAt: end},
		Patterns:   []engram.PatternID{{UUID: sampleID(rng)}},
		Heuristics: []engram.HeuristicID{{UUID: sampleID(rng)}},
		Tags:       []string{"backend", "go"},
		Metadata:   map[string]string{"agent": "engram-test", "run": fmt.Sprint(rng.IntN(1000))},
		Location:   &engram.Location{Lat: 52.52, Lon: 13.405},
		CreatedAt:  start,
		UpdatedAt:  end,
	}
	for i := 1; i <= steps; i++ {
		ep.Steps = append(ep.Steps, engram.Step{
			StepNumber: i,
			Timestamp:  start.Add(time.Duration(i) * time.Second),
			Tool:       "shell",
			Action:     "run " + sampleWords(rng, 4),
			Parameters: json.RawMessage(fmt.Sprintf(`{"cmd":"go test ./...","attempt":%d}`, i)),
			Result:     &engram.StepResult{Type: engram.ResultSuccess, Output: sampleWords(rng, 16)},
			LatencyMS:  rng.Int64N(5000),
			TokensUsed: rng.Int64N(2000),
			Metadata:   map[string]string{"step": fmt.Sprint(i)},
		})
	}
	return ep
}

// RandomPattern returns a decision-point pattern with every field set.
func RandomPattern(rng *rand.Rand) *engram.Pattern {
	last := sampleTime(rng)
	return &engram.Pattern{
		ID: engram.PatternID{UUID: sampleID(rng)}, Kind: engram.PatternDecisionPoint,
		Condition: sampleWords(rng, 6), Action: sampleWords(rng, 6),
		OutcomeStats: &engram.OutcomeStats{SuccessCount: 7, FailureCount: 2, TotalCount: 9, AvgDurationSecs: 3.5},
		Evidence:     []engram.EpisodeID{{UUID: sampleID(rng)}, {UUID: sampleID(rng)}},
		Domain:       "payments", Language: "go", Tags: []string{"retry"},
		SuccessRate: 0.78, OccurrenceCount: 9,
		Effectiveness: engram.Effectiveness{TimesRetrieved: 4, TimesApplied: 3, SuccessWhenApplied: 2,
			FailureWhenApplied: 1, AvgRewardDelta: 0.12, LastUsed: &last},
		CreatedAt: sampleTime(rng), UpdatedAt: last,
	}
}

// RandomHeuristic returns a heuristic with every field set.
func RandomHeuristic(rng *rand.Rand) *engram.Heuristic {
	return &engram.Heuristic{
		ID: engram.HeuristicID{UUID: sampleID(rng)}, Condition: sampleWords(rng, 6), Action: sampleWords(rng, 6),
		Confidence: 0.9, Evidence: engram.Evidence{EpisodeIDs: []engram.EpisodeID{{UUID: sampleID(rng)}}, SuccessRate: 0.8, SampleSize: 12},
		Domain: "payments", CreatedAt: sampleTime(rng), UpdatedAt: sampleTime(rng),
	}
}

// RandomEmbedding returns an embedding of a random episode with dim components.
func RandomEmbedding(rng *rand.Rand, dim int) *engram.Embedding {
	v := make([]float32, dim)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return &engram.Embedding{ItemID: sampleID(rng), ItemType: engram.ItemEpisode, Model: "text-embedding-3-small",
		Vector: v, CreatedAt: sampleTime(rng)}
}
