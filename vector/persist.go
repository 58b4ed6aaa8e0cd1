package vector

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/fsync"
)

// The snapshot file (all integers little-endian; the host must be too):
//
//	header, 96 bytes:
//	  0 magic "ENGRAMVX"   8 version u32 (1)   12 flags u32 (1: graph)
//	 16 dim u32  20 metric u32  24 m u32  28 efConstruction u32  32 efSearch u32
//	 36 nodes u32  40 entry u64 (node<<32 | layer; all ones: empty)
//	 48 seq u64 (the change-feed position the snapshot covers)
//	 56 seed u64  64 sections u32  68 file size u64  76..91 zero
//	 92 CRC-32C of bytes 0..91
//	section table: sections x 32 bytes {kind u32, 0 u32, offset u64,
//	  length u64, sum u32, 0 u32}, then the table's CRC-32C u32; a
//	  section's sum is the CRC-32C of the CRC-32Cs (u32 each) of its
//	  consecutive 1 MiB blocks, so Open verifies blocks in parallel
//	sections, each at a 64-byte aligned offset, in kind order:
//	  1 vectors f32[nodes*dim]  2 codes i8[nodes*dim]  3 scales f32[nodes]
//	  4 norms f32[nodes] (L2 only)  5 keys [16]byte[nodes]  6 state u32[nodes]
//	  graph only: 7 level u8[nodes]  8 links0 u32[nodes*(1+2m)]
//	  9 upper u32[sum of level*(1+m)], the nodes' upper layers in node order
//	  10 vector sums u32[nodes]: the CRC-32C of each node's float32 vector
//
// Open maps the file (private, copy-on-write), checks every section's sum
// but the float32 vectors' (three quarters of the bytes) and the structure
// (sizes, link targets, layers, states), and points the index's chunks into
// the mapping; only the last partial chunk is copied. Each float32 vector is
// checked against its own sum the first time it is read (a bit per node
// remembers it), so a damaged vector makes that search, and every one after
// it, ECORRUPT naming the file instead of a wrong answer. Tombstones
// and in-flight inserts at Save time are kept as tombstones.
const (
	snapMagic   = "ENGRAMVX"
	snapVersion = 1
	headerSize  = 96
	secEntry    = 32
	secAlign    = 64
)

