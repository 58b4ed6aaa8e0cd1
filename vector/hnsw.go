package vector

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/vecmath"
)

// HNSW is a hierarchical navigable small-world graph over the int8 codes,
// reranked in float32, with a planner that falls back to flat scans for
// small indexes and selective filters. Safe for concurrent use: searches
// take no lock; inserts lock one node's links at a time (striped mutexes)
// while writing them, and readers load links with atomic loads, so a reader
// sees each neighbour slot either before or after a writer's store.
type HNSW struct {
	s    *store
	opts Options
	m    int
	m0   int
	mL   float64

	// ep packs the entry node (high 32 bits) and the top layer (low 8 bits);
	// emptyEP when the graph has no node. Raised under epMu.
	ep   atomic.Uint64
	epMu sync.Mutex

	locks [1024]sync.Mutex // link writers: node id % len
	vis   sync.Pool        // *visited
}

const emptyEP = math.MaxUint64

// NewHNSW returns an empty graph index.
func NewHNSW(opts Options) (*HNSW, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	h := &HNSW{opts: opts, m: opts.M, m0: 2 * opts.M, mL: 1 / math.Log(float64(opts.M))}
	h.s = newStore(opts.Dim, opts.Metric, true, h.m0)
	h.ep.Store(emptyEP)
	return h, nil
}

// Options returns the options the index was made with, defaults filled.
func (h *HNSW) Options() Options { return h.opts }

// Dim returns the dimension of the index's vectors.
func (h *HNSW) Dim() int { return h.s.dim }

// Metric returns the index's metric.
func (h *HNSW) Metric() Metric { return h.s.metric }

// Len returns the number of live vectors.
func (h *HNSW) Len() int { return int(h.s.live.Load()) }

// Tombstones returns the number of deleted or replaced nodes still held.
func (h *HNSW) Tombstones() int { return int(h.s.next.Load()) - h.Len() }

// Contains reports whether key has a live vector.
func (h *HNSW) Contains(key engram.UUID) bool { _, ok := h.s.lookup(key); return ok }

// Delete removes key and reports whether it was there. Searches that start
// after Delete returns never return key. The node stays in the graph as a
// tombstone that traversal passes through; Compact unlinks tombstones.
func (h *HNSW) Delete(key engram.UUID) bool { return h.s.remove(key) }

// links returns node id's link block at level: count, then the slots.
func (h *HNSW) links(id uint32, level int) []uint32 {
	c := h.s.chunk(id)
	i := int(id & chunkMask)
	if level == 0 {
		return c.links0[i*(1+h.m0) : (i+1)*(1+h.m0)]
	}
	o := (level - 1) * (1 + h.m)
	return unsafe.Slice(c.upper[i], int(c.level[i])*(1+h.m))[o : o+1+h.m]
}

func (h *HNSW) level(id uint32) int { return int(h.s.chunk(id).level[id&chunkMask]) }

func (h *HNSW) maxLinks(level int) int {
	if level == 0 {
		return h.m0
	}
	return h.m
}

