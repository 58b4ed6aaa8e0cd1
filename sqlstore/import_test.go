package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// TestImport: records imported into a store read back as given (ids and
// timestamps kept), are searchable, append to the change feed, and pass
// the store's consistency check (openTemp/openPostgres check at cleanup);
// importing a key taken already is ECONFLICT and writes nothing of the
// batch.
func TestImport(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *sqlstore.Store{
		"SQLite":   func(t *testing.T) *sqlstore.Store { return openTemp(t, sqlstore.Options{}) },
		"Postgres": func(t *testing.T) *sqlstore.Store { return openPostgres(t, sqlstore.Options{}) },
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			c := context.Background()
			then := time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)
			a, b := storetest.SampleEpisode(1), storetest.SampleEpisode(2)
			for _, ep := range []*engram.Episode{a, b} {
				ep.ID = engram.NewEpisodeID()
				ep.Normalize(then)
				ep.CreatedAt, ep.UpdatedAt = then, then.Add(time.Second)
			}
			p := storetest.SamplePatterns()[0]
			p.ID = engram.NewPatternID()
			p.Normalize(then)
			p.CreatedAt, p.UpdatedAt = then, then
			h := &engram.Heuristic{ID: engram.NewHeuristicID(), Condition: "c", Action: "a", Confidence: 0.5, Domain: "d", CreatedAt: then, UpdatedAt: then}
			e := &engram.Embedding{ItemID: a.ID.UUID, ItemType: engram.ItemEpisode, Model: "m", Vector: []float32{1, 2}, CreatedAt: then}
			must(t, s.Import(c, "default", &sqlstore.ImportBatch{Episodes: []*engram.Episode{a, b}, Patterns: []*engram.Pattern{p}, Heuristics: []*engram.Heuristic{h}, Embeddings: []*engram.Embedding{e}}))
			r := &engram.Relationship{From: a.ID, To: b.ID, Type: engram.RelFollows, Weight: 0.5, CreatedAt: then}
			must(t, s.Import(c, "default", &sqlstore.ImportBatch{Relationships: []*engram.Relationship{r}}))

			got, err := s.GetEpisode(c, "default", a.ID)
			must(t, err)
			storetest.Equal(t, "imported episode", got, a)
			gp, err := s.GetPattern(c, "default", p.ID)
			must(t, err)
			storetest.Equal(t, "imported pattern", gp, p)
			gh, err := s.GetHeuristic(c, "default", h.ID)
			must(t, err)
			storetest.Equal(t, "imported heuristic", gh, h)
			ge, err := s.GetEmbedding(c, "default", e.Key())
			must(t, err)
			storetest.Equal(t, "imported embedding", ge, e)
			rels, err := s.ListRelationships(c, "default", engram.RelationshipFilter{Episode: a.ID, Direction: engram.Outgoing})
			must(t, err)
			storetest.Equal(t, "imported relationship", rels, []engram.Relationship{*r})
			hits, err := s.Search(c, "default", engram.SearchQuery{Text: a.TaskDescription, Kinds: []engram.SearchKind{engram.SearchEpisode}})
			must(t, err)
			if len(hits) == 0 {
				t.Fatalf("search for the imported episode's task %q found nothing", a.TaskDescription)
			}
			seq, err := s.LastSeq(c)
			must(t, err)
			if seq != 6 {
				t.Fatalf("the change feed ends at %d after importing 6 records", seq)
			}

			// A taken key refuses the whole batch.
			fresh := storetest.SampleEpisode(3)
			fresh.ID = engram.NewEpisodeID()
			fresh.Normalize(then)
			err = s.Import(c, "default", &sqlstore.ImportBatch{Episodes: []*engram.Episode{fresh}, Heuristics: []*engram.Heuristic{h}})
			if engram.ErrorCode(err) != engram.ECONFLICT {
				t.Fatalf("import of a taken heuristic: %v, want conflict", err)
			}
			if _, err := s.GetEpisode(c, "default", fresh.ID); engram.ErrorCode(err) != engram.ENOTFOUND {
				t.Fatalf("the refused batch's episode was written: %v", err)
			}
		})
	}
}
