package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// referenceSearch is Search as it was before it ranked top-k first: every
// match is filtered by kind, scored and given a snippet, then sorted and cut
// to the limit. TestSearchTopKMatchesReference holds Search to its answers.
func referenceSearch(ctx context.Context, s *Store, ns engram.Namespace, q engram.SearchQuery) ([]engram.SearchHit, error) {
	limit, err := engram.ClampLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	table, err := s.searchTable(ctx, ns)
	if err != nil || table == "" {
		return []engram.SearchHit{}, err
	}
	args := []any{s.d.ftsQuery(searchWords(q.Text), q.Any)}
	kindFilter := ""
	if len(q.Kinds) > 0 {
		marks := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			marks[i] = "?"
			args = append(args, string(k))
		}
		kindFilter = ` AND kind IN (` + strings.Join(marks, ", ") + `)`
	}
	args = append(args, limit)
	var query string
	if s.d.name == "postgres" {
		query = `SELECT f.kind, f.ref_id, f.step_number, ts_rank(f.tsv, tq.q) AS score,
			ts_headline('` + pgTSConfig + `', f.body, tq.q, 'StartSel=[, StopSel=], MaxWords=16, MinWords=4, MaxFragments=1, FragmentDelimiter=...')
		   FROM (SELECT to_tsquery('` + pgTSConfig + `', ?) AS q) AS tq, ` + table + ` AS f
		  WHERE f.tsv @@ tq.q` + kindFilter + `
		  ORDER BY score DESC, f.rowid LIMIT ?`
	} else {
		query = `SELECT kind, ref_id, step_number, -bm25(` + table + `) AS score, snippet(` + table + `, 0, '[', ']', '...', 16)
		   FROM ` + table + ` WHERE ` + table + ` MATCH ?` + kindFilter + `
		  ORDER BY bm25(` + table + `), rowid LIMIT ?`
	}
	return s.searchRows(ctx, query, args)
}

