package blockstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/internal/boltfile"
	bolt "go.etcd.io/bbolt"
)

// SalvageReport says what Salvage found and copied.
type SalvageReport struct {
	Source string `json:"source"`
	Dest   string `json:"dest"`
	Pages  int64  `json:"pages"` // pages of the source read
	// Blocks and Bytes are the intact blocks copied (each verified against
	// its CID); BadValues counts values stored under a CID that failed
	// verification (a damaged block, or a damaged older copy of one).
	Blocks    int   `json:"blocks"`
	Bytes     int64 `json:"bytes"`
	BadValues int   `json:"bad_values"`
	// Heads, Pins and KNNIndexes were copied; the Dropped counts name a
	// block that was not recovered, or (KNN) fail their checksum.
	Heads        int `json:"heads"`
	HeadsDropped int `json:"heads_dropped"`
	Pins         int `json:"pins"`
	PinsDropped  int `json:"pins_dropped"`
	KNNIndexes   int `json:"knn_indexes"`
	KNNDropped   int `json:"knn_dropped"`
	// Missing lists blocks the copied heads and pins reach but that were
	// not recovered: their DAGs are incomplete in the new file.
	Missing []engram.CID `json:"missing,omitempty"`
	// Tree is "ok" when the source's tables (heads, pins, KNN indexes) could
	// be read whole from its newest valid meta page, or says what stopped
	// the walk; what was read before is copied.
	Tree string `json:"tree"`
}

// salvageFlush is how many bytes of blocks Salvage gathers before writing
// them to the new file in one transaction.
const salvageFlush = 64 << 20

// Salvage copies every intact block of the store file src into a new store
// at dst (which must not exist), together with the op heads and pins that
// name a copied block and the KNN indexes that pass their checksum and whose
// root was copied. It trusts nothing in src: every page is read with plain
// reads and parsed as a bbolt leaf page, ignoring damaged page headers
// where it can, and a value stored under a CID is kept only if it hashes to
// it. Pages not reachable from the tree are read too, so blocks deleted
// earlier whose pages were not yet reused may come back (a later gc removes
// them again). progress, if not nil, is called with the pages read so far
// and the total. src is locked shared: no writer may have it open.
func Salvage(ctx context.Context, src, dst string, progress func(done, total int64)) (*SalvageReport, error) {
	rep := &SalvageReport{Source: src, Dest: dst, Tree: "ok"}
	if _, err := os.Lstat(dst); err == nil {
		return rep, engram.Invalid("to", "%s exists; salvage writes a new file", dst)
	}
	f, err := boltfile.Lock(src, boltfile.LockOptions{Flag: os.O_RDONLY, Shared: true, Timeout: DefaultLockTimeout})
	switch {
	case errors.Is(err, os.ErrNotExist):
		return rep, fmt.Errorf("blockstore: salvage: %w", engram.NotFound("blockstore", src))
	case errors.Is(err, boltfile.ErrLocked):
		return rep, &engram.Error{Code: engram.ELOCKED, Message: fmt.Sprintf("blockstore %s is locked by another process (stop it before salvaging)", src)}
	case err != nil:
		return rep, fmt.Errorf("blockstore: salvage %s: %w", src, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rep, fmt.Errorf("blockstore: salvage %s: %w", src, err)
	}
	r := &pageReader{r: f, size: st.Size(), ps: os.Getpagesize()}
	metas, merr := boltfile.Metas(f, st.Size())
	if merr == nil {
		r.ps = metas[0].PageSize
	}

	out, err := OpenOrInit(dst, nil)
	if err != nil {
		return rep, err
	}
	defer out.Close()
	found := make(map[string]bool)
	var pending []engram.Block
	var pendingBytes int
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := out.putMany(ctx, pending)
		pending, pendingBytes = pending[:0], 0
		return err
	}
	keep := func(key, val []byte) error {
		c, err := engram.CIDFromBytes(key)
		if err != nil || found[string(key)] || len(val) > engram.MaxBlockSize {
			return nil
		}
		if dag.Verify(c, val) != nil {
			if len(val) > 0 {
				rep.BadValues++
			}
			return nil
		}
		found[string(key)] = true
		rep.Blocks++
		rep.Bytes += int64(len(val))
		pending = append(pending, engram.Block{CID: c, Data: append([]byte(nil), val...)})
		if pendingBytes += len(val); pendingBytes >= salvageFlush {
			return flush()
		}
		return nil
	}
	total := (r.size + int64(r.ps) - 1) / int64(r.ps) // a partial last page too
	last := time.Now()
	for pg := int64(2); pg < total; pg++ {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := r.eachLeafElement(pg, func(key, val []byte) error { return keep(key, val) }); err != nil {
			return rep, err
		}
		rep.Pages++
		if progress != nil && time.Since(last) > 100*time.Millisecond {
			progress(pg, total)
			last = time.Now()
		}
	}
	if err := flush(); err != nil {
		return rep, fmt.Errorf("blockstore: salvage into %s: %w", dst, err)
	}
	if progress != nil {
		progress(total, total)
	}

	// The tables come from the tree of the newest valid meta page.
	var tables map[string][]keyValue
	switch {
	case merr != nil:
		rep.Tree = "no valid meta page: " + merr.Error()
	default:
		m := metas[0]
		if !m.Valid || metas[1].Valid && metas[1].TxID > m.TxID {
			m = metas[1]
		}
		if !m.Valid {
			rep.Tree = "no valid meta page"
			break
		}
		var werr error
		tables, werr = r.readTables(m.Root)
		if werr != nil {
			rep.Tree = werr.Error()
		}
	}
	for _, kv := range tables[string(bucketHeads)] {
		if c, err := engram.CIDFromBytes(kv.key); err == nil && found[string(kv.key)] {
			if err := out.Update(ctx, c, nil); err != nil {
				return rep, err
			}
			rep.Heads++
		} else {
			rep.HeadsDropped++
		}
	}
	for _, kv := range tables[string(bucketPins)] {
		if c, err := engram.CIDFromBytes(kv.key); err == nil && found[string(kv.key)] {
			if err := out.Pin(ctx, c); err != nil {
				return rep, err
			}
			rep.Pins++
		} else {
			rep.PinsDropped++
		}
	}
	for _, kv := range tables[string(bucketKNN)] {
		x, err := decodeKNN(kv.value)
		if err != nil || !found[x.Root.KeyString()] {
			rep.KNNDropped++
			continue
		}
		if err := out.StoreKNNEdges(ctx, x); err != nil {
			return rep, err
		}
		rep.KNNIndexes++
	}
	// What the copied heads and pins link to but was not recovered.
	roots := append(must(out.Current(ctx)), must(out.Pins(ctx))...)
	if err := out.view(func(tx *bolt.Tx) error {
		for _, m := range missingFrom(tx, roots, nil) {
			rep.Missing = append(rep.Missing, m.CID)
		}
		return nil
	}); err != nil {
		return rep, err
	}
	if err := out.Close(); err != nil {
		return rep, err
	}
	return rep, nil
}

