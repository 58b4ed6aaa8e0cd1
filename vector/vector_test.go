package vector

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/vector/vectortest"
)

// bruteForce is the reference: float64 distances, computed here, not by the
// package, over the vectors the test inserted.
func bruteForce(metric Metric, keys []engram.UUID, vecs [][]float32, q []float32, k int, allow func(int) bool) []engram.UUID {
	type kd struct {
		d float64
		i int
	}
	norm := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	qn := norm(q)
	var all []kd
	for i, v := range vecs {
		if allow != nil && !allow(i) {
			continue
		}
		var d float64
		switch metric {
		case L2:
			for j := range v {
				x := float64(v[j]) - float64(q[j])
				d += x * x
			}
		default:
			for j := range v {
				d += float64(v[j]) * float64(q[j])
			}
			if metric == Cosine {
				d = 1 - d/(norm(v)*qn)
			} else {
				d = -d
			}
		}
		all = append(all, kd{d, i})
	}
	slices.SortFunc(all, func(a, b kd) int {
		if a.d < b.d {
			return -1
		} else if a.d > b.d {
			return 1
		}
		return 0
	})
	out := make([]engram.UUID, 0, k)
	for _, x := range all[:min(k, len(all))] {
		out = append(out, keys[x.i])
	}
	return out
}

func hitKeys(h []Hit) []engram.UUID {
	out := make([]engram.UUID, len(h))
	for i := range h {
		out[i] = h[i].Key
	}
	return out
}

type searcher interface {
	Search(v []float32, k int, o *SearchOptions) ([]Hit, error)
}

