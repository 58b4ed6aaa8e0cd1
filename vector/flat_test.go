package vector

import (
	"math"
	"slices"
	"testing"

	"github.com/engramhq/engram"
)

// TestExactScanAcrossChunks runs the exact scan over several storage chunks
// (the last one partial), an odd dimension, tombstones and a predicate
// filter, for every metric, against the float64 brute force; and checks that
// a flat search whose rerank window holds every vector answers exactly what
// the exact scan does, distances to the bit.
func TestExactScanAcrossChunks(t *testing.T) {
	const n, dim = 2*chunkSize + 600, 33
	d, qs := clustered(t, 21, n, 12, dim)
	for i, v := range d.Vectors {
		s := float32(0.5 + float64(i%5)/4)
		for j := range v {
			v[j] *= s
		}
	}
	live := func(i int) bool { return i%5 != 0 }
	even := func(i int) bool { return i%2 == 0 }
	row := make(map[engram.UUID]int, n)
	for i, k := range d.Keys {
		row[k] = i
	}
	for _, m := range []Metric{Cosine, Dot, L2} {
		t.Run(m.String(), func(t *testing.T) {
			f := mustFlat(t, Options{Dim: dim, Metric: m})
			for i := range d.Keys {
				if err := f.Add(d.Keys[i], d.Vectors[i]); err != nil {
					t.Fatal(err)
				}
			}
			for i, k := range d.Keys {
				if !live(i) && !f.Delete(k) {
					t.Fatalf("Delete(%v) = false", k)
				}
			}
			exact := func() *SearchOptions { return &SearchOptions{Exact: true} }
			if r := recallOf(t, f, m, d, qs, 10, exact, live); r != 1 {
				t.Errorf("exact recall@10 = %.4f, want 1", r)
			}
			pred := func() *SearchOptions {
				return &SearchOptions{Exact: true, Allow: func(k engram.UUID) bool { return even(row[k]) }}
			}
			if r := recallOf(t, f, m, d, qs, 25, pred, func(i int) bool { return live(i) && even(i) }); r != 1 {
				t.Errorf("exact recall@25 with a predicate = %.4f, want 1", r)
			}
			for _, q := range qs {
				want, err := f.Search(q, 10, &SearchOptions{Exact: true})
				if err != nil {
					t.Fatal(err)
				}
				got, err := f.Search(q, 10, &SearchOptions{Rerank: n})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got, want, func(a, b Hit) bool {
					return a.Key == b.Key && math.Float32bits(a.Distance) == math.Float32bits(b.Distance)
				}) {
					t.Fatalf("flat search, rerank %d:\n%v\nexact scan:\n%v", n, got, want)
				}
			}
		})
	}
}
