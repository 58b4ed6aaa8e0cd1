package boltcache_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/internal/latency"
	"github.com/engramhq/engram/storetest"
)

// Benchmarks of the cache file alone (no RAM tier in front). Records are
// episodes of 6 steps, 1,946 bytes encoded on average; 10,000 of them are
// loaded before the reads. Each reports p50 and p99 latency per operation
// (per batch for BatchedPuts) and operations (records) per second. See
// BENCHMARKS.md (cache tiers) for the numbers and scripts/bench-cache.sh to rerun.

const (
	benchRecords = 10_000
	benchSteps   = 6
	benchNS      = engram.Namespace("bench")
)

func benchEpisodes(seed uint64, n int) []*engram.Episode {
	rng := rand.New(rand.NewPCG(seed, 1))
	eps := make([]*engram.Episode, n)
	for i := range eps {
		eps[i] = storetest.RandomEpisode(rng, benchSteps)
	}
	return eps
}

func openBench(b *testing.B, o boltcache.Options) *boltcache.Cache {
	b.Helper()
	o.TTLCheckInterval, o.Logger = -1, quietLogger()
	c, err := boltcache.Open(filepath.Join(b.TempDir(), "cache.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func fillBench(b *testing.B, c *boltcache.Cache, eps []*engram.Episode) {
	b.Helper()
	for i := 0; i < len(eps); i += 1000 {
		var batch engram.CacheBatch
		for _, ep := range eps[i:min(i+1000, len(eps))] {
			batch.PutEpisode(benchNS, ep)
		}
		if err := c.Apply(context.Background(), &batch); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGets(b *testing.B, c *boltcache.Cache, ids []engram.EpisodeID, wantHit bool) {
	ctx, rng := context.Background(), rand.New(rand.NewPCG(9, 9))
	var rec latency.Recorder
	l := rec.Local()
	n := 0
	rec.Start(b)
	for b.Loop() {
		id := ids[rng.IntN(len(ids))]
		t0 := time.Now()
		_, ok, err := c.GetEpisode(ctx, benchNS, id)
		l.Add(time.Since(t0))
		if err != nil || ok != wantHit {
			b.Fatalf("get: ok=%t err=%v, want ok=%t", ok, err, wantHit)
		}
		n++
	}
	l.Flush()
	rec.Report(b, "", n)
}

func BenchmarkBoltHit(b *testing.B) {
	for _, bc := range []struct {
		name      string
		threshold int
	}{{"Plain", -1}, {"Zstd", 1024}} {
		b.Run(bc.name, func(b *testing.B) {
			c := openBench(b, boltcache.Options{CompressThreshold: bc.threshold})
			eps := benchEpisodes(1, benchRecords)
			fillBench(b, c, eps)
			ids := make([]engram.EpisodeID, len(eps))
			for i, ep := range eps {
				ids[i] = ep.ID
			}
			benchGets(b, c, ids, true)
		})
	}
}

func BenchmarkBoltMiss(b *testing.B) {
	c := openBench(b, boltcache.Options{})
	fillBench(b, c, benchEpisodes(1, benchRecords))
	ids := make([]engram.EpisodeID, 1000)
	for i := range ids {
		ids[i] = engram.NewEpisodeID()
	}
	benchGets(b, c, ids, false)
}

// syncModes runs fn without (the default) and with fsync per commit.
func syncModes(b *testing.B, fn func(b *testing.B, o boltcache.Options)) {
	b.Run("NoSync", func(b *testing.B) { fn(b, boltcache.Options{MaxEntries: -1, MaxBytes: -1}) })
	b.Run("Sync", func(b *testing.B) { fn(b, boltcache.Options{MaxEntries: -1, MaxBytes: -1, Sync: true}) })
}

func BenchmarkSinglePut(b *testing.B) {
	syncModes(b, func(b *testing.B, o boltcache.Options) {
		c := openBench(b, o)
		pool := benchEpisodes(2, 1000)
		ctx := context.Background()
		var rec latency.Recorder
		l := rec.Local()
		n := 0
		rec.Start(b)
		for b.Loop() {
			ep := pool[n%len(pool)]
			ep.ID = engram.NewEpisodeID()
			t0 := time.Now()
			if err := c.PutEpisode(ctx, benchNS, ep); err != nil {
				b.Fatal(err)
			}
			l.Add(time.Since(t0))
			n++
		}
		l.Flush()
		rec.Report(b, "", n)
	})
}

func BenchmarkBatchedPuts(b *testing.B) {
	const batchSize = 1000
	syncModes(b, func(b *testing.B, o boltcache.Options) {
		c := openBench(b, o)
		pool := benchEpisodes(3, batchSize)
		ctx := context.Background()
		var rec latency.Recorder
		l := rec.Local()
		n := 0
		rec.Start(b)
		for b.Loop() {
			var batch engram.CacheBatch
			for _, ep := range pool {
				ep.ID = engram.NewEpisodeID()
				batch.PutEpisode(benchNS, ep)
			}
			t0 := time.Now()
			if err := c.Apply(ctx, &batch); err != nil {
				b.Fatal(err)
			}
			l.Add(time.Since(t0))
			n += batchSize
		}
		l.Flush()
		rec.Report(b, "", n)
	})
}

// BenchmarkMixed runs 90% reads of loaded records and 10% puts of new ones
// on 2 goroutines.
func BenchmarkMixed(b *testing.B) {
	syncModes(b, func(b *testing.B, o boltcache.Options) {
		c := openBench(b, o)
		eps := benchEpisodes(1, benchRecords)
		fillBench(b, c, eps)
		ctx := context.Background()
		var reads, writes latency.Recorder
		var nr, nw, seed atomic.Int64
		b.SetParallelism(max(1, 2/testingProcs()))
		reads.Start(b)
		writes.Start(b)
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(uint64(seed.Add(1)), 4))
			pool := benchEpisodes(uint64(100+seed.Load()), 100)
			lr, lw := reads.Local(), writes.Local()
			defer lr.Flush()
			defer lw.Flush()
			for i := 0; pb.Next(); i++ {
				if rng.IntN(10) == 0 {
					ep := pool[i%len(pool)]
					ep.ID = engram.NewEpisodeID()
					t0 := time.Now()
					if err := c.PutEpisode(ctx, benchNS, ep); err != nil {
						b.Error(err)
						return
					}
					lw.Add(time.Since(t0))
					nw.Add(1)
					continue
				}
				id := eps[rng.IntN(len(eps))].ID
				t0 := time.Now()
				if _, ok, err := c.GetEpisode(ctx, benchNS, id); !ok || err != nil {
					b.Errorf("get: ok=%t err=%v", ok, err)
					return
				}
				lr.Add(time.Since(t0))
				nr.Add(1)
			}
		})
		reads.Report(b, "read-", int(nr.Load()))
		writes.Report(b, "write-", int(nw.Load()))
		b.ReportMetric(float64(nr.Load()+nw.Load())/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkOpen opens a file of 50,000 episodes (about 100 MB of records),
// with and without the structural check, and closes it again. Open reads
// the whole file once for the check and walks every record for the index.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "cache.db")
	c, err := boltcache.Open(path, boltcache.Options{MaxEntries: -1, MaxBytes: -1, TTLCheckInterval: -1, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		fillBench(b, c, benchEpisodes(uint64(1000+i), 1000))
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, skip := range []bool{false, true} {
		name := "Checked"
		if skip {
			name = "SkipOpenCheck"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				c, err := boltcache.Open(path, boltcache.Options{MaxEntries: -1, MaxBytes: -1, TTLCheckInterval: -1,
					SkipOpenCheck: skip, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
		})
	}
}
