package vector

import (
	"hash/crc32"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/vecmath"
)

// Storage is chunked so that it grows without moving what readers are
// looking at: a fixed directory of chunkSize-node chunks, each published
// once through an atomic pointer. A node's vector, code, scale, norm and key
// are written before its state turns live (an atomic store), and never
// change after that; an update is a new node plus a tombstone on the old.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	maxChunks = 16384

	// MaxVectors is the number of nodes (live or tombstoned) an index holds
	// before Add returns ETOOLARGE; Compact or a rebuild reclaims tombstones.
	MaxVectors = chunkSize * maxChunks
)

// Node states, stored as uint32 for atomic access.
const (
	stateEmpty   = 0 // allocated, not yet visible
	stateLive    = 1
	stateDeleted = 2
)

type chunk struct {
	vecs   []float32     // chunkSize*dim; the vectors (unit length for Cosine)
	codes  []int8        // chunkSize*dim; round(v/scale), in [-127, 127]
	scales []float32     // chunkSize; max|v|/127
	norms  []float32     // chunkSize; |v|^2 (L2 only, else nil)
	keys   []engram.UUID // chunkSize
	state  []uint32      // chunkSize; stateEmpty/Live/Deleted, atomic
	level  []uint8       // chunkSize; the node's top graph layer (graph only)
	links0 []uint32      // chunkSize*(1+m0); count then neighbours, atomic (graph only)
	upper  []*uint32     // chunkSize; first word of layers 1..level, each (1+m) words (graph only)
}

// store holds the nodes and answers exact (flat) searches over them. It is
// safe for concurrent use: mu guards the key map and allocation, and is held
// only over memory operations; scans take no lock.
type store struct {
	dim    int
	metric Metric
	graph  bool // chunks carry graph fields
	m0     int  // level-0 neighbours per node (graph only)

	chunks [maxChunks]atomic.Pointer[chunk]
	next   atomic.Uint32 // nodes allocated
	live   atomic.Int64  // nodes in stateLive

	mu struct {
		sync.RWMutex
		keys keyTable // key -> node, for nodes allocated and not deleted
	}

	mapping []byte // the snapshot file the full chunks alias; nil when built in memory

	// Nodes below fileNodes came from the snapshot fileName; their float32
	// vectors are verified against vecSums on first read (checked: one bit
	// per node, atomic). damage holds the first failure, after which every
	// search fails with it.
	fileName  string
	fileNodes uint32
	vecSums   []uint32
	checked   []uint64
	damage    atomic.Pointer[engram.Error]
}

// vecOK verifies node id's float32 vector against its snapshot sum the
// first time it is read, and reports whether it is sound.
func (s *store) vecOK(id uint32) bool {
	if id >= s.fileNodes {
		return true
	}
	w, bit := &s.checked[id>>6], uint64(1)<<(id&63)
	if atomic.LoadUint64(w)&bit != 0 {
		return true
	}
	if crc32.Checksum(bytesOf(s.vec(id)), castagnoli) != s.vecSums[id] {
		s.damage.CompareAndSwap(nil, corruptErr(s.fileName, "the vector of node %d fails its checksum", id))
		return false
	}
	atomic.OrUint64(w, bit)
	return true
}

// damaged returns the snapshot damage found so far, if any.
func (s *store) damaged() error {
	if e := s.damage.Load(); e != nil {
		return e
	}
	return nil
}

func newStore(dim int, metric Metric, graph bool, m0 int) *store {
	s := &store{dim: dim, metric: metric, graph: graph, m0: m0}
	s.mu.keys = newKeyTable(0)
	return s
}

func (s *store) newChunk() *chunk {
	c := &chunk{
		vecs:   make([]float32, chunkSize*s.dim),
		codes:  make([]int8, chunkSize*s.dim),
		scales: make([]float32, chunkSize),
		keys:   make([]engram.UUID, chunkSize),
		state:  make([]uint32, chunkSize),
	}
	if s.metric == L2 {
		c.norms = make([]float32, chunkSize)
	}
	if s.graph {
		c.level = make([]uint8, chunkSize)
		c.links0 = make([]uint32, chunkSize*(1+s.m0))
		c.upper = make([]*uint32, chunkSize)
	}
	return c
}

func (s *store) chunk(id uint32) *chunk { return s.chunks[id>>chunkBits].Load() }

