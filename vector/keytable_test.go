package vector

import (
	"math/rand/v2"
	"testing"

	"github.com/engramhq/engram"
)

// TestKeyTableMatchesMap runs random puts, deletes and gets against a Go
// map, on keys that share hash buckets often (a small key space, many
// deletes), so backward-shift deletion is exercised across wrap-around.
func TestKeyTableMatchesMap(t *testing.T) {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	s := newStore(1, L2, false, 0)
	var nodes uint32
	keyOf := func(i int) engram.UUID { return engram.UUID{byte(i), byte(i >> 8), 7} }
	newNode := func(k engram.UUID) uint32 {
		if nodes&chunkMask == 0 {
			s.chunks[nodes>>chunkBits].Store(s.newChunk())
		}
		s.chunk(nodes).keys[nodes&chunkMask] = k
		nodes++
		return nodes - 1
	}
	tab := newKeyTable(0)
	ref := map[engram.UUID]uint32{}
	for op := range 20000 {
		k := keyOf(r.IntN(300))
		switch r.IntN(3) {
		case 0:
			id := newNode(k)
			old, replaced := tab.put(s, k, id)
			want, had := ref[k]
			if replaced != had || (had && old != want) {
				t.Fatalf("op %d put %v: replaced %v (%d), want %v (%d)", op, k, replaced, old, had, want)
			}
			ref[k] = id
		case 1:
			id, ok := tab.del(s, k)
			want, had := ref[k]
			if ok != had || (had && id != want) {
				t.Fatalf("op %d del %v: %v (%d), want %v (%d)", op, k, ok, id, had, want)
			}
			delete(ref, k)
		case 2:
			id, ok := tab.get(s, k)
			want, had := ref[k]
			if ok != had || (had && id != want) {
				t.Fatalf("op %d get %v: %v (%d), want %v (%d)", op, k, ok, id, had, want)
			}
		}
		if tab.n != len(ref) {
			t.Fatalf("op %d: table holds %d, map %d", op, tab.n, len(ref))
		}
	}
	for k, want := range ref {
		if id, ok := tab.get(s, k); !ok || id != want {
			t.Fatalf("final get %v = %d, %v; want %d", k, id, ok, want)
		}
	}
}
