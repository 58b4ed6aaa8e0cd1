package blockstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/internal/boltfile"
	"github.com/engramhq/engram/storetest"
	"github.com/fxamacker/cbor/v2"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var ctx = context.Background()

// openTest opens a fresh store in a temporary directory and, when the test
// ends, checks bbolt's page structure and closes it.
func openTest(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "data", "blocks.db"))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := OpenOrInit(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkStructure(t, s)
		_ = s.Close()
		checkFile(t, path)
	})
	return s
}

// checkFile runs the open check's structural check on the closed file at
// path and wants both meta pages valid: bbolt's internal/btesting pattern,
// so every test's file is checked when the test ends.
func checkFile(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Error(err)
		return
	}
	if err := boltfile.Check(f, st.Size()); err != nil {
		t.Errorf("file left by the test: %s: %v", path, err)
	}
	metas, err := boltfile.Metas(f, st.Size())
	if err != nil {
		t.Errorf("file left by the test: %s: %v", path, err)
	}
	for _, p := range boltfile.MetaProblems(metas) {
		t.Errorf("file left by the test: %s: %s", path, p)
	}
}

func checkStructure(t testing.TB, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt consistency: %v", err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		t.Error(err)
	}
}

func TestConformance(t *testing.T) {
	storetest.RunBlockstore(t, func(t *testing.T) engram.Blockstore { return openTest(t) })
	storetest.RunOpHeads(t, func(t *testing.T) engram.OpHeads { return openTest(t) })
}

// block encodes v as a DAG-CBOR block.
func block(t testing.TB, v any) engram.Block {
	t.Helper()
	data, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return engram.Block{CID: dag.SumDagCBOR(data), Data: data}
}

func rawBlock(s string) engram.Block {
	return engram.Block{CID: dag.SumRaw([]byte(s)), Data: []byte(s)}
}

func put(t testing.TB, s *Store, blocks ...engram.Block) {
	t.Helper()
	if err := s.PutMany(ctx, blocks); err != nil {
		t.Fatal(err)
	}
}

func TestOpenOrInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "blocks.db")
	s, err := OpenOrInit(path, nil)
	if err != nil {
		t.Fatalf("OpenOrInit creating parent directories: %v", err)
	}
	b := rawBlock("kept across reopen")
	put(t, s, b)
	if err := s.Update(ctx, b.CID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err = OpenOrInit(path, nil)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if got, err := s.Get(ctx, b.CID); err != nil || !bytes.Equal(got, b.Data) {
			t.Fatalf("after reopen Get = %q, %v", got, err)
		}
		if heads, _ := s.Current(ctx); !slices.Equal(heads, []engram.CID{b.CID}) {
			t.Fatalf("after reopen heads = %v", heads)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "blocks.db")
	t.Run("ErrMissingFileIsNotFound", func(t *testing.T) {
		_, err := OpenOrInit(path, &Options{ReadOnly: true})
		if !errors.Is(err, engram.ErrNotFound) || !strings.Contains(err.Error(), path) {
			t.Fatalf("read-only open of a missing file: %v, want ENOTFOUND naming it", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a read-only open created the file")
		}
	})
	s, err := OpenOrInit(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := rawBlock("ro")
	put(t, s, b)
	_ = s.Close()

	r1, err := OpenOrInit(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := OpenOrInit(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	defer r2.Close()
	if got, err := r2.Get(ctx, b.CID); err != nil || !bytes.Equal(got, b.Data) {
		t.Fatalf("Get from a reader = %q, %v", got, err)
	}
	c := rawBlock("write")
	if err := r1.Put(ctx, c.CID, c.Data); !errors.Is(err, engram.ErrInvalid) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Put on a read-only store: %v", err)
	}
	if _, err := r1.GC(ctx, nil); !errors.Is(err, engram.ErrInvalid) {
		t.Fatalf("GC on a read-only store: %v", err)
	}
	if st, err := r1.GC(ctx, &GCOptions{DryRun: true}); err != nil || st.Swept != 1 {
		t.Fatalf("dry-run GC on a read-only store = %+v, %v; want 1 unreachable", st, err)
	}
	_, err = OpenOrInit(path, &Options{LockTimeout: -1})
	if !errors.Is(err, engram.ErrLocked) {
		t.Fatalf("opening for writing while readers hold the file: %v, want ELOCKED", err)
	}
}

func TestErrNotABlockstore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(bucketMeta)
		return b.Put(keyFormat, []byte("something-else/9"))
	})
	_ = db.Close()
	_, err = OpenOrInit(path, nil)
	if !errors.Is(err, engram.ErrInvalid) || !strings.Contains(err.Error(), "something-else/9") {
		t.Fatalf("opening a file of another format: %v", err)
	}
}

