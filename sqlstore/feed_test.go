package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// manualNow is a settable clock for Options.Now.
type manualNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualNow) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualNow) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func createN(t *testing.T, s *sqlstore.Store, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		must(t, s.CreateEpisode(context.Background(), "default", &engram.Episode{TaskDescription: fmt.Sprintf("episode %d", i)}))
	}
}

func wantGone(t *testing.T, s *sqlstore.Store, after uint64) {
	t.Helper()
	_, err := s.Changes(context.Background(), after, 10)
	if !errors.Is(err, engram.ErrGone) {
		t.Fatalf("Changes(%d) below the horizon: %v, want EGONE", after, err)
	}
	storetest.WantCode(t, err, engram.EGONE, "after")
}

func seqs(t *testing.T, s *sqlstore.Store, after uint64) []uint64 {
	t.Helper()
	cs, err := s.Changes(context.Background(), after, 1000)
	must(t, err)
	var out []uint64
	for _, c := range cs {
		out = append(out, c.Seq)
	}
	return out
}

// bothEngines runs test on a SQLite file and on a PostgreSQL schema.
func bothEngines(t *testing.T, test func(t *testing.T, open func(testing.TB, sqlstore.Options) *sqlstore.Store)) {
	t.Run("SQLite", func(t *testing.T) { test(t, openTemp) })
	t.Run("Postgres", func(t *testing.T) { test(t, openPostgres) })
}

func TestFeedRetentionMaxEntries(t *testing.T) { bothEngines(t, testFeedRetentionMaxEntries) }

func testFeedRetentionMaxEntries(t *testing.T, open func(testing.TB, sqlstore.Options) *sqlstore.Store) {
	s := open(t, sqlstore.Options{FeedMaxEntries: 10})
	createN(t, s, 30)
	if seq, err := s.LastSeq(context.Background()); err != nil || seq != 30 {
		t.Fatalf("LastSeq %d, %v; want 30", seq, err)
	}
	wantGone(t, s, 0)
	wantGone(t, s, 19)
	got := seqs(t, s, 20)
	if len(got) != 10 || got[0] != 21 || got[9] != 30 {
		t.Fatalf("entries after the horizon: %v, want 21..30", got)
	}
	storetest.Equal(t, "entries from inside the horizon", seqs(t, s, 27), []uint64{28, 29, 30})
}

// TestFeedRetentionByAge: entries and idempotency keys older than
// FeedRetention are dropped by a later commit; until then both hold.
func TestFeedRetentionByAge(t *testing.T) { bothEngines(t, testFeedRetentionByAge) }

func testFeedRetentionByAge(t *testing.T, open func(testing.TB, sqlstore.Options) *sqlstore.Store) {
	ctx := context.Background()
	clk := &manualNow{t: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	s := open(t, sqlstore.Options{Now: clk.now, FeedRetention: 7 * 24 * time.Hour})
	req := storetest.SampleEpisode(1)
	first := *req
	must(t, s.CreateEpisode(engram.WithIdempotencyKey(ctx, "k"), "default", &first))
	createN(t, s, 4)

	clk.advance(6 * 24 * time.Hour) // inside the horizon: everything holds
	createN(t, s, 1)
	if got := seqs(t, s, 0); len(got) != 6 {
		t.Fatalf("entries inside the horizon: %v, want 6", got)
	}
	again := *req
	must(t, s.CreateEpisode(engram.WithIdempotencyKey(ctx, "k"), "default", &again))
	if again.ID != first.ID {
		t.Fatalf("a key inside the retention time was forgotten: created %s, the original is %s", again.ID, first.ID)
	}

	clk.advance(2 * 24 * time.Hour) // the first five are now 8 days old
	createN(t, s, 1)
	wantGone(t, s, 0)
	wantGone(t, s, 4)
	storetest.Equal(t, "entries after the horizon", seqs(t, s, 5), []uint64{6, 7})
	late := *req
	must(t, s.CreateEpisode(engram.WithIdempotencyKey(ctx, "k"), "default", &late))
	if late.ID == first.ID {
		t.Fatal("an idempotency key older than the retention time still answered")
	}
}
