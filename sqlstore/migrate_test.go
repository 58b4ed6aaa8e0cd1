package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
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
// migration 0002 finds them) get the digests reads then verify, and the
// later migrations carry them through.
func TestFillDigests(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	s, err := open(ctx, Options{Path: path}, dialectAt(t, sqliteDialect, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ep := oldEpisode(storetest.SampleEpisode(1), time.Now().UTC())
	p := storetest.SamplePatterns()[0]
	h := &engram.Heuristic{Condition: "c", Action: "a", Confidence: 0.5}
	emb := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1, 2}}
	writeOldEpisode(t, s, "default", ep, ep.UpdatedAt)
	// The embedding row as written before migration 0006 (no expires_at,
	// no metadata): today's PutEmbeddings writes those columns.
	_, embErr := s.w.ExecContext(ctx, `INSERT INTO embeddings (namespace, item_type, item_id, model, dimension, vector, created_at)
		VALUES ('default', 'episode', ?, 'default', 2, ?, ?)`, idBytes(emb.ItemID), encodeVector(emb.Vector), time.Now().UnixNano())
	for _, err := range []error{s.PutPattern(ctx, "default", p), s.PutHeuristic(ctx, "default", h), embErr} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tables := []string{"episodes", "steps", "patterns", "heuristics", "embeddings"}
	for _, table := range tables {
		if _, err := s.w.ExecContext(ctx, `UPDATE `+table+` SET digest = NULL`); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.write(ctx, "fill digests", fillDigests); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables[:4] {
		rows, err := s.w.QueryContext(ctx, `SELECT doc, digest FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var doc, digest []byte
			if err := rows.Scan(&doc, &digest); err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(doc); !bytes.Equal(digest, want[:]) {
				t.Fatalf("%s: digest %x after the fill, want %x", table, digest, want)
			}
			n++
		}
		rows.Close()
		if n == 0 {
			t.Fatalf("%s: no rows", table)
		}
	}
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM embeddings WHERE length(digest) = 32`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("embeddings: %d rows with a digest after the fill (%v)", n, err)
	}
	s.Close()

	s, err = Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetEpisode(ctx, "default", ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, "episode after the fill and the migrations", got, ep)
	if _, err := s.GetEmbedding(ctx, "default", emb.Key()); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("check after the fill: %v %v", problems, err)
	}
}

// dialectAt is d as it was at schema version v: its first v migrations
// and their Go steps.
func dialectAt(t *testing.T, d *dialect, v int) *dialect {
	t.Helper()
	ms, err := loadMigrations(d.migrations)
	if err != nil {
		t.Fatal(err)
	}
	old := *d
	fsys := fstest.MapFS{}
	old.migrationSteps = map[string]func(*tx) error{}
	for _, m := range ms[:v] {
		fsys[m.name+".sql"] = &fstest.MapFile{Data: []byte(m.sql)}
		if step := d.migrationSteps[m.name]; step != nil {
			old.migrationSteps[m.name] = step
		}
	}
	old.migrations = fsys
	return &old
}

// oldEpisode normalises ep as a create at now did; it is what a read
// returned (steps never nil).
func oldEpisode(ep *engram.Episode, now time.Time) *engram.Episode {
	ep.Normalize(now)
	ep.CreatedAt, ep.UpdatedAt = now, now
	if ep.Steps == nil {
		ep.Steps = []engram.Step{}
	}
	return ep
}

// writeOldEpisode stores ep as the code of SQLite schemas 2-4 (PostgreSQL
// schema 1) did: the episode's doc without its steps and one doc per step,
// each with its digest. updated is the updated_at column: appending a step
// moved it and left the doc's as it was.
func writeOldEpisode(t *testing.T, s *Store, ns engram.Namespace, ep *engram.Episode, updated time.Time) {
	t.Helper()
	err := s.write(context.Background(), "write an old episode", func(tx *tx) error {
		id := idBytes(ep.ID.UUID)
		cp := *ep
		cp.Steps = nil
		doc, err := json.Marshal(&cp)
		if err != nil {
			return err
		}
		ftsID, err := tx.indexText(ns, engram.SearchEpisode, id, 0, episodeText(ep))
		if err != nil {
			return err
		}
		var end sql.NullInt64
		if ep.EndTime != nil {
			end = sql.NullInt64{Int64: nanos(*ep.EndTime), Valid: true}
		}
		stepDocs := make([][]byte, len(ep.Steps))
		stepsBytes, last := 0, 0
		for i := range ep.Steps {
			if stepDocs[i], err = json.Marshal(&ep.Steps[i]); err != nil {
				return err
			}
			stepsBytes += len(stepDocs[i])
			last = ep.Steps[i].StepNumber
		}
		if _, err := tx.exec(`INSERT INTO episodes (namespace, episode_id, task_type, domain, language, start_time, end_time, complete,
			created_at, updated_at, step_count, last_step, steps_bytes, fts_rowid, doc, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(ns), id, string(ep.TaskType), ep.Context.Domain, ep.Context.Language, nanos(ep.StartTime), end, ep.Complete(),
			nanos(ep.CreatedAt), nanos(updated), len(ep.Steps), last, stepsBytes, ftsID, doc, docDigest(doc)); err != nil {
			return err
		}
		for i := range ep.Steps {
			st := &ep.Steps[i]
			fts, err := tx.indexText(ns, engram.SearchStep, id, st.StepNumber, stepText(st))
			if err != nil {
				return err
			}
			if _, err := tx.exec(`INSERT INTO steps (namespace, episode_id, step_number, tool, fts_rowid, doc, digest) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				string(ns), id, st.StepNumber, st.Tool, fts, stepDocs[i], docDigest(stepDocs[i])); err != nil {
				return err
			}
		}
		tx.indexEpisode(ns, ep, id)
		tx.change(ns, engram.KindEpisode, ep.ID.String(), engram.OpInsert)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateToEpisodeDocuments: a SQLite store written at schema 4 (an
// episode's steps in rows of their own) migrates to one document per
// episode with the same records.
func TestMigrateToEpisodeDocuments(t *testing.T) {
	testMigrateToEpisodeDocuments(t, Options{Path: filepath.Join(t.TempDir(), "engram.db")}, dialectAt(t, sqliteDialect, 4))
}

// TestPostgresMigrateToEpisodeDocuments: the same from PostgreSQL schema 1.
func TestPostgresMigrateToEpisodeDocuments(t *testing.T) {
	testMigrateToEpisodeDocuments(t, Options{URL: PostgresURL(t)}, dialectAt(t, postgresDialect, 1))
}

// testMigrateToEpisodeDocuments writes episodes with 0, 1 and 6 steps (one
// of them appended to after its create, one with a damaged step) with the
// old dialect's code, then opens the store with this one. Every intact
// episode reads back as it did before the migration: equal records, and
// the digest of the record read (its canonical encoding) equals the
// stored digest and the digest of the record the old code returned. The
// damaged one stays ECORRUPT naming it; step rows keep what insights and
// search use; writes go on.
func testMigrateToEpisodeDocuments(t *testing.T, opts Options, old *dialect) {
	ctx := context.Background()
	o, err := open(ctx, opts, old)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	type rec struct {
		ns engram.Namespace
		ep *engram.Episode // what the old code's reads returned
	}
	var recs []rec
	for i, k := range []int{6, 0, 1, 6} {
		ns := engram.Namespace("default")
		if i == 3 {
			ns = "team-b"
		}
		ep := oldEpisode(storetest.RandomEpisode(rng, k), base.Add(time.Duration(i)*time.Second))
		updated := ep.UpdatedAt
		if k == 1 {
			// An open episode with an append after its create.
			ep.EndTime, ep.Outcome, ep.Reward, ep.Reflection = nil, nil, nil, nil
			updated = updated.Add(time.Minute)
		}
		writeOldEpisode(t, o, ns, ep, updated)
		ep.UpdatedAt = updated
		recs = append(recs, rec{ns, ep})
	}
	damaged := oldEpisode(storetest.RandomEpisode(rng, 6), base)
	writeOldEpisode(t, o, "damaged", damaged, damaged.UpdatedAt)
	if _, err := o.w.ExecContext(ctx, o.d.rebind(`UPDATE steps SET doc = replace(doc, '"shell"', '"shelk"') WHERE namespace = 'damaged' AND step_number = 3`)); err != nil {
		t.Fatal(err)
	}
	want := map[engram.EpisodeID][]byte{}
	for _, r := range recs {
		b, err := json.Marshal(r.ep)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(b)
		want[r.ep.ID] = d[:]
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer s.Close()
	if v, err := s.appliedVersion(ctx); err != nil || v != len(mustMigrations(t, s.d)) {
		t.Fatalf("schema version %d after the migration (%v)", v, err)
	}
	for _, r := range recs {
		got, err := s.GetEpisode(ctx, r.ns, r.ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		storetest.Equal(t, "migrated episode", got, r.ep)
		b, _ := json.Marshal(got)
		if d := sha256.Sum256(b); !bytes.Equal(d[:], want[r.ep.ID]) {
			t.Errorf("episode %s: digest of the record read %x, before the migration %x", r.ep.ID, d, want[r.ep.ID])
		}
		var stored []byte
		if err := s.w.QueryRowContext(ctx, s.d.rebind(`SELECT digest FROM episodes WHERE namespace = ? AND episode_id = ?`), string(r.ns), idBytes(r.ep.ID.UUID)).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stored, want[r.ep.ID]) {
			t.Errorf("episode %s: stored digest %x, want %x", r.ep.ID, stored, want[r.ep.ID])
		}
	}
	page, err := s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
	if err != nil || len(page.Episodes) != 3 {
		t.Fatalf("list after the migration: %d episodes, %v", len(page.Episodes), err)
	}
	for _, got := range page.Episodes {
		for _, r := range recs {
			if r.ep.ID == got.ID {
				storetest.Equal(t, "listed episode", got, r.ep)
			}
		}
	}

	// Step rows: what insights aggregate.
	st := recs[0].ep.Steps[1]
	var tool, typ string
	var at, latency, tokens int64
	if err := s.w.QueryRowContext(ctx, s.d.rebind(`SELECT tool, at, latency_ms, tokens_used, result_type FROM steps WHERE namespace = ? AND episode_id = ? AND step_number = 2`),
		"default", idBytes(recs[0].ep.ID.UUID)).Scan(&tool, &at, &latency, &tokens, &typ); err != nil {
		t.Fatal(err)
	}
	if tool != st.Tool || at != nanos(st.Timestamp) || latency != st.LatencyMS || tokens != st.TokensUsed || typ != string(st.Result.Type) {
		t.Errorf("step row %q %d %d %d %q, want %q %d %d %d %q", tool, at, latency, tokens, typ, st.Tool, nanos(st.Timestamp), st.LatencyMS, st.TokensUsed, st.Result.Type)
	}
	// Search still finds a step by its own words.
	last := recs[3].ep.Steps[5]
	hits, err := s.Search(ctx, "team-b", engram.SearchQuery{Text: last.Action, Kinds: []engram.SearchKind{engram.SearchStep}})
	found := false
	for _, h := range hits {
		found = found || (*h.EpisodeID == recs[3].ep.ID && h.StepNumber == 6)
	}
	if err != nil || !found {
		t.Fatalf("search for step 6's action %q: %+v %v", last.Action, hits, err)
	}

	_, err = s.GetEpisode(ctx, "damaged", damaged.ID)
	if engram.ErrorCode(err) != engram.ECORRUPT || !strings.Contains(err.Error(), damaged.ID.String()) {
		t.Fatalf("damaged episode after the migration: %v, want ECORRUPT naming it", err)
	}
	problems, err := s.Check(ctx)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "damaged/"+damaged.ID.String()) {
		t.Fatalf("check after the migration: %q %v; want the damaged episode only", problems, err)
	}

	// Writes go on: an append rewrites the document.
	open := recs[2]
	if err := s.AppendStep(ctx, open.ns, open.ep.ID, &engram.Step{Tool: "go", Action: "vet"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetEpisode(ctx, open.ns, open.ep.ID)
	if err != nil || len(got.Steps) != 2 || got.Steps[1].StepNumber != 2 || got.Steps[1].Tool != "go" {
		t.Fatalf("append after the migration: %+v %v", got, err)
	}
}

func mustMigrations(t *testing.T, d *dialect) []migration {
	t.Helper()
	ms, err := loadMigrations(d.migrations)
	if err != nil {
		t.Fatal(err)
	}
	return ms
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
