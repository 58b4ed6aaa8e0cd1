package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// openPostgres opens a store on a new schema of the test PostgreSQL server.
func openPostgres(t testing.TB, opts sqlstore.Options) *sqlstore.Store {
	t.Helper()
	if opts.URL == "" {
		opts.URL = sqlstore.PostgresURL(t)
	}
	s, err := sqlstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if problems, err := s.Check(context.Background()); err != nil || len(problems) > 0 {
			t.Errorf("consistency check after test: %v %v", problems, err)
		}
		s.Close()
	})
	return s
}

func TestPostgres(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) engram.Store { return openPostgres(t, sqlstore.Options{}) })
}

// TestPostgresFeedConcurrentNodes: several stores on one database (as
// several engram nodes: each its own writer connection) write at once while
// a reader on yet another store follows the feed, resuming after the highest
// seq it has seen. The reader must end up with exactly the feed: an entry it
// skipped (one whose seq became visible after a higher one) would be
// missing from what it collected.
func TestPostgresFeedConcurrentNodes(t *testing.T) {
	const nodes, writes = 4, 30
	ctx := context.Background()
	url := sqlstore.PostgresURL(t)
	stores := make([]*sqlstore.Store, nodes+1)
	for i := range stores {
		stores[i] = openPostgres(t, sqlstore.Options{URL: url})
	}
	reader := stores[nodes]
	// The namespace's search table exists before the race starts.
	must(t, reader.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "warm up"}))

	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for n := 0; n < nodes; n++ {
		wg.Add(1)
		go func(s *sqlstore.Store, n int) {
			defer wg.Done()
			for i := 0; i < writes; i++ {
				ep := &engram.Episode{TaskDescription: fmt.Sprintf("node %d write %d", n, i)}
				if err := s.CreateEpisode(ctx, "default", ep); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 { // a second kind of write, with a different footprint
					if err := s.AppendStep(ctx, "default", ep.ID, &engram.Step{Tool: "t", Action: "a"}); err != nil {
						errs <- err
						return
					}
				}
			}
		}(stores[n], n)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var seen []engram.Change
	after, err := reader.LastSeq(ctx)
	must(t, err)
	poll := func() int {
		cs, err := reader.Changes(ctx, after, 17)
		must(t, err)
		for _, c := range cs {
			if c.Seq <= after {
				t.Fatalf("Changes(%d) returned seq %d", after, c.Seq)
			}
			after = c.Seq
		}
		seen = append(seen, cs...)
		return len(cs)
	}
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		if n := poll(); n == 0 && finished {
			break
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := reader.Changes(ctx, 1, 100000)
	must(t, err)
	want := nodes * (writes + (writes+2)/3)
	if len(all) != want {
		t.Fatalf("the feed holds %d entries, want %d", len(all), want)
	}
	if len(seen) != len(all) {
		t.Fatalf("the following reader collected %d entries of the feed's %d: it skipped some", len(seen), len(all))
	}
	for i := range all {
		if seen[i] != all[i] {
			t.Fatalf("entry %d: the reader saw %+v, the feed holds %+v", i, seen[i], all[i])
		}
	}
}

// TestPostgresLaterWriterWaitsForEarlierCommit pins the mechanism: while one
// node's write holds its feed entry uncommitted, another node's write waits
// (it cannot commit a higher seq ahead of it), and once both commit the
// earlier one has the lower seq.
func TestPostgresLaterWriterWaitsForEarlierCommit(t *testing.T) {
	ctx := context.Background()
	url := sqlstore.PostgresURL(t)
	a := openPostgres(t, sqlstore.Options{URL: url})
	b := openPostgres(t, sqlstore.Options{URL: url})
	r := openPostgres(t, sqlstore.Options{URL: url})
	must(t, r.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "warm up"}))
	start, err := r.LastSeq(ctx)
	must(t, err)

	inCommit, release := make(chan struct{}), make(chan struct{})
	sqlstore.SetBeforeCommit(a, func() { close(inCommit); <-release })
	epA, epB := &engram.Episode{TaskDescription: "first"}, &engram.Episode{TaskDescription: "second"}
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go func() { aDone <- a.CreateEpisode(ctx, "default", epA) }()
	<-inCommit
	go func() { bDone <- b.CreateEpisode(ctx, "default", epB) }()

	// Wait until b's write is queued behind a's lock (the server says so).
	admin, err := sql.Open("pgx", url)
	must(t, err)
	defer admin.Close()
	for waiting := 0; waiting == 0; {
		select {
		case err := <-bDone:
			close(release)
			t.Fatalf("the second write finished while the first held a lower seq uncommitted: %v", err)
		default:
		}
		must(t, admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting))
	}
	if cs, err := r.Changes(ctx, start, 10); err != nil || len(cs) != 0 {
		close(release)
		t.Fatalf("with both writes uncommitted the feed shows %v (%v), want nothing", cs, err)
	}
	close(release)
	must(t, <-aDone)
	must(t, <-bDone)
	cs, err := r.Changes(ctx, start, 10)
	must(t, err)
	if len(cs) != 2 || cs[0].Key != epA.ID.String() || cs[1].Key != epB.ID.String() || cs[0].Seq >= cs[1].Seq {
		t.Fatalf("feed after both commits: %+v; want the first write's entry, then the second's", cs)
	}
}
