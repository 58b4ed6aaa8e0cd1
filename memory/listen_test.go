package memory_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/pgtest"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// countedListen is a real PostgreSQL store whose successful Listen calls
// are counted and reported on listens.
type countedListen struct {
	*sqlstore.Store
	n       atomic.Int64
	listens chan int64
	done    chan struct{}
}

func (c *countedListen) Listen(ctx context.Context) (<-chan struct{}, error) {
	ch, err := c.Store.Listen(ctx)
	if err == nil {
		select {
		case c.listens <- c.n.Add(1):
		case <-c.done:
		}
	}
	return ch, err
}

// next waits for the next successful Listen and returns its number.
func (c *countedListen) next(t *testing.T) int64 {
	t.Helper()
	select {
	case n := <-c.listens:
		return n
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		t.Fatalf("the Memory never listened (%d times so far)", c.n.Load())
		return 0
	}
}

// node is one Memory on the shared PostgreSQL schema whose notified
// background syncs are reported on synced.
type node struct {
	m      *memory.Memory
	synced chan struct{}
	store  *countedListen
	app    string // the application_name of the node's connections
}

// openNode opens a Memory on pg whose interval (an hour, on a clock that
// never moves) never fires: only the durable store's notifications start
// its background syncs.
func openNode(t *testing.T, pg, name string) *node {
	t.Helper()
	app := fmt.Sprintf("memory-listen-%d-%s", os.Getpid(), name)
	u, err := url.Parse(pg)
	must(t, err)
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := sqlstore.Open(ctx(), sqlstore.Options{URL: u.String()})
	must(t, err)
	n := &node{synced: make(chan struct{}, 1), store: &countedListen{Store: s, listens: make(chan int64, 8), done: make(chan struct{})}, app: app}
	cfg := memory.Config{Durable: n.store, Clock: clock.NewManual(time.Now()), Sync: memory.SyncConfig{Interval: time.Hour}}
	memory.SetAfterSync(&cfg, func(why string, _ *engram.SyncReport, err error) {
		if why != "notified" || err != nil {
			return
		}
		select {
		case n.synced <- struct{}{}:
		default: // the test has not taken the last one yet; it reads after it anyway
		}
	})
	t.Cleanup(func() { s.Close() })
	n.m = open(t, cfg)
	// Before the Memory closes (cleanups run last first): nothing blocks
	// its goroutines on the test any more.
	t.Cleanup(func() { close(n.store.done) })
	return n
}

// waitCached waits for n's notified syncs until n serves want's version
// of the episode from a cache tier (not by reading the durable store).
func (n *node) waitCached(t *testing.T, want *engram.Episode) {
	t.Helper()
	for {
		var ri engram.ReadInfo
		got, err := n.m.GetEpisode(engram.WithReadInfo(ctx(), &ri), "default", want.ID)
		must(t, err)
		tier, _ := ri.Get()
		if tier != engram.TierDurable && len(got.Steps) == len(want.Steps) {
			storetest.Equal(t, "episode on the other node", got, want)
			return
		}
		select {
		case <-n.synced:
		case <-time.After(time.Minute): // a hang guard, not a timing assertion
			t.Fatalf("no notified sync brought episode %s (%d steps) into the other node's cache; it serves %d steps from %s", want.ID, len(want.Steps), len(got.Steps), tier)
		}
	}
}

// TestListenWakesOtherNodes: two Memories on one PostgreSQL schema, each
// with an hour's sync interval that never elapses: a step appended on A is
// served from B's cache after B's notified sync, and again after B's
// listening connection was killed and re-established.
func TestListenWakesOtherNodes(t *testing.T) {
	pg := pgtest.Schema(t, "memory_listen")
	a, b := openNode(t, pg, "a"), openNode(t, pg, "b")
	if n := b.store.next(t); n != 1 {
		t.Fatalf("B listened %d times at open, want 1", n)
	}
	ep := storetest.SampleEpisode(1)
	must(t, a.m.CreateEpisode(ctx(), "default", ep))
	// B reads it once from the durable store, which puts it in B's cache.
	_, err := b.m.GetEpisode(ctx(), "default", ep.ID)
	must(t, err)

	appendOn := func(m *memory.Memory, what string) *engram.Episode {
		t.Helper()
		must(t, m.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: what}))
		got, err := a.m.GetEpisode(ctx(), "default", ep.ID)
		must(t, err)
		return got
	}
	b.waitCached(t, appendOn(a.m, "first"))

	// Kill B's listening connection from the server side.
	terminateListener(t, pg, b.app)
	if n := b.store.next(t); n != 2 {
		t.Fatalf("B listened %d times after its connection was killed, want 2", n)
	}
	b.waitCached(t, appendOn(a.m, "after reconnect"))
}

// terminateListener kills the listening backend of the node whose
// connections carry application name app: its pool's connections run other
// statements, so the one whose last statement was LISTEN is the listener.
func terminateListener(t *testing.T, pg, app string) {
	t.Helper()
	db, err := sql.Open("pgx", pg)
	must(t, err)
	defer db.Close()
	var killed int
	err = db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`, app).Scan(&killed)
	must(t, err)
	if killed != 1 {
		t.Fatalf("terminated %d listening connections of %s, want 1", killed, app)
	}
}
