package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// rawDB opens the store's file with plain SQL, as damage from outside would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// flipByte changes one byte of a stored column in place, keeping it valid
// JSON (or a vector of the same length): exactly the damage that used to be
// read back as a different, plausible record.
func flipByte(t *testing.T, db *sql.DB, table, col, where string, args ...any) {
	t.Helper()
	flipByteAfter(t, db, table, col, "", where, args...)
}

// flipByteAfter is flipByte at the first 'e' after the first occurrence of
// marker.
func flipByteAfter(t *testing.T, db *sql.DB, table, col, marker, where string, args ...any) {
	t.Helper()
	var b []byte
	if err := db.QueryRow(`SELECT `+col+` FROM `+table+` WHERE `+where, args...).Scan(&b); err != nil {
		t.Fatalf("read %s.%s: %v", table, col, err)
	}
	from := bytes.Index(b, []byte(marker))
	if from < 0 {
		t.Fatalf("%s.%s has no %q: %s", table, col, marker, b)
	}
	i := bytes.IndexByte(b[from:], 'e')
	if i >= 0 {
		i += from
	}
	if col == "vector" {
		i = len(b) / 2
	}
	if i < 0 {
		t.Fatalf("%s.%s has no byte to flip: %s", table, col, b)
	}
	b[i] ^= 0x01 // 'e' -> 'd'
	res, err := db.Exec(`UPDATE `+table+` SET `+col+` = ? WHERE `+where, append([]any{b}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("damaged %d rows of %s, want 1", n, table)
	}
}

func wantCorrupt(t *testing.T, err error, names ...string) {
	t.Helper()
	storetest.WantCode(t, err, engram.ECORRUPT, "")
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Fatalf("corruption error does not name %q: %v", n, err)
		}
	}
}

// TestDamagedRowIsCorrupt flips one byte inside each kind of stored record
// of a real file with raw SQL: every read of it is ECORRUPT naming the
// record and the file, never the altered record, and db check lists each.
func TestDamagedRowIsCorrupt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ep, stepEp := storetest.SampleEpisode(1), storetest.SampleEpisode(2)
	p := storetest.SamplePatterns()[0]
	h := &engram.Heuristic{Condition: "when retries pile up", Action: "add jitter", Confidence: 0.7}
	emb := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{0.25, 0.5, 0.75, 1}}
	for _, err := range []error{s.CreateEpisode(ctx, "default", ep), s.CreateEpisode(ctx, "default", stepEp),
		s.PutPattern(ctx, "default", p), s.PutHeuristic(ctx, "default", h)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	emb.ItemID = ep.ID.UUID
	if err := s.PutEmbeddings(ctx, "default", []*engram.Embedding{emb}); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("check before the damage: %v %v", problems, err)
	}
	s.Close()

	db := rawDB(t, path)
	flipByte(t, db, "episodes", "doc", "episode_id = ?", ep.ID.UUID[:])
	// A step is part of its episode's document.
	flipByteAfter(t, db, "episodes", "doc", `"step_number":2`, "episode_id = ?", stepEp.ID.UUID[:])
	flipByte(t, db, "patterns", "doc", "pattern_id = ?", p.ID.UUID[:])
	flipByte(t, db, "heuristics", "doc", "heuristic_id = ?", h.ID.UUID[:])
	flipByte(t, db, "embeddings", "vector", "item_id = ?", ep.ID.UUID[:])
	db.Close()

	s, err = sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.GetEpisode(ctx, "default", ep.ID)
	wantCorrupt(t, err, "episode "+ep.ID.String(), path)
	_, err = s.GetEpisode(ctx, "default", stepEp.ID)
	wantCorrupt(t, err, "episode "+stepEp.ID.String())
	_, err = s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
	wantCorrupt(t, err, "episode")
	_, err = s.GetPattern(ctx, "default", p.ID)
	wantCorrupt(t, err, "pattern "+p.ID.String())
	_, err = s.ListPatterns(ctx, "default", engram.PatternFilter{})
	wantCorrupt(t, err, "pattern "+p.ID.String())
	_, err = s.GetHeuristic(ctx, "default", h.ID)
	wantCorrupt(t, err, "heuristic "+h.ID.String())
	_, err = s.ListHeuristics(ctx, "default", engram.HeuristicFilter{})
	wantCorrupt(t, err, "heuristic "+h.ID.String())
	_, err = s.GetEmbedding(ctx, "default", emb.Key())
	wantCorrupt(t, err, "embedding")
	_, err = s.ListEmbeddings(ctx, "default", engram.EmbeddingFilter{})
	wantCorrupt(t, err, "embedding")
	_, err = s.CompleteEpisode(ctx, "default", ep.ID, storetest.SampleCompletion(ep.StartTime.Add(1e9)))
	wantCorrupt(t, err, "episode "+ep.ID.String())
	// Writes that rewrite a damaged document refuse to (they would drop or
	// bless the damage).
	err = s.AppendStep(ctx, "default", stepEp.ID, &engram.Step{Tool: "go", Action: "test"})
	wantCorrupt(t, err, "episode "+stepEp.ID.String())
	upd := *stepEp
	upd.TaskDescription = "rewritten"
	wantCorrupt(t, s.UpdateEpisode(ctx, "default", &upd), "episode "+stepEp.ID.String())

	problems, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"episode default/" + ep.ID.String(), "episode default/" + stepEp.ID.String(),
		"pattern default/" + p.ID.String(), "heuristic default/" + h.ID.String(), "embedding default/episode/" + ep.ID.String()} {
		found := false
		for _, p := range problems {
			found = found || strings.Contains(p, want)
		}
		if !found {
			t.Errorf("db check does not list %s: %q", want, problems)
		}
	}
	if len(problems) != 5 {
		t.Errorf("db check found %d problems, want the 5 damaged records: %q", len(problems), problems)
	}
}