// must drops the error of a read the caller has just made succeed.
func must(cids []engram.CID, _ error) []engram.CID { return cids }

// pageReader reads pages of a file it does not trust: every read is
// bounded by the file's size.
type pageReader struct {
	r    io.ReaderAt
	size int64
	ps   int
}

// read returns up to n bytes at page pg (fewer at the end of the file).
func (r *pageReader) read(pg int64, n int) []byte {
	off := pg * int64(r.ps)
	if off >= r.size || n <= 0 {
		return nil
	}
	n = int(min(int64(n), r.size-off))
	b := make([]byte, n)
	k, _ := r.r.ReadAt(b, off)
	return b[:k]
}

const (
	salvageLeafFlag   = 0x02
	salvageBranchFlag = 0x01
	salvageMaxSpan    = engram.MaxBlockSize + 1<<16 // a leaf page with one largest block
)

// eachLeafElement parses page pg as a leaf page and calls fn with every
// element whose bounds make sense, inline buckets' elements included. It
// tolerates a damaged header: the element count is also taken from the
// first element's offset (bbolt packs the elements' bytes right after the
// element array), and a page's overflow is read as far as its elements need.
func (r *pageReader) eachLeafElement(pg int64, fn func(key, val []byte) error) error {
	buf := r.read(pg, r.ps)
	full := false // buf holds all of the page there can be
	return eachElement(buf, 0, func(need int) []byte {
		if need > len(buf) && need <= salvageMaxSpan && !full {
			n := min(max(need, 2*len(buf)), salvageMaxSpan)
			buf = r.read(pg, n)
			full = len(buf) < n || n == salvageMaxSpan
		}
		return buf
	}, fn)
}

// maxBadElements is how many elements that make no sense eachElement
// tolerates in a page before it takes the page for something else.
const maxBadElements = 4

