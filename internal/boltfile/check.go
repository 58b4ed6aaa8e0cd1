// Package boltfile reads bbolt files with plain reads, trusting nothing in
// them, for the two packages that keep bbolt files (boltcache, blockstore).
// bbolt trusts its file: a flipped page id or a truncated file can make it
// read outside its mapping (a fault that recover cannot catch when it
// happens in one of bbolt's own goroutines, as its Check and its freelist
// rebuild run) or descend a cycle forever. Check rules that out before the
// file is mapped; Metas reads the two meta pages; Lock takes the file's lock
// and makes sure it is the file at the path.
package boltfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
)

// Check validates a bbolt file of size bytes with plain reads before bbolt
// maps it. It takes nothing on trust: every page id is checked against the
// high-water mark and the file size before it is read (a file shorter than
// the high-water mark times the page size fails), every page is visited at
// most once, every element must lie inside its page, and elements must be
// packed as bbolt writes them (each one's bytes right after the previous
// one's, the page no larger than they need), which catches a damaged element
// count or offset. It checks what bbolt's own Tx.Check checks (reachability,
// double references, freed pages in use, key order) without ever panicking.
// A file without a synced freelist (bbolt's NoFreelistSync) has its free
// pages unreachable by definition; only reachable pages are checked then.
// An empty file passes: bbolt initialises it.
//
// It knows the bbolt file format, version 2: a page is a 16-byte header (id
// u64, flags u16, count u16, overflow u32) and its elements; pages 0 and 1
// are meta pages; the newest valid meta names the root bucket, the freelist
// and the high-water mark. Integers are in the machine's byte order, as
// bbolt writes them.
func Check(r io.ReaderAt, size int64) error {
	if size == 0 {
		return nil // bbolt initialises an empty file
	}
	c := &structCheck{r: r, size: size}
	return c.run()
}

const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	pageHeaderSize    = 16
	elementSize       = 16 // branch and leaf elements are both 16 bytes
	metaSize          = 64
	branchPageFlag    = 0x01
	leafPageFlag      = 0x02
	metaPageFlag      = 0x04
	freelistPageFlag  = 0x10
	bucketLeafFlag    = 0x01
	noFreelist        = ^uint64(0)
	inBucketSize      = 16
	maxCheckPageSize  = 1 << 16
	minCheckPageSize  = 1 << 10
	maxTreeDepth      = 64
	maxFreelistLength = 1 << 40
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64
	txid     uint64
}

