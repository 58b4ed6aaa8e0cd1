package boltcache

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// fuzzKey is the bolt key every fuzzed record is verified under.
var fuzzKey = []byte("fuzz\x000123456789abcdef")

// FuzzDecodeRecord feeds the record decoder arbitrary bytes. With sealed,
// the input is taken as a record without its checksum and sealed with a
// valid one, so the fuzzer reaches the payload codec and the decompressor
// instead of stopping at the checksum. The decoder must never panic, and a
// record it accepts must encode and decode again to the same value.
func FuzzDecodeRecord(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	plain, err := newCodecs(-1, 3)
	if err != nil {
		f.Fatal(err)
	}
	packed, err := newCodecs(1, 3)
	if err != nil {
		f.Fatal(err)
	}
	ns := engram.Namespace("fuzz")
	ep, p, h, e := storetest.RandomEpisode(rng, 3), storetest.RandomPattern(rng), storetest.RandomHeuristic(rng), storetest.RandomEmbedding(rng, 8)
	for _, w := range []engram.CacheWrite{
		{Key: engram.EpisodeCacheKey(ns, ep.ID), Episode: ep},
		{Key: engram.PatternCacheKey(ns, p.ID), Pattern: p},
		{Key: engram.HeuristicCacheKey(ns, h.ID), Heuristic: h},
		{Key: engram.EmbeddingCacheKey(ns, e.Key()), Embedding: e},
		{Key: engram.EpisodeCacheKey(ns, ep.ID), Episode: &engram.Episode{ID: ep.ID}},
	} {
		for _, cd := range []*codecs{plain, packed} {
			rec := cd.encodeRecord(nil, fuzzKey, &w, 1e18, 9)
			f.Add(rec, false)
			f.Add(rec[:len(rec)-trailerSize], true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, sealed bool) {
		if sealed {
			sum := crc32.Update(crc32.Update(0, castagnoli, fuzzKey), castagnoli, data)
			data = binary.BigEndian.AppendUint32(append([]byte(nil), data...), sum)
		}
		for code := kindCode(1); int(code) <= numKinds; code++ {
			r, err := plain.decodeRecord(fuzzKey, data, code)
			if err != nil {
				continue
			}
			w := engram.CacheWrite{Episode: r.ep, Pattern: r.pat, Heuristic: r.heu, Embedding: r.emb}
			w.Key.Kind = [...]engram.RecordKind{codeEpisode: engram.KindEpisode, codePattern: engram.KindPattern,
				codeHeuristic: engram.KindHeuristic, codeEmbedding: engram.KindEmbedding}[code]
			// Compare encodings, not values: a NaN is not DeepEqual to itself.
			enc := plain.encodeRecord(nil, fuzzKey, &w, r.expires, 1)
			again, err := plain.decodeRecord(fuzzKey, enc, code)
			if err != nil {
				t.Fatalf("a decoded %s does not decode after encoding again: %v", code, err)
			}
			w2 := engram.CacheWrite{Key: w.Key, Episode: again.ep, Pattern: again.pat, Heuristic: again.heu, Embedding: again.emb}
			if enc2 := plain.encodeRecord(nil, fuzzKey, &w2, again.expires, 1); !bytes.Equal(enc, enc2) {
				t.Fatalf("a decoded %s changes when encoded and decoded again:\n%+v\n%+v", code, r, again)
			}
		}
	})
}
