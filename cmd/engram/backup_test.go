package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// fillStore writes n sample episodes into the data directory's durable store.
func fillStore(t *testing.T, dataDir string, first, n int) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dataDir, sqlstore.DefaultFileName), Synchronous: sqlstore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var eps []*engram.Episode
	for i := first; i < first+n; i++ {
		eps = append(eps, storetest.SampleEpisode(i))
	}
	if err := s.CreateEpisodes(ctx, "default", eps); err != nil {
		t.Fatal(err)
	}
}

// allEpisodes reads every episode of a data directory's store, through
// sqlstore (which checks each record against its digest).
func allEpisodes(t *testing.T, dataDir string) []*engram.Episode {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dataDir, sqlstore.DefaultFileName), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []*engram.Episode
	f := engram.EpisodeFilter{Limit: engram.MaxQueryLimit}
	for {
		page, err := s.ListEpisodes(ctx, "default", f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Episodes...)
		if page.NextCursor == "" {
			return out
		}
		f.Cursor = page.NextCursor
	}
}

func TestBackupCreateListVerifyRestorePrune(t *testing.T) {
	c := newCLI(t)
	fillStore(t, c.dataDir, 0, 120)
	cid := strings.TrimSpace(c.ok("a block of bytes", "blocks", "put"))
	repo := t.TempDir()
	url := "file://" + repo

	var first backupSummary
	c.json(&first, "", "backup", "create", url)
	if len(first.Files) != 2 || first.Files[0] != "engram.db" || first.Files[1] != "blocks.db" || first.NewChunks == nil || *first.NewChunks == 0 {
		t.Fatalf("first backup: %+v", first)
	}
	fillStore(t, c.dataDir, 1000, 5)
	var second backupSummary
	c.json(&second, "", "backup", "create", url)
	// The unchanged blockstore's chunks are stored already.
	if *second.ReusedBytes == 0 || *second.NewChunks >= second.Chunks {
		t.Fatalf("second backup: %d of %d chunks new, %d bytes reused", *second.NewChunks, second.Chunks, *second.ReusedBytes)
	}
	var list []backupSummary
	c.json(&list, "", "backup", "list", url)
	if len(list) != 2 || list[0].ID != first.ID || list[1].ID != second.ID {
		t.Fatalf("list: %+v", list)
	}
	if out := c.ok("", "backup", "verify", url); strings.Count(out, ": ok (") != 2 {
		t.Fatalf("verify: %q", out)
	}

	// Restore the second into a fresh directory: the same records, a clean
	// check, the same block.
	dst := newCLI(t)
	dst.ok("", "backup", "restore", url, second.ID)
	want, got := allEpisodes(t, c.dataDir), allEpisodes(t, dst.dataDir)
	if len(want) != 125 || len(got) != len(want) {
		t.Fatalf("restored %d episodes; the source has %d", len(got), len(want))
	}
	for i := range want {
		storetest.Equal(t, "restored episode", got[i], want[i])
	}
	dst.ok("", "db", "check")
	if b := dst.ok("", "blocks", "get", cid); b != "a block of bytes" {
		t.Fatalf("restored block: %q", b)
	}
	// Never over an existing store.
	dst.fails(exitError, "--data-dir", "", "backup", "restore", url, second.ID)

	var pr map[string]any
	c.json(&pr, "", "backup", "prune", url, "--keep", "1")
	if rm, _ := pr["removed"].([]any); len(rm) != 1 || rm[0] != first.ID {
		t.Fatalf("prune: %v", pr)
	}
	c.json(&list, "", "backup", "list", url)
	if len(list) != 1 || list[0].ID != second.ID {
		t.Fatalf("list after prune: %+v", list)
	}
	c.ok("", "backup", "verify", url, second.ID)
	c.fails(exitUsage, "--keep", "", "backup", "prune", url)
}

func TestBackupDamagedChunkNamed(t *testing.T) {
	c := newCLI(t)
	fillStore(t, c.dataDir, 0, 40)
	repo := t.TempDir()
	url := "file://" + repo
	var sum backupSummary
	c.json(&sum, "", "backup", "create", url)
	// Damage one chunk file in the file:// store.
	var victim string
	err := filepath.WalkDir(filepath.Join(repo, "objects", "chunks"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && victim == "" {
			victim = p
		}
		return err
	})
	if err != nil || victim == "" {
		t.Fatalf("no chunk file found: %v", err)
	}
	if err := os.WriteFile(victim, []byte("rdamage"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := "chunks/" + filepath.Base(filepath.Dir(victim)) + "/" + filepath.Base(victim)
	r := c.run("", "backup", "verify", url, sum.ID)
	if r.code != exitError || !strings.Contains(r.stdout, key) {
		t.Fatalf("verify of a damaged backup: exit %d, stdout %q; want exit 1 naming %s", r.code, r.stdout, key)
	}
	dst := newCLI(t)
	dst.fails(exitError, key, "", "backup", "restore", url, sum.ID)
	if _, err := os.Stat(dst.dataDir); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s: %v", dst.dataDir, err)
	}
	var reports []map[string]any
	out := c.run("", "backup", "verify", url, "-o", "json")
	if err := json.Unmarshal([]byte(out.stdout), &reports); err != nil || len(reports) != 1 {
		t.Fatalf("verify -o json: %v %q", err, out.stdout)
	}
}

// A snapshot directory a killed create left a day ago is removed by the
// next create; a recent one (perhaps a create running now) is not.
func TestBackupCreateRemovesStaleSnapshots(t *testing.T) {
	c := newCLI(t)
	fillStore(t, c.dataDir, 0, 5)
	old, recent := filepath.Join(c.dataDir, ".backup-old"), filepath.Join(c.dataDir, ".backup-recent")
	for _, d := range []string{old, recent} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "engram.db"), []byte("snapshot"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	c.ok("", "backup", "create", "file://"+t.TempDir())
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("stale snapshot directory still there: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Fatalf("recent snapshot directory removed: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(c.dataDir, ".backup-*")); len(left) != 1 {
		t.Fatalf("snapshot directories after create: %v; want only the recent one", left)
	}
}
