package ramcache_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/latency"
	"github.com/engramhq/engram/ramcache"
	"github.com/engramhq/engram/storetest"
)

// Benchmarks of the RAM tier, with the records of boltcache's benchmarks:
// episodes of 6 steps (1,946 bytes in the file format), 10,000 loaded.

const (
	benchRecords = 10_000
	benchNS      = engram.Namespace("bench")
)

func benchCache(b *testing.B) (*ramcache.Cache, []*engram.Episode) {
	b.Helper()
	c, err := ramcache.New(ramcache.Options{MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	rng := rand.New(rand.NewPCG(1, 1))
	eps := make([]*engram.Episode, benchRecords)
	var batch engram.CacheBatch
	for i := range eps {
		eps[i] = storetest.RandomEpisode(rng, 6)
		batch.PutEpisode(benchNS, eps[i])
	}
	if err := c.Apply(context.Background(), &batch); err != nil {
		b.Fatal(err)
	}
	return c, eps
}

func benchGets(b *testing.B, c *ramcache.Cache, ids []engram.EpisodeID, wantHit bool) {
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

func BenchmarkRAMHit(b *testing.B) {
	c, eps := benchCache(b)
	ids := make([]engram.EpisodeID, len(eps))
	for i, ep := range eps {
		ids[i] = ep.ID
	}
	benchGets(b, c, ids, true)
}

func BenchmarkRAMMiss(b *testing.B) {
	c, _ := benchCache(b)
	ids := make([]engram.EpisodeID, 1000)
	for i := range ids {
		ids[i] = engram.NewEpisodeID()
	}
	benchGets(b, c, ids, false)
}

// BenchmarkRAMPut puts (deep-copies) episodes one at a time.
func BenchmarkRAMPut(b *testing.B) {
	c, eps := benchCache(b)
	ctx := context.Background()
	var rec latency.Recorder
	l := rec.Local()
	n := 0
	rec.Start(b)
	for b.Loop() {
		ep := eps[n%len(eps)]
		t0 := time.Now()
		if err := c.PutEpisode(ctx, benchNS, ep); err != nil {
			b.Fatal(err)
		}
		l.Add(time.Since(t0))
		n++
	}
	l.Flush()
	rec.Report(b, "", n)
}

// BenchmarkRAMMixed runs 90% reads and 10% puts on 2 goroutines.
func BenchmarkRAMMixed(b *testing.B) {
	c, eps := benchCache(b)
	ctx := context.Background()
	var reads, writes latency.Recorder
	var nr, nw, seed atomic.Int64
	reads.Start(b)
	writes.Start(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(seed.Add(1)), 4))
		lr, lw := reads.Local(), writes.Local()
		defer lr.Flush()
		defer lw.Flush()
		for pb.Next() {
			ep := eps[rng.IntN(len(eps))]
			if rng.IntN(10) == 0 {
				t0 := time.Now()
				if err := c.PutEpisode(ctx, benchNS, ep); err != nil {
					b.Error(err)
					return
				}
				lw.Add(time.Since(t0))
				nw.Add(1)
				continue
			}
			t0 := time.Now()
			if _, ok, err := c.GetEpisode(ctx, benchNS, ep.ID); !ok || err != nil {
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
}
