package boltcache

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

func TestKeysListsEveryRecord(t *testing.T) {
	c := openChecked(t, filepath.Join(t.TempDir(), "cache.db"), Options{TTLCheckInterval: -1})
	defer c.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	var b engram.CacheBatch
	var want []string
	for i := 0; i < 5; i++ {
		ep := storetest.RandomEpisode(rng, 1)
		b.PutEpisode("ns-a", ep)
		want = append(want, engram.EpisodeCacheKey("ns-a", ep.ID).String())
	}
	p, h, e := storetest.RandomPattern(rng), storetest.RandomHeuristic(rng), storetest.RandomEmbedding(rng, 4)
	b.PutPattern("ns-b", p)
	b.PutHeuristic("ns-b", h)
	b.PutEmbedding("ns-b", e)
	want = append(want, engram.PatternCacheKey("ns-b", p.ID).String(), engram.HeuristicCacheKey("ns-b", h.ID).String(),
		engram.EmbeddingCacheKey("ns-b", e.Key()).String())
	if err := c.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := c.Keys(ctx, func(k engram.CacheKey) error {
		got = append(got, k.String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	sort.Strings(want)
	storetest.Equal(t, "keys", got, want)
}

func TestQuickHealthSkipsTheCheck(t *testing.T) {
	c := openChecked(t, filepath.Join(t.TempDir(), "cache.db"), Options{TTLCheckInterval: -1})
	defer c.Close()
	full, err := c.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	quick, err := c.QuickHealth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if full.Check != "ok" || quick.Check != "not run" || !quick.Healthy || quick.Path != full.Path || quick.DiskFree == 0 {
		t.Fatalf("full %+v\nquick %+v", full, quick)
	}
}
