// Package storetest holds the conformance suites every implementation of an
// engram storage interface runs, so that all of them keep one contract.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
)

// CacheConfig is what a conformance test asks of the cache it is given.
type CacheConfig struct {
	Clock *clock.Manual // drives expiry; never nil
	TTL   time.Duration // the default TTL; 0: records never expire
}

// OpenCache returns a new, empty cache configured as cfg says, with bounds
// large enough that nothing the suite writes is evicted. The suite closes it.
type OpenCache func(t *testing.T, cfg CacheConfig) engram.Cache

// RunCache runs the engram.Cache conformance suite.
func RunCache(t *testing.T, open OpenCache) {
	run := func(name string, ttl time.Duration, fn func(t *testing.T, c engram.Cache, clk *clock.Manual)) {
		t.Run(name, func(t *testing.T) {
			clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			c := open(t, CacheConfig{Clock: clk, TTL: ttl})
			defer func() {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			fn(t, c, clk)
		})
	}
	run("RoundTripEveryKind", 0, testCacheRoundTrip)
	run("MissForAbsentKeys", 0, testCacheMiss)
	run("NamespacesAreIsolated", 0, testCacheNamespaces)
	run("PutReplaces", 0, testCachePutReplaces)
	run("Delete", 0, testCacheDelete)
	run("EmbeddingModelDefaults", 0, testCacheEmbeddingDefaultModel)
	run("ApplyMixedBatchWithWatermark", 0, testCacheApply)
	run("ApplyLaterWriteWins", 0, testCacheApplyOrder)
	run("ClearEmptiesAndResetsWatermark", 0, testCacheClear)
	run("ExpiresAfterDefaultTTL", 10*time.Second, testCacheTTL)
	run("PerWriteTTL", 10*time.Second, testCachePerWriteTTL)
	run("ErrInvalidKeysChangeNothing", 0, testCacheInvalid)
	run("CallerKeepsOwnershipOfPutRecord", 0, testCacheOwnership)
	run("StatsCount", 0, testCacheStats)
	run("ConcurrentUse", 0, testCacheConcurrent)
	t.Run("ErrUnavailableAfterClose", func(t *testing.T) {
		c := open(t, CacheConfig{Clock: clock.NewManual(time.Unix(0, 0))})
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, _, err := c.GetEpisode(context.Background(), engram.DefaultNamespace, engram.NewEpisodeID())
		if !errors.Is(err, engram.ErrUnavailable) {
			t.Fatalf("GetEpisode after Close: err = %v, want EUNAVAILABLE", err)
		}
		if err := c.PutPattern(context.Background(), engram.DefaultNamespace, RandomPattern(rand.New(rand.NewPCG(1, 1)))); !errors.Is(err, engram.ErrUnavailable) {
			t.Fatalf("PutPattern after Close: err = %v, want EUNAVAILABLE", err)
		}
	})
}

const cacheNS = engram.Namespace("tenant-a")

func newRand(t *testing.T) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(len(t.Name())), 42))
}

func mustHit[T any](t *testing.T, what string, got T, ok bool, err error) T {
	t.Helper()
	if err != nil {
		t.Fatalf("get %s: %v", what, err)
	}
	if !ok {
		t.Fatalf("get %s: miss, want a hit", what)
	}
	return got
}

func wantMiss(t *testing.T, what string, ok bool, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("get %s: %v", what, err)
	}
	if ok {
		t.Fatalf("get %s: hit, want a miss", what)
	}
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s differs after a round trip:\n got %+v\nwant %+v", what, got, want)
	}
}

func testCacheRoundTrip(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	ep, p, h, e := RandomEpisode(rng, 8), RandomPattern(rng), RandomHeuristic(rng), RandomEmbedding(rng, 384)
	must(t, c.PutEpisode(ctx, cacheNS, ep))
	must(t, c.PutPattern(ctx, cacheNS, p))
	must(t, c.PutHeuristic(ctx, cacheNS, h))
	must(t, c.PutEmbedding(ctx, cacheNS, e))

	gotEp, ok, err := c.GetEpisode(ctx, cacheNS, ep.ID)
	wantEqual(t, "episode", mustHit(t, "episode", gotEp, ok, err), ep)
	gotP, ok, err := c.GetPattern(ctx, cacheNS, p.ID)
	wantEqual(t, "pattern", mustHit(t, "pattern", gotP, ok, err), p)
	gotH, ok, err := c.GetHeuristic(ctx, cacheNS, h.ID)
	wantEqual(t, "heuristic", mustHit(t, "heuristic", gotH, ok, err), h)
	gotE, ok, err := c.GetEmbedding(ctx, cacheNS, e.Key())
	wantEqual(t, "embedding", mustHit(t, "embedding", gotE, ok, err), e)

	// Records with nil and empty optional parts survive as they were.
	bare := &engram.Episode{ID: engram.NewEpisodeID(), TaskType: engram.TaskOther, Steps: []engram.Step{}}
	must(t, c.PutEpisode(ctx, cacheNS, bare))
	gotBare, ok, err := c.GetEpisode(ctx, cacheNS, bare.ID)
	wantEqual(t, "bare episode", mustHit(t, "bare episode", gotBare, ok, err), bare)
}

