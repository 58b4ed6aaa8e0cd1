package boltcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// testSeed returns the seed in ENGRAM_TEST_SEED, or a fresh one, and logs it
// so a failure can be reproduced.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ENGRAM_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("ENGRAM_TEST_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with ENGRAM_TEST_SEED=%d)", seed, seed)
	return seed
}

// corpus is what a test wrote into a cache: every record by key.
type corpus struct {
	writes []engram.CacheWrite
}

func buildCorpus(rng *rand.Rand, n int) corpus {
	var c corpus
	ns := engram.Namespace("corrupt")
	for i := 0; i < n; i++ {
		switch i % 4 {
		case 0, 1:
			ep := storetest.RandomEpisode(rng, 1+rng.IntN(20))
			c.writes = append(c.writes, engram.CacheWrite{Key: engram.EpisodeCacheKey(ns, ep.ID), Episode: ep})
		case 2:
			p := storetest.RandomPattern(rng)
			c.writes = append(c.writes, engram.CacheWrite{Key: engram.PatternCacheKey(ns, p.ID), Pattern: p})
		case 3:
			e := storetest.RandomEmbedding(rng, 16+rng.IntN(600))
			c.writes = append(c.writes, engram.CacheWrite{Key: engram.EmbeddingCacheKey(ns, e.Key()), Embedding: e})
		}
	}
	return c
}

// read gets the record of w's key and says whether it equals what w put.
func readBack(ctx context.Context, c *Cache, w *engram.CacheWrite) (ok, equal bool, err error) {
	r, ok, err := c.get(ctx, w.Key)
	if err != nil || !ok {
		return ok, false, err
	}
	switch w.Key.Kind {
	case engram.KindEpisode:
		return true, reflect.DeepEqual(r.ep, w.Episode), nil
	case engram.KindPattern:
		return true, reflect.DeepEqual(r.pat, w.Pattern), nil
	case engram.KindEmbedding:
		return true, reflect.DeepEqual(r.emb, w.Embedding), nil
	}
	return true, false, nil
}