// eachElement parses p (grown by more to at least need bytes where it can)
// as a leaf page; depth bounds inline buckets.
func eachElement(p []byte, depth int, more func(need int) []byte, fn func(key, val []byte) error) error {
	if len(p) < 32 {
		return nil
	}
	le := binary.NativeEndian
	counts := []int{int(le.Uint16(p[10:]))}
	if pos := int(le.Uint32(p[16+4:])); pos%16 == 0 && pos/16 != counts[0] {
		counts = append(counts, pos/16) // element 0's bytes start right after n elements
	}
	for _, n := range counts {
		bad := 0
		for i := 0; i < n && bad <= maxBadElements; i++ {
			off := 16 + 16*i
			if off+16 > len(p) {
				if p = more(off + 16); off+16 > len(p) {
					break
				}
			}
			flags, pos := le.Uint32(p[off:]), int(le.Uint32(p[off+4:]))
			ksize, vsize := int(le.Uint32(p[off+8:])), int(le.Uint32(p[off+12:]))
			start := off + pos
			if flags > 1 || ksize == 0 || ksize > 128 || vsize > salvageMaxSpan || pos > salvageMaxSpan || start < 16+16*n {
				bad++
				continue
			}
			end := start + ksize + vsize
			if end > len(p) {
				if p = more(end); end > len(p) {
					bad++
					continue
				}
			}
			key, val := p[start:start+ksize], p[start+ksize:end]
			if flags&1 != 0 { // an inline bucket: a header, then a leaf page
				if depth == 0 && len(val) > 16 && le.Uint64(val) == 0 {
					inline := val[16:]
					if err := eachElement(inline, 1, func(int) []byte { return inline }, fn); err != nil {
						return err
					}
				}
				continue
			}
			if err := fn(key, val); err != nil {
				return err
			}
		}
	}
	return nil
}

// readTables walks the root bucket of the tree rooted at page root and
// returns the keys and values of the op_heads, pins and knn_edges tables,
// as far as they can be read; err says what stopped the walk.
func (r *pageReader) readTables(root uint64) (map[string][]keyValue, error) {
	want := map[string]bool{string(bucketHeads): true, string(bucketPins): true, string(bucketKNN): true}
	out := make(map[string][]keyValue)
	seen := make(map[uint64]bool)
	var firstErr error
	note := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	// walk visits the leaves below page id, calling fn on each element
	// (including the bucket flag); depth bounds the tree.
	var walk func(id uint64, depth int, fn func(flags uint32, key, val []byte))
	walk = func(id uint64, depth int, fn func(flags uint32, key, val []byte)) {
		if depth > 64 || id < 2 || int64(id) >= r.size/int64(r.ps) || seen[id] {
			note(fmt.Errorf("page %d: out of bounds or seen twice", id))
			return
		}
		seen[id] = true
		p := r.read(int64(id), r.ps)
		if len(p) < 16 {
			note(fmt.Errorf("page %d: past the end of the file", id))
			return
		}
		le := binary.NativeEndian
		if over := int(le.Uint32(p[12:])); over > 0 && (over+1)*r.ps <= salvageMaxSpan {
			p = r.read(int64(id), (over+1)*r.ps)
		}
		flags, n := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
		switch flags {
		case salvageBranchFlag:
			for i := 0; i < n && 16+16*i+16 <= len(p); i++ {
				walk(le.Uint64(p[16+16*i+8:]), depth+1, fn)
			}
		case salvageLeafFlag:
			walkLeaf(p, fn)
		default:
			note(fmt.Errorf("page %d: flags %#x are not a branch's or a leaf's", id, flags))
		}
	}
	walk(root, 0, func(flags uint32, key, val []byte) {
		if flags&1 == 0 || !want[string(key)] || len(val) < 16 {
			return
		}
		name := string(key)
		collect := func(flags uint32, k, v []byte) {
			if flags&1 == 0 {
				out[name] = append(out[name], keyValue{key: append([]byte(nil), k...), value: append([]byte(nil), v...)})
			}
		}
		if sub := binary.NativeEndian.Uint64(val); sub != 0 {
			walk(sub, 1, collect)
		} else {
			walkLeaf(val[16:], collect)
		}
	})
	return out, firstErr
}

// walkLeaf calls fn on every element of leaf page p that lies inside it.
func walkLeaf(p []byte, fn func(flags uint32, key, val []byte)) {
	if len(p) < 16 {
		return
	}
	le := binary.NativeEndian
	n := int(le.Uint16(p[10:]))
	for i := 0; i < n && 16+16*i+16 <= len(p); i++ {
		e := p[16+16*i:]
		flags, pos, ksize, vsize := le.Uint32(e), int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
		start := 16 + 16*i + pos
		if pos < 0 || ksize < 0 || vsize < 0 || start+ksize+vsize > len(p) || start+ksize+vsize < start {
			continue
		}
		fn(flags, p[start:start+ksize], p[start+ksize:start+ksize+vsize])
	}
}
