package boltcache_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/storetest"
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
	t.Cleanup(func() { _ = c.Close() })
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
