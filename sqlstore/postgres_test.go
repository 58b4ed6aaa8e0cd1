package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
	start, err := reader.LastSeq(ctx)
	must(t, err)

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
	after := start
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
	all, err := reader.Changes(ctx, start, 100000)
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
		must(t, admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND classid::bigint = 1701734258 AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295)`).Scan(&waiting))
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

// TestPostgresMigrations: nodes opening a new database at once all succeed
// (the schema is made once, under the write lock); a schema newer than this
// binary knows is refused.
func TestPostgresMigrations(t *testing.T) {
	ctx := context.Background()
	url := sqlstore.PostgresURL(t)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			s, err := sqlstore.Open(ctx, sqlstore.Options{URL: url})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		must(t, <-errs)
	}
	s := openPostgres(t, sqlstore.Options{URL: url})
	info, err := s.Info(ctx)
	must(t, err)
	if info.Pool == nil || info.Pool.Writer.MaxOpen != 1 || info.Pool.Readers.MaxOpen != sqlstore.DefaultMaxReaders || info.Pool.Readers.Open < 1 {
		t.Fatalf("pool stats %+v; want the writer's one connection and %d readers, some open", info.Pool, sqlstore.DefaultMaxReaders)
	}
	if info.Dialect != "postgres" || info.SchemaVersion != sqlstore.PostgresSchemaVersion() || info.SchemaVersion < 1 {
		t.Fatalf("info: dialect %q schema %d; want postgres, %d", info.Dialect, info.SchemaVersion, sqlstore.PostgresSchemaVersion())
	}

	db, err := sql.Open("pgx", url)
	must(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from_the_future', 0)`, info.SchemaVersion+1)
	must(t, err)
	_, err = sqlstore.Open(ctx, sqlstore.Options{URL: url})
	storetest.WantCode(t, err, engram.EINVALID, "schema_version")
}

// TestPostgresURLChecks: remote hosts get verified TLS by default and
// plaintext to them is refused unless allowed; loopback is left alone; no
// error shows the password.
func TestPostgresURLChecks(t *testing.T) {
	ctx := context.Background()
	const canary = "Canary-Pw-0042"
	for _, u := range []string{
		"postgres://u:" + canary + "@db.example.com/x?sslmode=disable",
		"postgres://u:" + canary + "@db.example.com/x?sslmode=prefer",
		"postgres://u:" + canary + "@10.1.2.3/x?sslmode=allow",
		"postgres://u:" + canary + "@127.0.0.1/x?sslmode=disable&host=db.example.com",
	} {
		_, err := sqlstore.OpenURL(ctx, u, sqlstore.Options{})
		storetest.WantCode(t, err, engram.EINVALID, "durable")
		if strings.Contains(err.Error(), canary) || !strings.Contains(err.Error(), "TLS") {
			t.Errorf("%s: %v; want a TLS refusal without the password", strings.ReplaceAll(u, canary, "***"), err)
		}
	}
	_, err := sqlstore.OpenURL(ctx, "postgres://u:"+canary+"@db.example.com:bad/x", sqlstore.Options{})
	storetest.WantCode(t, err, engram.EINVALID, "durable")
	if strings.Contains(err.Error(), canary) {
		t.Errorf("a malformed URL's error shows the password: %v", err)
	}
	_, err = sqlstore.OpenURL(ctx, "mysql://u:"+canary+"@db/x", sqlstore.Options{})
	storetest.WantCode(t, err, engram.EINVALID, "durable")

	mode := func(u string, insecure bool) string {
		t.Helper()
		got, err := sqlstore.PostgresTLSMode(u, sqlstore.PostgresOptions{InsecurePlaintext: insecure})
		must(t, err)
		return got
	}
	storetest.Equal(t, "remote host without sslmode", mode("postgres://u:p@db.example.com/x", false), "verify-full db.example.com")
	storetest.Equal(t, "remote plaintext, allowed", mode("postgres://u:p@db.example.com/x?sslmode=disable", true), "plaintext")
	storetest.Equal(t, "loopback", mode("postgres://u:p@127.0.0.1/x?sslmode=disable", false), "plaintext")
}

