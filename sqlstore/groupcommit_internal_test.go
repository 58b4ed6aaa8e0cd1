package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
)

// TestGroupCommitRollsBackOnlyTheFailedWrite: in one group, a write that
// appended a feed entry and then failed, one whose statement the database
// refused (on PostgreSQL that aborts the transaction until the savepoint is
// rolled back), and one that panicked after writing, leave nothing behind;
// the failing ones get their own errors, the panicking one's caller panics
// with its value on its own goroutine; the other writes of the group commit.
func TestGroupCommitRollsBackOnlyTheFailedWrite(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			opts := Options{Path: filepath.Join(t.TempDir(), "engram.db")}
			if dialect == "postgres" {
				opts = Options{URL: PostgresURL(t)}
			}
			testRollsBackOnlyTheFailedWrite(t, opts)
		})
	}
}

// holdFirstCommit makes s's first commit wait, once inFirst is closed, until
// release is closed; queued receives a value each time a write queues, and
// *commits counts the commits begun.
func holdFirstCommit(s *Store) (inFirst, release, queued chan struct{}, commits *int) {
	inFirst, release = make(chan struct{}), make(chan struct{})
	commits = new(int)
	s.beforeCommit = func() {
		if *commits++; *commits == 1 {
			close(inFirst)
			<-release
		}
	}
	queued = make(chan struct{}, 16)
	s.commits.queued = func() { queued <- struct{}{} }
	return inFirst, release, queued, commits
}

func testRollsBackOnlyTheFailedWrite(t *testing.T, opts Options) {
	ctx := context.Background()
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inFirst, release, queued, commits := holdFirstCommit(s)
	boom := errors.New("boom")
	entry := func(key string, then func() error) func(t *tx) error {
		return func(t *tx) error {
			t.change("default", engram.KindEpisode, key, engram.OpInsert)
			if err := t.flush(); err != nil {
				return err
			}
			return then()
		}
	}
	ok := func() error { return nil }
	type result struct {
		err      error
		panicked any
	}
	run := func(key string, then func() error) chan result {
		ch := make(chan result, 1)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					ch <- result{panicked: v}
				}
			}()
			ch <- result{err: s.write(ctx, "write "+key, entry(key, then))}
		}()
		<-queued
		return ch
	}
	first := run("first", ok)
	<-inFirst
	keep1 := run("keep-1", ok)
	failed := run("failed", func() error { return boom })
	refused := make(chan error, 1)
	go func() {
		refused <- s.write(ctx, "write refused", func(t *tx) error {
			t.change("default", engram.KindEpisode, "refused", engram.OpInsert)
			if err := t.flush(); err != nil {
				return err
			}
			_, err := t.exec(`INSERT INTO no_such_table (x) VALUES (?)`, 1)
			return err
		})
	}()
	<-queued
	panicked := run("panicked", func() error { panic("fn panicked") })
	keep2 := run("keep-2", ok)
	close(release)
	for _, ch := range []chan result{first, keep1, keep2} {
		if r := <-ch; r.err != nil || r.panicked != nil {
			t.Fatalf("a good write of the group: %+v", r)
		}
	}
	if r := <-failed; !errors.Is(r.err, boom) || !strings.Contains(r.err.Error(), "write failed") {
		t.Fatalf("the failing write: %+v, want its own error, wrapped with its name", r)
	}
	if err := <-refused; err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("the refused write: %v, want the database's error", err)
	}
	if r := <-panicked; r.panicked != "fn panicked" {
		t.Fatalf("the panicking write's caller: %+v, want the panic", r)
	}
	if *commits != 2 {
		t.Fatalf("%d commits, want 2", *commits)
	}
	cs, err := s.Changes(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range cs {
		keys = append(keys, c.Key)
	}
	if got := strings.Join(keys, " "); got != "first keep-1 keep-2" {
		t.Fatalf("feed %q, want only the good writes' entries", got)
	}
}

// TestGroupCommitFailedFirstWriteStartsAfresh: the first write of a
// transaction has no savepoint; when it fails, the transaction is rolled
// back whole and the write queued behind it commits in a new one.
func TestGroupCommitFailedFirstWriteStartsAfresh(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "engram.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	started, release := make(chan struct{}), make(chan struct{})
	queued := make(chan struct{}, 16)
	s.commits.queued = func() { queued <- struct{}{} }
	boom := errors.New("boom")
	firstErr := make(chan error, 1)
	go func() {
		firstErr <- s.write(ctx, "first", func(t *tx) error {
			t.change("default", engram.KindEpisode, "first", engram.OpInsert)
			if err := t.flush(); err != nil {
				return err
			}
			close(started)
			<-release
			return boom
		})
	}()
	<-queued
	<-started
	secondErr := make(chan error, 1)
	go func() {
		secondErr <- s.write(ctx, "second", func(t *tx) error {
			t.change("default", engram.KindEpisode, "second", engram.OpInsert)
			return nil
		})
	}()
	<-queued
	close(release)
	if err := <-firstErr; !errors.Is(err, boom) {
		t.Fatalf("first: %v, want boom", err)
	}
	if err := <-secondErr; err != nil {
		t.Fatal(err)
	}
	cs, err := s.Changes(ctx, 0, 100)
	if err != nil || len(cs) != 1 || cs[0].Key != "second" {
		t.Fatalf("feed %+v (%v), want the second write's entry only", cs, err)
	}
}

// TestWriterKeepsTempStoreInMemory: the writer's savepoint sub-journals
// stay in memory (PRAGMA temp_store = MEMORY, 2); in a temporary file they
// grow with every write of a group and cost a write(2) per changed page.
func TestWriterKeepsTempStoreInMemory(t *testing.T) {
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "engram.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode int
	if err := s.w.QueryRow(`PRAGMA temp_store`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("writer's temp_store = %d (%v), want 2 (memory)", mode, err)
	}
}

// TestGroupCommitWholeRollbackFailsTheGroup: when the database rolls back
// the whole transaction while one write of a group runs (SQLite does on
// some I/O errors; here the write ends the transaction itself), the writes
// run before it in that group are lost, so they fail with its error; the
// write queued after it commits in the next group.
func TestGroupCommitWholeRollbackFailsTheGroup(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "engram.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inFirst, release, queued, _ := holdFirstCommit(s)
	lost := errors.New("the transaction was rolled back under it")
	run := func(key string, fn func(t *tx) error) chan error {
		ch := make(chan error, 1)
		go func() {
			ch <- s.write(ctx, "write "+key, func(t *tx) error {
				t.change("default", engram.KindEpisode, key, engram.OpInsert)
				if err := t.flush(); err != nil {
					return err
				}
				return fn(t)
			})
		}()
		<-queued
		return ch
	}
	ok := func(*tx) error { return nil }
	held := run("held", ok)
	<-inFirst
	a, b := run("a", ok), run("b", ok)
	killer := run("killer", func(t *tx) error {
		if _, err := t.tx.ExecContext(t.ctx, `ROLLBACK`); err != nil {
			return err
		}
		return lost
	})
	after := run("after", ok)
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan error{"a": a, "b": b, "killer": killer} {
		if err := <-ch; !errors.Is(err, lost) {
			t.Fatalf("write %s of the rolled-back group: %v, want the error that rolled it back", name, err)
		}
	}
	if err := <-after; err != nil {
		t.Fatalf("the write queued after the group: %v", err)
	}
	cs, err := s.Changes(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range cs {
		keys = append(keys, c.Key)
	}
	if got := strings.Join(keys, " "); got != "held after" {
		t.Fatalf("feed %q, want the held and the later write's entries only", got)
	}
}