const (
	secVectors = 1 + iota
	secCodes
	secScales
	secNorms
	secKeys
	secState
	secLevel
	secLinks0
	secUpper
	secVecSums
	secMax = secVecSums
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func corrupt(name, format string, args ...any) error {
	return corruptErr(name, format, args...)
}

func corruptErr(name, format string, args ...any) *engram.Error {
	return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("vector index %s: %s", name, fmt.Sprintf(format, args...))}
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// snapshot is what a writer or a decoder sees of an index.
type snapHeader struct {
	graph          bool
	dim, metric, m int
	efC, efS       int
	nodes          int
	ep             uint64
	seq, seed      uint64
	size           int64 // of the whole file
}

// Save writes the index to path atomically (a temporary file in the same
// directory, fsynced, renamed over path, and the directory fsynced), with
// seq, the change-feed position the caller has applied. It runs beside
// searches and writes and holds no lock while writing: the snapshot holds
// every change applied before Save was called and possibly some applied
// during it, so replaying the feed from seq (puts and deletes are
// idempotent) brings a reopened index to the same state.
func (h *HNSW) Save(path string, seq uint64) error {
	return h.s.save(path, snapHeader{graph: true, dim: h.s.dim, metric: int(h.s.metric), m: h.m,
		efC: h.opts.EfConstruction, efS: h.opts.EfSearch, ep: h.ep.Load(), seq: seq, seed: h.opts.Seed}, h.m0, h.m)
}

// Save writes the index to path; see (*HNSW).Save.
func (x *Flat) Save(path string, seq uint64) error {
	return x.s.save(path, snapHeader{dim: x.s.dim, metric: int(x.s.metric), ep: emptyEP, seq: seq}, 0, 0)
}

// sumBlock is the block size of a section's sum.
const sumBlock = 1 << 20

// crcWriter counts what passes through it and keeps the CRC-32C of each
// sumBlock-byte block.
type crcWriter struct {
	w      *bufio.Writer
	n      int64
	cur    uint32   // CRC of the current, partial block
	blocks []uint32 // CRCs of the full blocks
}

func (c *crcWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	for p := b[:n]; len(p) > 0; {
		room := sumBlock - int(c.n%sumBlock)
		take := min(room, len(p))
		c.cur = crc32.Update(c.cur, castagnoli, p[:take])
		c.n += int64(take)
		p = p[take:]
		if take == room {
			c.blocks = append(c.blocks, c.cur)
			c.cur = 0
		}
	}
	return n, err
}

// sum returns the section's sum (see the format).
func (c *crcWriter) sum() uint32 {
	blocks := c.blocks
	if c.n%sumBlock != 0 {
		blocks = append(blocks, c.cur)
	}
	return sumOfBlocks(blocks)
}

func sumOfBlocks(blocks []uint32) uint32 {
	b := make([]byte, 4*len(blocks))
	for i, x := range blocks {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return crc32.Checksum(b, castagnoli)
}

// sectionSums computes the sum of every section in secs, the blocks spread
// over GOMAXPROCS goroutines (each owned and waited for here).
func sectionSums(secs [][]byte) []uint32 {
	type job struct{ sec, blk int }
	var jobs []job
	blocks := make([][]uint32, len(secs))
	for i, s := range secs {
		nb := (len(s) + sumBlock - 1) / sumBlock
		blocks[i] = make([]uint32, nb)
		for j := range nb {
			jobs = append(jobs, job{i, j})
		}
	}
	var next atomic.Int64
	work := func() {
		for {
			k := int(next.Add(1) - 1)
			if k >= len(jobs) {
				return
			}
			j := jobs[k]
			s := secs[j.sec][j.blk*sumBlock : min(len(secs[j.sec]), (j.blk+1)*sumBlock)]
			blocks[j.sec][j.blk] = crc32.Checksum(s, castagnoli)
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) - 1 {
		wg.Add(1)
		go func() { defer wg.Done(); work() }()
	}
	work()
	wg.Wait()
	out := make([]uint32, len(secs))
	for i := range secs {
		out[i] = sumOfBlocks(blocks[i])
	}
	return out
}

func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

func (s *store) save(path string, hd snapHeader, m0, m int) (err error) {
	if !littleEndian {
		return &engram.Error{Code: engram.EINTERNAL, Message: "vector: snapshots need a little-endian host"}
	}
	n := int(s.next.Load())
	hd.nodes = n
	if hd.graph && hd.ep != emptyEP && int(hd.ep>>32) >= n {
		hd.ep = emptyEP // cannot happen: the entry is allocated before it is published
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("vector: save %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	kinds := []int{secVectors, secCodes, secScales}
	if s.metric == L2 {
		kinds = append(kinds, secNorms)
	}
	kinds = append(kinds, secKeys, secState)
	if hd.graph {
		kinds = append(kinds, secLevel, secLinks0, secUpper)
	}
	kinds = append(kinds, secVecSums)
	// A vector read from a snapshot is verified before it is copied into a
	// new one: a save never launders damage into fresh sums.
	for id := range uint32(min(n, int(s.fileNodes))) {
		if !s.vecOK(id) {
			return s.damage.Load()
		}
	}
	vsums := make([]uint32, 0, n)
	tableEnd := int64(headerSize + len(kinds)*secEntry + 4)
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := bw.Write(make([]byte, alignUp(tableEnd))); err != nil {
		return fmt.Errorf("vector: save %s: %w", path, err)
	}
	table := make([]byte, len(kinds)*secEntry)
	off := alignUp(tableEnd)
	buf := make([]uint32, chunkSize*(1+max(m0, 1)))
	for ti, kind := range kinds {
		cw := &crcWriter{w: bw}
		for ci := 0; ci*chunkSize < n; ci++ {
			c := s.chunks[ci].Load()
			cnt := min(n-ci*chunkSize, chunkSize)
			var b []byte
			switch kind {
			case secVectors:
				b = bytesOf(c.vecs[:cnt*s.dim])
				for i := range cnt {
					vsums = append(vsums, crc32.Checksum(bytesOf(c.vecs[i*s.dim:(i+1)*s.dim]), castagnoli))
				}
			case secVecSums:
				b = bytesOf(vsums[ci*chunkSize : ci*chunkSize+cnt])
			case secCodes:
				b = bytesOf(c.codes[:cnt*s.dim])
			case secScales:
				b = bytesOf(c.scales[:cnt])
			case secNorms:
				b = bytesOf(c.norms[:cnt])
			case secKeys:
				b = bytesOf(c.keys[:cnt])
			case secState:
				for i := range cnt {
					buf[i] = atomic.LoadUint32(&c.state[i])
				}
				b = bytesOf(buf[:cnt])
			case secLevel:
				b = c.level[:cnt]
			case secLinks0:
				w := cnt * (1 + m0)
				for i := range w {
					buf[i] = atomic.LoadUint32(&c.links0[i])
				}
				b = bytesOf(buf[:w])
			case secUpper:
				for i := range cnt {
					if c.level[i] == 0 {
						continue
					}
					up := unsafe.Slice(c.upper[i], int(c.level[i])*(1+m))
					for j := range up {
						buf[j] = atomic.LoadUint32(&up[j])
					}
					if _, err := cw.Write(bytesOf(buf[:len(up)])); err != nil {
						return fmt.Errorf("vector: save %s: %w", path, err)
					}
				}
			}
			if _, err := cw.Write(b); err != nil {
				return fmt.Errorf("vector: save %s: %w", path, err)
			}
		}
		e := table[ti*secEntry:]
		binary.LittleEndian.PutUint32(e[0:], uint32(kind))
		binary.LittleEndian.PutUint64(e[8:], uint64(off))
		binary.LittleEndian.PutUint64(e[16:], uint64(cw.n))
		binary.LittleEndian.PutUint32(e[24:], cw.sum())
		off += cw.n
		if pad := alignUp(off) - off; pad > 0 {
			if _, err := bw.Write(make([]byte, pad)); err != nil {
				return fmt.Errorf("vector: save %s: %w", path, err)
			}
			off += pad
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("vector: save %s: %w", path, err)
	}
	hd.size = off
	head := make([]byte, tableEnd)
	encodeHeader(head, hd, len(kinds))
	copy(head[headerSize:], table)
	binary.LittleEndian.PutUint32(head[headerSize+len(table):], crc32.Checksum(table, castagnoli))
	if _, err := f.WriteAt(head, 0); err != nil {
		return fmt.Errorf("vector: save %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vector: save %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vector: save %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("vector: save %s: %w", path, err)
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("vector: save %s: sync directory: %w", path, err)
	}
	return nil
}

func alignUp(n int64) int64 { return (n + secAlign - 1) &^ (secAlign - 1) }

func encodeHeader(b []byte, hd snapHeader, sections int) {
	copy(b[0:8], snapMagic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], snapVersion)
	if hd.graph {
		le.PutUint32(b[12:], 1)
	}
	le.PutUint32(b[16:], uint32(hd.dim))
	le.PutUint32(b[20:], uint32(hd.metric))
	le.PutUint32(b[24:], uint32(hd.m))
	le.PutUint32(b[28:], uint32(hd.efC))
	le.PutUint32(b[32:], uint32(hd.efS))
	le.PutUint32(b[36:], uint32(hd.nodes))
	le.PutUint64(b[40:], hd.ep)
	le.PutUint64(b[48:], hd.seq)
	le.PutUint64(b[56:], hd.seed)
	le.PutUint32(b[64:], uint32(sections))
	le.PutUint64(b[68:], uint64(hd.size))
	le.PutUint32(b[92:], crc32.Checksum(b[:92], castagnoli))
}

// decoded is a verified snapshot: its header and its sections as slices of
// the file's bytes.
type decoded struct {
	hd  snapHeader
	sec [secMax + 1][]byte
}

// decodeSnapshot verifies b (a whole snapshot file named name) and returns
// its parts. Every failure is ECORRUPT naming the file; it never panics.
func decodeSnapshot(b []byte, name string) (*decoded, error) {
	le := binary.LittleEndian
	if len(b) < headerSize {
		return nil, corrupt(name, "is %d bytes, shorter than the %d-byte header", len(b), headerSize)
	}
	if string(b[:8]) != snapMagic {
		return nil, corrupt(name, "is not a vector index (bad magic)")
	}
	if got, want := le.Uint32(b[92:]), crc32.Checksum(b[:92], castagnoli); got != want {
		return nil, corrupt(name, "header checksum mismatch")
	}
	if v := le.Uint32(b[8:]); v != snapVersion {
		return nil, corrupt(name, "has format version %d; this build reads %d", v, snapVersion)
	}
	flags := le.Uint32(b[12:])
	d := &decoded{hd: snapHeader{
		graph: flags&1 != 0, dim: int(le.Uint32(b[16:])), metric: int(le.Uint32(b[20:])),
		m: int(le.Uint32(b[24:])), efC: int(le.Uint32(b[28:])), efS: int(le.Uint32(b[32:])),
		nodes: int(le.Uint32(b[36:])), ep: le.Uint64(b[40:]), seq: le.Uint64(b[48:]), seed: le.Uint64(b[56:]),
	}}
	hd := &d.hd
	nsec := int(le.Uint32(b[64:]))
	if size := le.Uint64(b[68:]); size != uint64(len(b)) {
		return nil, corrupt(name, "is %d bytes; its header says %d (truncated?)", len(b), size)
	}
	switch {
	case flags > 1:
		return nil, corrupt(name, "has unknown flags %#x", flags)
	case hd.dim < 1 || hd.dim > engram.MaxVectorDim:
		return nil, corrupt(name, "has dimension %d", hd.dim)
	case hd.metric > int(L2):
		return nil, corrupt(name, "has unknown metric %d", hd.metric)
	case hd.nodes > MaxVectors:
		return nil, corrupt(name, "has %d nodes, over the limit of %d", hd.nodes, MaxVectors)
	case hd.graph && (hd.m < 2 || hd.m > 64 || hd.efC < 1 || hd.efC > 4096 || hd.efS < 1 || hd.efS > MaxEf):
		return nil, corrupt(name, "has graph parameters m=%d ef_construction=%d ef_search=%d out of range", hd.m, hd.efC, hd.efS)
	case nsec < 1 || nsec > secMax:
		return nil, corrupt(name, "has %d sections", nsec)
	}
	tableEnd := headerSize + nsec*secEntry
	if len(b) < tableEnd+4 {
		return nil, corrupt(name, "is truncated in its section table")
	}
	if got, want := le.Uint32(b[tableEnd:]), crc32.Checksum(b[headerSize:tableEnd], castagnoli); got != want {
		return nil, corrupt(name, "section table checksum mismatch")
	}
	n, dim := hd.nodes, hd.dim
	want := map[int]int64{secVectors: int64(n * dim * 4), secCodes: int64(n * dim), secScales: int64(n * 4),
		secKeys: int64(n * 16), secState: int64(n * 4), secVecSums: int64(n * 4)}
	if hd.metric == int(L2) {
		want[secNorms] = int64(n * 4)
	}
	if hd.graph {
		want[secLevel] = int64(n)
		want[secLinks0] = int64(n * (1 + 2*hd.m) * 4)
		want[secUpper] = -1 // known once the levels are read
	}
	if nsec != len(want) {
		return nil, corrupt(name, "has %d sections; want %d", nsec, len(want))
	}
	var kinds []int
	var sums []uint32
	for i := range nsec {
		e := b[headerSize+i*secEntry:]
		kind := int(le.Uint32(e[0:]))
		off, length, crc := le.Uint64(e[8:]), le.Uint64(e[16:]), le.Uint32(e[24:])
		w, ok := want[kind]
		switch {
		case !ok || d.sec[kind] != nil:
			return nil, corrupt(name, "has an unexpected or repeated section kind %d", kind)
		case off%secAlign != 0 || off < uint64(tableEnd) || off > uint64(len(b)) || length > uint64(len(b))-off:
			return nil, corrupt(name, "section %d (offset %d, %d bytes) lies outside the %d-byte file (truncated?)", kind, off, length, len(b))
		case w >= 0 && int64(length) != w:
			return nil, corrupt(name, "section %d is %d bytes; want %d", kind, length, w)
		}
		s := b[off : off+length : off+length]
		if s == nil {
			s = []byte{}
		}
		d.sec[kind] = s
		if kind != secVectors { // checked per vector on first read
			kinds = append(kinds, kind)
			sums = append(sums, crc)
		}
	}
	secs := make([][]byte, len(kinds))
	for i, k := range kinds {
		secs[i] = d.sec[k]
	}
	for i, got := range sectionSums(secs) {
		if got != sums[i] {
			return nil, corrupt(name, "section %d checksum mismatch", kinds[i])
		}
	}
	state := castU32(d.sec[secState])
	for i, st := range state {
		if st > stateDeleted {
			return nil, corrupt(name, "node %d has state %d", i, st)
		}
	}
	if !hd.graph {
		return d, nil
	}
	var upperWords int
	for i, l := range d.sec[secLevel] {
		if l > 31 {
			return nil, corrupt(name, "node %d has layer %d", i, l)
		}
		upperWords += int(l) * (1 + hd.m)
	}
	if len(d.sec[secUpper]) != upperWords*4 {
		return nil, corrupt(name, "upper layers are %d bytes; the levels need %d", len(d.sec[secUpper]), upperWords*4)
	}
	if err := checkLinks(castU32(d.sec[secLinks0]), 2*hd.m, n, name, "layer 0"); err != nil {
		return nil, err
	}
	if err := checkLinks(castU32(d.sec[secUpper]), hd.m, n, name, "upper layers"); err != nil {
		return nil, err
	}
	if n == 0 {
		if hd.ep != emptyEP {
			return nil, corrupt(name, "has an entry point but no nodes")
		}
	} else if hd.ep != emptyEP && (int(hd.ep>>32) >= n || hd.ep&0xffffffff > 31 || int(d.sec[secLevel][hd.ep>>32]) != int(hd.ep&0xff)) {
		return nil, corrupt(name, "has an invalid entry point %#x", hd.ep)
	}
	return d, nil
}

// checkLinks verifies blocks of (count, slots[max]) words: counts within
// max, targets below n.
func checkLinks(w []uint32, mx, n int, name, what string) error {
	for b := 0; b+1+mx <= len(w); b += 1 + mx {
		cnt := int(w[b])
		if cnt > mx {
			return corrupt(name, "%s: a node has %d links, over %d", what, cnt, mx)
		}
		for _, t := range w[b+1 : b+1+cnt] {
			if int(t) >= n {
				return corrupt(name, "%s: a link points at node %d of %d", what, t, n)
			}
		}
	}
	return nil
}

func castU32(b []byte) []uint32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func castF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func castI8(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

func castKeys(b []byte) []engram.UUID {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*engram.UUID)(unsafe.Pointer(&b[0])), len(b)/16)
}

// load builds a store over a verified snapshot: full chunks alias d's bytes,
// the last partial chunk is copied so inserts can fill it.
func loadStore(d *decoded, name string) (*store, error) {
	hd := d.hd
	s := newStore(hd.dim, Metric(hd.metric), hd.graph, 2*hd.m)
	n, dim := hd.nodes, hd.dim
	vecs, codes := castF32(d.sec[secVectors]), castI8(d.sec[secCodes])
	scales, norms := castF32(d.sec[secScales]), castF32(d.sec[secNorms])
	keys, state := castKeys(d.sec[secKeys]), castU32(d.sec[secState])
	levels, links0, upper := d.sec[secLevel], castU32(d.sec[secLinks0]), castU32(d.sec[secUpper])
	up := 0
	for ci := 0; ci*chunkSize < n; ci++ {
		lo, cnt := ci*chunkSize, min(n-ci*chunkSize, chunkSize)
		hi := lo + cnt
		var c *chunk
		if cnt == chunkSize {
			c = &chunk{vecs: vecs[lo*dim : hi*dim], codes: codes[lo*dim : hi*dim], scales: scales[lo:hi],
				keys: keys[lo:hi], state: state[lo:hi]}
			if norms != nil {
				c.norms = norms[lo:hi]
			}
			if hd.graph {
				c.level = levels[lo:hi]
				c.links0 = links0[lo*(1+s.m0) : hi*(1+s.m0)]
				c.upper = make([]*uint32, chunkSize)
			}
		} else {
			c = s.newChunk()
			copy(c.vecs, vecs[lo*dim:hi*dim])
			copy(c.codes, codes[lo*dim:hi*dim])
			copy(c.scales, scales[lo:hi])
			copy(c.keys, keys[lo:hi])
			copy(c.state, state[lo:hi])
			if norms != nil {
				copy(c.norms, norms[lo:hi])
			}
			if hd.graph {
				copy(c.level, levels[lo:hi])
				copy(c.links0, links0[lo*(1+s.m0):hi*(1+s.m0)])
			}
		}
		if hd.graph {
			for i := range cnt {
				if l := int(c.level[i]); l > 0 {
					w := l * (1 + hd.m)
					words := upper[up : up+w : up+w]
					if cnt != chunkSize {
						words = append([]uint32(nil), words...)
					}
					c.upper[i] = &words[0]
					up += w
				}
			}
		}
		s.chunks[ci].Store(c)
	}
	s.next.Store(uint32(n))
	s.fileName, s.fileNodes = name, uint32(n)
	s.vecSums = castU32(d.sec[secVecSums])
	s.checked = make([]uint64, (n+63)/64)
	s.mu.keys = newKeyTable(n)
	live := 0
	for i := range n {
		switch state[i] {
		case stateLive:
			if _, dup := s.mu.keys.put(s, keys[i], uint32(i)); dup {
				return nil, corrupt(name, "key %v is live in two nodes", keys[i])
			}
			live++
		case stateEmpty:
			// An insert in flight at Save: a tombstone from now on.
			s.chunk(uint32(i)).state[i&chunkMask] = stateDeleted
		}
	}
	s.live.Store(int64(live))
	return s, nil
}

// readSnapshot maps path and verifies it. The caller owns the mapping.
func readSnapshot(path string) ([]byte, *decoded, error) {
	if !littleEndian {
		return nil, nil, &engram.Error{Code: engram.EINTERNAL, Message: "vector: snapshots need a little-endian host"}
	}
	b, err := mapFile(path)
	if err != nil {
		return nil, nil, err
	}
	d, err := decodeSnapshot(b, path)
	if err != nil {
		unmapFile(b)
		return nil, nil, err
	}
	return b, d, nil
}

// OpenHNSW maps a snapshot written by (*HNSW).Save and returns the index and
// the change-feed position it covers. Dim, Metric, M, EfConstruction,
// EfSearch and Seed come from the file; tune, when non-nil, sets the query
// knobs (EfSearch when non-zero, FlatBelow, FlatFilterMax, PostFilterMin).
// A damaged, truncated or foreign file is ECORRUPT naming it; a missing one
// is an error matching fs.ErrNotExist. Close releases the mapping.
func OpenHNSW(path string, tune *Options) (*HNSW, uint64, error) {
	b, d, err := readSnapshot(path)
	if err != nil {
		return nil, 0, err
	}
	if !d.hd.graph {
		unmapFile(b)
		return nil, 0, corrupt(path, "holds a flat index, not a graph")
	}
	h, err := openHNSW(d, path, tune)
	if err != nil {
		unmapFile(b)
		return nil, 0, err
	}
	h.s.mapping = b
	return h, d.hd.seq, nil
}

func openHNSW(d *decoded, name string, tune *Options) (*HNSW, error) {
	hd := d.hd
	o := Options{Dim: hd.dim, Metric: Metric(hd.metric), M: hd.m, EfConstruction: hd.efC, EfSearch: hd.efS, Seed: hd.seed}
	if tune != nil {
		if tune.EfSearch != 0 {
			o.EfSearch = tune.EfSearch
		}
		o.FlatBelow, o.FlatFilterMax, o.PostFilterMin = tune.FlatBelow, tune.FlatFilterMax, tune.PostFilterMin
	}
	o.ensureDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	s, err := loadStore(d, name)
	if err != nil {
		return nil, err
	}
	h := &HNSW{s: s, opts: o, m: o.M, m0: 2 * o.M, mL: 1 / math.Log(float64(o.M))}
	h.ep.Store(hd.ep)
	return h, nil
}

// OpenFlat maps a snapshot written by (*Flat).Save; see OpenHNSW.
func OpenFlat(path string) (*Flat, uint64, error) {
	b, d, err := readSnapshot(path)
	if err != nil {
		return nil, 0, err
	}
	if d.hd.graph {
		unmapFile(b)
		return nil, 0, corrupt(path, "holds a graph index, not a flat one")
	}
	s, err := loadStore(d, path)
	if err != nil {
		unmapFile(b)
		return nil, 0, err
	}
	s.mapping = b
	return &Flat{s: s}, d.hd.seq, nil
}

// Verify reads every vector that came from the snapshot file and checks it
// against its checksum now, instead of when a search first reads it (what
// keeps Open fast). It returns the ECORRUPT error naming the file for the
// first damaged vector, after which every search fails with it too, or nil.
// An index made by New* has nothing to verify.
func (h *HNSW) Verify() error { return h.s.verifyVectors() }

// Verify checks every vector from the snapshot file; see (*HNSW).Verify.
func (x *Flat) Verify() error { return x.s.verifyVectors() }

func (s *store) verifyVectors() error {
	for id := range s.fileNodes {
		if !s.vecOK(id) {
			break
		}
	}
	return s.damaged()
}

// Close releases the file mapping of an opened index. The index must not
// be used after Close, and Close must not run beside any other call. An
// index made by New* holds no mapping; Close is then a no-op.
func (h *HNSW) Close() error { return h.s.close() }

// Close releases the file mapping; see (*HNSW).Close.
func (x *Flat) Close() error { return x.s.close() }

func (s *store) close() error {
	b := s.mapping
	s.mapping = nil
	if b == nil {
		return nil
	}
	return unmapFile(b)
}