// seedSearchTies fills ns with records whose texts come from a vocabulary
// of a few words, so many rows score the same (ties broken by rowid) and
// most episodes have several matching rows (the episode and its steps);
// the few patterns share the common words, and only they hold "zebra",
// so a pattern-only search finds its hits below many episode rows.
func seedSearchTies(t testing.TB, s *Store, ns engram.Namespace) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(10, 10))
	vocab := []string{"retry", "load", "cache", "flaky", "timeout", "deploy"}
	text := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(w, " ")
	}
	var eps []*engram.Episode
	for range 60 {
		ep := storetest.RandomEpisode(rng, rng.IntN(4))
		ep.TaskDescription = text(1 + rng.IntN(3))
		ep.Outcome.Verdict = text(2)
		ep.Reflection = nil
		for j := range ep.Steps {
			ep.Steps[j].Tool = "shell"
			ep.Steps[j].Action = text(1 + rng.IntN(2))
			ep.Steps[j].Result.Output = "retry load"
		}
		eps = append(eps, ep)
	}
	if err := s.CreateEpisodes(ctx, ns, eps); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		p := storetest.RandomPattern(rng)
		p.Evidence = nil
		p.Condition = text(2) + " zebra"
		p.Action = []string{"retry load", "cache"}[i%2]
		if err := s.PutPattern(ctx, ns, p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSearchTopKMatchesReference(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			opts := Options{Path: filepath.Join(t.TempDir(), "engram.db")}
			if backend == "postgres" {
				opts = Options{URL: PostgresURL(t)}
			}
			ctx := context.Background()
			s, err := Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			seedSearchTies(t, s, "default")
			kindSets := [][]engram.SearchKind{nil, {engram.SearchStep}, {engram.SearchPattern},
				{engram.SearchEpisode, engram.SearchStep}, {engram.SearchEpisode, engram.SearchStep, engram.SearchPattern}}
			texts := []string{"retry load", "cache timeout", "zebra", "deploy flaky cache", "absent"}
			compared, nonEmpty := 0, 0
			for _, text := range texts {
				for _, any := range []bool{false, true} {
					for _, kinds := range kindSets {
						for _, limit := range []int{1, 3, 25} {
							q := engram.SearchQuery{Text: text, Any: any, Kinds: kinds, Limit: limit}
							want, err := referenceSearch(ctx, s, "default", q)
							if err != nil {
								t.Fatal(err)
							}
							got, err := s.Search(ctx, "default", q)
							if err != nil {
								t.Fatal(err)
							}
							if !reflect.DeepEqual(got, want) {
								t.Fatalf("%+v: Search gave %d hits, the reference %d; first difference at %d:\n got %+v\nwant %+v",
									q, len(got), len(want), firstDiff(got, want), got, want)
							}
							compared++
							if len(want) > 0 {
								nonEmpty++
							}
						}
					}
				}
			}
			// The seed must give the comparison something to compare:
			// ties on one score at the cut and a filter whose hits lie
			// below a full window of other kinds (the fallback).
			if nonEmpty < compared/2 {
				t.Fatalf("only %d of %d searches found anything", nonEmpty, compared)
			}
			all, err := referenceSearch(ctx, s, "default", engram.SearchQuery{Text: "retry load", Any: true, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) < 26 || all[2].Score != all[3].Score || all[24].Score != all[25].Score {
				t.Fatalf("the seed has no tie at the cuts of 3 and 25 hits of %q (%d hits)", "retry load", len(all))
			}
			zebra, err := referenceSearch(ctx, s, "default", engram.SearchQuery{Text: "retry load", Any: true, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			firstPattern := -1
			for i, h := range zebra {
				if h.Kind == engram.SearchPattern {
					firstPattern = i
					break
				}
			}
			if firstPattern < 3*searchWindow {
				t.Fatalf("the first pattern hit of %q is at %d, inside the window of a 3-hit search", "retry load", firstPattern)
			}
		})
	}
}

func firstDiff(a, b []engram.SearchHit) int {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkSearchTopK times Search and the reference (the query before
// top-k ranking) alternately on a copy of a data set: ENGRAM_SEARCH_DB is
// its engram.db (e.g. one engram bench recall seeded), ENGRAM_SEARCH_TEXT
// the words (default "retry load"); the search is --any over episodes and
// steps, limit 10, as hybrid recall asks. Without ENGRAM_SEARCH_DB it
// seeds a small store of its own.
func BenchmarkSearchTopK(b *testing.B) {
	ctx := context.Background()
	path := os.Getenv("ENGRAM_SEARCH_DB")
	text := cmp.Or(os.Getenv("ENGRAM_SEARCH_TEXT"), "retry load")
	var s *Store
	var err error
	if path != "" {
		s, err = Open(ctx, Options{Path: path})
	} else {
		s, err = Open(ctx, Options{Path: filepath.Join(b.TempDir(), "engram.db")})
	}
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if path == "" {
		seedSearchTies(b, s, "default")
	}
	q := engram.SearchQuery{Text: text, Any: true, Kinds: []engram.SearchKind{engram.SearchEpisode, engram.SearchStep}, Limit: 10}
	for _, c := range []struct {
		name string
		f    func(context.Context, *Store, engram.Namespace, engram.SearchQuery) ([]engram.SearchHit, error)
	}{{"reference", referenceSearch}, {"topk", func(ctx context.Context, s *Store, ns engram.Namespace, q engram.SearchQuery) ([]engram.SearchHit, error) {
		return s.Search(ctx, ns, q)
	}}} {
		b.Run(c.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				before := cpuTime(b)
				hits, err := c.f(ctx, s, "default", q)
				cpu += cpuTime(b) - before
				if err != nil || len(hits) == 0 {
					b.Fatalf("%d hits, %v", len(hits), err)
				}
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
	fmt.Fprintf(os.Stderr, "search %q on %s\n", text, cmp.Or(path, "a seeded store"))
}