func testCacheMiss(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx := context.Background()
	_, ok, err := c.GetEpisode(ctx, cacheNS, engram.NewEpisodeID())
	wantMiss(t, "absent episode", ok, err)
	_, ok, err = c.GetPattern(ctx, cacheNS, engram.NewPatternID())
	wantMiss(t, "absent pattern", ok, err)
	_, ok, err = c.GetHeuristic(ctx, cacheNS, engram.NewHeuristicID())
	wantMiss(t, "absent heuristic", ok, err)
	_, ok, err = c.GetEmbedding(ctx, cacheNS, engram.EmbeddingKey{ItemType: engram.ItemEpisode, ItemID: engram.NewUUID()})
	wantMiss(t, "absent embedding", ok, err)

	// The same UUID under another kind is another key.
	ep := RandomEpisode(newRand(t), 1)
	must(t, c.PutEpisode(ctx, cacheNS, ep))
	_, ok, err = c.GetPattern(ctx, cacheNS, engram.PatternID{UUID: ep.ID.UUID})
	wantMiss(t, "pattern with an episode's id", ok, err)
}

func testCacheNamespaces(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	a := RandomEpisode(rng, 2)
	b := RandomEpisode(rng, 3)
	b.ID = a.ID
	must(t, c.PutEpisode(ctx, "tenant-a", a))
	must(t, c.PutEpisode(ctx, "tenant-b", b))
	got, ok, err := c.GetEpisode(ctx, "tenant-a", a.ID)
	wantEqual(t, "tenant-a's episode", mustHit(t, "tenant-a", got, ok, err), a)
	got, ok, err = c.GetEpisode(ctx, "tenant-b", a.ID)
	wantEqual(t, "tenant-b's episode", mustHit(t, "tenant-b", got, ok, err), b)
	_, ok, err = c.GetEpisode(ctx, "tenant-c", a.ID)
	wantMiss(t, "tenant-c", ok, err)
	must(t, c.Delete(ctx, engram.EpisodeCacheKey("tenant-a", a.ID)))
	got, ok, err = c.GetEpisode(ctx, "tenant-b", a.ID)
	wantEqual(t, "tenant-b's episode after deleting tenant-a's", mustHit(t, "tenant-b", got, ok, err), b)
}

func testCachePutReplaces(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	p := RandomPattern(rng)
	must(t, c.PutPattern(ctx, cacheNS, p))
	p2 := RandomPattern(rng)
	p2.ID = p.ID
	must(t, c.PutPattern(ctx, cacheNS, p2))
	got, ok, err := c.GetPattern(ctx, cacheNS, p.ID)
	wantEqual(t, "replaced pattern", mustHit(t, "pattern", got, ok, err), p2)
	st, err := c.Stats(ctx)
	must(t, err)
	if st.Entries != 1 {
		t.Fatalf("Entries = %d after putting one key twice, want 1", st.Entries)
	}
}

func testCacheDelete(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	h := RandomHeuristic(rng)
	keep := RandomHeuristic(rng)
	must(t, c.PutHeuristic(ctx, cacheNS, h))
	must(t, c.PutHeuristic(ctx, cacheNS, keep))
	must(t, c.Delete(ctx, engram.HeuristicCacheKey(cacheNS, h.ID)))
	_, ok, err := c.GetHeuristic(ctx, cacheNS, h.ID)
	wantMiss(t, "deleted heuristic", ok, err)
	got, ok, err := c.GetHeuristic(ctx, cacheNS, keep.ID)
	wantEqual(t, "other heuristic", mustHit(t, "other heuristic", got, ok, err), keep)
	must(t, c.Delete(ctx, engram.HeuristicCacheKey(cacheNS, h.ID))) // absent: no error
}

