package boltcache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/storetest"
	bolt "go.etcd.io/bbolt"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// mustOpen opens a cache in a fresh temporary directory and closes it when
// the test ends (unless the test closed it).
func mustOpen(t *testing.T, o boltcache.Options) *boltcache.Cache {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	if o.TTLCheckInterval == 0 {
		o.TTLCheckInterval = -1
	}
	c, err := boltcache.Open(filepath.Join(t.TempDir(), "cache.db"), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	checkAtCleanup(t, c)
	return c
}

func TestConformance(t *testing.T) {
	storetest.RunCache(t, func(t *testing.T, cfg storetest.CacheConfig) engram.Cache {
		return mustOpen(t, boltcache.Options{Clock: cfg.Clock, TTL: cfg.TTL, MaxEntries: -1, MaxBytes: -1})
	})
}

func TestConformanceCompressed(t *testing.T) {
	storetest.RunCache(t, func(t *testing.T, cfg storetest.CacheConfig) engram.Cache {
		return mustOpen(t, boltcache.Options{Clock: cfg.Clock, TTL: cfg.TTL, MaxEntries: -1, MaxBytes: -1,
			CompressThreshold: 1, CompressLevel: 9})
	})
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }

func TestOpenErrLockedNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	held := mustOpenAt(t, path)
	defer held.Close()
	for _, timeout := range []time.Duration{-1, 30 * time.Millisecond} {
		c, err := boltcache.Open(path, boltcache.Options{LockTimeout: timeout, TTLCheckInterval: -1, Logger: quietLogger()})
		if err == nil {
			c.Close()
			t.Fatalf("timeout %s: a second Open of a held file succeeded", timeout)
		}
		if !errors.Is(err, engram.ErrLocked) || !strings.Contains(err.Error(), path) {
			t.Fatalf("timeout %s: err = %v, want ELOCKED naming %s", timeout, err, path)
		}
	}
	// The holder is unaffected.
	ep := storetest.RandomEpisode(rand.New(rand.NewPCG(1, 1)), 1)
	if err := held.PutEpisode(context.Background(), "lock", ep); err != nil {
		t.Fatalf("put by the holder: %v", err)
	}
}

func TestOpenRefusesForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("users"))
		if err != nil {
			return err
		}
		return b.Put([]byte("alice"), []byte("precious"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	c, err := boltcache.Open(path, boltcache.Options{TTLCheckInterval: -1, Logger: quietLogger()})
	if err == nil {
		c.Close()
		t.Fatal("Open took over a bbolt file that is not a cache")
	}
	if !errors.Is(err, engram.ErrInvalid) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want EINVALID naming %s", err, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the foreign file was changed")
	}
}

func mustOpenAt(t *testing.T, path string) *boltcache.Cache {
	t.Helper()
	c, err := boltcache.Open(path, boltcache.Options{TTLCheckInterval: -1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	checkAtCleanup(t, c)
	return c
}

// checkAtCleanup closes c when the test ends (unless the test did) and runs
// boltcache.CheckFile on its file: every test leaves a sound file behind.
func checkAtCleanup(t *testing.T, c *boltcache.Cache) {
	t.Cleanup(func() {
		_ = c.Close()
		if err := boltcache.CheckFile(c.Path()); err != nil {
			t.Errorf("file left by the test: %v", err)
		}
	})
}
