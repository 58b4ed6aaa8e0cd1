package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// TestListBigPages: pages large enough to be decoded while they are read
// (and one page larger than that overlap covers) return every episode as
// created, newest first, each once.
func TestListBigPages(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, sqlstore.Options{Synchronous: sqlstore.SyncOff})
	rng := rand.New(rand.NewPCG(3, 3))
	eps := make([]*engram.Episode, 1300)
	for i := range eps {
		eps[i] = storetest.RandomEpisode(rng, 1+i%7)
	}
	if err := s.CreateEpisodes(ctx, "default", eps[:engram.MaxBatch]); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEpisodes(ctx, "default", eps[engram.MaxBatch:]); err != nil {
		t.Fatal(err)
	}
	want := map[engram.EpisodeID]string{}
	for _, ep := range eps {
		b, _ := json.Marshal(ep)
		want[ep.ID] = string(b)
	}
	for _, limit := range []int{1, 200, 1000} {
		seen := map[engram.EpisodeID]bool{}
		var all []*engram.Episode
		for cursor := ""; ; {
			page, err := s.ListEpisodes(ctx, "default", engram.EpisodeFilter{Limit: limit, Cursor: cursor})
			if err != nil {
				t.Fatalf("limit %d: %v", limit, err)
			}
			if len(page.Episodes) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page.Episodes))
			}
			for _, ep := range page.Episodes {
				b, _ := json.Marshal(ep)
				if want[ep.ID] != string(b) || seen[ep.ID] {
					t.Fatalf("limit %d: episode %s listed as\n%s\nwant (once)\n%s", limit, ep.ID, b, want[ep.ID])
				}
				seen[ep.ID] = true
			}
			all = append(all, page.Episodes...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
			if limit == 1 && len(all) >= 3 {
				break // enough to see single-row pages work
			}
		}
		if limit > 1 && len(all) != len(eps) {
			t.Fatalf("limit %d: listed %d of %d", limit, len(all), len(eps))
		}
		if !slices.IsSortedFunc(all, func(a, b *engram.Episode) int {
			if c := b.StartTime.Compare(a.StartTime); c != 0 {
				return c
			}
			return slices.Compare(b.ID.UUID[:], a.ID.UUID[:])
		}) {
			t.Fatalf("limit %d: not newest first", limit)
		}
	}
}

// TestListBigPageDamagedDocument: one damaged document in a page decoded
// while it is read fails the page with ECORRUPT naming the file and the
// episode, never a partial page.
func TestListBigPageDamagedDocument(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path, Synchronous: sqlstore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(4, 4))
	eps := make([]*engram.Episode, 400)
	for i := range eps {
		eps[i] = storetest.RandomEpisode(rng, 2)
	}
	if err := s.CreateEpisodes(ctx, "default", eps); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bad := eps[217].ID
	if _, err := db.Exec(`UPDATE episodes SET doc = replace(doc, 'payments', 'paymentz') WHERE episode_id = ?`, bad.UUID[:]); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListEpisodes(ctx, "default", engram.EpisodeFilter{Limit: 1000})
	if engram.ErrorCode(err) != engram.ECORRUPT || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("got %v, want ECORRUPT naming %s and %s", err, path, bad)
	}
	if len(page.Episodes) != 0 {
		t.Fatalf("a failed page returned %d episodes", len(page.Episodes))
	}
}
