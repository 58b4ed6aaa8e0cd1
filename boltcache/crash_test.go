package boltcache

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
	bolt "go.etcd.io/bbolt"
)

// The crash test runs this test binary again as a writer (TestCrashChild),
// kills it with SIGKILL at seeded random moments and reopens its file.
//
// The child commits batch n as: 20 episodes of batch n, a delete of the
// first episode of batch n-1, and watermark n, in one Apply; it prints
// "committed n" after each. A second goroutine puts and reads records of
// another namespace meanwhile, so commits are grouped.

const (
	crashEnvPath   = "ENGRAM_CRASH_CHILD_PATH"
	crashEnvSync   = "ENGRAM_CRASH_CHILD_SYNC"
	crashBatchSize = 20
)

// crashBatch returns the episodes of batch n (n >= 1), the same every time.
func crashBatch(n uint64) []*engram.Episode {
	rng := rand.New(rand.NewPCG(n, 77))
	eps := make([]*engram.Episode, crashBatchSize)
	for i := range eps {
		eps[i] = storetest.RandomEpisode(rng, 1+rng.IntN(12))
	}
	return eps
}

func crashOptions(sync bool) Options {
	return Options{MaxEntries: -1, MaxBytes: -1, TTLCheckInterval: -1, Sync: sync, Logger: discardLogger()}
}

func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvPath)
	if path == "" {
		t.Skip("the writer of TestKillDuringWrites; runs only as its child")
	}
	ctx := context.Background()
	c, err := Open(path, crashOptions(os.Getenv(crashEnvSync) == "1"))
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	w, err := c.Watermark(ctx)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("ready %d\n", w)
	go func() { // noise: single puts and reads, to be grouped with the batches
		rng := rand.New(rand.NewPCG(w, 5))
		var ids []engram.EpisodeID
		for {
			ep := storetest.RandomEpisode(rng, 2)
			if err := c.PutEpisode(ctx, "noise", ep); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(2)
			}
			ids = append(ids, ep.ID)
			if _, _, err := c.GetEpisode(ctx, "noise", ids[rng.IntN(len(ids))]); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(2)
			}
		}
	}()
	for n := w + 1; ; n++ {
		var b engram.CacheBatch
		for _, ep := range crashBatch(n) {
			b.PutEpisode("crash", ep)
		}
		if n > 1 {
			b.Delete(engram.EpisodeCacheKey("crash", crashBatch(n - 1)[0].ID))
		}
		b.SetWatermark(n)
		if err := c.Apply(ctx, &b); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(2)
		}
		fmt.Printf("committed %d\n", n)
	}
}