func testCacheEmbeddingDefaultModel(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	e := RandomEmbedding(rng, 8)
	e.Model = engram.DefaultModel
	other := RandomEmbedding(rng, 8)
	other.ItemID, other.Model = e.ItemID, "another-model"
	must(t, c.PutEmbedding(ctx, cacheNS, e))
	must(t, c.PutEmbedding(ctx, cacheNS, other))
	got, ok, err := c.GetEmbedding(ctx, cacheNS, engram.EmbeddingKey{ItemType: e.ItemType, ItemID: e.ItemID})
	wantEqual(t, "embedding under the empty model", mustHit(t, "embedding", got, ok, err), e)
	got, ok, err = c.GetEmbedding(ctx, cacheNS, other.Key())
	wantEqual(t, "embedding of another model", mustHit(t, "embedding", got, ok, err), other)
	_, ok, err = c.GetEmbedding(ctx, cacheNS, engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: e.ItemID})
	wantMiss(t, "embedding of another item type", ok, err)
}

func testCacheApply(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	if w, err := c.Watermark(ctx); err != nil || w != 0 {
		t.Fatalf("Watermark of a new cache = %d, %v; want 0", w, err)
	}
	old := RandomEpisode(rng, 1)
	must(t, c.PutEpisode(ctx, cacheNS, old))

	var b engram.CacheBatch
	eps := make([]*engram.Episode, 50)
	for i := range eps {
		eps[i] = RandomEpisode(rng, 2)
		b.PutEpisode(cacheNS, eps[i])
	}
	p, h, e := RandomPattern(rng), RandomHeuristic(rng), RandomEmbedding(rng, 16)
	b.PutPattern(cacheNS, p)
	b.PutHeuristic(cacheNS, h)
	b.PutEmbedding(cacheNS, e)
	b.Delete(engram.EpisodeCacheKey(cacheNS, old.ID))
	b.SetWatermark(1234)
	must(t, c.Apply(ctx, &b))

	for i, ep := range eps {
		got, ok, err := c.GetEpisode(ctx, cacheNS, ep.ID)
		wantEqual(t, fmt.Sprintf("episode %d", i), mustHit(t, "episode", got, ok, err), ep)
	}
	gotP, ok, err := c.GetPattern(ctx, cacheNS, p.ID)
	wantEqual(t, "pattern", mustHit(t, "pattern", gotP, ok, err), p)
	gotH, ok, err := c.GetHeuristic(ctx, cacheNS, h.ID)
	wantEqual(t, "heuristic", mustHit(t, "heuristic", gotH, ok, err), h)
	gotE, ok, err := c.GetEmbedding(ctx, cacheNS, e.Key())
	wantEqual(t, "embedding", mustHit(t, "embedding", gotE, ok, err), e)
	_, ok, err = c.GetEpisode(ctx, cacheNS, old.ID)
	wantMiss(t, "episode the batch deleted", ok, err)
	if w, err := c.Watermark(ctx); err != nil || w != 1234 {
		t.Fatalf("Watermark = %d, %v; want 1234", w, err)
	}

	// A batch without a watermark leaves it alone; a lower one replaces it.
	must(t, c.Apply(ctx, &engram.CacheBatch{Writes: []engram.CacheWrite{{Key: engram.PatternCacheKey(cacheNS, p.ID)}}}))
	if w, _ := c.Watermark(ctx); w != 1234 {
		t.Fatalf("Watermark = %d after a batch without one, want 1234", w)
	}
	var b2 engram.CacheBatch
	b2.SetWatermark(7)
	must(t, c.Apply(ctx, &b2))
	if w, _ := c.Watermark(ctx); w != 7 {
		t.Fatalf("Watermark = %d, want 7", w)
	}
}

func testCacheApplyOrder(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	a, b := RandomEpisode(rng, 1), RandomEpisode(rng, 1)
	a2 := RandomEpisode(rng, 2)
	a2.ID = a.ID
	var batch engram.CacheBatch
	batch.PutEpisode(cacheNS, a)
	batch.PutEpisode(cacheNS, a2)
	batch.PutEpisode(cacheNS, b)
	batch.Delete(engram.EpisodeCacheKey(cacheNS, b.ID))
	must(t, c.Apply(ctx, &batch))
	got, ok, err := c.GetEpisode(ctx, cacheNS, a.ID)
	wantEqual(t, "episode put twice in one batch", mustHit(t, "episode", got, ok, err), a2)
	_, ok, err = c.GetEpisode(ctx, cacheNS, b.ID)
	wantMiss(t, "episode put then deleted in one batch", ok, err)

	var batch2 engram.CacheBatch
	batch2.Delete(engram.EpisodeCacheKey(cacheNS, b.ID))
	batch2.PutEpisode(cacheNS, b)
	must(t, c.Apply(ctx, &batch2))
	got, ok, err = c.GetEpisode(ctx, cacheNS, b.ID)
	wantEqual(t, "episode deleted then put in one batch", mustHit(t, "episode", got, ok, err), b)
}

