package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/storetest"
)

// runCache executes "engram cache ARGS" in process against dataDir and
// returns what it printed and the error it returned (which the root
// command turns into one stderr line and exit status 1).
func runCache(t *testing.T, dataDir string, jsonOut bool, args ...string) (stdout string, err error) {
	t.Helper()
	var flags cacheFlags
	cmd := newCacheCmd(&flags, func() string { return dataDir }, func() bool { return jsonOut })
	flags.register(cmd.PersistentFlags()) // the root command registers them in engram
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// fillCache puts n episodes into dataDir/cache.db and returns them.
func fillCache(t *testing.T, dataDir string, n int) []*engram.Episode {
	t.Helper()
	c, err := boltcache.Open(filepath.Join(dataDir, "cache.db"), boltcache.Options{TTLCheckInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var b engram.CacheBatch
	var eps []*engram.Episode
	for i := 0; i < n; i++ {
		ep := storetest.RandomEpisode(rng, 2)
		eps = append(eps, ep)
		b.PutEpisode("cli", ep)
	}
	if err := c.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return eps
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("output holds more than one JSON document:\n%s", s)
	}
	return v
}

type statsJSON struct {
	Path string `json:"path"`
	engram.CacheStats
}

func TestCacheStats(t *testing.T) {
	dir := t.TempDir()
	fillCache(t, dir, 5)
	out, err := runCache(t, dir, true, "stats")
	if err != nil {
		t.Fatal(err)
	}
	s := decodeJSON[statsJSON](t, out)
	if s.Path != filepath.Join(dir, "cache.db") || s.Entries != 5 || s.Writes != 5 || s.FileSize <= 0 || s.Bytes <= 0 {
		t.Fatalf("stats = %+v; want 5 entries and writes in %s", s, filepath.Join(dir, "cache.db"))
	}

	out, err = runCache(t, dir, false, "stats")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"entries      5\n", "writes       5\n", "hit rate     0.0%\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestCacheStatsAtAnotherPath(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	fillCache(t, other, 3)
	out, err := runCache(t, dir, true, "stats", "--cache-path", filepath.Join(other, "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	if s := decodeJSON[statsJSON](t, out); s.Entries != 3 {
		t.Fatalf("entries = %d at --cache-path, want 3", s.Entries)
	}
}

func TestCacheClear(t *testing.T) {
	dir := t.TempDir()
	fillCache(t, dir, 4)
	out, err := runCache(t, dir, false, "clear")
	if err != nil {
		t.Fatal(err)
	}
	if want := "cleared 4 records from " + filepath.Join(dir, "cache.db") + "\n"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	out, err = runCache(t, dir, true, "stats")
	if err != nil {
		t.Fatal(err)
	}
	if s := decodeJSON[statsJSON](t, out); s.Entries != 0 {
		t.Fatalf("entries = %d after clear, want 0", s.Entries)
	}
}

func TestCacheHealth(t *testing.T) {
	dir := t.TempDir()
	fillCache(t, dir, 2)
	out, err := runCache(t, dir, true, "health")
	if err != nil {
		t.Fatal(err)
	}
	h := decodeJSON[boltcache.Health](t, out)
	if !h.Healthy || h.Check != "ok" || h.Entries != 2 || h.DiskFree == 0 || h.UncleanShutdown {
		t.Fatalf("health = %+v; want healthy, structure ok, 2 entries, free space, clean shutdown", h)
	}
	out, err = runCache(t, dir, false, "health")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "status     healthy\n") || !strings.Contains(out, "structure  ok\n") {
		t.Fatalf("text output:\n%s", out)
	}
}

type checkJSON struct {
	Path string `json:"path"`
	boltcache.CheckReport
}

// TestCacheCheckRemovesBadRecords damages one record's bytes in the file
// (found by its distinctive text) and wants check to report and remove it,
// and a second check to find nothing.
func TestCacheCheckRemovesBadRecords(t *testing.T) {
	dir := t.TempDir()
	eps := fillCache(t, dir, 6)
	path := filepath.Join(dir, "cache.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(eps[3].TaskDescription))
	if i < 0 {
		t.Fatal("the episode's description is not in the file")
	}
	data[i] ^= 0x20
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCache(t, dir, true, "check")
	if err != nil {
		t.Fatal(err)
	}
	rep := decodeJSON[checkJSON](t, out)
	if rep.Structure != "ok" || rep.Records != 6 || rep.OK != 5 || len(rep.Bad) != 1 || rep.Removed != 1 {
		t.Fatalf("check = %+v; want 6 records, 5 ok, 1 bad and removed", rep)
	}
	if want := "cli/" + eps[3].ID.String(); rep.Bad[0].Key != want || rep.Bad[0].Table != "episode" {
		t.Fatalf("bad record %+v, want episode %s", rep.Bad[0], want)
	}
	out, err = runCache(t, dir, false, "check")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"records    5\n", "bad        0\n", "removed    0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("second check lacks %q:\n%s", want, out)
		}
	}
}

func TestCacheErrLockedNamesThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.db")
	held, err := boltcache.Open(path, boltcache.Options{TTLCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	out, err := runCache(t, dir, true, "stats", "--cache-lock-timeout", "50ms")
	if !errors.Is(err, engram.ErrLocked) {
		t.Fatalf("err = %v, want ELOCKED", err)
	}
	if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q does not name %s on one line", err, path)
	}
	if out != "" {
		t.Fatalf("printed %q on a locked cache, want nothing", out)
	}
}

func TestCacheFlagsMakeOptions(t *testing.T) {
	var f cacheFlags
	cmd := newCacheCmd(&f, func() string { return "/data" }, func() bool { return false })
	f.register(cmd.Flags())
	if err := cmd.Flags().Parse([]string{"--cache-max-entries=500", "--cache-max-bytes=1048576", "--cache-ttl=1h",
		"--cache-ttl-check-interval=30s", "--cache-compress-threshold=-1", "--cache-compress-level=9", "--ram-max-bytes=4096"}); err != nil {
		t.Fatal(err)
	}
	bo, ro, err := f.options("/data")
	if err != nil {
		t.Fatal(err)
	}
	if bo.MaxEntries != 500 || bo.MaxBytes != 1<<20 || bo.TTL != time.Hour || bo.TTLCheckInterval != 30*time.Second ||
		bo.CompressThreshold != -1 || bo.CompressLevel != 9 || bo.LockTimeout != memory.DefaultCacheLockTimeout || bo.Sync {
		t.Fatalf("boltcache options = %+v", bo)
	}
	if ro.MaxBytes != 4096 || ro.TTL != time.Hour {
		t.Fatalf("ramcache options = %+v", ro)
	}
	if got := f.cachePath("/data"); got != filepath.Join("/data", "cache.db") {
		t.Fatalf("cache path = %s, want /data/cache.db", got)
	}
	// Every flag maps to the environment variable the issue names.
	for _, name := range []string{"cache-path", "cache-max-entries", "cache-max-bytes", "cache-ttl", "cache-ttl-check-interval",
		"cache-compress-threshold", "cache-compress-level", "ram-max-bytes"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("flag --%s (env ENGRAM_%s) is missing", name, strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
		}
	}
}

func TestCacheFlagsErrInvalid(t *testing.T) {
	for _, tc := range []struct{ name, arg, field string }{
		{"ErrNegativeTTL", "--cache-ttl=-1s", "cache-ttl"},
		{"ErrCompressLevelTooHigh", "--cache-compress-level=23", "cache-compress-level"},
		{"ErrRAMBytesZero", "--ram-max-bytes=0", "ram-max-bytes"},
		{"ErrCheckIntervalZero", "--cache-ttl-check-interval=0", "cache-ttl-check-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCache(t, t.TempDir(), false, "stats", tc.arg)
			if !errors.Is(err, engram.ErrInvalid) || engram.ErrorField(err) != tc.field {
				t.Fatalf("err = %v (field %q), want EINVALID naming %s", err, engram.ErrorField(err), tc.field)
			}
		})
	}
}
