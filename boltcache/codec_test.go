package boltcache

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// TestCodecRoundTripsEveryField fills every field of each record type with
// random values, encodes and decodes it, and wants it back unchanged, so a
// field the codec forgets fails here.
func TestCodecRoundTripsEveryField(t *testing.T) {
	cd, err := newCodecs(-1, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer cd.close()
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		var ep engram.Episode
		var p engram.Pattern
		var h engram.Heuristic
		var e engram.Embedding
		for _, v := range []any{&ep, &p, &h, &e} {
			storetest.FillRandom(v, rng)
		}
		ns := engram.Namespace("fill")
		for _, w := range []engram.CacheWrite{
			{Key: engram.EpisodeCacheKey(ns, ep.ID), Episode: &ep},
			{Key: engram.PatternCacheKey(ns, p.ID), Pattern: &p},
			{Key: engram.HeuristicCacheKey(ns, h.ID), Heuristic: &h},
			{Key: engram.EmbeddingCacheKey(ns, e.Key()), Embedding: &e},
		} {
			key := appendIndexKey(nil, w.Key)
			val := cd.encodeRecord(nil, key[1:], &w, 0, 1)
			r, err := cd.decodeRecord(key[1:], val, kindCode(key[0]))
			if err != nil {
				t.Fatalf("seed %d: decode %s: %v", seed, w.Key.Kind, err)
			}
			var got, want any
			switch w.Key.Kind {
			case engram.KindEpisode:
				got, want = r.ep, w.Episode
			case engram.KindPattern:
				got, want = r.pat, w.Pattern
			case engram.KindHeuristic:
				got, want = r.heu, w.Heuristic
			case engram.KindEmbedding:
				got, want = r.emb, w.Embedding
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: %s differs after a round trip:\n got %+v\nwant %+v", seed, w.Key.Kind, got, want)
			}
		}
	}
}

// TestRecordRejectsDamage flips every byte of an encoded record in turn, and
// of its key, and wants each version rejected.
func TestRecordRejectsDamage(t *testing.T) {
	for _, threshold := range []int{-1, 1} {
		cd, err := newCodecs(threshold, 3)
		if err != nil {
			t.Fatal(err)
		}
		ep := storetest.RandomEpisode(rand.New(rand.NewPCG(1, 1)), 3)
		w := engram.CacheWrite{Key: engram.EpisodeCacheKey("d", ep.ID), Episode: ep}
		key := appendIndexKey(nil, w.Key)[1:]
		val := cd.encodeRecord(nil, key, &w, 0, 7)
		if _, err := cd.decodeRecord(key, val, codeEpisode); err != nil {
			t.Fatalf("intact record: %v", err)
		}
		for i := range val {
			bad := append([]byte(nil), val...)
			bad[i] ^= 0x5a
			if _, err := cd.decodeRecord(key, bad, codeEpisode); err == nil {
				t.Fatalf("threshold %d: flipping byte %d of %d went unnoticed", threshold, i, len(val))
			}
		}
		for i := range key {
			bad := append([]byte(nil), key...)
			bad[i] ^= 1
			if _, err := cd.decodeRecord(bad, val, codeEpisode); err == nil {
				t.Fatalf("threshold %d: the record verified under a key with byte %d changed", threshold, i)
			}
		}
		for n := 0; n < len(val); n++ {
			if _, err := cd.decodeRecord(key, val[:n], codeEpisode); err == nil {
				t.Fatalf("threshold %d: a record truncated to %d bytes verified", threshold, n)
			}
		}
		if _, err := cd.decodeRecord(key, val, codePattern); err == nil {
			t.Fatalf("threshold %d: an episode record decoded as a pattern", threshold)
		}
		cd.close()
	}
}