// randomLevel draws a node's top layer from its key and the seed, so a key's
// layer does not depend on the order of inserts.
func (h *HNSW) randomLevel(key engram.UUID) int {
	x := splitmix(h.opts.Seed ^ binary.LittleEndian.Uint64(key[:8]))
	x = splitmix(x ^ binary.LittleEndian.Uint64(key[8:]))
	u := (float64(x>>11) + 0.5) / (1 << 53)
	l := int(-math.Log(u) * h.mL)
	return min(l, 31)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// visited marks the nodes one traversal has seen: a bit per node (an
// eighth of a byte per node, so it stays in the first-level cache of a walk
// over 100k nodes), cleared after the walk through the list of words it set.
type visited struct {
	bits    []uint64
	touched []uint32 // indexes of the words of bits this traversal set

	// Scratch for one node's unvisited neighbours.
	ids  [129]uint32
	ptrs [129]unsafe.Pointer // their codes
	aux  [3 * 129]unsafe.Pointer
	dots [129]int32
}

func (h *HNSW) getVisited() *visited {
	n := int(h.s.next.Load())
	v, _ := h.vis.Get().(*visited)
	if v == nil {
		v = &visited{}
	}
	if len(v.bits)*64 < n {
		v.bits = make([]uint64, (n+n/4+chunkSize)/64+1)
		v.touched = v.touched[:0]
	}
	return v
}

// putVisited clears what the traversal set and returns v to the pool.
func (h *HNSW) putVisited(v *visited) {
	if len(v.touched) > len(v.bits)/8 {
		clear(v.bits)
	} else {
		for _, w := range v.touched {
			v.bits[w] = 0
		}
	}
	v.touched = v.touched[:0]
	h.vis.Put(v)
}

// seen marks id and reports whether it was marked already. Ids beyond the
// array (nodes allocated after the traversal began) count as seen: they
// are skipped, as if inserted after the query.
func (v *visited) seen(id uint32) bool {
	w := id >> 6
	if int(w) >= len(v.bits) {
		return true
	}
	b, m := v.bits[w], uint64(1)<<(id&63)
	if b&m != 0 {
		return true
	}
	if b == 0 {
		v.touched = append(v.touched, w)
	}
	v.bits[w] = b | m
	return false
}

// result modes of searchLayer: which nodes may enter the result set.
const (
	resultLive  = iota // live nodes that pass the filter (queries)
	resultBuild        // every node: construction links through tombstones (Compact repairs them) and in-flight inserts
)

// searchLayer is the beam search of one layer from eps: it returns up to ef
// nodes (per mode and filter) nearest q by int8 distance. Traversal passes
// through every node, whatever the filter.
//
// Each expanded node's unvisited neighbours are gathered first, and the
// cache lines of their codes, scales (and norms, and states when results
// must be live) are prefetched together, so the misses overlap instead of
// stalling one after another; then their distances are computed in one
// batch before any heap work.
func (h *HNSW) searchLayer(q *query, eps []cand, ef, level int, mode int, f *filter, st *SearchStats) maxHeap {
	v := h.getVisited()
	defer h.putVisited(v)
	s := h.s
	C := make(minHeap, 0, ef*2)
	W := make(maxHeap, 0, ef+1)
	live := mode == resultLive
	accept := func(id uint32) bool {
		if !live {
			return true
		}
		return atomic.LoadUint32(&s.chunk(id).state[id&chunkMask]) == stateLive && f.allows(s, id)
	}
	for _, e := range eps {
		if v.seen(e.id) {
			continue
		}
		C.push(e)
		if accept(e.id) {
			W.offer(e, ef)
		}
	}
	dim := s.dim
	codeLines := (dim + 63) / 64
	if dim%64 != 0 {
		codeLines++ // a code may straddle one more line
	}
	l2 := s.metric == L2
	dists := 0
	for len(C) > 0 {
		c := C.pop()
		if len(W) >= ef && c.d > W[0].d {
			break
		}
		if len(C) > 0 { // likely the next node expanded: fetch its links meanwhile
			vecmath.Prefetch(unsafe.Pointer(&h.links(C[0].id, level)[0]))
		}
		L := h.links(c.id, level)
		n := int(atomic.LoadUint32(&L[0]))
		fresh, na := 0, 0
		for j := 1; j <= n; j++ {
			nb := atomic.LoadUint32(&L[j])
			if v.seen(nb) {
				continue
			}
			ch := s.chunks[nb>>chunkBits].Load()
			i := nb & chunkMask
			v.ids[fresh] = nb
			v.ptrs[fresh] = unsafe.Pointer(&ch.codes[int(i)*dim])
			fresh++
			v.aux[na] = unsafe.Pointer(&ch.scales[i])
			na++
			if live {
				v.aux[na] = unsafe.Pointer(&ch.state[i])
				na++
			}
			if l2 {
				v.aux[na] = unsafe.Pointer(&ch.norms[i])
				na++
			}
		}
		if fresh == 0 {
			continue
		}
		prefetchLines(&v.aux[0], na, 1)
		prefetchLines(&v.ptrs[0], fresh, codeLines)
		vecmath.DotI8Gather(q.code, v.ptrs[:fresh], v.dots[:fresh])
		dists += fresh
		for j, nb := range v.ids[:fresh] {
			d := s.fromDot(q, nb, v.dots[j])
			if len(W) < ef || d < W[0].d {
				C.push(cand{d, nb})
				if accept(nb) {
					W.offer(cand{d, nb}, ef)
				}
			}
		}
	}
	if st != nil {
		st.Distances += dists
	}
	return W
}

// greedy walks layer level from cur to a local minimum of the distance to q.
func (h *HNSW) greedy(q *query, cur cand, level int, st *SearchStats) cand {
	for changed := true; changed; {
		changed = false
		L := h.links(cur.id, level)
		n := int(atomic.LoadUint32(&L[0]))
		for j := 1; j <= n; j++ {
			nb := atomic.LoadUint32(&L[j])
			d := h.s.approx(q, nb)
			if st != nil {
				st.Distances++
			}
			if d < cur.d {
				cur, changed = cand{d, nb}, true
			}
		}
	}
	return cur
}

// selectNeighbors is the HNSW heuristic: take candidates nearest first,
// keeping one only when it is nearer to the base than to every one kept.
// cands must be sorted by distance to the base.
func (h *HNSW) selectNeighbors(cands []cand, m int) []cand {
	if len(cands) <= m {
		return cands
	}
	out := make([]cand, 0, m)
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		good := true
		for _, r := range out {
			if h.s.approxNodes(c.id, r.id) < c.d {
				good = false
				break
			}
		}
		if good {
			out = append(out, c)
		}
	}
	return out
}

