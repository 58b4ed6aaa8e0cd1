package memory_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/testenv"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// eventually polls cond until it holds or a generous deadline passes; for
// the one wait that real time drives (the circuit breaker's open period).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDurableOutage(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, "engram.db")})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	f := &flaky{Store: s}
	m := open(t, memory.Config{DataDir: dir, Durable: f, BreakerFailures: 3, BreakerOpenFor: 20 * time.Millisecond})

	cached, uncached := storetest.SampleEpisode(1), storetest.SampleEpisode(2)
	must(t, m.CreateEpisode(ctx(), "default", cached))
	must(t, s.CreateEpisode(ctx(), "default", uncached)) // behind memory's back: in no tier
	if statusOf(t, m).Stale {
		t.Fatal("stale before any outage")
	}

	f.down.Store(true)
	t.Run("CachedReadsAreServedStale", func(t *testing.T) {
		got, ri, err := readFrom(t, m, "default", cached.ID)
		must(t, err)
		storetest.Equal(t, "cached episode during the outage", got, cached)
		// The first durable failure has not happened yet: nothing says stale.
		if ri.Stale {
			t.Fatalf("stale before the durable store was seen failing: %+v", ri)
		}
		_, _, err = readFrom(t, m, "default", uncached.ID)
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		got, ri, err = readFrom(t, m, "default", cached.ID)
		must(t, err)
		storetest.Equal(t, "cached episode after a durable failure", got, cached)
		if !ri.Stale {
			t.Fatalf("a cached read after a durable failure is not marked stale: %+v", ri)
		}
	})
	t.Run("WritesFailAndChangeNothing", func(t *testing.T) {
		err := m.AppendStep(ctx(), "default", cached.ID, &engram.Step{Tool: "t", Action: "lost"})
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		err = m.CreateEpisode(ctx(), "default", storetest.SampleEpisode(3))
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		got, _, err := readFrom(t, m, "default", cached.ID)
		must(t, err)
		storetest.Equal(t, "cached episode after failed writes", got, cached)
		_, err = m.ListEpisodes(ctx(), "default", engram.EpisodeFilter{})
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
	})
	t.Run("BreakerFailsFast", func(t *testing.T) {
		before := f.calls.Load()
		for i := 0; i < 10; i++ {
			_, _, err := readFrom(t, m, "default", uncached.ID)
			storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		}
		// At most one probe per open period may reach the store.
		if n := f.calls.Load() - before; n > 2 {
			t.Fatalf("%d of 10 calls reached the failing store with the breaker open", n)
		}
		st := statusOf(t, m)
		if !st.Stale || tierState(st, engram.TierDurable).Stats["breaker"] == "closed" {
			t.Fatalf("status during the outage: %s", dump(st))
		}
	})
	t.Run("Recovery", func(t *testing.T) {
		f.down.Store(false)
		eventually(t, "the breaker to let a read through", func() bool {
			_, _, err := readFrom(t, m, "default", uncached.ID)
			return err == nil
		})
		eventually(t, "the catch-up sync to clear the stale flag", func() bool { return !statusOf(t, m).Stale })
		got, ri, err := readFrom(t, m, "default", cached.ID)
		must(t, err)
		storetest.Equal(t, "cached episode after recovery", got, cached)
		if ri.Stale {
			t.Fatal("reads still stale after recovery and a sync")
		}
		must(t, m.AppendStep(ctx(), "default", cached.ID, &engram.Step{Tool: "t", Action: "after"}))
	})
}

// TestReadOnlyDurableFile makes the SQLite files immutable (chattr +i, which
// binds root too): a real cause for writes to fail while reads work.
func TestReadOnlyDurableFile(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil {
		testenv.SkipOrFail(t, "chattr not installed (e2fsprogs)")
	}
	// Under the package directory rather than $TMPDIR: that may be a tmpfs,
	// which has no immutable attribute; the checkout is on a real disk.
	dir, err := os.MkdirTemp(".", "testdata-readonly-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := open(t, memory.Config{DataDir: dir, BreakerFailures: 100, SQL: sqlstore.Options{BusyTimeout: 50 * time.Millisecond}})
	ep := storetest.SampleEpisode(1)
	must(t, m.CreateEpisode(ctx(), "default", ep))
	// The database and its WAL, not the -shm file: SQLite maps that one
	// into memory, and a write to a mapped page of an immutable file is a
	// SIGBUS, not an error.
	files := []string{filepath.Join(dir, "engram.db"), filepath.Join(dir, "engram.db-wal")}
	if out, err := exec.Command("chattr", append([]string{"+i"}, files...)...).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "chattr +i not supported here: "+string(out))
	}
	t.Cleanup(func() { exec.Command("chattr", append([]string{"-i"}, files...)...).Run() })

	err = m.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "refused"})
	storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
	got, ri, err := readFrom(t, m, "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "episode while the file is read-only", got, ep)
	if !ri.Stale {
		t.Fatalf("read after a failed durable write not marked stale: %+v", ri)
	}
	if out, err := exec.Command("chattr", append([]string{"-i"}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("chattr -i: %v %s", err, out)
	}
	must(t, m.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "accepted"}))
	rep, err := m.Sync(ctx(), engram.SyncOptions{Validate: true})
	must(t, err)
	if !rep.Validation.OK || statusOf(t, m).Stale {
		t.Fatalf("after recovery: %s", dump(rep))
	}
	got, _, err = readFrom(t, m, "default", ep.ID)
	must(t, err)
	if len(got.Steps) != 3 || got.Steps[2].Action != "accepted" {
		t.Fatalf("steps after recovery: %+v", got.Steps)
	}
}

func TestCacheFileHeldByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	a := open(t, memory.Config{DataDir: dir})
	b := open(t, memory.Config{DataDir: dir, Cache: boltOptionsNoWait()})
	st := statusOf(t, b)
	if ts := tierState(st, engram.TierCache); ts.State != "degraded" {
		t.Fatalf("second memory's cache tier: %+v", ts)
	}
	ep := storetest.SampleEpisode(1)
	must(t, b.CreateEpisode(ctx(), "default", ep))
	got, err := a.GetEpisode(ctx(), "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "episode written by the process without the cache file", got, ep)
	// b works on RAM and the durable store; a sync moves its RAM watermark.
	rep, err := b.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if rep.WatermarkAfter == 0 {
		t.Fatalf("sync without the cache file: %s", dump(rep))
	}
	c, err := memory.Open(ctx(), memory.Config{DataDir: dir, NoRAM: true, Cache: boltOptionsNoWait(), Logger: quiet})
	if err != nil {
		t.Fatalf("opening without RAM while the file is held: %v", err)
	}
	defer c.Close()
	got, err = c.GetEpisode(ctx(), "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "episode read with no cache tier at all", got, ep)
	// With no tier to keep in step, a sync has nothing to do: it succeeds.
	rep, err = c.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if rep.WatermarkAfter != 0 || rep.Episodes != 0 {
		t.Fatalf("sync with no tiers: %s", dump(rep))
	}
}