// parseMeta decodes and validates a meta (magic, version, FNV-64a checksum)
// as bbolt's Meta.Validate does; b starts at the meta, after the page header.
// why says what is wrong, "" when nothing is.
func parseMeta(b []byte) (m boltMeta, why string) {
	if len(b) < metaSize {
		return boltMeta{}, "truncated"
	}
	le := binary.NativeEndian
	if le.Uint32(b[0:]) != boltMagic {
		return boltMeta{}, fmt.Sprintf("magic %#x, not bbolt's", le.Uint32(b[0:]))
	}
	if le.Uint32(b[4:]) != boltVersion {
		return boltMeta{}, fmt.Sprintf("bbolt file version %d, not %d", le.Uint32(b[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if sum := le.Uint64(b[56:]); h.Sum64() != sum {
		return boltMeta{}, fmt.Sprintf("checksum %016x, want %016x", sum, h.Sum64())
	}
	return boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]),
		hwm: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}, ""
}

type structCheck struct {
	r        io.ReaderAt
	size     int64
	pageSize int
	hwm      uint64
	seen     []uint64 // bitset of pages reached (or owned by the freelist page)
	freed    []uint64 // bitset of pages the freelist lists
}

func (c *structCheck) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > c.size {
		return nil, fmt.Errorf("read of %d bytes at %d is past the end of the %d-byte file", n, off, c.size)
	}
	b := make([]byte, n)
	if _, err := c.r.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// pageSizeOf finds the page size as bbolt does: from meta 0, or else from
// meta 1 found by trying the page sizes bbolt may have used.
func (c *structCheck) pageSizeOf() (int, error) {
	if b, err := c.read(0, int(min(int64(4096), c.size))); err == nil && len(b) >= pageHeaderSize+metaSize {
		if m, why := parseMeta(b[pageHeaderSize:]); why == "" {
			return int(m.pageSize), nil
		}
	}
	for i := 0; i <= 14; i++ {
		pos := int64(1024) << i
		if pos >= c.size-1024 {
			break
		}
		b, err := c.read(pos, int(min(int64(4096), c.size-pos)))
		if err != nil || len(b) < pageHeaderSize+metaSize {
			continue
		}
		if m, why := parseMeta(b[pageHeaderSize:]); why == "" {
			return int(m.pageSize), nil
		}
	}
	return 0, fmt.Errorf("no valid meta page")
}

func (c *structCheck) run() error {
	ps, err := c.pageSizeOf()
	if err != nil {
		return err
	}
	if ps < minCheckPageSize || ps > maxCheckPageSize || ps&(ps-1) != 0 {
		return fmt.Errorf("page size %d is not a power of two in [%d, %d]", ps, minCheckPageSize, maxCheckPageSize)
	}
	c.pageSize = ps
	if c.size < 2*int64(ps) {
		return fmt.Errorf("%d bytes is shorter than the two meta pages", c.size)
	}
	var meta boltMeta
	found := false
	for i := int64(0); i < 2; i++ {
		b, err := c.read(i*int64(ps)+pageHeaderSize, metaSize)
		if err != nil {
			return err
		}
		if m, why := parseMeta(b); why == "" && (!found || m.txid > meta.txid) {
			meta, found = m, true
		}
	}
	if !found {
		return fmt.Errorf("no valid meta page at page size %d", ps)
	}
	if int(meta.pageSize) != ps {
		return fmt.Errorf("meta page size %d differs from %d", meta.pageSize, ps)
	}
	if meta.hwm < 3 || meta.hwm > uint64(c.size)/uint64(ps) {
		return fmt.Errorf("high-water mark %d does not fit the %d-byte file (%d pages)", meta.hwm, c.size, c.size/int64(ps))
	}
	c.hwm = meta.hwm
	c.seen = make([]uint64, (c.hwm+63)/64)
	c.freed = make([]uint64, (c.hwm+63)/64)
	setBit(c.seen, 0)
	setBit(c.seen, 1)
	if meta.freelist != noFreelist {
		if err := c.checkFreelist(meta.freelist); err != nil {
			return err
		}
	}
	if err := c.checkTree(meta.root); err != nil {
		return err
	}
	if meta.freelist == noFreelist {
		return nil // the unreachable pages are the free ones
	}
	for id := uint64(0); id < c.hwm; id++ {
		if !bit(c.seen, id) && !bit(c.freed, id) {
			return fmt.Errorf("page %d: unreachable and not free", id)
		}
	}
	return nil
}

func bit(set []uint64, i uint64) bool { return set[i/64]&(1<<(i%64)) != 0 }
func setBit(set []uint64, i uint64)   { set[i/64] |= 1 << (i % 64) }

// readPage reads page id with its overflow pages after checking they lie
// below the high-water mark, and marks them seen; a page seen twice is an error.
func (c *structCheck) readPage(id uint64, wantFlags uint16) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page %d: out of bounds (high-water mark %d)", id, c.hwm)
	}
	hdr, err := c.read(int64(id)*int64(c.pageSize), c.pageSize)
	if err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	le := binary.NativeEndian
	if got := le.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	flags := le.Uint16(hdr[8:])
	if flags&wantFlags == 0 || flags&(flags-1) != 0 {
		return nil, fmt.Errorf("page %d: unexpected flags %#x", id, flags)
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if id+overflow >= c.hwm {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, overflow, c.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if bit(c.seen, i) {
			return nil, fmt.Errorf("page %d: referenced more than once", i)
		}
		if bit(c.freed, i) {
			return nil, fmt.Errorf("page %d: in use and on the freelist", i)
		}
		setBit(c.seen, i)
	}
	if overflow == 0 {
		return hdr, nil
	}
	return c.read(int64(id)*int64(c.pageSize), int(overflow+1)*c.pageSize)
}

func (c *structCheck) checkFreelist(id uint64) error {
	p, err := c.readPage(id, freelistPageFlag)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	le := binary.NativeEndian
	if le.Uint16(p[8:]) != freelistPageFlag {
		return fmt.Errorf("freelist: page %d is not a freelist page", id)
	}
	start, n := pageHeaderSize, uint64(le.Uint16(p[10:]))
	if n == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return fmt.Errorf("freelist: page %d truncated", id)
		}
		n = le.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if n > maxFreelistLength || uint64(start)+8*n > uint64(len(p)) {
		return fmt.Errorf("freelist: %d ids do not fit page %d", n, id)
	}
	for i := uint64(0); i < n; i++ {
		f := le.Uint64(p[uint64(start)+8*i:])
		if f < 2 || f >= c.hwm {
			return fmt.Errorf("freelist: free page %d out of bounds (high-water mark %d)", f, c.hwm)
		}
		if bit(c.freed, f) {
			return fmt.Errorf("freelist: page %d freed twice", f)
		}
		if bit(c.seen, f) {
			return fmt.Errorf("freelist: page %d is the freelist itself", f)
		}
		setBit(c.freed, f)
	}
	return nil
}

// pending is a page still to walk with the key range its keys must fall in
// (hi == nil: unbounded) and, below a branch, the key its first element
// must have. bbolt finds a node in its parent by that key when it rewrites
// the node; a mismatch makes it add a second pointer and keep the old page
// reachable after freeing it.
type pending struct {
	id     uint64
	lo, hi []byte
	first  []byte
	depth  int
	inline bool // an inline bucket's page inside a value: no pages of its own
}