// recallOf runs the queries against ix and the brute force and returns
// recall@k.
func recallOf(t *testing.T, ix searcher, metric Metric, d vectortest.Data, queries [][]float32, k int, o func() *SearchOptions, allow func(int) bool) float64 {
	t.Helper()
	var got, want [][]engram.UUID
	for _, q := range queries {
		var opts *SearchOptions
		if o != nil {
			opts = o()
		}
		hits, err := ix.Search(q, k, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(hits, func(a, b Hit) int {
			if a.Distance < b.Distance {
				return -1
			} else if a.Distance > b.Distance {
				return 1
			}
			return 0
		}) {
			t.Fatalf("hits not sorted nearest first: %v", hits)
		}
		got = append(got, hitKeys(hits))
		want = append(want, truthFor(metric, d, q, k, allow))
	}
	return vectortest.Recall(got, want, k)
}

// truthFor is the brute force, read from the shared data's precomputed
// order when q is one of its queries.
func truthFor(metric Metric, d vectortest.Data, q []float32, k int, allow func(int) bool) []engram.UUID {
	if metric == Cosine && len(d.Keys) > 0 && len(sharedData.Keys) > 0 && &d.Vectors[0][0] == &sharedData.Vectors[0][0] {
		for qi := range sharedQs {
			if &sharedQs[qi][0] != &q[0] {
				continue
			}
			var out []engram.UUID
			for _, i := range sharedOrder[qi] {
				if len(out) == k {
					break
				}
				if allow == nil || allow(i) {
					out = append(out, d.Keys[i])
				}
			}
			return out
		}
	}
	return bruteForce(metric, d.Keys, d.Vectors, q, k, allow)
}

func clustered(t testing.TB, seed uint64, n, nq, dim int) (vectortest.Data, [][]float32) {
	t.Helper()
	s := vectortest.New(vectortest.Gen{Seed: seed, Dim: dim})
	d := s.Draw(n)
	qs := make([][]float32, nq)
	for i := range qs {
		qs[i] = s.Vector()
	}
	return d, qs
}

func mustHNSW(t testing.TB, o Options) *HNSW {
	t.Helper()
	h, err := NewHNSW(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustFlat(t testing.TB, o Options) *Flat {
	t.Helper()
	f, err := NewFlat(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The shared 5,000-vector graph (built once; tests that change it build
// their own).
var (
	sharedOnce  sync.Once
	sharedData  vectortest.Data
	sharedQs    [][]float32
	sharedGraph *HNSW
	sharedOrder [][]int // per query, every vector's index nearest first (float64 brute force)
)

func shared(t *testing.T) (*HNSW, vectortest.Data, [][]float32) {
	t.Helper()
	sharedOnce.Do(func() {
		sharedData, sharedQs = clustered(t, 1, 5000, 50, 128)
		h, err := NewHNSW(Options{Dim: 128, FlatBelow: -1, EfConstruction: 64, Seed: 1})
		if err != nil {
			panic(err)
		}
		if err := h.Build(sharedData.Keys, sharedData.Vectors, 2); err != nil {
			panic(err)
		}
		sharedGraph = h
		for _, q := range sharedQs {
			order := make([]int, 0, len(sharedData.Keys))
			idx := map[engram.UUID]int{}
			for i, k := range sharedData.Keys {
				idx[k] = i
			}
			for _, k := range bruteForce(Cosine, sharedData.Keys, sharedData.Vectors, q, len(sharedData.Keys), nil) {
				order = append(order, idx[k])
			}
			sharedOrder = append(sharedOrder, order)
		}
	})
	return sharedGraph, sharedData, sharedQs
}

func TestHNSWRecallAtFixedEf(t *testing.T) {
	h, d, qs := shared(t)
	var st SearchStats
	r := recallOf(t, h, Cosine, d, qs, 10, func() *SearchOptions { return &SearchOptions{Ef: 64, Stats: &st} }, nil)
	t.Logf("recall@10 at ef=64: %.4f (plan %s)", r, st.Plan)
	if st.Plan != PlanGraph {
		t.Fatalf("plan = %q, want %q", st.Plan, PlanGraph)
	}
	if r < 0.95 {
		t.Fatalf("recall@10 = %.4f at ef=64, want >= 0.95", r)
	}
	if h.Len() != 5000 {
		t.Fatalf("Len = %d, want 5000", h.Len())
	}
}

func TestFlatRecallIsExactAtSmallRerank(t *testing.T) {
	_, d, qs := shared(t)
	f := mustFlat(t, Options{Dim: 128})
	for i := range d.Keys {
		if err := f.Add(d.Keys[i], d.Vectors[i]); err != nil {
			t.Fatal(err)
		}
	}
	r := recallOf(t, f, Cosine, d, qs, 10, nil, nil)
	t.Logf("flat recall@10 at rerank %d: %.4f", DefaultRerank, r)
	if r < 0.999 {
		t.Fatalf("flat recall@10 = %.4f, want >= 0.999", r)
	}
	if r := recallOf(t, f, Cosine, d, qs, 10, func() *SearchOptions { return &SearchOptions{Exact: true} }, nil); r != 1 {
		t.Fatalf("exact recall@10 = %.4f, want 1", r)
	}
}

func TestMetricsMatchBruteForce(t *testing.T) {
	d, qs := clustered(t, 7, 500, 12, 48)
	// Scale the vectors so Dot and L2 are not Cosine in disguise.
	for i, v := range d.Vectors {
		s := float32(0.5 + float64(i%7)/3)
		for j := range v {
			v[j] *= s
		}
	}
	for _, m := range []Metric{Cosine, Dot, L2} {
		t.Run(m.String(), func(t *testing.T) {
			f := mustFlat(t, Options{Dim: 48, Metric: m})
			h := mustHNSW(t, Options{Dim: 48, Metric: m, FlatBelow: -1})
			for i := range d.Keys {
				if err := f.Add(d.Keys[i], d.Vectors[i]); err != nil {
					t.Fatal(err)
				}
				if err := h.Add(d.Keys[i], d.Vectors[i]); err != nil {
					t.Fatal(err)
				}
			}
			if r := recallOf(t, f, m, d, qs, 10, func() *SearchOptions { return &SearchOptions{Exact: true} }, nil); r != 1 {
				t.Errorf("exact recall = %.4f, want 1", r)
			}
			if r := recallOf(t, f, m, d, qs, 10, nil, nil); r < 0.99 {
				t.Errorf("flat recall = %.4f, want >= 0.99", r)
			}
			if r := recallOf(t, h, m, d, qs, 10, func() *SearchOptions { return &SearchOptions{Ef: 100} }, nil); r < 0.95 {
				t.Errorf("graph recall = %.4f, want >= 0.95", r)
			}
			// The distance reported is the metric's, in float32.
			hits, _ := f.Search(qs[0], 1, &SearchOptions{Exact: true})
			var want float64
			v, q := d.Vectors[slices.Index(d.Keys, hits[0].Key)], qs[0]
			var dot, nv, nq float64
			for j := range v {
				dot += float64(v[j]) * float64(q[j])
				nv += float64(v[j]) * float64(v[j])
				nq += float64(q[j]) * float64(q[j])
				x := float64(v[j]) - float64(q[j])
				want += x * x
			}
			switch m {
			case Cosine:
				want = 1 - dot/math.Sqrt(nv*nq)
			case Dot:
				want = -dot
			}
			if math.Abs(float64(hits[0].Distance)-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("distance = %v, want %v", hits[0].Distance, want)
			}
		})
	}
}

func TestFilteredSearch(t *testing.T) {
	h, d, qs := shared(t)
	qs = qs[:15]
	cases := []struct {
		name  string
		every int // allow key i when i%every == 0
		max   int // FlatFilterMax for the run (to reach each plan)
		plan  string
	}{
		{"1%Flat", 100, DefaultFlatFilterMax, PlanFlatFilter}, // PlanFlat for Allow
		{"1%Traversal", 100, 10, PlanGraphFilter},
		{"10%Traversal", 10, 100, PlanGraphFilter},
		{"50%Traversal", 2, 100, PlanGraphFilter},
		{"97%PostFilter", -33, 100, PlanPostFilter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			allowIdx := func(i int) bool {
				if c.every < 0 {
					return i%-c.every != 0
				}
				return i%c.every == 0
			}
			var keys []engram.UUID
			allowed := map[engram.UUID]bool{}
			for i, k := range d.Keys {
				if allowIdx(i) {
					keys = append(keys, k)
					allowed[k] = true
				}
			}
			saved := h.opts.FlatFilterMax
			h.opts.FlatFilterMax = c.max
			defer func() { h.opts.FlatFilterMax = saved }()
			for _, mode := range []string{"Keys", "Allow"} {
				var st SearchStats
				opts := func() *SearchOptions {
					o := &SearchOptions{Ef: 64, Stats: &st}
					if mode == "Keys" {
						o.Keys = keys
					} else {
						o.Allow = func(k engram.UUID) bool { return allowed[k] }
					}
					return o
				}
				for _, q := range qs {
					hits, err := h.Search(q, 10, opts())
					if err != nil {
						t.Fatal(err)
					}
					if len(hits) != 10 {
						t.Fatalf("%s: %d hits, want 10", mode, len(hits))
					}
					for _, hit := range hits {
						if !allowed[hit.Key] {
							t.Fatalf("%s: hit %v is not allowed by the filter", mode, hit.Key)
						}
					}
				}
				want := c.plan
				if want == PlanFlatFilter && mode == "Allow" {
					want = PlanFlat // a predicate alone has no list of ids to scan
				}
				if st.Plan != want {
					t.Fatalf("%s: plan = %q, want %q", mode, st.Plan, want)
				}
				r := recallOf(t, h, Cosine, d, qs, 10, opts, allowIdx)
				t.Logf("%s: plan %s, recall@10 %.4f", mode, st.Plan, r)
				if r < 0.95 {
					t.Fatalf("%s: recall@10 = %.4f, want >= 0.95", mode, r)
				}
			}
		})
	}
}

func TestDeletedNeverReturned(t *testing.T) {
	d, qs := clustered(t, 3, 1500, 25, 64)
	h := mustHNSW(t, Options{Dim: 64, FlatBelow: -1, EfConstruction: 64})
	f := mustFlat(t, Options{Dim: 64})
	if err := h.Build(d.Keys, d.Vectors, 2); err != nil {
		t.Fatal(err)
	}
	for i := range d.Keys {
		if err := f.Add(d.Keys[i], d.Vectors[i]); err != nil {
			t.Fatal(err)
		}
	}
	deleted := map[engram.UUID]bool{}
	for i, k := range d.Keys {
		if i%3 == 0 {
			if !h.Delete(k) || !f.Delete(k) {
				t.Fatalf("Delete(%v) = false for a present key", k)
			}
			deleted[k] = true
		}
	}
	if h.Delete(d.Keys[0]) {
		t.Fatal("second Delete of a key reported it present")
	}
	if h.Len() != 1000 || h.Tombstones() != 500 {
		t.Fatalf("Len, Tombstones = %d, %d; want 1000, 500", h.Len(), h.Tombstones())
	}
	live := func(i int) bool { return i%3 != 0 }
	check := func(stage string) {
		for _, ix := range []searcher{h, f} {
			for _, q := range qs {
				hits, err := ix.Search(q, 10, &SearchOptions{Ef: 50})
				if err != nil {
					t.Fatal(err)
				}
				for _, hit := range hits {
					if deleted[hit.Key] {
						t.Fatalf("%s: deleted key %v returned", stage, hit.Key)
					}
				}
			}
		}
		r := recallOf(t, h, Cosine, d, qs, 10, func() *SearchOptions { return &SearchOptions{Ef: 50} }, live)
		t.Logf("%s: recall@10 %.4f", stage, r)
		if r < 0.9 {
			t.Fatalf("%s: recall@10 = %.4f, want >= 0.9", stage, r)
		}
	}
	check("tombstoned")
	if n := h.Compact(); n == 0 {
		t.Fatal("Compact repaired nothing with a third of the nodes deleted")
	}
	// After Compact no live node links to a tombstone.
	for id := range h.s.next.Load() {
		if !h.s.isLive(id) {
			continue
		}
		for l := h.level(id); l >= 0; l-- {
			L := h.links(id, l)
			for j := 1; j <= int(L[0]); j++ {
				if !h.s.isLive(L[j]) {
					t.Fatalf("node %d layer %d still links to tombstone %d", id, l, L[j])
				}
			}
		}
	}
	check("compacted")
}

func TestAddReplacesVector(t *testing.T) {
	h := mustHNSW(t, Options{Dim: 4, FlatBelow: -1})
	a, b := vectortest.Key(9, 1), vectortest.Key(9, 2)
	for _, err := range []error{h.Add(a, []float32{1, 0, 0, 0}), h.Add(b, []float32{0, 1, 0, 0}), h.Add(a, []float32{0, 0, 1, 0})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if h.Len() != 2 {
		t.Fatalf("Len = %d after replacing a key, want 2", h.Len())
	}
	hits, err := h.Search([]float32{0, 0, 1, 0}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].Key != a || hits[0].Distance > 1e-6 {
		t.Fatalf("hits = %v; want %v first at distance 0", hits, a)
	}
	hits, _ = h.Search([]float32{1, 0, 0, 0}, 2, nil)
	if hits[0].Key == a && hits[0].Distance < 0.5 {
		t.Fatalf("the replaced vector of %v is still found: %v", a, hits)
	}
}

func TestInvalidInput(t *testing.T) {
	h := mustHNSW(t, Options{Dim: 3})
	f := mustFlat(t, Options{Dim: 3})
	key := vectortest.Key(1, 1)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"AddWrongDim", func() error { return h.Add(key, []float32{1, 2}) }, "vector"},
		{"AddNaN", func() error { return h.Add(key, []float32{1, nan, 2}) }, "vector[1]"},
		{"AddInf", func() error { return f.Add(key, []float32{1, 2, inf}) }, "vector[2]"},
		{"AddZeroCosine", func() error { return f.Add(key, []float32{0, 0, 0}) }, "vector"},
		{"SearchWrongDim", func() error { _, err := h.Search([]float32{1, 2, 3, 4}, 1, nil); return err }, "vector"},
		{"SearchNaN", func() error { _, err := f.Search([]float32{nan, 1, 1}, 1, nil); return err }, "vector[0]"},
		{"SearchK0", func() error { _, err := h.Search([]float32{1, 1, 1}, 0, nil); return err }, "k"},
		{"SearchEfTooLarge", func() error { _, err := h.Search([]float32{1, 1, 1}, 1, &SearchOptions{Ef: MaxEf + 1}); return err }, "ef"},
		{"BuildNaN", func() error {
			return h.Build([]engram.UUID{key, key}, [][]float32{{1, 1, 1}, {1, nan, 1}}, 1)
		}, "vectors[1][1]"},
		{"NewDim0", func() error { _, err := NewHNSW(Options{}); return err }, "dim"},
		{"NewM1", func() error { _, err := NewHNSW(Options{Dim: 2, M: 1}); return err }, "m"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, engram.ErrInvalid) || engram.ErrorField(err) != c.field {
				t.Fatalf("err = %v (field %q); want EINVALID naming %q", err, engram.ErrorField(err), c.field)
			}
		})
	}
	if h.Len() != 0 || f.Len() != 0 || h.Contains(key) {
		t.Fatal("a rejected Add changed the index")
	}
}

// TestConcurrentInsertSearchDelete runs writers and readers at once (run it
// under -race): readers never see a key that was never added or one whose
// Delete finished before the search started, and the final graph still
// answers at the recall of a serial build.
func TestConcurrentInsertSearchDelete(t *testing.T) {
	d, qs := clustered(t, 5, 1200, 20, 32)
	h := mustHNSW(t, Options{Dim: 32, FlatBelow: -1, EfConstruction: 64})
	known := map[engram.UUID]int{}
	for i, k := range d.Keys {
		known[k] = i
	}
	var deletedMu sync.Mutex
	deleted := map[engram.UUID]bool{} // deletes that have returned

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(d.Keys); i += 2 {
				if err := h.Add(d.Keys[i], d.Vectors[i]); err != nil {
					errc <- err
					return
				}
				if i%10 == 5 {
					h.Delete(d.Keys[i])
					deletedMu.Lock()
					deleted[d.Keys[i]] = true
					deletedMu.Unlock()
				}
			}
		}()
	}
	done := make(chan struct{})
	var rwg sync.WaitGroup
	for r := range 2 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				deletedMu.Lock()
				before := make(map[engram.UUID]bool, len(deleted))
				for k := range deleted {
					before[k] = true
				}
				deletedMu.Unlock()
				hits, err := h.Search(qs[(i+r)%len(qs)], 10, &SearchOptions{Ef: 32})
				if err != nil {
					errc <- err
					return
				}
				for _, hit := range hits {
					if _, ok := known[hit.Key]; !ok {
						errc <- errors.New("search returned a key never added")
						return
					}
					if before[hit.Key] {
						errc <- errors.New("search returned a key deleted before it started")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	live := func(i int) bool { return i%10 != 5 }
	r := recallOf(t, h, Cosine, d, qs, 10, func() *SearchOptions { return &SearchOptions{Ef: 64} }, live)
	if r < 0.95 {
		t.Fatalf("recall@10 after the concurrent build = %.4f, want >= 0.95", r)
	}
	if h.Len() != len(d.Keys)-len(deleted) {
		t.Fatalf("Len = %d, want %d", h.Len(), len(d.Keys)-len(deleted))
	}
}

func TestEmptyAndTinyIndexes(t *testing.T) {
	h := mustHNSW(t, Options{Dim: 2, FlatBelow: -1})
	hits, err := h.Search([]float32{1, 0}, 5, nil)
	if err != nil || len(hits) != 0 {
		t.Fatalf("empty index: hits %v, err %v", hits, err)
	}
	_ = h.Add(vectortest.Key(2, 0), []float32{1, 0})
	hits, _ = h.Search([]float32{1, 0}, 5, nil)
	if len(hits) != 1 {
		t.Fatalf("one-vector index: %d hits, want 1", len(hits))
	}
	h.Delete(vectortest.Key(2, 0))
	h.Compact()
	hits, _ = h.Search([]float32{1, 0}, 5, nil)
	if len(hits) != 0 {
		t.Fatalf("index with its only vector deleted: hits %v", hits)
	}
}

// TestInsertAfterEntryDeleted is the regression test for nodes inserted
// while the entry point is a tombstone: they must still be linked (a beam
// holding only tombstones once left them without links below).
func TestInsertAfterEntryDeleted(t *testing.T) {
	d, _ := clustered(t, 11, 400, 0, 16)
	h := mustHNSW(t, Options{Dim: 16, FlatBelow: -1, EfConstruction: 32})
	if err := h.Add(d.Keys[0], d.Vectors[0]); err != nil {
		t.Fatal(err)
	}
	h.Delete(d.Keys[0])
	for i := 1; i < len(d.Keys); i++ {
		if err := h.Add(d.Keys[i], d.Vectors[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(d.Keys); i++ {
		hits, err := h.Search(d.Vectors[i], 1, &SearchOptions{Ef: 64})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].Key != d.Keys[i] {
			t.Fatalf("vector %d is not its own nearest neighbour: %v", i, hits)
		}
	}
}
