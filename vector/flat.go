package vector

import (
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/vecmath"
)

// noNode marks "no node" in links and return values.
const noNode = ^uint32(0)

// filter is a query's SearchOptions.Keys and Allow resolved to node ids.
type filter struct {
	ids  []uint32 // live nodes of Keys; nil when Keys is nil
	bits []uint64 // membership of ids, for traversal; nil until needed
	pred func(engram.UUID) bool
}

// resolveFilter returns nil for an unfiltered query.
func (s *store) resolveFilter(o *SearchOptions) *filter {
	if o.Keys == nil && o.Allow == nil {
		return nil
	}
	f := &filter{pred: o.Allow}
	if o.Keys != nil {
		f.ids = make([]uint32, 0, len(o.Keys))
		s.mu.RLock()
		for _, k := range o.Keys {
			if id, ok := s.mu.keys.get(s, k); ok {
				f.ids = append(f.ids, id)
			}
		}
		s.mu.RUnlock()
		slices.Sort(f.ids)
		f.ids = slices.Compact(f.ids)
	}
	return f
}

// buildBits fills f.bits from f.ids for membership tests during traversal.
func (f *filter) buildBits(n uint32) {
	if f.ids == nil || f.bits != nil {
		return
	}
	f.bits = make([]uint64, (n+63)/64+1)
	for _, id := range f.ids {
		f.bits[id>>6] |= 1 << (id & 63)
	}
}

// allows reports whether live node id passes the filter. f may be nil.
func (f *filter) allows(s *store, id uint32) bool {
	if f == nil {
		return true
	}
	if f.ids != nil {
		w := int(id >> 6)
		if f.bits == nil || w >= len(f.bits) || f.bits[w]&(1<<(id&63)) == 0 {
			return false
		}
	}
	return f.pred == nil || f.pred(s.key(id))
}

var batchPool = sync.Pool{New: func() any { b := make([]int32, chunkSize); return &b }}

// scanApprox returns the r nearest allowed live nodes by int8 distance,
// scanning f.ids when the filter lists keys and every node otherwise.
func (s *store) scanApprox(q *query, r int, f *filter, st *SearchStats) maxHeap {
	h := make(maxHeap, 0, r+1)
	if f != nil && f.ids != nil {
		// Random reads: gather the codes in batches so the kernel can
		// prefetch each next one.
		var ids [128]uint32
		var ptrs [128]unsafe.Pointer
		var dots [128]int32
		flush := func(n int) {
			vecmath.DotI8Gather(q.code, ptrs[:n], dots[:n])
			for j, id := range ids[:n] {
				h.offer(cand{s.fromDot(q, id, dots[j]), id}, r)
			}
		}
		n := 0
		for _, id := range f.ids {
			if !s.isLive(id) || (f.pred != nil && !f.pred(s.key(id))) {
				continue
			}
			ids[n], ptrs[n] = id, s.codePtr(id)
			if n++; n == len(ids) {
				flush(n)
				n = 0
			}
		}
		flush(n)
		if st != nil {
			st.Distances += len(f.ids)
		}
		return h
	}
	bp := batchPool.Get().(*[]int32)
	defer batchPool.Put(bp)
	n := s.next.Load()
	for ci := uint32(0); ci*chunkSize < n; ci++ {
		cnt := s.scanChunk(q, ci, n, *bp, &h, r, f)
		if st != nil {
			st.Distances += cnt
		}
	}
	return h
}

// scanChunk offers chunk ci's allowed live nodes below n to h (which keeps
// the r nearest) by int8 distance, scoring into buf, and returns how many
// nodes it scored.
func (s *store) scanChunk(q *query, ci, n uint32, buf []int32, h *maxHeap, r int, f *filter) int {
	c := s.chunks[ci].Load()
	base := ci * chunkSize
	cnt := min(int(n-base), chunkSize)
	out := buf[:cnt]
	vecmath.DotI8Batch(q.code, c.codes[:cnt*s.dim], out)
	for i, dot := range out {
		d := -float32(dot) * q.scale * c.scales[i]
		if c.norms != nil {
			d = q.norm + c.norms[i] + 2*d
		}
		if len(*h) >= r && d >= (*h)[0].d {
			continue
		}
		if atomic.LoadUint32(&c.state[i]) != stateLive {
			continue
		}
		id := base + uint32(i)
		if f != nil && !f.allows(s, id) {
			continue
		}
		h.offer(cand{d, id}, r)
	}
	return cnt
}

// rerank recomputes the distances of cands in float32 and returns the k
// nearest live ones as hits, nearest first.
func (s *store) rerank(q *query, cands []cand, k int) []Hit {
	best := make(maxHeap, 0, k+1)
	for _, c := range cands {
		if !s.isLive(c.id) {
			continue
		}
		best.offer(cand{s.exact(q, c.id), c.id}, k)
	}
	return s.hits(best)
}

// hits drains h into hits, nearest first.
func (s *store) hits(h maxHeap) []Hit {
	out := make([]Hit, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		c := h.pop()
		out[i] = Hit{Key: s.key(c.id), Distance: c.d}
	}
	return out
}