func testCacheClear(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	var b engram.CacheBatch
	ep, p := RandomEpisode(rng, 1), RandomPattern(rng)
	b.PutEpisode(cacheNS, ep)
	b.PutPattern(cacheNS, p)
	b.SetWatermark(99)
	must(t, c.Apply(ctx, &b))
	must(t, c.Clear(ctx))
	_, ok, err := c.GetEpisode(ctx, cacheNS, ep.ID)
	wantMiss(t, "episode after Clear", ok, err)
	_, ok, err = c.GetPattern(ctx, cacheNS, p.ID)
	wantMiss(t, "pattern after Clear", ok, err)
	if w, err := c.Watermark(ctx); err != nil || w != 0 {
		t.Fatalf("Watermark after Clear = %d, %v; want 0", w, err)
	}
	st, err := c.Stats(ctx)
	must(t, err)
	if st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("after Clear: Entries = %d, Bytes = %d; want 0, 0", st.Entries, st.Bytes)
	}
	must(t, c.PutEpisode(ctx, cacheNS, ep))
	got, ok, err := c.GetEpisode(ctx, cacheNS, ep.ID)
	wantEqual(t, "episode put after Clear", mustHit(t, "episode", got, ok, err), ep)
}

func testCacheTTL(t *testing.T, c engram.Cache, clk *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	ep, h := RandomEpisode(rng, 1), RandomHeuristic(rng)
	must(t, c.PutEpisode(ctx, cacheNS, ep))
	clk.Advance(5 * time.Second)
	must(t, c.PutHeuristic(ctx, cacheNS, h))
	clk.Advance(4*time.Second + 999*time.Millisecond)
	got, ok, err := c.GetEpisode(ctx, cacheNS, ep.ID)
	wantEqual(t, "episode 1 ms before expiry", mustHit(t, "episode", got, ok, err), ep)
	clk.Advance(time.Millisecond)
	_, ok, err = c.GetEpisode(ctx, cacheNS, ep.ID)
	wantMiss(t, "episode at its expiry", ok, err)
	gotH, ok, err := c.GetHeuristic(ctx, cacheNS, h.ID)
	wantEqual(t, "heuristic put 5 s later", mustHit(t, "heuristic", gotH, ok, err), h)
	clk.Advance(5 * time.Second)
	_, ok, err = c.GetHeuristic(ctx, cacheNS, h.ID)
	wantMiss(t, "heuristic at its expiry", ok, err)

	// A put renews the expiry.
	must(t, c.PutEpisode(ctx, cacheNS, ep))
	clk.Advance(9 * time.Second)
	got, ok, err = c.GetEpisode(ctx, cacheNS, ep.ID)
	wantEqual(t, "episode put again", mustHit(t, "episode", got, ok, err), ep)
}

func testCachePerWriteTTL(t *testing.T, c engram.Cache, clk *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	short, never, dflt := RandomPattern(rng), RandomPattern(rng), RandomPattern(rng)
	b := engram.CacheBatch{Writes: []engram.CacheWrite{
		{Key: engram.PatternCacheKey(cacheNS, short.ID), Pattern: short, TTL: time.Second},
		{Key: engram.PatternCacheKey(cacheNS, never.ID), Pattern: never, TTL: -1},
		{Key: engram.PatternCacheKey(cacheNS, dflt.ID), Pattern: dflt},
	}}
	must(t, c.Apply(ctx, &b))
	clk.Advance(time.Second)
	_, ok, err := c.GetPattern(ctx, cacheNS, short.ID)
	wantMiss(t, "pattern with a 1 s TTL after 1 s", ok, err)
	got, ok, err := c.GetPattern(ctx, cacheNS, dflt.ID)
	wantEqual(t, "pattern with the default 10 s TTL after 1 s", mustHit(t, "pattern", got, ok, err), dflt)
	clk.Advance(24 * time.Hour)
	_, ok, err = c.GetPattern(ctx, cacheNS, dflt.ID)
	wantMiss(t, "pattern with the default TTL after a day", ok, err)
	got, ok, err = c.GetPattern(ctx, cacheNS, never.ID)
	wantEqual(t, "pattern that never expires after a day", mustHit(t, "pattern", got, ok, err), never)
}

