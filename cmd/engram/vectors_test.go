package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// With --vectors-tier, vectors flush uploads the index; once its local
// files are gone, recall fetches it from the object tier (says so) instead
// of rebuilding it, and vectors tiers lists it.
func TestVectorsTierCommands(t *testing.T) {
	c := newCLI(t)
	m, err := memory.Open(context.Background(), memory.Config{DataDir: c.dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	eps := seedRecallStore(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	tier := "--vectors-tier=file://" + t.TempDir()
	vec := filepath.Join(t.TempDir(), "q.json")
	os.WriteFile(vec, []byte("[0, 0.1, 1]"), 0o644)

	var res engram.RecallResult
	c.json(&res, "", tier, "recall", "--vector-file", vec)
	if res.Vector == nil || res.Vector.Tier != engram.VectorRebuilt || res.Hits[0].ItemID != eps[2].ID.UUID {
		t.Fatalf("first recall: %+v", res.Vector)
	}
	var vts engram.VectorTiersStatus
	c.json(&vts, "", tier, "vectors", "flush")
	if vts.Uploads != 1 || len(vts.Groups) != 1 || vts.Groups[0].Uploaded == 0 {
		t.Fatalf("flush: %+v", vts)
	}
	if err := os.RemoveAll(filepath.Join(c.dataDir, "index")); err != nil {
		t.Fatal(err)
	}
	res = engram.RecallResult{}
	c.json(&res, "", tier, "recall", "--vector-file", vec)
	if res.Vector == nil || res.Vector.Tier != engram.VectorCold || res.Vector.LoadTime <= 0 || res.Hits[0].ItemID != eps[2].ID.UUID {
		t.Fatalf("recall without local files: %+v", res.Vector)
	}
	out := c.ok("", tier, "vectors", "tiers")
	if !strings.Contains(out, "index default/episode/default warm") || !strings.Contains(out, "rebuilds=0") {
		t.Fatalf("vectors tiers:\n%s", out)
	}
	// Without the object tier the same command says cold is disabled.
	if out := c.ok("", "vectors", "tiers"); !strings.Contains(out, "cold     disabled") {
		t.Fatalf("vectors tiers without an object tier:\n%s", out)
	}
}