func (s *store) vec(id uint32) []float32 {
	o := int(id&chunkMask) * s.dim
	return s.chunk(id).vecs[o : o+s.dim]
}

func (s *store) isLive(id uint32) bool {
	return atomic.LoadUint32(&s.chunk(id).state[id&chunkMask]) == stateLive
}

func (s *store) key(id uint32) engram.UUID { return s.chunk(id).keys[id&chunkMask] }

// prepared is a vector checked and encoded for insertion or search.
type prepared struct {
	vec   []float32
	code  []int8
	scale float32
	norm  float32 // |vec|^2
}

// prepare validates v (dimension, finite, non-zero for Cosine) and returns
// it normalised (Cosine) and quantized. field names v in errors.
func (s *store) prepare(v []float32, field string) (prepared, error) {
	norm, err := s.check(v, field)
	if err != nil {
		return prepared{}, err
	}
	p := prepared{vec: make([]float32, s.dim), code: make([]int8, s.dim)}
	copy(p.vec, v)
	if s.metric == Cosine {
		inv := float32(1 / math.Sqrt(norm))
		for i := range p.vec {
			p.vec[i] *= inv
		}
		norm = 1
	}
	p.norm = float32(norm)
	p.scale = quantize(p.vec, p.code)
	return p, nil
}

// check is prepare's validation alone (nothing allocated): it returns v's
// squared norm, or the error prepare would.
func (s *store) check(v []float32, field string) (float64, error) {
	if len(v) != s.dim {
		return 0, engram.Invalid(field, "has %d dimensions; the index has %d", len(v), s.dim)
	}
	var norm float64
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, engram.Invalid(field+"["+itoa(i)+"]", "is %v; vector components must be finite", x)
		}
		norm += float64(x) * float64(x)
	}
	if s.metric == Cosine && norm == 0 {
		return 0, engram.Invalid(field, "is all zeros; a cosine index needs a non-zero vector")
	}
	if s.metric != Cosine && (math.IsInf(norm, 0) || norm > math.MaxFloat32) {
		return 0, engram.Invalid(field, "has a squared norm beyond float32 range")
	}
	return norm, nil
}

// quantize writes round(v/scale) into code with scale = max|v|/127 and
// returns scale (0 for an all-zero v).
func quantize(v []float32, code []int8) float32 {
	var mx float32
	for _, x := range v {
		if x < 0 {
			x = -x
		}
		if x > mx {
			mx = x
		}
	}
	if mx == 0 {
		clear(code)
		return 0
	}
	scale := mx / 127
	inv := 1 / scale
	for i, x := range v {
		q := math.Round(float64(x * inv))
		if q > 127 {
			q = 127
		} else if q < -127 {
			q = -127
		}
		code[i] = int8(q)
	}
	return scale
}

// alloc reserves a node for key, writes p (and, in a graph, its top layer
// level with room for links on layers 1..level, m each) into it and returns its id and
// the id of the node it replaces (or noNode). The new node is not yet live;
// the caller publishes it (after linking it into a graph, if any). Held
// under mu: the map update and, once per chunkSize nodes, a chunk
// allocation; no I/O.
func (s *store) alloc(key engram.UUID, p prepared, level, m int) (id, old uint32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next.Load()
	if int(n) >= MaxVectors {
		return 0, 0, engram.TooMany("vector", int(n), "nodes in the index", MaxVectors)
	}
	if n&chunkMask == 0 && s.chunks[n>>chunkBits].Load() == nil {
		s.chunks[n>>chunkBits].Store(s.newChunk())
	}
	c := s.chunk(n)
	i := int(n & chunkMask)
	copy(c.vecs[i*s.dim:], p.vec)
	copy(c.codes[i*s.dim:], p.code)
	c.scales[i] = p.scale
	if c.norms != nil {
		c.norms[i] = p.norm
	}
	c.keys[i] = key
	if s.graph {
		c.level[i] = uint8(level)
		if level > 0 {
			c.upper[i] = &make([]uint32, level*(1+m))[0]
		}
	}
	old = noNode
	if o, ok := s.mu.keys.put(s, key, n); ok {
		old = o
	}
	s.next.Store(n + 1)
	return n, old, nil
}

