package memory_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/s3test"
	"github.com/engramhq/engram/memory"
)

// BenchmarkVectorTierLoad: the first recall of a 100,000 x 384 namespace
// (an HNSW index, about 200 MB of snapshot) whose index is cold (objects
// in versitygw, nothing on local disk), warm (snapshot files on local
// disk) or absent everywhere (rebuilt from the SQLite embeddings). ms/first-query
// is the whole first Recall; load-ms the part Recall reports as loading.
//
//	go test ./memory/ -run '^$' -bench VectorTierLoad -benchtime 3x
//
// ENGRAM_BENCH_VTIER_N changes the number of vectors.
func BenchmarkVectorTierLoad(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("ENGRAM_BENCH_VTIER_N")); err == nil {
		n = v
	}
	srv := s3test.Shared(b)
	srv.SetCredentialEnv(b)
	url := srv.URL(srv.NewBucket(b, "vbench"), "engram")
	clk := clock.NewManual(vtStart)
	dir := b.TempDir()
	m, err := memory.Open(ctx(), memory.Config{DataDir: dir, Logger: quiet, Clock: clk, NoCache: true, NoRAM: true,
		Vectors: memory.VectorTierConfig{URL: url, Interval: -1}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	obj, err := blob.Open(ctx(), url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer obj.Close()
	rng := rand.New(rand.NewPCG(90, 91))
	seedB(b, m, rng, n, 384)
	queries := clustered(rand.New(rand.NewPCG(92, 93)), 64, 384, 8)
	qi := 0
	first := func(b *testing.B, want engram.VectorTier) (time.Duration, time.Duration) {
		qi++
		start := time.Now()
		res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: queries[qi%len(queries)], Limit: 10})
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if res.Vector.Tier != want || len(res.Hits) != 10 {
			b.Fatalf("first query answered by %s with %d hits, want %s and 10", res.Vector.Tier, len(res.Hits), want)
		}
		return took, res.Vector.LoadTime
	}
	run := func(name string, want engram.VectorTier, prepare func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			var total, load time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				prepare(b)
				b.StartTimer()
				t, l := first(b, want)
				total += t
				load += l
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-query")
			b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "load-ms")
		})
	}
	demote := func(b *testing.B, d time.Duration) {
		clk.Advance(d)
		if err := m.TierVectors(ctx()); err != nil {
			b.Fatal(err)
		}
	}
	run("rebuild-from-sql", engram.VectorRebuilt, func(b *testing.B) {
		if i := qi; i > 0 {
			demote(b, 61*time.Minute)
		}
		os.RemoveAll(dir + "/index")
		obj.Delete(ctx(), "vectors/groups/default/episode/default.json")
	})
	run("warm-disk", engram.VectorWarm, func(b *testing.B) { demote(b, 61*time.Minute) })
	run("cold-s3", engram.VectorCold, func(b *testing.B) { demote(b, 25*time.Hour) })
}
