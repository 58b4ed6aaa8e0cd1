package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/sqlstore"
)

func TestSyncAndStatus(t *testing.T) {
	c := newCLI(t)
	c.ok("", "demo")
	var rep engram.SyncReport
	c.json(&rep, "", "sync", "--full", "--validate", "--sync-validate-checksums")
	if !rep.Full || rep.Episodes != 3 || rep.Patterns != 1 || rep.Heuristics != 1 || rep.Validation == nil || !rep.Validation.OK {
		t.Fatalf("full sync report: %+v", rep)
	}
	c.ok(`{"task_description":"one more"}`, "episode", "add")
	var st engram.Status
	c.json(&st, "", "status")
	// A command that wrote syncs as it closes the cache file: no lag.
	if st.LastSync == nil || st.Watermark == 0 || st.Lag != 0 || st.Stale || len(st.Tiers) != 3 {
		t.Fatalf("status: %+v", st)
	}
	// A write behind the cache's back (another process on the durable store
	// alone) is applied when the next command opens the cache file.
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(c.dataDir, sqlstore.DefaultFileName)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEpisode(context.Background(), "default", &engram.Episode{TaskDescription: "behind its back"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var inc engram.SyncReport
	c.json(&inc, "", "sync", "--validate")
	if inc.Full || inc.WatermarkBefore != st.Watermark+1 || inc.WatermarkAfter != inc.WatermarkBefore || !inc.Validation.OK {
		t.Fatalf("incremental sync after the open caught up (watermark was %d): %+v", st.Watermark, inc)
	}
	var dry engram.SyncReport
	c.json(&dry, "", "sync", "--full", "--dry-run")
	if !dry.DryRun || dry.Episodes != 5 || dry.WatermarkAfter != dry.WatermarkBefore {
		t.Fatalf("dry run: %+v", dry)
	}
	text := c.ok("", "status")
	for _, want := range []string{"ram      ok", "cache    ok", "durable  ok", "lag          0", "stale        false"} {
		if !strings.Contains(text, want) {
			t.Fatalf("status text lacks %q:\n%s", want, text)
		}
	}
	text = c.ok("", "sync")
	if !strings.Contains(text, "sync        incremental") || !strings.Contains(text, "watermark") {
		t.Fatalf("sync text:\n%s", text)
	}
}

func TestCommandsWorkWhileAnotherProcessHoldsTheCache(t *testing.T) {
	c := newCLI(t)
	c.ok("", "demo")
	held, err := boltcache.Open(filepath.Join(c.dataDir, "cache.db"), boltcache.Options{TTLCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var eps []engram.Episode
	c.json(&eps, "", "episode", "list", "--cache-lock-timeout", "10ms")
	if len(eps) != 3 {
		t.Fatalf("list with the cache held: %d episodes", len(eps))
	}
	var ep engram.Episode
	c.json(&ep, `{"task_description":"written while the cache is held"}`, "episode", "add", "--cache-lock-timeout", "10ms")
	c.fails(exitError, "the cache file is not ours", "", "sync", "--cache-lock-timeout", "10ms")
	var st engram.Status
	c.json(&st, "", "status", "--cache-lock-timeout", "10ms")
	for _, ts := range st.Tiers {
		if ts.Tier == engram.TierCache && (ts.State != "degraded" || !strings.Contains(ts.Detail, "locked")) {
			t.Fatalf("cache tier while held: %+v", ts)
		}
	}
}

func TestFileCommandsRefuseServer(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"db", "stats"}, {"cache", "stats"}, {"blocks", "stat"}, {"heads", "list"}} {
		c.fails(exitUsage, "--server does not apply", "", append(args, "--server", "http://127.0.0.1:1")...)
	}
}
