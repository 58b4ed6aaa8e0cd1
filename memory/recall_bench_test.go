package memory_test

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// BenchmarkRecallHybrid: text + vector + a filter over 5,000 episodes with
// 384-d embeddings, in process (flat index), reporting p50 and p99.
//
//	go test ./memory/ -run '^$' -bench RecallHybrid -benchtime 300x
func BenchmarkRecallHybrid(b *testing.B) {
	for _, mode := range []string{"vector", "hybrid", "hybrid+filter"} {
		b.Run(mode, func(b *testing.B) {
			m, err := memory.Open(ctx(), memory.Config{DataDir: b.TempDir(), Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			rng := rand.New(rand.NewPCG(40, 41))
			s := seedB(b, m, rng, 5000, 384)
			queries := clustered(rand.New(rand.NewPCG(42, 43)), 200, 384, 8)
			q := func(i int) engram.RecallQuery {
				r := engram.RecallQuery{Vector: queries[i%len(queries)], Limit: 10}
				if mode != "vector" {
					r.Text = words[i%len(words)]
				}
				if mode == "hybrid+filter" {
					r.Filter = engram.EpisodeFilter{TaskType: engram.TaskAnalysis, Domain: "cli"}
				}
				return r
			}
			if _, err := m.Recall(ctx(), "default", q(0)); err != nil { // load the index
				b.Fatal(err)
			}
			_ = s
			var lat []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				if _, err := m.Recall(ctx(), "default", q(i)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				i++
			}
			sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// seedB is seed for benchmarks: episodes and embeddings in batches.
func seedB(b *testing.B, m *memory.Memory, rng *rand.Rand, n, d int) *seeded {
	s := &seeded{vecs: clustered(rng, n, d, 8)}
	for i := 0; i < n; i++ {
		s.eps = append(s.eps, &engram.Episode{TaskType: taskTypes[rng.IntN(len(taskTypes))],
			TaskDescription: words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))] + " task",
			Context:         engram.TaskContext{Domain: []string{"web", "cli", "general"}[rng.IntN(3)]}})
	}
	for i := 0; i < n; i += engram.MaxBatch {
		if err := m.CreateEpisodes(ctx(), "default", s.eps[i:min(n, i+engram.MaxBatch)]); err != nil {
			b.Fatal(err)
		}
	}
	embs := make([]*engram.Embedding, n)
	for i, ep := range s.eps {
		s.ids = append(s.ids, ep.ID.UUID)
		embs[i] = &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: s.vecs[i]}
	}
	for i := 0; i < n; i += engram.MaxBatch {
		if err := m.PutEmbeddings(ctx(), "default", embs[i:min(n, i+engram.MaxBatch)]); err != nil {
			b.Fatal(err)
		}
	}
	return s
}