// publish makes id live unless a later Add or a Delete of its key came in
// between its alloc and now (then it is born a tombstone), and tombstones
// old (if not noNode).
func (s *store) publish(id, old uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.chunk(id).state[id&chunkMask]
	if cur, ok := s.mu.keys.get(s, s.key(id)); ok && cur == id {
		atomic.StoreUint32(st, stateLive)
		s.live.Add(1)
	} else {
		atomic.StoreUint32(st, stateDeleted)
	}
	if old != noNode && atomic.CompareAndSwapUint32(&s.chunk(old).state[old&chunkMask], stateLive, stateDeleted) {
		s.live.Add(-1)
	}
}

// remove tombstones key's node and reports whether there was one.
func (s *store) remove(key engram.UUID) bool {
	s.mu.Lock()
	id, ok := s.mu.keys.del(s, key)
	s.mu.Unlock()
	if !ok {
		return false
	}
	if atomic.CompareAndSwapUint32(&s.chunk(id).state[id&chunkMask], stateLive, stateDeleted) {
		s.live.Add(-1)
	}
	return true
}

// lookup returns the node of key, if any.
func (s *store) lookup(key engram.UUID) (uint32, bool) {
	s.mu.RLock()
	id, ok := s.mu.keys.get(s, key)
	s.mu.RUnlock()
	return id, ok
}

// query is a prepared search vector with what distance functions need.
type query struct {
	prepared
}

// approx returns the int8 estimate of the distance from q to node id.
func (s *store) approx(q *query, id uint32) float32 {
	c := s.chunk(id)
	i := int(id & chunkMask)
	d := float32(vecmath.DotI8(q.code, c.codes[i*s.dim:(i+1)*s.dim])) * q.scale * c.scales[i]
	if s.metric == L2 {
		return q.norm + c.norms[i] - 2*d
	}
	return -d
}

// codePtr returns the address of node id's code.
func (s *store) codePtr(id uint32) unsafe.Pointer {
	return unsafe.Pointer(&s.chunk(id).codes[int(id&chunkMask)*s.dim])
}

// fromDot turns the int8 dot product of q's code and node id's into the
// estimated distance.
func (s *store) fromDot(q *query, id uint32, dot int32) float32 {
	c := s.chunk(id)
	i := id & chunkMask
	d := float32(dot) * q.scale * c.scales[i]
	if c.norms != nil {
		return q.norm + c.norms[i] - 2*d
	}
	return -d
}

// approxNodes returns the int8 estimate of the distance between two nodes.
func (s *store) approxNodes(a, b uint32) float32 {
	ca, cb := s.chunk(a), s.chunk(b)
	ia, ib := int(a&chunkMask), int(b&chunkMask)
	d := float32(vecmath.DotI8(ca.codes[ia*s.dim:(ia+1)*s.dim], cb.codes[ib*s.dim:(ib+1)*s.dim])) * ca.scales[ia] * cb.scales[ib]
	if s.metric == L2 {
		return ca.norms[ia] + cb.norms[ib] - 2*d
	}
	return -d
}

// dotsFrom computes the int8 dot products of node a's code with the codes
// at ptrs (gathered, each next one prefetched).
func (s *store) dotsFrom(a uint32, ptrs []unsafe.Pointer, out []int32) {
	c := s.chunk(a)
	i := int(a & chunkMask)
	vecmath.DotI8Gather(c.codes[i*s.dim:(i+1)*s.dim], ptrs, out)
}

// nodeDist turns the int8 dot product of nodes a and b's codes into their
// estimated distance (as approxNodes).
func (s *store) nodeDist(a, b uint32, dot int32) float32 {
	ca, cb := s.chunk(a), s.chunk(b)
	ia, ib := a&chunkMask, b&chunkMask
	d := float32(dot) * ca.scales[ia] * cb.scales[ib]
	if s.metric == L2 {
		return ca.norms[ia] + cb.norms[ib] - 2*d
	}
	return -d
}

// exact returns the float32 distance from q to node id (+Inf, and the
// store damaged, when the vector fails its snapshot sum).
func (s *store) exact(q *query, id uint32) float32 {
	if !s.vecOK(id) {
		return float32(math.Inf(1))
	}
	v := s.vec(id)
	if s.metric == L2 {
		return vecmath.L2SqF32(q.vec, v)
	}
	d := vecmath.DotF32(q.vec, v)
	if s.metric == Cosine {
		return 1 - d
	}
	return -d
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for i > 0 {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
	}
	return string(b[p:])
}
