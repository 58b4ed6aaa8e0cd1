package memory_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// TestRecallFilterPlansExact: a vector recall with a filter answers the
// exact nearest episodes among those the filter allows, on a flat index,
// whichever plan serves it: a wide filter (half the episodes: the widened
// search, post-filtered, without listing them) and a narrow one (a few
// episodes: the search over exactly those). The truth is a brute-force
// cosine ranking of the allowed episodes in the test.
func TestRecallFilterPlansExact(t *testing.T) {
	m, err := memory.Open(ctx(), memory.Config{DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	rng := rand.New(rand.NewPCG(11, 12))
	const n, dim = 600, 32
	vecs := clustered(rng, n, dim, 6)
	eps := make([]*engram.Episode, n)
	domainOf := map[engram.UUID]string{}
	for i := range eps {
		domain := "wide"
		switch {
		case i%50 == 0:
			domain = "narrow"
		case i%2 == 0:
			domain = "other"
		}
		eps[i] = &engram.Episode{ID: engram.NewEpisodeID(), TaskType: engram.TaskDebugging, TaskDescription: "task",
			Context: engram.TaskContext{Domain: domain}, StartTime: time.Unix(1_700_000_000+int64(i), 0).UTC()}
		domainOf[eps[i].ID.UUID] = domain
	}
	if err := m.CreateEpisodes(ctx(), "default", eps); err != nil {
		t.Fatal(err)
	}
	var embs []*engram.Embedding
	for i, ep := range eps {
		embs = append(embs, &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: vecs[i]})
	}
	if err := m.PutEmbeddings(ctx(), "default", embs); err != nil {
		t.Fatal(err)
	}
	cos := func(a, b []float32) float64 {
		var d, na, nb float64
		for i := range a {
			d += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		return d / (math.Sqrt(na) * math.Sqrt(nb))
	}
	queries := clustered(rng, 20, dim, 6)
	for _, domain := range []string{"wide", "narrow"} {
		for qi, q := range queries {
			var want []engram.UUID
			idx := []int{}
			for i := range eps {
				if domainOf[eps[i].ID.UUID] == domain {
					idx = append(idx, i)
				}
			}
			sort.Slice(idx, func(a, b int) bool { return cos(q, vecs[idx[a]]) > cos(q, vecs[idx[b]]) })
			for _, i := range idx[:min(10, len(idx))] {
				want = append(want, eps[i].ID.UUID)
			}
			res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: q, Limit: 10, Filter: engram.EpisodeFilter{Domain: domain}})
			if err != nil {
				t.Fatal(err)
			}
			var got []engram.UUID
			for _, h := range res.Hits {
				if domainOf[h.ItemID] != domain {
					t.Fatalf("%s query %d: hit %s of domain %q", domain, qi, h.ItemID, domainOf[h.ItemID])
				}
				got = append(got, h.ItemID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s filter, query %d: got %v, want the exact nearest allowed %v", domain, qi, got, want)
			}
		}
	}
}
