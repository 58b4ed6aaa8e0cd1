package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// Every Go migration step belongs to a migration file: a renamed file must
// not silently drop its step.
func TestMigrationStepsNameMigrations(t *testing.T) {
	ms, err := loadMigrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range ms {
		names[m.name] = true
	}
	for name := range sqliteDialect.migrationSteps {
		if !names[name] {
			t.Errorf("migration step %q has no migration file", name)
		}
	}
}

// TestFillDigests: rows stored before digests existed (digest NULL, as
// migration 0002 finds them) get the digests reads then verify.
func TestFillDigests(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "engram.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ep := storetest.SampleEpisode(1)
	p := storetest.SamplePatterns()[0]
	h := &engram.Heuristic{Condition: "c", Action: "a", Confidence: 0.5}
	emb := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1, 2}}
	for _, err := range []error{s.CreateEpisode(ctx, "default", ep), s.PutPattern(ctx, "default", p), s.PutHeuristic(ctx, "default", h)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	emb.ItemID = ep.ID.UUID
	if err := s.PutEmbeddings(ctx, "default", []*engram.Embedding{emb}); err != nil {
		t.Fatal(err)
	}
	tables := []string{"episodes", "steps", "patterns", "heuristics", "embeddings"}
	for _, table := range tables {
		if _, err := s.w.ExecContext(ctx, `UPDATE `+table+` SET digest = NULL`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetEpisode(ctx, "default", ep.ID); engram.ErrorCode(err) != engram.ECORRUPT {
		t.Fatalf("read of a row without its digest: %v, want ECORRUPT", err)
	}
	if err := s.write(ctx, "fill digests", fillDigests); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE length(digest) = 32`).Scan(&n); err != nil || n == 0 {
			t.Fatalf("%s: %d rows with a digest after the fill (%v)", table, n, err)
		}
	}
	got, err := s.GetEpisode(ctx, "default", ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, "episode after the fill", got, ep)
	if _, err := s.GetEmbedding(ctx, "default", emb.Key()); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("check after the fill: %v %v", problems, err)
	}
}