// checkTree walks the bucket tree rooted at page root, and every bucket
// nested in it, without recursion.
func (c *structCheck) checkTree(root uint64) error {
	stack := []pending{{id: root}}
	for len(stack) > 0 {
		pg := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if pg.depth > maxTreeDepth {
			return fmt.Errorf("page %d: tree deeper than %d", pg.id, maxTreeDepth)
		}
		p, err := c.readPage(pg.id, branchPageFlag|leafPageFlag)
		if err != nil {
			return err
		}
		more, err := c.checkPage(p, pg)
		if err != nil {
			return fmt.Errorf("page %d: %w", pg.id, err)
		}
		stack = append(stack, more...)
	}
	return nil
}

// checkPage checks the elements of a branch or leaf page p (which may be an
// inline bucket's page inside a value) and returns the pages it points to.
func (c *structCheck) checkPage(p []byte, pg pending) ([]pending, error) {
	le := binary.NativeEndian
	flags := le.Uint16(p[8:])
	n := int(le.Uint16(p[10:]))
	if pageHeaderSize+n*elementSize > len(p) {
		return nil, fmt.Errorf("%d elements do not fit %d bytes", n, len(p))
	}
	if n == 0 && (flags == branchPageFlag || pg.first != nil) {
		return nil, fmt.Errorf("empty page below a branch")
	}
	var next []pending
	var prev []byte
	keys := make([][]byte, n)
	end := uint64(pageHeaderSize + n*elementSize) // where the next element's bytes must start
	for i := 0; i < n; i++ {
		off := uint64(pageHeaderSize + i*elementSize)
		e := p[off : off+elementSize]
		var pos, ksize, vsize uint64
		if flags == branchPageFlag {
			pos, ksize = uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:]))
		} else {
			pos, ksize, vsize = uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		}
		kstart := off + pos
		if kstart+ksize+vsize > uint64(len(p)) {
			return nil, fmt.Errorf("element %d runs past the page", i)
		}
		if kstart != end {
			return nil, fmt.Errorf("element %d starts at byte %d, not %d where the previous one ends", i, kstart, end)
		}
		end = kstart + ksize + vsize
		if flags == leafPageFlag && le.Uint32(e[0:])&^bucketLeafFlag != 0 {
			return nil, fmt.Errorf("element %d: unknown flags %#x", i, le.Uint32(e[0:]))
		}
		key := p[kstart : kstart+ksize]
		if ksize == 0 {
			return nil, fmt.Errorf("element %d has an empty key", i)
		}
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return nil, fmt.Errorf("element %d: keys out of order", i)
		}
		if (i > 0 || flags == leafPageFlag) && pg.lo != nil && bytes.Compare(key, pg.lo) < 0 {
			return nil, fmt.Errorf("element %d: key below its parent's range", i)
		}
		if pg.hi != nil && bytes.Compare(key, pg.hi) >= 0 {
			return nil, fmt.Errorf("element %d: key above its parent's range", i)
		}
		if i == 0 && pg.first != nil && !bytes.Equal(key, pg.first) {
			return nil, fmt.Errorf("first key differs from its parent's key for it")
		}
		prev, keys[i] = key, key
		if flags == branchPageFlag {
			continue
		}
		if le.Uint32(e[0:])&bucketLeafFlag == 0 {
			continue
		}
		val := p[kstart+ksize : kstart+ksize+vsize]
		if len(val) < inBucketSize {
			return nil, fmt.Errorf("element %d: bucket header of %d bytes", i, len(val))
		}
		root := le.Uint64(val)
		if root != 0 {
			next = append(next, pending{id: root, depth: pg.depth + 1})
			continue
		}
		inline := val[inBucketSize:]
		if len(inline) < pageHeaderSize || le.Uint16(inline[8:]) != leafPageFlag {
			return nil, fmt.Errorf("element %d: bad inline bucket", i)
		}
		sub, err := c.checkPage(inline, pending{depth: pg.depth + 1, inline: true})
		if err != nil {
			return nil, fmt.Errorf("element %d: inline bucket: %w", i, err)
		}
		if len(sub) > 0 {
			return nil, fmt.Errorf("element %d: inline bucket holds a bucket", i)
		}
	}
	if !pg.inline {
		// bbolt allocates the pages a node needs and no more.
		if need := (end + uint64(c.pageSize) - 1) / uint64(c.pageSize); uint64(len(p))/uint64(c.pageSize) != need {
			return nil, fmt.Errorf("%d bytes of elements on %d pages", end, len(p)/c.pageSize)
		}
	}
	if flags == branchPageFlag {
		for i := 0; i < n; i++ {
			lo, hi := pg.lo, pg.hi
			if i > 0 {
				lo = keys[i]
			}
			if i+1 < n {
				hi = keys[i+1]
			}
			id := le.Uint64(p[pageHeaderSize+i*elementSize+8:])
			next = append(next, pending{id: id, lo: lo, hi: hi, first: keys[i], depth: pg.depth + 1})
		}
	}
	return next, nil
}
