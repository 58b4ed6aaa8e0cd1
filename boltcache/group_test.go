package boltcache

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram/storetest"
)

// TestConcurrentPutsShareOneCommit holds bbolt's writer lock so that the
// committer stalls on a first request, queues 50 puts from their own
// goroutines behind it, releases the lock, and wants the 50 in one commit.
func TestConcurrentPutsShareOneCommit(t *testing.T) {
	c := openChecked(t, filepath.Join(t.TempDir(), "cache.db"), Options{TTLCheckInterval: -1, Logger: discardLogger()})
	defer c.Close()
	ctx := context.Background()
	tx, err := c.db.Begin(true) // the committer's next transaction waits for this one
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() { // before Close, which would wait for the committer
		if !released {
			_ = tx.Rollback()
		}
	}()
	before := c.commits.Load()
	// A flush the committer takes and then stalls on: once submit has sent it
	// and the queue is empty, the committer holds it.
	if err := c.submit(ctx, &writeReq{special: specialFlush}, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // a guard against hanging, not a timing assertion
	waitQueue := func(n int) {
		for len(c.writes) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d requests queued, want %d", len(c.writes), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitQueue(0)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- c.PutEpisode(ctx, "group", storetest.RandomEpisode(rand.New(rand.NewPCG(uint64(i), 3)), 1))
		}(i)
	}
	waitQueue(n)
	released = true
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := c.commits.Load() - before; got != 2 {
		t.Fatalf("a flush and %d concurrent puts took %d commits, want 2", n, got)
	}
	if st, _ := c.Stats(ctx); st.Entries != n {
		t.Fatalf("entries = %d, want %d", st.Entries, n)
	}
}
