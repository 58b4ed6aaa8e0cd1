package boltcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
	bolt "go.etcd.io/bbolt"
)

// watermarkOffset finds, through bbolt, where in the file at path the
// 8 bytes of the stored watermark w lie.
func watermarkOffset(t *testing.T, path string, w uint64) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return watermarkOffsetIn(t, db, w)
}

func watermarkOffsetIn(t *testing.T, db *bolt.DB, w uint64) int64 {
	t.Helper()
	var off int64 = -1
	err := db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(metaTable).Get(keyWatermark)
		i := bytes.Index(v, binary.BigEndian.AppendUint64(nil, w))
		if i < 0 {
			t.Fatalf("the stored watermark %x does not hold %d", v, w)
		}
		off = int64(uintptr(unsafe.Pointer(&v[i])) - db.Info().Data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// flipBit flips bit (0 = least significant) of the big-endian uint64 at off.
func flipBit(t *testing.T, path string, off int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	pos := off + 7 - int64(bit/8)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << (bit % 8)
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

// rawWatermark reads the stored watermark's 8 bytes at off with plain reads.
func rawWatermark(t *testing.T, path string, off int64) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint64(b[off:])
}

// TestDamagedWatermarkIsNotTrusted flips one bit of the stored sync
// watermark of a real file, making it larger (the dangerous direction: the
// changes in between would never be applied). Reopening must not trust it:
// the file starts empty with watermark 0, says why, and Check reports it.
func TestDamagedWatermarkIsNotTrusted(t *testing.T) {
	ctx := context.Background()
	const w = 0x1357_2468
	setup := func(t *testing.T) (string, *engram.Episode, int64) {
		path := filepath.Join(t.TempDir(), "cache.db")
		c := openChecked(t, path, Options{TTLCheckInterval: -1, Logger: discardLogger()})
		ep := storetest.RandomEpisode(rand.New(rand.NewPCG(3, 4)), 2)
		wm := uint64(w)
		if err := c.Apply(ctx, &engram.CacheBatch{Writes: []engram.CacheWrite{{Key: engram.EpisodeCacheKey("ns", ep.ID), Episode: ep}}, Watermark: &wm}); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		return path, ep, watermarkOffset(t, path, w)
	}

	t.Run("AtOpen", func(t *testing.T) {
		path, ep, off := setup(t)
		flipBit(t, path, off, 40)
		if got := rawWatermark(t, path, off); got != w|1<<40 {
			t.Fatalf("the flip did not land: %x", got)
		}
		c, err := Open(path, Options{TTLCheckInterval: -1, Logger: discardLogger()})
		if err != nil {
			t.Fatalf("Open of a file with a damaged watermark: %v", err)
		}
		defer c.Close()
		got, err := c.Watermark(ctx)
		if err != nil || got != 0 {
			t.Fatalf("Watermark after the flip = %#x, %v; want 0 (a fresh file), not %#x", got, err, uint64(w|1<<40))
		}
		if !strings.Contains(c.Recreated(), "watermark") {
			t.Fatalf("Recreated() = %q; want it to name the watermark", c.Recreated())
		}
		if _, ok, _ := c.GetEpisode(ctx, "ns", ep.ID); ok {
			t.Fatal("a record of the discarded file was served")
		}
		rep, err := c.Check(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.RecreatedDamaged || !strings.Contains(rep.Recreated, "checksum") {
			t.Fatalf("Check report %+v; want the recreation for a failed checksum", rep)
		}
		if r, ok := c.LastRecreation(); !ok || !r.Damaged || r.Reason != c.Recreated() {
			t.Fatalf("LastRecreation = %+v, %t", r, ok)
		}
		// The record survives a reopen: a later process still sees it.
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		c2 := openChecked(t, path, Options{TTLCheckInterval: -1, Logger: discardLogger()})
		if r, ok := c2.LastRecreation(); !ok || !strings.Contains(r.Reason, "watermark") || c2.Recreated() != "" {
			t.Fatalf("after a reopen: LastRecreation = %+v, %t; Recreated %q", r, ok, c2.Recreated())
		}
	})

	t.Run("UnderARunningCache", func(t *testing.T) {
		path, _, _ := setup(t)
		c, err := Open(path, Options{TTLCheckInterval: -1, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		off := watermarkOffsetIn(t, c.db, w)
		flipBit(t, path, off, 40) // the file changes under the process
		got, err := c.Watermark(ctx)
		if !errors.Is(err, engram.ErrCorrupt) || !strings.Contains(err.Error(), path) || got != 0 {
			t.Fatalf("Watermark of a damaged value = %#x, %v; want an ECORRUPT error naming %s", got, err, path)
		}
		rep, err := c.Check(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rep.Structure, "watermark") {
			t.Fatalf("Check structure %q; want the damaged watermark", rep.Structure)
		}
		flipBit(t, path, off, 40) // undo, so the cleanup check passes
	})
}

// TestWaiterLocksTheFileAtThePath has a second handle wait for the lock
// while a full sync's swap renames a new file over the path and closes the
// old one. The waiter must end up holding the new file, not the unlinked
// inode it first opened (which would make two owners of one path).
func TestWaiterLocksTheFileAtThePath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.db")
	old := openChecked(t, path, Options{TTLCheckInterval: -1, Logger: discardLogger()})

	waiting := make(chan struct{})
	type opened struct {
		c   *Cache
		err error
	}
	done := make(chan opened, 1)
	go func() {
		o := WithLockWaitHook(Options{TTLCheckInterval: -1, Logger: discardLogger(), LockTimeout: time.Minute}, func() { close(waiting) })
		c, err := Open(path, o)
		done <- opened{c, err}
	}()
	<-waiting

	// The swap: a rebuilt file with a record the old one lacks replaces it.
	rebuilt := path + ".rebuild"
	nf, err := Open(rebuilt, Options{TTLCheckInterval: -1, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ep := storetest.RandomEpisode(rand.New(rand.NewPCG(5, 6)), 1)
	if err := nf.PutEpisode(ctx, "ns", ep); err != nil {
		t.Fatal(err)
	}
	if err := nf.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(rebuilt, path); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	o := <-done
	if o.err != nil {
		t.Fatalf("the waiter: %v", o.err)
	}
	w := o.c
	t.Cleanup(func() { w.Close() })
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, fd := range fds {
			if target, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); target == path+" (deleted)" {
				t.Fatalf("fd %s holds the replaced, unlinked file", fd.Name())
			}
		}
	}
	if _, ok, err := w.GetEpisode(ctx, "ns", ep.ID); !ok || err != nil {
		t.Fatalf("the waiter does not see the new file's record (ok=%t, err=%v)", ok, err)
	}
	if _, err := Open(path, Options{TTLCheckInterval: -1, Logger: discardLogger(), LockTimeout: -1}); !errors.Is(err, engram.ErrLocked) {
		t.Fatalf("a third open while the waiter holds the file: %v; want ELOCKED", err)
	}
}