// scanExact returns the k nearest allowed live nodes by float32 distance.
func (s *store) scanExact(q *query, k int, f *filter) []Hit {
	best := make(maxHeap, 0, k+1)
	visit := func(id uint32) {
		if s.isLive(id) && f.allows(s, id) {
			best.offer(cand{s.exact(q, id), id}, k)
		}
	}
	if f != nil && f.ids != nil {
		f.buildBits(s.next.Load())
		for _, id := range f.ids {
			visit(id)
		}
		return s.hits(best)
	}
	// Every node: score each chunk's vectors in one kernel call (one
	// stream through memory, no call per vector), then keep those nearer
	// than the k-th best so far; only those pay for the state and filter
	// checks and the heap.
	bp := distPool.Get().(*[]float32)
	defer distPool.Put(bp)
	n := s.next.Load()
	for ci := uint32(0); ci*chunkSize < n; ci++ {
		c := s.chunks[ci].Load()
		base := ci * chunkSize
		cnt := min(int(n-base), chunkSize)
		out := (*bp)[:cnt]
		vecs := c.vecs[:cnt*s.dim]
		s.verifyChunk(base, cnt)
		if s.metric == L2 {
			vecmath.L2SqF32Batch(q.vec, vecs, out)
		} else {
			vecmath.DotF32Batch(q.vec, vecs, out)
		}
		for i, x := range out {
			d := x // L2
			switch s.metric {
			case Cosine:
				d = 1 - x
			case Dot:
				d = -x
			}
			if len(best) >= k && d >= best[0].d {
				continue
			}
			if atomic.LoadUint32(&c.state[i]) != stateLive {
				continue
			}
			id := base + uint32(i)
			if f != nil && !f.allows(s, id) {
				continue
			}
			if !s.vecOK(id) {
				continue // the store is now damaged; Search reports it
			}
			best.offer(cand{d, id}, k)
		}
	}
	return s.hits(best)
}

// verifyChunk checks the snapshot sums of the live nodes base..base+cnt-1
// not checked yet, so that a damaged vector is found even when its distance
// never makes it a candidate (a no-op past the snapshot's nodes, and one
// word test per 64 nodes once they are checked). base is a chunk start.
func (s *store) verifyChunk(base uint32, cnt int) {
	end := min(base+uint32(cnt), s.fileNodes)
	for id := base; id < end; id++ {
		if id&63 == 0 && id+64 <= end && atomic.LoadUint64(&s.checked[id>>6]) == ^uint64(0) {
			id += 63
			continue
		}
		if s.isLive(id) {
			s.vecOK(id)
		}
	}
}

var distPool = sync.Pool{New: func() any { b := make([]float32, chunkSize); return &b }}

// searchFlat answers q by an int8 scan and float32 rerank (or an exact
// scan when o.Exact).
func (s *store) searchFlat(q *query, k int, o *SearchOptions, f *filter) []Hit {
	if o.Exact {
		s.setPlan(o.Stats, PlanExact, f)
		return s.scanExact(q, k, f)
	}
	r := o.Rerank
	if r == 0 {
		r = DefaultRerank
	}
	r = max(r, k)
	if f != nil && f.ids != nil {
		s.setPlan(o.Stats, PlanFlatFilter, f)
	} else {
		s.setPlan(o.Stats, PlanFlat, f)
	}
	h := s.scanApprox(q, r, f, o.Stats)
	return s.rerank(q, h, k)
}

func (s *store) setPlan(st *SearchStats, plan string, f *filter) {
	if st == nil {
		return
	}
	st.Plan = plan
	st.Allowed = -1
	if f != nil {
		if f.ids != nil {
			st.Allowed = len(f.ids)
		} else {
			st.Allowed = int(s.live.Load()) // unknown; the predicate is applied during the scan
		}
	}
}

// prepareQuery validates and encodes a query vector.
func (s *store) prepareQuery(v []float32, k int, o *SearchOptions) (*query, error) {
	if err := checkK(k); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	p, err := s.prepare(v, "vector")
	if err != nil {
		return nil, err
	}
	return &query{p}, nil
}

// Flat is an index answered by scanning int8 codes and reranking in float32.
// Safe for concurrent use.
type Flat struct {
	s *store
}

// NewFlat returns an empty flat index. Only Dim and Metric of opts apply.
func NewFlat(opts Options) (*Flat, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Flat{s: newStore(opts.Dim, opts.Metric, false, 0)}, nil
}

// Dim returns the dimension of the index's vectors.
func (x *Flat) Dim() int { return x.s.dim }

// Metric returns the index's metric.
func (x *Flat) Metric() Metric { return x.s.metric }

// Len returns the number of live vectors.
func (x *Flat) Len() int { return int(x.s.live.Load()) }