// TestPostgresListenWakesOtherNodes: a commit on one node wakes a listener
// on another, which then reads the change; ending the context closes the
// channel (its goroutine is gone).
func TestPostgresListenWakesOtherNodes(t *testing.T) {
	url := sqlstore.PostgresURL(t)
	a := openPostgres(t, sqlstore.Options{URL: url})
	b := openPostgres(t, sqlstore.Options{URL: url})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake, err := b.Listen(ctx)
	must(t, err)
	ep := &engram.Episode{TaskDescription: "wake the others"}
	must(t, a.CreateEpisode(ctx, "default", ep))
	<-wake
	cs, err := b.Changes(ctx, 0, 10)
	must(t, err)
	if len(cs) != 1 || cs[0].Key != ep.ID.String() {
		t.Fatalf("after the wake-up node b reads %+v, want the new episode's entry", cs)
	}
	cancel()
	for range wake { // drains a pending wake-up, then sees the close
	}

	s := openTemp(t, sqlstore.Options{})
	if ch, err := s.Listen(context.Background()); ch != nil || err != nil {
		t.Fatalf("SQLite Listen: %v, %v; want a nil channel (poll)", ch, err)
	}
}

// TestOpenURLSQLite: sqlite:PATH and a plain path open SQLite files there.
func TestOpenURLSQLite(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"sqlite:" + t.TempDir() + "/a.db", t.TempDir() + "/b.db"} {
		s, err := sqlstore.OpenURL(ctx, u, sqlstore.Options{})
		must(t, err)
		info, err := s.Info(ctx)
		must(t, err)
		s.Close()
		if info.Dialect != "sqlite" || info.Path != strings.TrimPrefix(u, "sqlite:") || info.FileBytes == 0 {
			t.Fatalf("OpenURL(%q): dialect %q path %q, %d bytes; want a SQLite file at the path", u, info.Dialect, info.Path, info.FileBytes)
		}
	}
}

// TestPostgresConnectionLostAtCommitIsUnknown: the server ends the writer's
// session just as it commits. The write is `unknown` (not `unavailable`:
// the client cannot tell whether the commit happened); the store reconnects,
// and a retry with the same idempotency key is applied once. (The store's
// own retries are off here; TestPostgresKeyedWriteRetriedAfterLostCommit
// has them on.)
func TestPostgresConnectionLostAtCommitIsUnknown(t *testing.T) {
	ctx := context.Background()
	url := sqlstore.PostgresURL(t)
	s := openPostgres(t, sqlstore.Options{URL: url, Postgres: sqlstore.PostgresOptions{RetryAttempts: 1}})
	admin, err := sql.Open("pgx", url)
	must(t, err)
	defer admin.Close()
	kill := true
	sqlstore.SetBeforeCommit(s, func() {
		if !kill {
			return
		}
		kill = false
		var n int
		err := admin.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND classid::bigint = 1701734258 AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295)`).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("terminate the writer's session: %d sessions, %v", n, err)
		}
	})
	kctx := engram.WithIdempotencyKey(ctx, "lost-commit")
	first := &engram.Episode{TaskDescription: "committed or not?"}
	err = s.CreateEpisode(kctx, "default", first)
	storetest.WantCode(t, err, engram.EUNKNOWN, "")
	again := &engram.Episode{TaskDescription: "committed or not?"}
	must(t, s.CreateEpisode(kctx, "default", again))
	repeat := &engram.Episode{TaskDescription: "committed or not?"}
	must(t, s.CreateEpisode(kctx, "default", repeat))
	if repeat.ID != again.ID {
		t.Fatalf("the retry with the key created %s, a repeat %s; want one episode", again.ID, repeat.ID)
	}
	c, err := s.Counts(ctx, "default")
	must(t, err)
	if c.Episodes != 1 {
		t.Fatalf("%d episodes after the unknown write and its retries, want 1", c.Episodes)
	}
}