func testCacheInvalid(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	zero := RandomEpisode(rng, 1)
	zero.ID = engram.EpisodeID{}
	if err := c.PutEpisode(ctx, cacheNS, zero); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("PutEpisode with a nil id: err = %v, want EINVALID", err)
	}
	ep := RandomEpisode(rng, 1)
	if err := c.PutEpisode(ctx, "Not Valid!", ep); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("PutEpisode in a bad namespace: err = %v, want EINVALID", err)
	}
	if _, _, err := c.GetEpisode(ctx, "", ep.ID); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("GetEpisode in the empty namespace: err = %v, want EINVALID", err)
	}
	// One bad write fails the whole batch, and nothing of it is written.
	p := RandomPattern(rng)
	b := engram.CacheBatch{Writes: []engram.CacheWrite{
		{Key: engram.EpisodeCacheKey(cacheNS, ep.ID), Episode: ep},
		{Key: engram.PatternCacheKey(cacheNS, engram.NewPatternID()), Pattern: p}, // id does not match the key
	}}
	b.SetWatermark(5)
	if err := c.Apply(ctx, &b); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("Apply with a mismatched key: err = %v, want EINVALID", err)
	}
	_, ok, err := c.GetEpisode(ctx, cacheNS, ep.ID)
	wantMiss(t, "episode of a rejected batch", ok, err)
	if w, _ := c.Watermark(ctx); w != 0 {
		t.Fatalf("Watermark = %d after a rejected batch, want 0", w)
	}
}

func testCacheOwnership(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	ep := RandomEpisode(rng, 3)
	want := RandomEpisode(rand.New(rand.NewPCG(uint64(len(t.Name())), 42)), 3) // the same values, separately allocated
	must(t, c.PutEpisode(ctx, cacheNS, ep))
	ep.TaskDescription = "changed"
	ep.Steps[0].Tool = "changed"
	ep.Steps[1].Parameters[0] = '['
	ep.Tags[0] = "changed"
	ep.Metadata["agent"] = "changed"
	ep.Outcome.Verdict = "changed"
	got, ok, err := c.GetEpisode(ctx, cacheNS, want.ID)
	wantEqual(t, "episode changed by its caller after Put", mustHit(t, "episode", got, ok, err), want)
}

func testCacheStats(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx, rng := context.Background(), newRand(t)
	before, err := c.Stats(ctx)
	must(t, err)
	a, b := RandomEpisode(rng, 1), RandomEpisode(rng, 1)
	must(t, c.PutEpisode(ctx, cacheNS, a))
	must(t, c.PutEpisode(ctx, cacheNS, b))
	for i := 0; i < 3; i++ {
		_, ok, err := c.GetEpisode(ctx, cacheNS, a.ID)
		mustHit(t, "episode", struct{}{}, ok, err)
	}
	_, ok, err := c.GetEpisode(ctx, cacheNS, engram.NewEpisodeID())
	wantMiss(t, "absent episode", ok, err)
	must(t, c.Delete(ctx, engram.EpisodeCacheKey(cacheNS, b.ID)))
	st, err := c.Stats(ctx)
	must(t, err)
	d := func(now, then uint64) uint64 { return now - then }
	if d(st.Hits, before.Hits) != 3 || d(st.Misses, before.Misses) != 1 || d(st.Reads, before.Reads) != 4 {
		t.Fatalf("hits, misses, reads = %d, %d, %d; want 3, 1, 4", d(st.Hits, before.Hits), d(st.Misses, before.Misses), d(st.Reads, before.Reads))
	}
	if d(st.Writes, before.Writes) != 2 || d(st.Deletes, before.Deletes) != 1 {
		t.Fatalf("writes, deletes = %d, %d; want 2, 1", d(st.Writes, before.Writes), d(st.Deletes, before.Deletes))
	}
	if st.Entries != 1 || st.Bytes <= 0 {
		t.Fatalf("Entries = %d, Bytes = %d; want 1 and a positive size", st.Entries, st.Bytes)
	}
	if want := float64(st.Hits) / float64(st.Reads); st.HitRate != want {
		t.Fatalf("HitRate = %v, want %v", st.HitRate, want)
	}
}

func testCacheConcurrent(t *testing.T, c engram.Cache, _ *clock.Manual) {
	ctx := context.Background()
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < each; i++ {
				ep := RandomEpisode(rng, 2)
				if err := c.PutEpisode(ctx, cacheNS, ep); err != nil {
					errs <- err
					return
				}
				got, ok, err := c.GetEpisode(ctx, cacheNS, ep.ID)
				if err != nil || !ok || !reflect.DeepEqual(got, ep) {
					errs <- fmt.Errorf("worker %d: episode %d: ok=%t err=%v equal=%t", w, i, ok, err, reflect.DeepEqual(got, ep))
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := c.Stats(ctx)
	must(t, err)
	if st.Entries != workers*each {
		t.Fatalf("Entries = %d, want %d", st.Entries, workers*each)
	}
}
