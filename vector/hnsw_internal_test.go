package vector

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortCands packs candidates into integers; its order must be the plain
// comparison's (distance, then id), for negative distances (Dot), zeros and
// ties included.
func TestSortCandsOrdersByDistanceThenID(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for round := range 200 {
		n := 1 + r.IntN(700) // beyond the on-stack buffer too
		c := make([]cand, n)
		for i := range c {
			d := float32(r.NormFloat64())
			switch r.IntN(6) {
			case 0:
				d = 0
			case 1:
				d = float32(r.IntN(3)) - 1 // ties
			case 2:
				d = math.MaxFloat32 * float32(r.IntN(3)-1)
			}
			c[i] = cand{d, r.Uint32()}
		}
		want := slices.Clone(c)
		slices.SortStableFunc(want, func(a, b cand) int {
			switch {
			case a.d < b.d:
				return -1
			case a.d > b.d:
				return 1
			case a.id < b.id:
				return -1
			case a.id > b.id:
				return 1
			}
			return 0
		})
		sortCands(c)
		if !slices.Equal(c, want) {
			t.Fatalf("round %d (n=%d): sortCands differs from the reference order", round, n)
		}
	}
}

// The visited set must report each id once per traversal, whatever ids
// the previous traversal left behind.
func TestVisitedIsFreshPerTraversal(t *testing.T) {
	h := mustHNSW(t, Options{Dim: 4})
	for i := range 1000 {
		var k [16]byte
		k[0], k[1] = byte(i), byte(i>>8)
		if err := h.Add(k, []float32{1, float32(i), 0, 1}); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(3, 3))
	for round := range 50 {
		v := h.getVisited()
		marked := map[uint32]bool{}
		for range 1 + r.IntN(4000) {
			id := uint32(r.IntN(1000))
			if got := v.seen(id); got != marked[id] {
				t.Fatalf("round %d: seen(%d) = %v, want %v", round, id, got, marked[id])
			}
			marked[id] = true
		}
		if !v.seen(1 << 30) {
			t.Fatalf("round %d: an id beyond the set is not reported seen", round)
		}
		h.putVisited(v)
	}
}
