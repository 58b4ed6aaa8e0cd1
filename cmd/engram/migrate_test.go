package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/pgtest"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// everything is what a store holds, read through its public API, for
// comparing two stores record by record (independently of migrate's own
// digests).
type everything struct {
	Episodes      []*engram.Episode
	Patterns      []*engram.Pattern
	Heuristics    []*engram.Heuristic
	Embeddings    []*engram.Embedding
	Relationships []engram.Relationship
}

func readAll(t *testing.T, s *sqlstore.Store, ns engram.Namespace) everything {
	t.Helper()
	c := context.Background()
	var e everything
	f := engram.EpisodeFilter{Limit: engram.MaxQueryLimit}
	for {
		page, err := s.ListEpisodes(c, ns, f)
		must(t, err)
		e.Episodes = append(e.Episodes, page.Episodes...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	for _, ep := range e.Episodes {
		rels, err := s.ListRelationships(c, ns, engram.RelationshipFilter{Episode: ep.ID, Direction: engram.Outgoing})
		must(t, err)
		e.Relationships = append(e.Relationships, rels...)
	}
	pp, err := s.ListPatterns(c, ns, engram.PatternFilter{Limit: engram.MaxQueryLimit})
	must(t, err)
	hp, err := s.ListHeuristics(c, ns, engram.HeuristicFilter{Limit: engram.MaxQueryLimit})
	must(t, err)
	ep, err := s.ListEmbeddings(c, ns, engram.EmbeddingFilter{Limit: engram.MaxQueryLimit})
	must(t, err)
	e.Patterns, e.Heuristics, e.Embeddings = pp.Patterns, hp.Heuristics, ep.Embeddings
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fill writes n episodes (with steps, two of them related), patterns,
// heuristics and embeddings into ns of s; it returns the record count.
func fill(t *testing.T, s *sqlstore.Store, ns engram.Namespace, n int) int64 {
	t.Helper()
	c := context.Background()
	var eps []*engram.Episode
	for i := range n {
		eps = append(eps, storetest.SampleEpisode(i))
	}
	for i := 0; i < n; i += engram.MaxBatch {
		must(t, s.CreateEpisodes(c, ns, eps[i:min(n, i+engram.MaxBatch)]))
	}
	_, err := s.CompleteEpisode(c, ns, eps[0].ID, storetest.SampleCompletion(eps[0].StartTime.Add(1e9)))
	must(t, err)
	must(t, s.AddRelationship(c, ns, &engram.Relationship{From: eps[0].ID, To: eps[1].ID, Type: engram.RelFollows}))
	must(t, s.AddRelationship(c, ns, &engram.Relationship{From: eps[1].ID, To: eps[0].ID, Type: engram.RelBlocks, Weight: 0.5}))
	pats := storetest.SamplePatterns()
	for _, p := range pats {
		must(t, s.PutPattern(c, ns, p))
	}
	h := &engram.Heuristic{Condition: "a test is flaky", Action: "run it under -race", Confidence: 0.9, Domain: "testing",
		Evidence: engram.Evidence{EpisodeIDs: []engram.EpisodeID{eps[0].ID}, SuccessRate: 0.75, SampleSize: 8}}
	must(t, s.PutHeuristic(c, ns, h))
	must(t, s.PutEmbeddings(c, ns, []*engram.Embedding{
		{ItemID: eps[0].ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1, -2.5, 3e-7}},
		{ItemID: pats[0].ID.UUID, ItemType: engram.ItemPattern, Model: "m2", Vector: []float32{0.25, 0.5}},
	}))
	return int64(n) + 2 + int64(len(pats)) + 1 + 2
}

func openStore(t *testing.T, o sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), o)
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestMigrateSQLiteToPostgresAndBack: engram db migrate copies every kind
// of record of a SQLite store (two namespaces) into PostgreSQL, and from
// there into a new SQLite file: each store's records, read back, equal the
// original's; a second run copies nothing and verifies everything.
func TestMigrateSQLiteToPostgresAndBack(t *testing.T) {
	pg := pgtest.Schema(t, "engram_migrate")
	c := newCLI(t)
	src := openStore(t, sqlstore.Options{Path: filepath.Join(c.dataDir, sqlstore.DefaultFileName)})
	total := fill(t, src, "default", 30) + fill(t, src, "agent-b", 3)
	want := map[engram.Namespace]everything{"default": readAll(t, src, "default"), "agent-b": readAll(t, src, "agent-b")}
	must(t, src.Close())

	var rep MigrateReport
	c.json(&rep, "", "db", "migrate", "--to", pg)
	if rep.Copied != total || rep.Skipped != 0 || rep.Verified != total || len(rep.Mismatches) != 0 {
		t.Fatalf("migrate to PostgreSQL: %+v; want %d copied and verified", rep, total)
	}
	pgs := openStore(t, sqlstore.Options{URL: pg})
	for ns, w := range want {
		storetest.Equal(t, fmt.Sprintf("namespace %s on PostgreSQL", ns), readAll(t, pgs, ns), w)
	}
	if seq, err := pgs.LastSeq(context.Background()); err != nil || seq < uint64(total) {
		t.Fatalf("PostgreSQL's change feed ends at %d (%v); every imported record appends to it (%d)", seq, err, total)
	}

	c.json(&rep, "", "db", "migrate", "--to", pg)
	if rep.Copied != 0 || rep.Skipped != total || rep.Verified != total || len(rep.Mismatches) != 0 {
		t.Fatalf("second migrate: %+v; want everything skipped and verified", rep)
	}

	back := filepath.Join(t.TempDir(), "back.db")
	c.json(&rep, "", "--durable", pg, "db", "migrate", "--to", "sqlite:"+back)
	if rep.Copied != total || len(rep.Mismatches) != 0 {
		t.Fatalf("migrate back to SQLite: %+v", rep)
	}
	bs := openStore(t, sqlstore.Options{Path: back})
	for ns, w := range want {
		storetest.Equal(t, fmt.Sprintf("namespace %s back on SQLite", ns), readAll(t, bs, ns), w)
	}
	c.fails(exitUsage, "--to", "", "db", "migrate")
	c.fails(exitUsage, "names the store being copied", "", "db", "migrate", "--to", "sqlite:"+filepath.Join(c.dataDir, sqlstore.DefaultFileName))
}

// TestMigrateResumes: a copy interrupted after its first batch leaves that
// batch on PostgreSQL; running it again copies only the rest and verifies
// every record.
func TestMigrateResumes(t *testing.T) {
	pg := pgtest.Schema(t, "engram_migrate")
	src := openStore(t, sqlstore.Options{Path: filepath.Join(t.TempDir(), "src.db")})
	total := fill(t, src, "default", 2*migrateBatch+10)
	dst := openStore(t, sqlstore.Options{URL: pg})
	ctx, cancel := context.WithCancel(context.Background())
	_, err := migrate(ctx, src, dst, migrateOptions{afterBatch: func(copied int64) {
		if copied >= migrateBatch {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted migrate: %v, want context.Canceled", err)
	}
	counts, err := dst.Counts(context.Background(), "default")
	must(t, err)
	if counts.Episodes != migrateBatch {
		t.Fatalf("after the interrupted copy PostgreSQL holds %d episodes, want the first batch's %d", counts.Episodes, migrateBatch)
	}
	rep, err := migrate(context.Background(), src, dst, migrateOptions{})
	must(t, err)
	if rep.Skipped != migrateBatch || rep.Copied != total-migrateBatch || rep.Verified != total || len(rep.Mismatches) != 0 {
		t.Fatalf("resumed migrate: %+v; want %d skipped, %d copied, %d verified", rep, migrateBatch, total-migrateBatch, total)
	}
	storetest.Equal(t, "PostgreSQL after the resumed copy", readAll(t, dst, "default"), readAll(t, src, "default"))
}

// TestMigrateNamesMismatch: a record changed on the destination after a
// copy is reported by name (and left as it is), and the command exits 1.
func TestMigrateNamesMismatch(t *testing.T) {
	pg := pgtest.Schema(t, "engram_migrate")
	c := newCLI(t)
	src := openStore(t, sqlstore.Options{Path: filepath.Join(c.dataDir, sqlstore.DefaultFileName)})
	fill(t, src, "default", 3)
	h, err := src.ListHeuristics(context.Background(), "default", engram.HeuristicFilter{})
	must(t, err)
	must(t, src.Close())
	c.ok("", "db", "migrate", "--to", pg)

	dst := openStore(t, sqlstore.Options{URL: pg})
	changed := h.Heuristics[0]
	changed.Confidence = 0.1
	must(t, dst.PutHeuristic(context.Background(), "default", changed))
	c.fails(exitError, "heuristic "+changed.ID.String(), "", "db", "migrate", "--to", pg)
	var rep MigrateReport
	r := c.run("", "db", "migrate", "--to", pg, "-o", "json")
	if r.code != exitError {
		t.Fatalf("migrate with a changed record: exit %d", r.code)
	}
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	if rep.Differ != 1 || len(rep.Mismatches) != 1 || rep.Copied != 0 {
		t.Fatalf("report %+v; want the one heuristic named", rep)
	}
	got, err := dst.GetHeuristic(context.Background(), "default", changed.ID)
	must(t, err)
	if got.Confidence != 0.1 {
		t.Fatalf("migrate overwrote the destination's differing heuristic (confidence %v)", got.Confidence)
	}
}
