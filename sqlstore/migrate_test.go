package sqlstore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

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

// TestSplitSearch: the shared search table of schema 3 (every namespace's
// rows, a namespace column) is split into the namespaces' own tables,
// rowids kept, and dropped; search and the consistency checks then agree.
func TestSplitSearch(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "engram.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, ns := range []engram.Namespace{"default", "team-b.x"} {
		if err := s.CreateEpisode(ctx, ns, storetest.SampleEpisode(1)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPattern(ctx, ns, storetest.SamplePatterns()[0]); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.Search(ctx, "team-b.x", engram.SearchQuery{Text: "retry flaky", Any: true})
	if err != nil || len(want) == 0 {
		t.Fatalf("search before: %d hits, %v", len(want), err)
	}
	// Back to schema 3's layout.
	if _, err := s.w.ExecContext(ctx, `CREATE VIRTUAL TABLE search_fts USING fts5 (body, namespace UNINDEXED, kind UNINDEXED,
		ref_id UNINDEXED, step_number UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')`); err != nil {
		t.Fatal(err)
	}
	tables, err := searchTables(ctx, s.d, s.w)
	if err != nil || len(tables) != 2 {
		t.Fatalf("search tables: %v %v", tables, err)
	}
	offset := 0 // schema 3's rowids were unique across namespaces
	for ns, table := range tables {
		offset += 1000
		if _, err := s.w.ExecContext(ctx, `INSERT INTO search_fts (rowid, body, namespace, kind, ref_id, step_number)
			SELECT rowid + ?, body, ?, kind, ref_id, step_number FROM `+table, offset, string(ns)); err != nil {
			t.Fatal(err)
		}
		for _, records := range []string{"episodes", "steps", "patterns"} {
			if _, err := s.w.ExecContext(ctx, `UPDATE `+records+` SET fts_rowid = fts_rowid + ? WHERE namespace = ?`, offset, string(ns)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.w.ExecContext(ctx, `DROP TABLE `+table); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.fts = map[string]bool{}
	if err := s.write(ctx, "split search", func(t *tx) error { t.migrating = true; return splitSearch(t) }); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'search_fts'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("search_fts still there (%d, %v)", n, err)
	}
	got, err := s.Search(ctx, "team-b.x", engram.SearchQuery{Text: "retry flaky", Any: true})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, "search after the split", got, want)
	if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("check after the split: %v %v", problems, err)
	}
}

// TestMigrateFromSchema1: a database written at schema 1 (no digests, one
// shared search table, no feed state) is brought up to date on open: its
// records read back verified, search answers per namespace, the feed
// continues, and db check finds nothing.
func TestMigrateFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	v1 := *sqliteDialect
	v1.migrations = fstest.MapFS{"0001_init.sql": mustRead(t, "migrations/sqlite/0001_init.sql")}
	v1.migrationSteps = nil
	old, err := open(ctx, Options{Path: path}, &v1)
	if err != nil {
		t.Fatal(err)
	}
	// Rows as schema 1's code wrote them.
	type nsEp struct {
		ns engram.Namespace
		ep *engram.Episode
	}
	var eps []nsEp
	rowid := int64(0)
	for i, ns := range []engram.Namespace{"default", "team-b", "default"} {
		ep := storetest.SampleEpisode(i)
		now := time.Now().UTC().Add(time.Duration(i-10) * time.Second)
		ep.Normalize(now)
		ep.CreatedAt, ep.UpdatedAt = now, now
		eps = append(eps, nsEp{ns, ep})
		steps := ep.Steps
		cp := *ep
		cp.Steps = nil
		doc, _ := json.Marshal(&cp)
		rowid++
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := old.w.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`INSERT INTO search_fts (rowid, body, namespace, kind, ref_id, step_number) VALUES (?, ?, ?, 'episode', ?, 0)`,
			rowid, episodeText(ep), string(ns), ep.ID.UUID[:])
		exec(`INSERT INTO episodes (namespace, episode_id, task_type, domain, language, start_time, complete, created_at, updated_at,
			step_count, last_step, steps_bytes, fts_rowid, doc) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 0, ?, ?)`,
			string(ns), ep.ID.UUID[:], string(ep.TaskType), ep.Context.Domain, ep.Context.Language, nanos(ep.StartTime),
			nanos(now), nanos(now), len(steps), steps[len(steps)-1].StepNumber, rowid, doc)
		for j := range steps {
			sdoc, _ := json.Marshal(&steps[j])
			rowid++
			exec(`INSERT INTO search_fts (rowid, body, namespace, kind, ref_id, step_number) VALUES (?, ?, ?, 'step', ?, ?)`,
				rowid, stepText(&steps[j]), string(ns), ep.ID.UUID[:], steps[j].StepNumber)
			exec(`INSERT INTO steps (namespace, episode_id, step_number, tool, fts_rowid, doc) VALUES (?, ?, ?, ?, ?, ?)`,
				string(ns), ep.ID.UUID[:], steps[j].StepNumber, steps[j].Tool, rowid, sdoc)
		}
		exec(`INSERT INTO changes (namespace, kind, key, op, at) VALUES (?, 'episode', ?, 'insert', ?)`, string(ns), ep.ID.String(), nanos(now))
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatalf("migrate from schema 1: %v", err)
	}
	defer s.Close()
	if v, err := s.appliedVersion(ctx); err != nil || v != SchemaVersion() {
		t.Fatalf("schema version %d after the migration (%v), want %d", v, err, SchemaVersion())
	}
	for _, e := range eps {
		got, err := s.GetEpisode(ctx, e.ns, e.ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		storetest.Equal(t, "migrated episode", got, e.ep)
	}
	hits, err := s.Search(ctx, "team-b", engram.SearchQuery{Text: "flaky retry"})
	if err != nil || len(hits) != 1 || *hits[0].EpisodeID != eps[1].ep.ID {
		t.Fatalf("search of team-b after the migration: %+v %v", hits, err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("check after the migration: %v %v", problems, err)
	}
	if err := s.CreateEpisode(ctx, "team-b", storetest.SampleEpisode(9)); err != nil {
		t.Fatal(err)
	}
	changes, err := s.Changes(ctx, 0, 10)
	if err != nil || len(changes) != 4 || changes[3].Seq != 4 {
		t.Fatalf("feed after the migration: %+v %v", changes, err)
	}
}

func mustRead(t *testing.T, name string) *fstest.MapFile {
	t.Helper()
	b, err := sqliteMigrations.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return &fstest.MapFile{Data: b}
}