// TestCorruptFileNeverReturnsWrongData damages a cache file at seeded random
// positions (byte flips, zeroed pages, truncation) and reopens it each time.
// Open must succeed within a bound, every read must return the record that
// was put or a miss, Check must leave no bad record behind, and the cache
// must take new writes.
func TestCorruptFileNeverReturnsWrongData(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx := context.Background()
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	data := buildCorpus(rng, 300)
	c, err := Open(orig, Options{Logger: discardLogger(), TTLCheckInterval: -1, CompressThreshold: 1500})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data.writes); i += 50 {
		if err := c.Apply(ctx, &engram.CacheBatch{Writes: data.writes[i:min(i+50, len(data.writes))]}); err != nil {
			t.Fatal(err)
		}
	}
	// Delete some so the file has free pages too.
	for i := 0; i < len(data.writes); i += 7 {
		if err := c.Delete(ctx, data.writes[i].Key); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("file of %d bytes, %d records", len(clean), len(data.writes))

	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	var hits, misses, recreated int
	for round := 0; round < rounds; round++ {
		damaged := append([]byte(nil), clean...)
		var what string
		switch mode := rng.IntN(10); {
		case mode < 5:
			n := 1 + rng.IntN(8)
			for i := 0; i < n; i++ {
				damaged[rng.IntN(len(damaged))] ^= byte(1 + rng.IntN(255))
			}
			what = fmt.Sprintf("%d flipped bytes", n)
		case mode < 7:
			pg := rng.IntN(len(damaged) / 4096)
			clear(damaged[pg*4096 : (pg+1)*4096])
			what = fmt.Sprintf("page %d zeroed", pg)
		case mode < 9:
			n := rng.IntN(len(damaged))
			damaged = damaged[:n]
			what = fmt.Sprintf("truncated to %d bytes", n)
		default:
			off := rng.IntN(len(damaged) - 64)
			for i := 0; i < 64; i++ {
				damaged[off+i] = byte(rng.UintN(256))
			}
			what = fmt.Sprintf("64 random bytes at %d", off)
		}
		path := filepath.Join(dir, fmt.Sprintf("round%d.db", round))
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		// bbolt lays pages out in map order, so a seed reproduces the damage
		// but not always the file; keep the damaged file of a failed round.
		keep := filepath.Join(os.TempDir(), fmt.Sprintf("engram-corrupt-%d-round%d.db", seed, round))
		_ = os.WriteFile(keep, damaged, 0o600)
		type opened struct {
			c   *Cache
			err error
		}
		done := make(chan opened, 1)
		go func() {
			c, err := Open(path, Options{Logger: discardLogger(), TTLCheckInterval: -1})
			done <- opened{c, err}
		}()
		var o opened
		select {
		case o = <-done:
		case <-time.After(30 * time.Second): // a bound on hanging, not a performance assertion
			t.Fatalf("round %d (%s): Open did not return", round, what)
		}
		if o.err != nil {
			t.Fatalf("round %d (%s): Open: %v", round, what, o.err)
		}
		c := o.c
		if c.recreated != "" {
			recreated++
		}
		for i := range data.writes {
			ok, equal, err := readBack(ctx, c, &data.writes[i])
			if err != nil {
				t.Fatalf("round %d (%s): read %s: %v", round, what, data.writes[i].Key, err)
			}
			if ok && !equal {
				t.Fatalf("round %d (%s): read %s returned a record that differs from the one put", round, what, data.writes[i].Key)
			}
			if ok {
				hits++
			} else {
				misses++
			}
		}
		rep, err := c.Check(ctx, true)
		if err != nil {
			t.Fatalf("round %d (%s): Check: %v", round, what, err)
		}
		if rep.Structure != "ok" {
			t.Fatalf("round %d (%s): structure after open: %s", round, what, rep.Structure)
		}
		if again, err := c.Check(ctx, false); err != nil || len(again.Bad) != 0 {
			t.Fatalf("round %d (%s): a second Check found %d bad records (err %v): %q; first: %q, removed %d", round, what, len(again.Bad), err, again.Bad, rep.Bad, rep.Removed)
		}
		fresh := storetest.RandomEpisode(rng, 3)
		if err := c.PutEpisode(ctx, "corrupt", fresh); err != nil {
			t.Fatalf("round %d (%s): put after open: %v", round, what, err)
		}
		got, ok, err := c.GetEpisode(ctx, "corrupt", fresh.ID)
		if err != nil || !ok || !reflect.DeepEqual(got, fresh) {
			t.Fatalf("round %d (%s): the record put after open reads back ok=%t err=%v", round, what, ok, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("round %d (%s): Close: %v", round, what, err)
		}
		_ = os.Remove(path)
		_ = os.Remove(keep)
	}
	t.Logf("%d rounds: %d files recreated, %d reads hit, %d missed", rounds, recreated, hits, misses)
	if hits == 0 || recreated == 0 {
		t.Fatalf("the damage never left a readable record (%d hits) or never forced a rebuild (%d); the test is not testing", hits, recreated)
	}
}

// TestOpenDiscardsOtherFormats writes a file of another format version and
// a file of garbage and wants each replaced by an empty cache.
func TestOpenDiscardsOtherFormats(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a bbolt file at all, and it is long enough to look at"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(garbage, Options{Logger: discardLogger(), TTLCheckInterval: -1})
	if err != nil {
		t.Fatalf("Open of a garbage file: %v", err)
	}
	if c.recreated == "" {
		t.Fatal("a garbage file was not reported as recreated")
	}
	c.Close()

	old := filepath.Join(dir, "old.db")
	c, err = Open(old, Options{Logger: discardLogger(), TTLCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ep := storetest.RandomEpisode(rand.New(rand.NewPCG(1, 2)), 2)
	if err := c.PutEpisode(ctx, "fmt", ep); err != nil {
		t.Fatal(err)
	}
	if err := c.db.Update(func(tx *boltTx) error { return tx.Bucket(metaTable).Put(keyFormat, []byte("engram.boltcache/0")) }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = Open(old, Options{Logger: discardLogger(), TTLCheckInterval: -1})
	if err != nil {
		t.Fatalf("Open of an old-format file: %v", err)
	}
	defer c.Close()
	if c.recreated == "" {
		t.Fatal("an old-format file was not reported as recreated")
	}
	if _, ok, err := c.GetEpisode(ctx, "fmt", ep.ID); ok || err != nil {
		t.Fatalf("a record of the old-format file was returned (ok=%t, err=%v)", ok, err)
	}
}
