package ramcache_test

import (
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/ramcache"
	"github.com/engramhq/engram/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunCache(t, func(t *testing.T, cfg storetest.CacheConfig) engram.Cache {
		c, err := ramcache.New(ramcache.Options{Clock: cfg.Clock, TTL: cfg.TTL, MaxBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}
