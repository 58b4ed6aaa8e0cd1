package boltcache

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/script"
)

// TestScripts runs the eviction and TTL scripts in testdata against a cache
// driven by a manual clock. See internal/script for the format; the
// commands are:
//
//	open [max-entries=N] [max-bytes=N] [ttl=D] [ttl-check-interval=D]
//	reopen                 close the cache and open the same file again
//	put id=NAME [ttl=D|never] [pad=N]   an episode; pad: bytes of description
//	batch ids=A,B,...      puts in one Apply
//	get id=NAME            hit, miss (absent), miss (expired) or miss (corrupt)
//	delete id=NAME
//	advance D              move the clock
//	sweep                  Sweep now: swept N
//	wait-sweep             wait for the background sweeper: swept N
//	lru                    names from most to least recently used
//	stats                  entries, evictions, expirations
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h := &scriptHarness{clk: clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), names: map[string]string{}}
			defer h.close(t)
			script.Run(t, f, h.do)
		})
	}
}

type scriptHarness struct {
	clk   *clock.Manual
	c     *Cache
	path  string
	opts  Options
	sweep chan int
	names map[string]string // index key -> name
}

func (h *scriptHarness) close(t *testing.T) {
	if h.c != nil {
		if err := h.c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		h.c = nil
	}
}

func scriptID(name string) engram.EpisodeID {
	sum := sha256.Sum256([]byte(name))
	var u engram.UUID
	copy(u[:], sum[:])
	return engram.EpisodeID{UUID: u}
}

func scriptDuration(t *testing.T, c *script.Command, s string) time.Duration {
	if s == "never" {
		return -1
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %v", c.Pos, err)
	}
	return d
}

func (h *scriptHarness) put(t *testing.T, c *script.Command, name string, pad int) engram.CacheWrite {
	ep := &engram.Episode{ID: scriptID(name), TaskType: engram.TaskOther, TaskDescription: strings.Repeat("x", pad)}
	w := engram.CacheWrite{Key: engram.EpisodeCacheKey("script", ep.ID), Episode: ep}
	if s, ok := c.KV["ttl"]; ok {
		w.TTL = scriptDuration(t, c, s)
	}
	h.names[string(appendIndexKey(nil, w.Key))] = name
	return w
}

func (h *scriptHarness) do(t *testing.T, c *script.Command) string {
	ctx := context.Background()
	fail := func(err error) string {
		t.Fatalf("%s: %s: %v", c.Pos, c.Name, err)
		return ""
	}
	atoi := func(key string) int {
		n, err := strconv.Atoi(c.KV[key])
		if err != nil {
			fail(err)
		}
		return n
	}
	switch c.Name {
	case "open":
		h.close(t)
		h.path = filepath.Join(t.TempDir(), "cache.db")
		h.sweep = make(chan int)
		h.opts = Options{Clock: h.clk, Logger: discardLogger(), TTLCheckInterval: -1, MaxEntries: -1, MaxBytes: -1}
		if c.Has("max-entries") {
			h.opts.MaxEntries = atoi("max-entries")
		}
		if c.Has("max-bytes") {
			h.opts.MaxBytes = int64(atoi("max-bytes"))
		}
		if c.Has("ttl") {
			h.opts.TTL = scriptDuration(t, c, c.KV["ttl"])
		}
		if c.Has("ttl-check-interval") {
			h.opts.TTLCheckInterval = scriptDuration(t, c, c.KV["ttl-check-interval"])
		}
		fallthrough
	case "reopen":
		h.close(t)
		cache, err := Open(h.path, WithSweepHook(h.opts, h.sweep))
		if err != nil {
			return fail(err)
		}
		h.c = cache
		registerCheck(t, cache)
		return ""
	case "put":
		w := h.put(t, c, c.KV["id"], atoiOr(c, "pad", 0))
		if err := h.c.Apply(ctx, &engram.CacheBatch{Writes: []engram.CacheWrite{w}}); err != nil {
			return fail(err)
		}
		return ""
	case "batch":
		var b engram.CacheBatch
		for _, name := range strings.Split(c.KV["ids"], ",") {
			b.Writes = append(b.Writes, h.put(t, c, name, 0))
		}
		if err := h.c.Apply(ctx, &b); err != nil {
			return fail(err)
		}
		return ""
	case "get":
		_, out, err := h.c.lookup(ctx, engram.EpisodeCacheKey("script", scriptID(c.KV["id"])))
		if err != nil {
			return fail(err)
		}
		return [...]string{outHit: "hit", outAbsent: "miss (absent)", outExpired: "miss (expired)", outCorrupt: "miss (corrupt)"}[out]
	case "delete":
		if err := h.c.Delete(ctx, engram.EpisodeCacheKey("script", scriptID(c.KV["id"]))); err != nil {
			return fail(err)
		}
		return ""
	case "advance":
		h.clk.Advance(scriptDuration(t, c, c.Args[0]))
		return ""
	case "sweep":
		n, err := h.c.Sweep(ctx)
		if err != nil {
			return fail(err)
		}
		return fmt.Sprintf("swept %d", n)
	case "wait-sweep":
		select {
		case n := <-h.sweep:
			return fmt.Sprintf("swept %d", n)
		case <-time.After(10 * time.Second): // a guard against hanging, not a timing assertion
			return fail(fmt.Errorf("no background sweep after the clock passed the interval"))
		}
	case "lru":
		var names []string
		h.c.mu.Lock()
		for e := h.c.mu.lru.next; e != &h.c.mu.lru; e = e.next {
			names = append(names, h.names[e.key])
		}
		h.c.mu.Unlock()
		if len(names) == 0 {
			return "(empty)"
		}
		return strings.Join(names, " ")
	case "stats":
		s, err := h.c.Stats(ctx)
		if err != nil {
			return fail(err)
		}
		return fmt.Sprintf("entries=%d evictions=%d expirations=%d", s.Entries, s.Evictions, s.Expirations)
	}
	return fail(fmt.Errorf("unknown command"))
}

func atoiOr(c *script.Command, key string, def int) int {
	if !c.Has(key) {
		return def
	}
	n, err := strconv.Atoi(c.KV[key])
	if err != nil {
		panic(fmt.Sprintf("%s: %s: %v", c.Pos, key, err))
	}
	return n
}
