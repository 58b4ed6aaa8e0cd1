package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// TestSQLiteSynchronousDefaultIsFull: without the flag, the store engram
// opens syncs every commit (what SQLite reports for the writer connection);
// weakening the flag's default fails here. The flag reaches the store.
func TestSQLiteSynchronousDefaultIsFull(t *testing.T) {
	c := newCLI(t)
	var info struct {
		Synchronous string `json:"synchronous"`
	}
	c.json(&info, "", "db", "stats")
	if info.Synchronous != "full" {
		t.Fatalf("default commit durability is %q, want full", info.Synchronous)
	}
	c.json(&info, "", "--sqlite-synchronous", "normal", "db", "stats")
	if info.Synchronous != "normal" {
		t.Fatalf("--sqlite-synchronous normal: the store runs %q", info.Synchronous)
	}
}

func TestSQLiteSynchronousErrUsage(t *testing.T) {
	c := newCLI(t)
	c.fails(exitUsage, "--sqlite-synchronous", "", "--sqlite-synchronous", "sometimes", "db", "stats")
	t.Setenv("ENGRAM_SQLITE_SYNCHRONOUS", "FULLY")
	c.fails(exitUsage, "--sqlite-synchronous", "", "episode", "list")
}

// TestDBCheckListsDamagedRecord flips a byte inside a stored document with
// raw SQL: db check exits 1 and names the damaged record.
func TestDBCheckListsDamagedRecord(t *testing.T) {
	c := newCLI(t)
	in, _ := json.Marshal(storetest.SampleEpisode(1))
	var ep engram.Episode
	c.json(&ep, string(in), "episode", "add")
	c.ok("", "db", "check") // closes the store

	db, err := sql.Open("sqlite", filepath.Join(c.dataDir, sqlstore.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var doc []byte
	if err := db.QueryRow(`SELECT doc FROM episodes WHERE episode_id = ?`, ep.ID.UUID[:]).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	doc = bytes.Replace(doc, []byte("flaky"), []byte("flakx"), 1)
	if _, err := db.Exec(`UPDATE episodes SET doc = ? WHERE episode_id = ?`, doc, ep.ID.UUID[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()

	r := c.run("", "db", "check", "-o", "json")
	if r.code != exitError {
		t.Fatalf("db check of a damaged record: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	var check struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &check); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if check.OK || len(check.Problems) != 1 || !strings.Contains(check.Problems[0], "episode default/"+ep.ID.String()) {
		t.Fatalf("db check: %+v, want the damaged episode named", check)
	}
}

// TestReadCommandsOnReadOnlyDataDir: the read commands work on a data
// directory on a read-only mount (a real one: permissions do not bind root).
// The record commands run with --no-cache: the cache file cannot be opened
// on a read-only mount, and opening the tiers without it is memory's call.
func TestReadCommandsOnReadOnlyDataDir(t *testing.T) {
	c := newCLI(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: cannot mount a tmpfs: %s", out)
		}
		t.Skipf("SKIPPED (would fail in CI): cannot mount a tmpfs: %s", out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	c.dataDir = filepath.Join(mnt, "data")
	in, _ := json.Marshal(storetest.SampleEpisode(1))
	var ep engram.Episode
	c.json(&ep, string(in), "episode", "add")
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", mnt).Run() })

	var got engram.Episode
	c.json(&got, "", "--no-cache", "episode", "get", ep.ID.String())
	storetest.Equal(t, "episode get on a read-only data directory", got, ep)
	var list []engram.Episode
	c.json(&list, "", "--no-cache", "episode", "list")
	if len(list) != 1 {
		t.Fatalf("episode list on a read-only data directory: %d episodes", len(list))
	}
	var hits []engram.SearchHit
	c.json(&hits, "", "--no-cache", "search", "flaky retry")
	if len(hits) == 0 {
		t.Fatal("search on a read-only data directory found nothing")
	}
	c.ok("", "db", "check")
	if r := c.run(`{"tool":"t","action":"a"}`, "--no-cache", "step", "add", ep.ID.String()); r.code != exitError || !strings.Contains(r.stderr, "is not writable") {
		t.Fatalf("a write on a read-only data directory: exit %d, stderr %q", r.code, r.stderr)
	}
}
