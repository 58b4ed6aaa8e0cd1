package vector

import (
	"errors"
	"math"
	"slices"
	"strings"
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

// TestSearchBatchAnswersLikeSearch checks SearchBatch against Search, query
// by query, hits and distances to the bit: over several chunks with
// tombstones, for every metric, unfiltered, with a predicate, with a Keys
// filter and exact; and that bad input names the vector and changes nothing.
func TestSearchBatchAnswersLikeSearch(t *testing.T) {
	const n, dim = 2*chunkSize + 300, 64
	d, qs := clustered(t, 22, n, 9, dim)
	for _, m := range []Metric{Cosine, Dot, L2} {
		t.Run(m.String(), func(t *testing.T) {
			f := mustFlat(t, Options{Dim: dim, Metric: m})
			for i := range d.Keys {
				if err := f.Add(d.Keys[i], d.Vectors[i]); err != nil {
					t.Fatal(err)
				}
			}
			for i, k := range d.Keys {
				if i%7 == 3 {
					f.Delete(k)
				}
			}
			allowed := map[engram.UUID]bool{}
			for i, k := range d.Keys {
				if i%3 != 0 {
					allowed[k] = true
				}
			}
			opts := map[string]func() *SearchOptions{
				"default":   func() *SearchOptions { return nil },
				"rerank 16": func() *SearchOptions { return &SearchOptions{Rerank: 16} },
				"predicate": func() *SearchOptions { return &SearchOptions{Allow: func(k engram.UUID) bool { return allowed[k] }} },
				"keys":      func() *SearchOptions { return &SearchOptions{Keys: d.Keys[:500]} },
				"exact":     func() *SearchOptions { return &SearchOptions{Exact: true} },
			}
			for name, o := range opts {
				got, err := f.SearchBatch(qs, 10, o())
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(qs) {
					t.Fatalf("%s: %d answers for %d queries", name, len(got), len(qs))
				}
				for j, q := range qs {
					want, err := f.Search(q, 10, o())
					if err != nil {
						t.Fatal(err)
					}
					if len(want) != 10 || !slices.EqualFunc(got[j], want, func(a, b Hit) bool {
						return a.Key == b.Key && math.Float32bits(a.Distance) == math.Float32bits(b.Distance)
					}) {
						t.Fatalf("%s: query %d: SearchBatch\n%v\nSearch\n%v", name, j, got[j], want)
					}
				}
			}
			var st SearchStats
			if _, err := f.SearchBatch(qs, 10, &SearchOptions{Stats: &st}); err != nil || st.Plan != PlanFlat || st.Distances != n {
				t.Fatalf("stats %+v, err %v; want plan %s and %d distances", st, err, PlanFlat, n)
			}
		})
	}
	f := mustFlat(t, Options{Dim: dim})
	bad := [][]float32{qs[0], make([]float32, dim-1)}
	if _, err := f.SearchBatch(bad, 10, nil); !errors.Is(err, engram.ErrInvalid) || !strings.Contains(err.Error(), "vectors[1]") {
		t.Fatalf("short vector: err = %v, want EINVALID naming vectors[1]", err)
	}
	nan := slices.Clone(qs[1])
	nan[5] = float32(math.NaN())
	if _, err := f.SearchBatch([][]float32{qs[0], qs[1], nan}, 10, nil); !errors.Is(err, engram.ErrInvalid) || !strings.Contains(err.Error(), "vectors[2][5]") {
		t.Fatalf("NaN component: err = %v, want EINVALID naming vectors[2][5]", err)
	}
	if _, err := f.SearchBatch(qs, 0, nil); !errors.Is(err, engram.ErrInvalid) || !strings.Contains(err.Error(), "k") {
		t.Fatalf("k=0: err = %v, want EINVALID naming k", err)
	}
	if got, err := f.SearchBatch(nil, 10, nil); err != nil || len(got) != 0 {
		t.Fatalf("no queries: %v, %v; want none and no error", got, err)
	}
}

// TestSumsReadEveryStoredValue checks the benchmark's bandwidth yardsticks
// against sums taken here over the chunks: every vector and code, the last
// chunk partial, and the byte counts.
func TestSumsReadEveryStoredValue(t *testing.T) {
	const n, dim = chunkSize + 77, 40
	d, _ := clustered(t, 23, n, 1, dim)
	f := mustFlat(t, Options{Dim: dim})
	for i := range d.Keys {
		if err := f.Add(d.Keys[i], d.Vectors[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wantCodes uint64
	var wantVecs float64
	for id := uint32(0); id < n; id++ {
		c := f.s.chunk(id)
		i := int(id&chunkMask) * dim
		for _, x := range c.codes[i : i+dim] {
			wantCodes += uint64(uint8(x))
		}
		for _, x := range c.vecs[i : i+dim] {
			wantVecs += float64(x)
		}
	}
	if got, b := f.SumCodes(); got != wantCodes || b != n*dim {
		t.Fatalf("SumCodes = %d over %d bytes, want %d over %d", got, b, wantCodes, n*dim)
	}
	if got, b := f.SumVectors(); math.Abs(float64(got)-wantVecs) > 1e-3*float64(n) || b != n*dim*4 {
		t.Fatalf("SumVectors = %v over %d bytes, want %v over %d", got, b, wantVecs, n*dim*4)
	}
}
