package memory_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVectorNamespace100k: a namespace of 100,000 embeddings of
// dimension 128 (its index loaded): streaming it whole with EachEmbedding
// (vectors/s), then clearing it from every tier (s for the clear). Run with
// -benchtime 1x; reports wall and CPU time.
//
//	go test ./memory/ -run '^$' -bench VectorNamespace100k -benchtime 1x
func BenchmarkVectorNamespace100k(b *testing.B) {
	const n, dim = 100_000, 128
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		m, err := memory.Open(ctx(), memory.Config{DataDir: dir, Logger: quiet, NoCache: true,
			SQL:     sqlstore.Options{Path: dir + "/engram.db", Synchronous: sqlstore.SyncOff},
			Vectors: memory.VectorTierConfig{Interval: -1, SweepInterval: -1}})
		if err != nil {
			b.Fatal(err)
		}
		for start := 0; start < n; start += engram.MaxBatch {
			batch := make([]*engram.Embedding, engram.MaxBatch)
			for i := range batch {
				v := make([]float32, dim)
				for j := range v {
					v[j] = float32((start+i)*dim+j) / 1e6
				}
				var id engram.UUID
				copy(id[:], fmt.Sprintf("bench%011d", start+i))
				batch[i] = &engram.Embedding{ItemID: id, ItemType: engram.ItemPattern, Vector: v}
			}
			if err := m.PutEmbeddingsSameDim(ctx(), "big", batch); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := m.LoadIndexes(ctx(), "big"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		seen := 0
		if err := m.EachEmbedding(ctx(), "big", engram.EmbeddingFilter{Limit: engram.MaxQueryLimit}, func(e *engram.Embedding) error {
			seen++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		streamWall, streamCPU := time.Since(t0), cpuTime()-c0
		if seen != n {
			b.Fatalf("streamed %d, want %d", seen, n)
		}
		t1, c1 := time.Now(), cpuTime()
		cleared, err := m.ClearEmbeddings(ctx(), "big")
		if err != nil || cleared != n {
			b.Fatalf("clear: %d %v", cleared, err)
		}
		clearWall, clearCPU := time.Since(t1), cpuTime()-c1
		b.StopTimer()
		b.ReportMetric(float64(n)/streamWall.Seconds(), "stream-vectors/s")
		b.ReportMetric(streamCPU.Seconds(), "stream-cpu-s")
		b.ReportMetric(clearWall.Seconds(), "clear-s")
		b.ReportMetric(clearCPU.Seconds(), "clear-cpu-s")
		m.Close()
		b.StartTimer()
	}
}
