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
// appended a feed entry and then failed, and one that panicked after
// writing, leave nothing behind; the first gets its own error, the second's
// caller panics with its value on its own goroutine; the other writes of
// the group commit.
func TestGroupCommitRollsBackOnlyTheFailedWrite(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "engram.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inFirst, release := make(chan struct{}), make(chan struct{})
	commits := 0
	s.beforeCommit = func() {
		if commits++; commits == 1 {
			close(inFirst)
			<-release
		}
	}
	queued := make(chan struct{}, 16)
	s.commits.queued = func() { queued <- struct{}{} }
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
	if r := <-panicked; r.panicked != "fn panicked" {
		t.Fatalf("the panicking write's caller: %+v, want the panic", r)
	}
	if commits != 2 {
		t.Fatalf("%d commits, want 2", commits)
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
