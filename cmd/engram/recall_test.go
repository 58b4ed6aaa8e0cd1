package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/embed/embedtest"
	"github.com/engramhq/engram/memory"
)

// seedRecallStore stores three episodes, embedded along the axes of 3-d,
// the first in Paris.
func seedRecallStore(t *testing.T, s engram.Store) []*engram.Episode {
	t.Helper()
	ctx := context.Background()
	var eps []*engram.Episode
	for i, d := range []string{"retry the flaky network call", "parse the config file", "render the dashboard"} {
		ep := &engram.Episode{TaskType: engram.TaskDebugging, TaskDescription: d}
		if i == 0 {
			ep.Location = &engram.Location{Lat: 48.85, Lon: 2.35}
		}
		if err := s.CreateEpisode(ctx, "default", ep); err != nil {
			t.Fatal(err)
		}
		v := make([]float32, 3)
		v[i] = 1
		if err := s.PutEmbeddings(ctx, "default", []*engram.Embedding{{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: v}}); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	return eps
}

func TestRecallAndIndexCommands(t *testing.T) {
	c := newCLI(t)
	m, err := memory.Open(context.Background(), memory.Config{DataDir: c.dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	eps := seedRecallStore(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	vec := filepath.Join(t.TempDir(), "q.json")
	os.WriteFile(vec, []byte("[0, 0.1, 1]"), 0o644)

	var res engram.RecallResult
	c.json(&res, "", "recall", "--vector-file", vec, "--text", "config", "--limit", "2")
	if len(res.Hits) != 2 || res.Hits[0].Episode == nil {
		t.Fatalf("recall: %+v", res)
	}
	for _, h := range res.Hits {
		if h.ItemID == eps[2].ID.UUID && (h.Signals.Vector == nil || h.Signals.Vector.Rank != 1) {
			t.Fatalf("nearest to the vector lacks vector rank 1: %+v", h.Signals)
		}
		if h.ItemID == eps[1].ID.UUID && (h.Signals.Text == nil || h.Signals.Text.Rank != 1) {
			t.Fatalf("the config episode lacks text rank 1: %+v", h.Signals)
		}
	}
	// --near keeps only the episode in Paris; the text output names it.
	out := c.ok("", "recall", "--vector-file", vec, "--near", "48.8,2.3,50")
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, eps[0].ID.String()) || !strings.Contains(out, "vector #1") {
		t.Fatalf("recall --near: %q", out)
	}
	// Numbers on standard input; a wrong dimension names the vector.
	c.fails(exitError, "vector: has 2 dimensions", "1 0", "recall", "--vector-file", "-")
	c.fails(exitUsage, "needs --text", "", "recall")

	var st []engram.IndexStatus
	c.json(&st, "", "index", "status")
	if len(st) != 1 || st[0].Vectors != 3 || st[0].Dim != 3 || st[0].Kind != "flat" || st[0].RebuildReason != "" {
		t.Fatalf("index status (the recall above saved a snapshot): %+v", st)
	}
	if out := c.ok("", "index", "verify"); !strings.Contains(out, "ok") {
		t.Fatalf("verify: %q", out)
	}
	st = nil
	c.json(&st, "", "index", "rebuild")
	if len(st) != 1 || st[0].RebuildReason != "rebuild asked for" || st[0].Vectors != 3 {
		t.Fatalf("rebuild: %+v", st)
	}
	// A damaged snapshot is reported by the next status as the reason it was rebuilt.
	snap := filepath.Join(c.dataDir, "index", "default", "episode", "default", "3.flat")
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a bit of a stored 1.0 (a vector component), not of padding.
	i := bytes.Index(b, []byte{0, 0, 0x80, 0x3f})
	if i < 0 {
		t.Fatal("no float32 1.0 in the snapshot")
	}
	b[i+3] ^= 1
	os.WriteFile(snap, b, 0o644)
	// Opening checks a snapshot's structure; its vectors are checked when a
	// search first reads them, or all at once by index verify.
	if r := c.run("", "index", "verify"); r.code != exitError || !strings.Contains(r.stdout, snap) || !strings.Contains(r.stdout, "fails its checksum") {
		t.Fatalf("index verify after damage: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// A recall that reads the damaged vector rebuilds the index and answers.
	var again engram.RecallResult
	c.json(&again, "", "recall", "--vector-file", vec)
	if len(again.Hits) == 0 || again.Hits[0].ItemID != eps[2].ID.UUID {
		t.Fatalf("recall over a damaged snapshot: %+v", again)
	}
	// ... and saved the rebuilt snapshot: the next process finds it sound.
	if out := c.ok("", "index", "verify"); !strings.Contains(out, "ok") {
		t.Fatalf("verify after the rebuild: %q", out)
	}
}

func TestRecallWithServer(t *testing.T) {
	c := newCLI(t)
	url := c.startServe()
	cl, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eps := seedRecallStore(t, cl)
	vec := filepath.Join(t.TempDir(), "q.txt")
	os.WriteFile(vec, []byte("0.9, 0.1, 0"), 0o644)
	var res engram.RecallResult
	c.json(&res, "", "--server", url, "recall", "--vector-file", vec, "--limit", "1")
	if len(res.Hits) != 1 || res.Hits[0].ItemID != eps[0].ID.UUID || res.Hits[0].Episode.TaskDescription != eps[0].TaskDescription {
		t.Fatalf("recall over --server: %+v", res)
	}
	c.fails(exitUsage, "not --server", "", "--server", url, "index", "status")
}

func TestRecallWithEmbedURL(t *testing.T) {
	c := newCLI(t)
	srv := embedtest.Start(t, 32, "tok")
	t.Setenv("ENGRAM_EMBED_TOKEN", "tok")
	flags := []string{"--embed-url", srv.URL, "--embed-model", "bag"}
	var added engram.Episode
	c.json(&added, `{"task_type":"debugging","task_description":"dashboard renders slowly"}`, append(flags, "episode", "add")...)
	c.json(&engram.Episode{}, `{"task_type":"debugging","task_description":"parser crashes"}`, append(flags, "episode", "add")...)
	var res engram.RecallResult
	c.json(&res, "", append(flags, "recall", "--text", "dashboard slow", "--limit", "1")...)
	if len(res.Hits) != 1 || res.Hits[0].ItemID != added.ID.UUID || res.Hits[0].Signals.Vector == nil {
		t.Fatalf("recall with --embed-url: %+v", res.Hits)
	}
	c.fails(exitUsage, "embed_model", "", "--embed-url", srv.URL, "recall", "--text", "x")
}