// runCrashChild starts a writer on path, lets it report kill commits after
// the state it found, kills it with SIGKILL and returns the watermark it
// started from and the last batch it reported committed.
func runCrashChild(t *testing.T, path string, sync bool, kill int) (start, last uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvPath+"="+path)
	if sync {
		cmd.Env = append(cmd.Env, crashEnvSync+"=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	seen := 0
	parse := func(line string) {
		switch f := strings.Fields(line); {
		case len(f) == 2 && f[0] == "ready":
			start, _ = strconv.ParseUint(f[1], 10, 64)
			last = start
		case len(f) == 2 && f[0] == "committed":
			last, _ = strconv.ParseUint(f[1], 10, 64)
			seen++
		case len(f) > 0 && f[0] == "error":
			_ = cmd.Process.Kill()
			t.Fatalf("child: %s", line)
		}
	}
	for seen < kill && sc.Scan() {
		parse(sc.Text())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	for sc.Scan() { // what the child printed before it died
		parse(sc.Text())
	}
	_, _ = io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if seen < kill {
		t.Fatalf("the child stopped after %d commits without being killed", seen)
	}
	return start, last
}

// TestKillDuringWrites kills a writer process mid-write again and again,
// alternating between the default (no fsync) and Sync. After each kill the
// file must open without being recreated (a dead process's writes are in
// the page cache, and the machine did not restart), its watermark must cover
// every batch the child reported and at most the one it was writing, every
// batch up to the watermark must be there whole and none after it, and Check
// must find nothing wrong.
func TestKillDuringWrites(t *testing.T) {
	if os.Getenv(crashEnvPath) != "" {
		t.Skip("child")
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	check := func(round int, c *Cache, from, to uint64) {
		for n := from; n <= to+1; n++ {
			if n == 0 {
				continue
			}
			for i, ep := range crashBatch(n) {
				got, ok, err := c.GetEpisode(ctx, "crash", ep.ID)
				if err != nil {
					t.Fatalf("round %d: batch %d episode %d: %v", round, n, i, err)
				}
				want := n <= to && (i > 0 || n == to) // the first of each batch is deleted by the next
				if ok != want {
					t.Fatalf("round %d: watermark %d: batch %d episode %d: present=%t, want %t", round, to, n, i, ok, want)
				}
				if ok && !reflect.DeepEqual(got, ep) {
					t.Fatalf("round %d: batch %d episode %d differs from what was put", round, n, i)
				}
			}
		}
	}
	var w uint64
	for round := 0; round < rounds; round++ {
		sync := round%2 == 1
		start, last := runCrashChild(t, path, sync, 1+rng.IntN(12))
		if start != w {
			t.Fatalf("round %d: the child started at watermark %d, want %d", round, start, w)
		}
		c, err := Open(path, crashOptions(!sync))
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		registerCheck(t, c)
		if c.recreated != "" {
			t.Fatalf("round %d: the file was recreated after SIGKILL: %s", round, c.recreated)
		}
		if !c.unclean {
			t.Fatalf("round %d: the unclean shutdown went unnoticed", round)
		}
		if w, err = c.Watermark(ctx); err != nil {
			t.Fatal(err)
		}
		if w < last || w > last+1 {
			t.Fatalf("round %d: watermark %d, but the child reported batch %d committed", round, w, last)
		}
		check(round, c, max(start, 1), w)
		rep, err := c.Check(ctx, false)
		if err != nil || rep.Structure != "ok" || len(rep.Bad) != 0 {
			t.Fatalf("round %d: Check: %v, structure %s, %d bad", round, err, rep.Structure, len(rep.Bad))
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(path, crashOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	registerCheck(t, c)
	check(rounds, c, 1, w)
	c.Close()
	t.Logf("%d kills, %d batches committed", rounds, w)
}

// TestUnsyncedFileFromAnotherBootIsDiscarded: a file left open by a session
// without Sync cannot be trusted once the machine has restarted (unsynced
// pages may never have reached the disk), so Open discards it. The restart
// is simulated by rewriting the boot id the session recorded.
func TestUnsyncedFileFromAnotherBootIsDiscarded(t *testing.T) {
	if os.Getenv(crashEnvPath) != "" {
		t.Skip("child")
	}
	ctx := context.Background()
	for _, recorded := range []string{"00000000-0000-0000-0000-000000000000", ""} {
		path := filepath.Join(t.TempDir(), "cache.db")
		runCrashChild(t, path, false, 3)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			m := tx.Bucket(metaTable)
			if got, _, err := getMeta(m, keyState); err != nil || string(got) != stateOpenNoSync+bootID() {
				t.Errorf("the killed session left state %q (%v), want %q", got, err, stateOpenNoSync+bootID())
			}
			return putMeta(m, keyState, []byte(stateOpenNoSync+recorded))
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		c, err := Open(path, crashOptions(false))
		if err != nil {
			t.Fatalf("boot id %q: Open: %v", recorded, err)
		}
		registerCheck(t, c)
		if !strings.Contains(c.recreated, "restarted") {
			t.Fatalf("boot id %q: recreated = %q, want the restart reason", recorded, c.recreated)
		}
		if w, _ := c.Watermark(ctx); w != 0 {
			t.Fatalf("boot id %q: watermark %d after discarding, want 0", recorded, w)
		}
		if _, ok, _ := c.GetEpisode(ctx, "crash", crashBatch(1)[1].ID); ok {
			t.Fatalf("boot id %q: a record of the discarded file was returned", recorded)
		}
		c.Close()
	}
}