// Add inserts v under key, or replaces key's vector. v is copied. A wrong
// dimension is EINVALID naming "vector"; a NaN or infinite component i is
// EINVALID naming "vector[i]"; nothing changes on error.
func (x *Flat) Add(key engram.UUID, v []float32) error {
	p, err := x.s.prepare(v, "vector")
	if err != nil {
		return err
	}
	id, old, err := x.s.alloc(key, p, 0, 0)
	if err != nil {
		return err
	}
	x.s.publish(id, old)
	return nil
}

// Delete removes key and reports whether it was there. Searches that start
// after Delete returns never return key.
func (x *Flat) Delete(key engram.UUID) bool { return x.s.remove(key) }

// Contains reports whether key has a live vector.
func (x *Flat) Contains(key engram.UUID) bool { _, ok := x.s.lookup(key); return ok }

// Search returns the k nearest live vectors to v that pass o's filter,
// nearest first (fewer when fewer pass). Errors are EINVALID naming the
// field: "vector", "vector[i]", "k", "ef", "rerank".
func (x *Flat) Search(v []float32, k int, o *SearchOptions) ([]Hit, error) {
	o = o.orDefault()
	q, err := x.s.prepareQuery(v, k, o)
	if err != nil {
		return nil, err
	}
	f := x.s.resolveFilter(o)
	if f != nil {
		f.buildBits(x.s.next.Load())
	}
	hits := x.s.searchFlat(q, k, o, f)
	if err := x.s.damaged(); err != nil {
		return nil, err
	}
	return hits, nil
}

// SearchBatch answers several queries at once, each as Search would with
// the same k and options (the same hits, in the same order, with the same
// distances). Without a Keys filter and without Exact it makes one pass
// over the int8 codes for all of them: each storage chunk of codes (384 KB
// at 384 dimensions) is scored against every query while it is in cache,
// so the memory is read once per batch instead of once per query. o.Stats,
// if set, describes the last query. Errors are Search's, with a bad vector
// named "vectors[j]" (and its component "vectors[j][i]").
func (x *Flat) SearchBatch(vs [][]float32, k int, o *SearchOptions) ([][]Hit, error) {
	o = o.orDefault()
	if err := checkK(k); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := x.s
	qs := make([]*query, len(vs))
	for j, v := range vs {
		p, err := s.prepare(v, "vectors["+itoa(j)+"]")
		if err != nil {
			return nil, err
		}
		qs[j] = &query{p}
	}
	f := s.resolveFilter(o)
	if f != nil {
		f.buildBits(s.next.Load())
	}
	out := make([][]Hit, len(qs))
	if o.Exact || (f != nil && f.ids != nil) {
		for j, q := range qs {
			if o.Stats != nil {
				*o.Stats = SearchStats{}
			}
			out[j] = s.searchFlat(q, k, o, f)
		}
	} else {
		r := o.Rerank
		if r == 0 {
			r = DefaultRerank
		}
		r = max(r, k)
		if o.Stats != nil {
			*o.Stats = SearchStats{}
		}
		s.setPlan(o.Stats, PlanFlat, f)
		hs := make([]maxHeap, len(qs))
		for j := range hs {
			hs[j] = make(maxHeap, 0, r+1)
		}
		bp := batchPool.Get().(*[]int32)
		n := s.next.Load()
		for ci := uint32(0); ci*chunkSize < n; ci++ {
			for j, q := range qs {
				cnt := s.scanChunk(q, ci, n, *bp, &hs[j], r, f)
				if o.Stats != nil && j == len(qs)-1 {
					o.Stats.Distances += cnt
				}
			}
		}
		batchPool.Put(bp)
		for j, q := range qs {
			out[j] = s.rerank(q, hs[j], k)
		}
	}
	if err := s.damaged(); err != nil {
		return nil, err
	}
	return out, nil
}

// SumVectors adds up every stored float32 component with the SIMD kernel
// and returns the sum and the bytes read: a benchmark's memory-bandwidth
// ceiling for an exact scan, which reads the same bytes.
func (x *Flat) SumVectors() (sum float32, bytes int) {
	s := x.s
	n := int(s.next.Load())
	for ci := 0; ci*chunkSize < n; ci++ {
		cnt := min(n-ci*chunkSize, chunkSize)
		sum += vecmath.SumF32(s.chunks[ci].Load().vecs[:cnt*s.dim])
	}
	return sum, n * s.dim * 4
}

// SumCodes adds up every stored int8 code's byte with the SIMD kernel and
// returns the sum and the bytes read: the memory-bandwidth ceiling for the
// int8 scan, which reads the same bytes.
func (x *Flat) SumCodes() (sum uint64, bytes int) {
	s := x.s
	n := int(s.next.Load())
	for ci := 0; ci*chunkSize < n; ci++ {
		cnt := min(n-ci*chunkSize, chunkSize)
		codes := s.chunks[ci].Load().codes[:cnt*s.dim]
		if len(codes) > 0 {
			sum += vecmath.SumU8(unsafe.Slice((*uint8)(unsafe.Pointer(&codes[0])), len(codes)))
		}
	}
	return sum, n * s.dim
}