// sortCands sorts c by distance, then id. Each candidate is packed into
// one uint64 whose order is that order (the float's bits made
// order-preserving above the id), so the sort compares integers instead of
// calling a comparison function: a fifth of the build's time otherwise.
func sortCands(c []cand) {
	var buf [512]uint64
	keys := buf[:0]
	if len(c) > len(buf) {
		keys = make([]uint64, 0, len(c))
	}
	for _, x := range c {
		keys = append(keys, uint64(orderedBits(x.d))<<32|uint64(x.id))
	}
	slices.Sort(keys)
	for i, k := range keys {
		c[i] = cand{fromOrderedBits(uint32(k >> 32)), uint32(k)}
	}
}

// orderedBits maps a float32 (not NaN) to a uint32 with the same order.
func orderedBits(f float32) uint32 {
	b := math.Float32bits(f)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

func fromOrderedBits(b uint32) float32 {
	if b&(1<<31) != 0 {
		return math.Float32frombits(b &^ (1 << 31))
	}
	return math.Float32frombits(^b)
}

// setLinks replaces id's links at level with nbrs.
func (h *HNSW) setLinks(id uint32, level int, nbrs []cand) {
	mu := &h.locks[id%uint32(len(h.locks))]
	mu.Lock()
	L := h.links(id, level)
	for j, c := range nbrs {
		atomic.StoreUint32(&L[1+j], c.id)
	}
	atomic.StoreUint32(&L[0], uint32(len(nbrs)))
	mu.Unlock()
}

// addLink adds a link from node to nb at level, shrinking node's links by
// the heuristic when they are full.
func (h *HNSW) addLink(node, nb uint32, level int) {
	mu := &h.locks[node%uint32(len(h.locks))]
	mu.Lock()
	defer mu.Unlock()
	L := h.links(node, level)
	n := int(atomic.LoadUint32(&L[0]))
	for j := 1; j <= n; j++ {
		if L[j] == nb {
			return
		}
	}
	if mx := h.maxLinks(level); n < mx {
		atomic.StoreUint32(&L[1+n], nb)
		atomic.StoreUint32(&L[0], uint32(n+1))
		return
	}
	// The node's distances to its links and to nb, in one gathered batch.
	var ids [129]uint32
	var ptrs [129]unsafe.Pointer
	var dots [129]int32
	ids[0] = nb
	c := 1
	for j := 1; j <= n; j++ {
		x := L[j]
		if atomic.LoadUint32(&h.s.chunk(x).state[x&chunkMask]) == stateDeleted {
			continue
		}
		ids[c] = x
		c++
	}
	for j, x := range ids[:c] {
		ptrs[j] = h.s.codePtr(x)
	}
	h.s.dotsFrom(node, ptrs[:c], dots[:c])
	cands := make([]cand, c)
	for j, x := range ids[:c] {
		cands[j] = cand{h.s.nodeDist(node, x, dots[j]), x}
	}
	sortCands(cands)
	kept := h.selectNeighbors(cands, h.maxLinks(level))
	for j, c := range kept {
		atomic.StoreUint32(&L[1+j], c.id)
	}
	atomic.StoreUint32(&L[0], uint32(len(kept)))
}

// Add inserts v under key, or replaces key's vector (the old node becomes a
// tombstone). v is copied. A wrong dimension is EINVALID naming "vector"; a
// NaN or infinite component i is EINVALID naming "vector[i]"; nothing
// changes on error. Safe to call from many goroutines at once (that is how
// Build parallelises).
func (h *HNSW) Add(key engram.UUID, v []float32) error {
	p, err := h.s.prepare(v, "vector")
	if err != nil {
		return err
	}
	level := h.randomLevel(key)
	id, old, err := h.s.alloc(key, p, level, h.m)
	if err != nil {
		return err
	}
	h.insert(id, level, &query{p})
	h.s.publish(id, old)
	return nil
}

// insert links the allocated node id into the graph.
func (h *HNSW) insert(id uint32, level int, q *query) {
	e := h.ep.Load()
	if e == emptyEP {
		h.epMu.Lock()
		if h.ep.Load() == emptyEP {
			h.ep.Store(uint64(id)<<32 | uint64(level))
			h.epMu.Unlock()
			return
		}
		h.epMu.Unlock()
		e = h.ep.Load()
	}
	epID, top := uint32(e>>32), int(e&0xff)
	cur := cand{h.s.approx(q, epID), epID}
	for l := top; l > level; l-- {
		cur = h.greedy(q, cur, l, nil)
	}
	eps := []cand{cur}
	for l := min(level, top); l >= 0; l-- {
		W := h.searchLayer(q, eps, h.opts.EfConstruction, l, resultBuild, nil, nil)
		cands := []cand(W)
		// The node itself is never in W: it is not linked yet.
		sortCands(cands)
		nbrs := h.selectNeighbors(cands, h.maxLinks(l))
		h.setLinks(id, l, nbrs)
		for _, nb := range nbrs {
			h.addLink(nb.id, id, l)
		}
		if len(cands) > 0 {
			eps = cands
		}
	}
	if level > top {
		h.epMu.Lock()
		if cur := h.ep.Load(); cur == emptyEP || int(cur&0xff) < level {
			h.ep.Store(uint64(id)<<32 | uint64(level))
		}
		h.epMu.Unlock()
	}
}

// Build adds keys[i] -> vecs[i] for every i on threads goroutines (0 or 1:
// the calling goroutine only), and returns when all are added or the first
// error (the vectors before it in each thread's share are added). The
// result does not depend on the thread count beyond the order of inserts.
func (h *HNSW) Build(keys []engram.UUID, vecs [][]float32, threads int) error {
	if len(keys) != len(vecs) {
		return engram.Invalid("vectors", "has %d entries for %d keys", len(vecs), len(keys))
	}
	for i, v := range vecs {
		if _, err := h.s.check(v, "vectors["+itoa(i)+"]"); err != nil {
			return err
		}
	}
	if threads <= 1 || len(keys) < 2*threads {
		for i := range keys {
			if err := h.Add(keys[i], vecs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, threads)
	var wg sync.WaitGroup
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(keys) {
					return
				}
				if err := h.Add(keys[i], vecs[i]); err != nil {
					errs[t] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Search returns the k nearest live vectors to v that pass o's filter,
// nearest first (fewer only when fewer pass). Errors are EINVALID naming
// the field: "vector", "vector[i]", "k", "ef", "rerank", or, for an index
// opened from a snapshot whose vectors turn out damaged, ECORRUPT naming
// the file.
func (h *HNSW) Search(v []float32, k int, o *SearchOptions) ([]Hit, error) {
	hits, err := h.search(v, k, o)
	if err == nil {
		err = h.s.damaged()
	}
	if err != nil {
		return nil, err
	}
	return hits, nil
}

func (h *HNSW) search(v []float32, k int, o *SearchOptions) ([]Hit, error) {
	o = o.orDefault()
	q, err := h.s.prepareQuery(v, k, o)
	if err != nil {
		return nil, err
	}
	s := h.s
	f := s.resolveFilter(o)
	n := int(s.live.Load())
	if f != nil {
		f.buildBits(s.next.Load())
	}
	if o.Exact || n < h.opts.FlatBelow || h.ep.Load() == emptyEP {
		return s.searchFlat(q, k, o, f), nil
	}
	ef := o.Ef
	if ef == 0 {
		ef = h.opts.EfSearch
	}
	ef = max(ef, k)
	if f == nil {
		return h.searchGraph(q, k, ef, o.Rerank, nil, PlanGraph, o.Stats), nil
	}
	allowed := len(f.ids)
	if f.ids == nil || f.pred != nil {
		allowed = h.estimateAllowed(f, allowed, n)
	}
	if allowed <= h.opts.FlatFilterMax {
		hits := s.searchFlat(q, k, o, f)
		if o.Stats != nil && f.ids == nil {
			o.Stats.Allowed = allowed
		}
		return hits, nil
	}
	sel := float64(allowed) / float64(max(n, 1))
	if sel >= h.opts.PostFilterMin {
		// Nearly everything passes: search unfiltered with ef widened by
		// the share filtered out, then drop what the filter rejects.
		wide := min(int(float64(ef)/sel)+1, MaxEf)
		hits := h.searchGraph(q, wide, wide, o.Rerank, nil, PlanPostFilter, o.Stats)
		out := hits[:0]
		for _, hit := range hits {
			if id, ok := s.lookup(hit.Key); ok && f.allows(s, id) {
				out = append(out, hit)
			}
		}
		if len(out) >= k {
			if o.Stats != nil {
				o.Stats.Allowed = allowed
			}
			return out[:k], nil
		}
	}
	// Filter during traversal, widening ef until k results (or the beam
	// covers every allowed vector).
	for {
		hits := h.searchGraph(q, k, ef, o.Rerank, f, PlanGraphFilter, o.Stats)
		if len(hits) >= k || ef >= allowed || ef >= MaxEf {
			if o.Stats != nil {
				o.Stats.Allowed = allowed
			}
			return hits, nil
		}
		ef = min(ef*2, MaxEf)
	}
}

// estimateAllowed returns the number of live vectors f allows: exact for
// a key list without a predicate, else from a sample of up to 512 nodes.
func (h *HNSW) estimateAllowed(f *filter, listed, n int) int {
	s := h.s
	total := s.next.Load()
	if f.ids != nil && f.pred == nil {
		return listed
	}
	const samples = 512
	hit, tried := 0, 0
	x := uint64(total) * 0x9e3779b97f4a7c15
	for range samples * 2 {
		x = splitmix(x)
		id := uint32(x % uint64(total))
		if !s.isLive(id) {
			continue
		}
		tried++
		if f.allows(s, id) {
			hit++
		}
		if tried == samples {
			break
		}
	}
	if tried == 0 {
		return 0
	}
	est := n * hit / tried
	if f.ids != nil {
		est = min(est, listed)
	}
	return est
}

// searchGraph descends the upper layers greedily, beam-searches layer 0 with
// ef, and reranks the beam in float32.
func (h *HNSW) searchGraph(q *query, k, ef, rerank int, f *filter, plan string, st *SearchStats) []Hit {
	e := h.ep.Load()
	epID, top := uint32(e>>32), int(e&0xff)
	cur := cand{h.s.approx(q, epID), epID}
	for l := top; l > 0; l-- {
		cur = h.greedy(q, cur, l, st)
	}
	W := h.searchLayer(q, []cand{cur}, ef, 0, resultLive, f, st)
	if st != nil {
		st.Plan, st.Ef, st.Allowed = plan, ef, -1
	}
	if r := graphRerank(k, ef, rerank); r < len(W) {
		// Only the nearest r of the beam by the int8 estimate are read in
		// float32: the rerank's random reads cost as much as a quarter of
		// the walk otherwise.
		for len(W) > r {
			W.pop()
		}
	}
	return h.rerankBeam(q, W, k)
}

// rerankBeam is store.rerank for a beam: the float32 vectors are random
// reads, so each is prefetched two ahead of the one being computed.
func (h *HNSW) rerankBeam(q *query, W maxHeap, k int) []Hit {
	s := h.s
	const ahead = 2
	var ptrs [ahead]unsafe.Pointer
	lines := (s.dim*4+63)/64 + 1
	for j := range min(ahead, len(W)) {
		ptrs[j] = unsafe.Pointer(&s.vec(W[j].id)[0])
	}
	prefetchLines(&ptrs[0], min(ahead, len(W)), lines)
	best := make(maxHeap, 0, k+1)
	for j, c := range W {
		if n := j + ahead; n < len(W) {
			ptrs[0] = unsafe.Pointer(&s.vec(W[n].id)[0])
			prefetchLines(&ptrs[0], 1, lines)
		}
		if !s.isLive(c.id) {
			continue
		}
		best.offer(cand{s.exact(q, c.id), c.id}, k)
	}
	return s.hits(best)
}

// Compact repairs the graph around tombstones: every live node's links to
// deleted nodes are replaced, by the heuristic, from its live neighbours and
// the live neighbours of the deleted ones; the entry point moves off a
// deleted node. Tombstones stay allocated (Save keeps them; a rebuild drops
// them). Runs beside searches and inserts; returns the links repaired.
func (h *HNSW) Compact() int {
	s := h.s
	n := s.next.Load()
	repaired := 0
	for id := range n {
		if !s.isLive(id) {
			continue
		}
		for l := h.level(id); l >= 0; l-- {
			if h.repair(id, l) {
				repaired++
			}
		}
	}
	h.moveEntry()
	return repaired
}

func (h *HNSW) repair(id uint32, level int) bool {
	s := h.s
	mu := &h.locks[id%uint32(len(h.locks))]
	mu.Lock()
	defer mu.Unlock()
	L := h.links(id, level)
	n := int(atomic.LoadUint32(&L[0]))
	dead := false
	for j := 1; j <= n; j++ {
		if !s.isLive(L[j]) {
			dead = true
			break
		}
	}
	if !dead {
		return false
	}
	seen := map[uint32]bool{id: true}
	var cands []cand
	add := func(x uint32) {
		if seen[x] || !s.isLive(x) {
			return
		}
		seen[x] = true
		cands = append(cands, cand{s.approxNodes(id, x), x})
	}
	for j := 1; j <= n; j++ {
		x := L[j]
		if s.isLive(x) {
			add(x)
			continue
		}
		if h.level(x) < level {
			continue
		}
		// Another node's lock is not taken: its links are read atomically.
		XL := h.links(x, level)
		xn := int(atomic.LoadUint32(&XL[0]))
		for i := 1; i <= xn; i++ {
			add(atomic.LoadUint32(&XL[i]))
		}
	}
	sortCands(cands)
	kept := h.selectNeighbors(cands, h.maxLinks(level))
	for j, c := range kept {
		atomic.StoreUint32(&L[1+j], c.id)
	}
	atomic.StoreUint32(&L[0], uint32(len(kept)))
	return true
}

// moveEntry points the entry at a live node of the highest layer when it
// is on a tombstone.
func (h *HNSW) moveEntry() {
	h.epMu.Lock()
	defer h.epMu.Unlock()
	e := h.ep.Load()
	if e == emptyEP || h.s.isLive(uint32(e>>32)) {
		return
	}
	best, bestL := noNode, -1
	n := h.s.next.Load()
	for id := range n {
		if !h.s.isLive(id) {
			continue
		}
		if l := h.level(id); l > bestL {
			best, bestL = id, l
		}
	}
	if best == noNode {
		return // nothing live: keep the tombstone as a way in
	}
	h.ep.Store(uint64(best)<<32 | uint64(bestL))
}

// graphRerank is how many of a graph beam are reranked in float32: rerank
// when set, else k + 10 (the int8 order is close enough that the true top k
// sits inside it: on the clustered 100k benchmark, recall@10 at every ef is
// the same with 20 as with 30), never more than the beam.
func graphRerank(k, ef, rerank int) int {
	if rerank == 0 {
		rerank = k + 10
	}
	return max(min(rerank, ef), k)
}