func TestDeleteRefusesHeadsAndPins(t *testing.T) {
	s := openTest(t)
	h, p := rawBlock("head"), rawBlock("pinned")
	put(t, s, h, p)
	if err := s.Update(ctx, h.CID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, p.CID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []engram.CID{h.CID, p.CID} {
		if err := s.Delete(ctx, c); !errors.Is(err, engram.ErrConflict) {
			t.Fatalf("Delete of %s: %v, want ECONFLICT", c, err)
		}
		if ok, _ := s.Has(ctx, c); !ok {
			t.Fatalf("refused Delete removed %s", c)
		}
	}
	if err := s.Unpin(ctx, p.CID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, p.CID); err != nil {
		t.Fatalf("Delete after Unpin: %v", err)
	}
	if err := s.Pin(ctx, p.CID); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("Pin of a missing block: %v, want ENOTFOUND", err)
	}
	if pins, _ := s.Pins(ctx); len(pins) != 0 {
		t.Fatalf("pins = %v", pins)
	}
}

func TestBatch(t *testing.T) {
	s := openTest(t)
	old := rawBlock("old head")
	put(t, s, old)
	if err := s.Update(ctx, old.CID, nil); err != nil {
		t.Fatal(err)
	}

	t.Run("CommitPublishesBlocksAndHeadTogether", func(t *testing.T) {
		b, err := s.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Rollback()
		var links []any
		for i := range 100 {
			leaf := rawBlock("leaf " + string(rune('a'+i%26)) + string(rune('0'+i/26)))
			if err := b.Put(leaf.CID, leaf.Data); err != nil {
				t.Fatal(err)
			}
			links = append(links, storetest.Link(leaf.CID))
		}
		op := block(t, map[string]any{"prev": storetest.Link(old.CID), "leaves": links})
		if err := b.PutTrusted(op.CID, op.Data); err != nil {
			t.Fatal(err)
		}
		if !b.Has(op.CID) {
			t.Fatal("Batch.Has does not see the batch's own put")
		}
		if err := b.UpdateHeads(op.CID, []engram.CID{old.CID}); err != nil {
			t.Fatal(err)
		}
		// Readers see the state before the batch until it commits.
		if ok, _ := s.Has(ctx, op.CID); ok {
			t.Fatal("an uncommitted batch is visible")
		}
		if heads, _ := s.Current(ctx); !slices.Equal(heads, []engram.CID{old.CID}) {
			t.Fatalf("heads before commit = %v", heads)
		}
		if n, bytes := b.Len(); n != 101 || bytes < 1000 {
			t.Fatalf("Len = %d blocks %d bytes", n, bytes)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if heads, _ := s.Current(ctx); !slices.Equal(heads, []engram.CID{op.CID}) {
			t.Fatalf("heads after commit = %v", heads)
		}
		n := 0
		if err := s.Walk(ctx, op.CID, func(engram.CID, []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 102 {
			t.Fatalf("walk from the new head visits %d blocks, want 102", n)
		}
		if err := b.Commit(); err == nil {
			t.Fatal("second Commit succeeded")
		}
		if err := b.Put(old.CID, old.Data); err == nil {
			t.Fatal("Put after Commit succeeded")
		}
	})

	t.Run("RollbackDiscards", func(t *testing.T) {
		b, err := s.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		x := rawBlock("discarded")
		if err := b.Put(x.CID, x.Data); err != nil {
			t.Fatal(err)
		}
		b.Rollback()
		b.Rollback()
		if ok, _ := s.Has(ctx, x.CID); ok {
			t.Fatal("a rolled-back put is visible")
		}
	})

	t.Run("ErrBadBlockLeavesBatchUsable", func(t *testing.T) {
		b, err := s.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Rollback()
		x := rawBlock("good")
		if err := b.Put(x.CID, []byte("bad")); !errors.Is(err, engram.ErrInvalid) {
			t.Fatalf("Batch.Put of a mismatch: %v", err)
		}
		if err := b.UpdateHeads(rawBlock("absent").CID, nil); !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("Batch.UpdateHeads of a missing block: %v", err)
		}
		if err := b.Put(x.CID, x.Data); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, x.CID); err != nil || !bytes.Equal(got, x.Data) {
			t.Fatalf("Get = %q, %v", got, err)
		}
	})
}
