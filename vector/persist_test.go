package vector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/vector/vectortest"
)

// sameAnswers fails unless a and b return identical hits (keys and
// distances) for every query under each of the option sets.
func sameAnswers(t *testing.T, a, b searcher, qs [][]float32, opts []*SearchOptions) {
	t.Helper()
	for oi, o := range opts {
		for qi, q := range qs {
			ha, err := a.Search(q, 10, o)
			if err != nil {
				t.Fatal(err)
			}
			hb, err := b.Search(q, 10, o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ha, hb) {
				t.Fatalf("options %d query %d: in memory %v, reopened %v", oi, qi, ha, hb)
			}
		}
	}
}

func buildSmall(t *testing.T, metric Metric, n int) (*HNSW, vectortest.Data, [][]float32) {
	t.Helper()
	d, qs := clustered(t, 21, n, 10, 40)
	h := mustHNSW(t, Options{Dim: 40, Metric: metric, FlatBelow: -1, EfConstruction: 48, Seed: 3})
	if err := h.Build(d.Keys, d.Vectors, 2); err != nil {
		t.Fatal(err)
	}
	return h, d, qs
}

func TestSnapshotAnswersLikeMemory(t *testing.T) {
	for _, metric := range []Metric{Cosine, L2} {
		t.Run(metric.String(), func(t *testing.T) {
			// 2.5 chunks: full chunks alias the file, the last is copied.
			h, d, qs := buildSmall(t, metric, 2*chunkSize+chunkSize/2)
			for i := 0; i < len(d.Keys); i += 7 {
				h.Delete(d.Keys[i])
			}
			path := filepath.Join(t.TempDir(), "ix.vec")
			if err := h.Save(path, 4242); err != nil {
				t.Fatal(err)
			}
			o, seq, err := OpenHNSW(path, &Options{FlatBelow: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Close() })
			if seq != 4242 {
				t.Fatalf("seq = %d, want 4242", seq)
			}
			if o.Len() != h.Len() || o.Tombstones() != h.Tombstones() {
				t.Fatalf("reopened Len/Tombstones = %d/%d, want %d/%d", o.Len(), o.Tombstones(), h.Len(), h.Tombstones())
			}
			var some []engram.UUID
			for i := 0; i < len(d.Keys); i += 9 {
				some = append(some, d.Keys[i])
			}
			opts := []*SearchOptions{nil, {Ef: 20}, {Exact: true}, {Keys: some}, {Keys: some[:30]},
				{Allow: func(k engram.UUID) bool { return k[5]&1 == 0 }}}
			sameAnswers(t, h, o, qs, opts)

			// Writes after Open land in memory, not in the file: a second
			// open of the file answers like the first did.
			before := make([][]Hit, len(qs))
			for i, q := range qs {
				before[i], _ = o.Search(q, 10, nil)
			}
			for i := 1; i < len(d.Keys); i += 5 {
				o.Delete(d.Keys[i])
			}
			extra, _ := clustered(t, 99, 300, 0, 40)
			for i := range extra.Keys {
				if err := o.Add(extra.Keys[i], extra.Vectors[i]); err != nil {
					t.Fatal(err)
				}
			}
			for i := 1; i < len(d.Keys); i += 5 {
				if o.Contains(d.Keys[i]) {
					t.Fatal("a key deleted after Open is still there")
				}
			}
			o2, _, err := OpenHNSW(path, &Options{FlatBelow: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer o2.Close()
			for i, q := range qs {
				got, _ := o2.Search(q, 10, nil)
				if !slices.Equal(got, before[i]) {
					t.Fatalf("query %d: the file changed under writes to the opened index", i)
				}
			}
			// And the written-to index saves and reopens alike too.
			path2 := filepath.Join(t.TempDir(), "ix2.vec")
			if err := o.Save(path2, 5000); err != nil {
				t.Fatal(err)
			}
			o3, _, err := OpenHNSW(path2, &Options{FlatBelow: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer o3.Close()
			sameAnswers(t, o, o3, qs, opts[:3])
		})
	}
}

func TestFlatSnapshotAnswersLikeMemory(t *testing.T) {
	d, qs := clustered(t, 22, 700, 10, 24)
	f := mustFlat(t, Options{Dim: 24, Metric: Dot})
	for i := range d.Keys {
		if err := f.Add(d.Keys[i], d.Vectors[i]); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "flat.vec")
	if err := f.Save(path, 7); err != nil {
		t.Fatal(err)
	}
	o, seq, err := OpenFlat(path)
	if err != nil || seq != 7 {
		t.Fatalf("OpenFlat: seq %d, err %v", seq, err)
	}
	defer o.Close()
	if o.Metric() != Dot || o.Dim() != 24 {
		t.Fatalf("reopened metric/dim = %v/%d", o.Metric(), o.Dim())
	}
	sameAnswers(t, f, o, qs, []*SearchOptions{nil, {Exact: true}, {Keys: d.Keys[:50]}})
	if _, _, err := OpenHNSW(path, nil); !errors.Is(err, engram.ErrCorrupt) {
		t.Fatalf("OpenHNSW of a flat snapshot: %v, want ECORRUPT", err)
	}
}

func snapshotBytes(t testing.TB, n int) []byte {
	t.Helper()
	d, _ := clustered(t, 23, n, 0, 8)
	h := mustHNSW(t, Options{Dim: 8, Metric: L2, M: 4, EfConstruction: 16, FlatBelow: -1})
	if err := h.Build(d.Keys, d.Vectors, 1); err != nil {
		t.Fatal(err)
	}
	h.Delete(d.Keys[0])
	path := filepath.Join(t.TempDir(), "s.vec")
	if err := h.Save(path, 1); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDamagedSnapshotIsCorrupt flips a byte in every region of a snapshot
// and truncates it at many lengths: each open is ECORRUPT naming the file.
func TestDamagedSnapshotIsCorrupt(t *testing.T) {
	good := snapshotBytes(t, 300)
	dir := t.TempDir()
	path := filepath.Join(dir, "damaged.vec")
	check := func(what string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		h, _, err := OpenHNSW(path, nil)
		if err == nil {
			// Only damage to a float32 vector gets past Open; Verify finds
			// it at once, and so does the first search that reads it (an
			// exact scan reads them all).
			if verr := h.Verify(); !errors.Is(verr, engram.ErrCorrupt) || !strings.Contains(verr.Error(), path) {
				h.Close()
				t.Fatalf("%s: Verify = %v, want ECORRUPT naming %s", what, verr, path)
			}
			_, err = h.Search(make([]float32, h.Dim()), 3, &SearchOptions{Exact: true})
			if err == nil {
				h.Close()
				t.Fatalf("%s: opened and searched without error", what)
			}
			if _, err2 := h.Search(make([]float32, h.Dim()), 3, nil); !errors.Is(err2, engram.ErrCorrupt) {
				t.Fatalf("%s: a search after the damage was found returned %v, want ECORRUPT", what, err2)
			}
			if err2 := h.Save(path+".resave", 1); !errors.Is(err2, engram.ErrCorrupt) {
				t.Fatalf("%s: saving a damaged index returned %v, want ECORRUPT", what, err2)
			}
			h.Close()
		}
		if !errors.Is(err, engram.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: err = %v; want ECORRUPT naming %s", what, err, path)
		}
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if h, _, err := OpenHNSW(path, nil); err != nil {
		t.Fatal(err)
	} else if err := h.Verify(); err != nil {
		t.Fatalf("Verify of a sound snapshot: %v", err)
	} else {
		h.Close()
	}
	for off := 0; off < len(good); off += max(1, len(good)/97) {
		b := bytes.Clone(good)
		b[off] ^= 0x20
		if bytes.Equal(b, good) {
			continue
		}
		// Padding between sections is not checksummed: skip flips there.
		if padding(t, good, off) {
			continue
		}
		check("flip at "+itoa(off), b)
	}
	for _, n := range []int{0, 1, 50, 95, 96, 200, len(good) / 2, len(good) - 1} {
		check("truncated to "+itoa(n), good[:n])
	}
	check("wrong magic", append([]byte("NOTANIDX"), good[8:]...))
}

// padding reports whether off lies outside the header, the table and every
// section (bytes no reader interprets).
func padding(t *testing.T, b []byte, off int) bool {
	t.Helper()
	if _, err := decodeSnapshot(bytes.Clone(b), "x"); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	n := int(le.Uint32(b[64:]))
	if off < headerSize+n*secEntry+4 {
		return false
	}
	for i := range n {
		e := b[headerSize+i*secEntry:]
		o, l := int(le.Uint64(e[8:])), int(le.Uint64(e[16:]))
		if off >= o && off < o+l {
			return false
		}
	}
	return true
}

func TestOpenMissingFile(t *testing.T) {
	_, _, err := OpenHNSW(filepath.Join(t.TempDir(), "none.vec"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

// FuzzDecodeSnapshot feeds arbitrary bytes to the decoder: it returns
// ECORRUPT or an index that answers a search, and never panics.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(snapshotBytes(f, 40))
	f.Add(snapshotBytes(f, 1))
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeSnapshot(b, "fuzz")
		if err != nil {
			if !errors.Is(err, engram.ErrCorrupt) {
				t.Fatalf("err = %v, want ECORRUPT", err)
			}
			return
		}
		if !d.hd.graph {
			s, err := loadStore(d, "fuzz")
			if err == nil {
				x := &Flat{s: s}
				_, _ = x.Search(make([]float32, s.dim), 3, nil)
			}
			return
		}
		h, err := openHNSW(d, "fuzz", &Options{FlatBelow: -1})
		if err != nil {
			return
		}
		q := make([]float32, h.Dim())
		q[0] = 1
		if _, err := h.Search(q, 3, &SearchOptions{Ef: 8}); err != nil {
			t.Fatal(err)
		}
	})
}

// reseal recomputes every checksum of b where the layout lets it, so the
// fuzzer's mutations reach the structural checks behind the CRCs.
func reseal(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) < headerSize {
		return b
	}
	le := binary.LittleEndian
	nsec := int(le.Uint32(b[64:]))
	if nsec >= 0 && nsec <= secMax && len(b) >= headerSize+nsec*secEntry+4 {
		for i := range nsec {
			e := b[headerSize+i*secEntry:]
			off, l := le.Uint64(e[8:]), le.Uint64(e[16:])
			if off <= uint64(len(b)) && l <= uint64(len(b))-off {
				le.PutUint32(e[24:], sectionSums([][]byte{b[off : off+l]})[0])
			}
		}
		te := headerSize + nsec*secEntry
		le.PutUint32(b[te:], crc32.Checksum(b[headerSize:te], castagnoli))
	}
	le.PutUint64(b[68:], uint64(len(b)))
	le.PutUint32(b[92:], crc32.Checksum(b[:92], castagnoli))
	return b
}

// FuzzDecodeSealedSnapshot is FuzzDecodeSnapshot with the checksums fixed
// up after mutation: a file whose sums match but whose structure lies
// (links past the end, layers out of range, sizes that disagree) is still
// ECORRUPT or a searchable index, never a panic.
func FuzzDecodeSealedSnapshot(f *testing.F) {
	f.Add(snapshotBytes(f, 40))
	f.Add(snapshotBytes(f, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = reseal(b)
		d, err := decodeSnapshot(b, "fuzz")
		if err != nil {
			if !errors.Is(err, engram.ErrCorrupt) {
				t.Fatalf("err = %v, want ECORRUPT", err)
			}
			return
		}
		if !d.hd.graph {
			return
		}
		h, err := openHNSW(d, "fuzz", &Options{FlatBelow: -1})
		if err != nil {
			return
		}
		q := make([]float32, h.Dim())
		q[0] = 1
		if _, err := h.Search(q, 3, &SearchOptions{Ef: 8}); err != nil && !errors.Is(err, engram.ErrCorrupt) {
			t.Fatal(err)
		}
		_ = h.Add(engram.UUID{1}, q)
		h.Compact()
	})
}
