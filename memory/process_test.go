package memory_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/internal/pgtest"
	"github.com/engramhq/engram/internal/s3test"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// Child processes: the test binary re-run with ENGRAM_MEMORY_CHILD set.
func TestMain(m *testing.M) {
	switch os.Getenv("ENGRAM_MEMORY_CHILD") {
	case "":
		code := m.Run()
		pgtest.Stop() // the PostgreSQL server the Postgres tests may have started
		s3test.StopShared()
		os.Exit(code)
	case "reader":
		childReader()
	case "sync":
		childSync()
	case "recall":
		childRecall() // recall_test.go
	}
	os.Exit(0)
}

func child(t *testing.T, mode string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), "ENGRAM_MEMORY_CHILD="+mode), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	must(t, err)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, in, bufio.NewScanner(out)
}

func expectLine(t *testing.T, sc *bufio.Scanner, prefix string) string {
	t.Helper()
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text()
		}
	}
	t.Fatalf("child ended without printing %q", prefix)
	return ""
}

// childReader opens its own Memory (its own cache file) on the shared
// durable store, reads one episode, syncs, and on each "sync" line from the
// parent syncs and prints the episode's step count and the tier that
// answered.
func childReader() {
	m, err := memory.Open(ctx(), memory.Config{DataDir: os.Getenv("DATA"), CachePath: os.Getenv("CACHE"), Logger: quiet})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	defer m.Close()
	id, _ := engram.ParseEpisodeID(os.Getenv("EPISODE"))
	read := func() {
		var ri engram.ReadInfo
		ep, err := m.GetEpisode(engram.WithReadInfo(ctx(), &ri), "default", id)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		fmt.Println("steps", len(ep.Steps), ri.Tier)
	}
	read()
	// A first sync: the cache was never synced, so this one is full; the
	// parent's "sync" lines then run incremental ones.
	if _, err := m.Sync(ctx(), engram.SyncOptions{}); err != nil {
		fmt.Println("error", err)
		return
	}
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	for in.Scan() {
		if _, err := m.Sync(ctx(), engram.SyncOptions{}); err != nil {
			fmt.Println("error", err)
			fmt.Println("error", err)
			return
		}
		read()
	}
}

func TestTwoProcessesShareOneDurableStore(t *testing.T) {
	dir := t.TempDir()
	a := open(t, memory.Config{DataDir: dir})
	ep := storetest.SampleEpisode(1)
	must(t, a.CreateEpisode(ctx(), "default", ep))

	_, in, out := child(t, "reader", "DATA="+dir, "CACHE="+filepath.Join(t.TempDir(), "b.db"), "EPISODE="+ep.ID.String())
	if got := expectLine(t, out, "steps"); got != "steps 2 durable" {
		t.Fatalf("child's first read: %q", got)
	}
	expectLine(t, out, "ready")
	must(t, a.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "written by a"}))
	fmt.Fprintln(in, "sync")
	if got := expectLine(t, out, "steps"); got != "steps 3 ram" {
		t.Fatalf("child after one incremental sync: %q, want the new step from its RAM tier", got)
	}
}

// childSync runs one sync (full or incremental, per MODE) on DATA,
// printing "committed N" after each batch it commits, for the parent to
// kill it at a seeded random batch.
func childSync() {
	m, err := memory.Open(ctx(), memory.Config{DataDir: os.Getenv("DATA"), Logger: quiet,
		Sync: memory.SyncConfig{BatchSize: 50, MaxEpisodesCache: 100000}})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	defer m.Close()
	// Open has caught the cache up; the parent now writes the changes this
	// sync applies, and says when.
	fmt.Println("opened")
	bufio.NewScanner(os.Stdin).Scan()
	_, err = m.Sync(ctx(), engram.SyncOptions{Full: os.Getenv("MODE") == "full", Progress: func(done, total int64) {
		fmt.Println("committed", done, total)
	}})
	if err != nil {
		fmt.Println("error", err)
	}
	fmt.Println("done")
}

// TestKillDuringSync kills full and incremental syncs with SIGKILL at
// random batches; the next sync must finish the job, and the cache then
// equals the durable store (validated record by record, with digests).
func TestKillDuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: not in -short mode")
	}
	r := storetest.NewRand(t)
	dir := t.TempDir()
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, "engram.db"), Synchronous: sqlstore.SyncNormal})
	must(t, err)
	var ids []engram.EpisodeID
	for i := 0; i < 4; i++ {
		batch := make([]*engram.Episode, 250)
		for j := range batch {
			batch[j] = storetest.SampleEpisode(i*250 + j)
		}
		must(t, s.CreateEpisodes(ctx(), "default", batch))
		for _, ep := range batch {
			ids = append(ids, ep.ID)
		}
	}
	var prevWM uint64 // where the previous round's finishing sync left the cache
	for round := 0; round < 6; round++ {
		mode := "incremental"
		if round%2 == 0 {
			mode = "full"
		}
		cmd, in, out := child(t, "sync", "DATA="+dir, "MODE="+mode)
		expectLine(t, out, "opened")
		// Changes for the child's sync to apply, made after its open caught up.
		for i := 0; i < 400; i++ {
			must(t, s.AppendStep(ctx(), "default", ids[r.IntN(len(ids))], &engram.Step{Tool: "t", Action: fmt.Sprint("round ", round)}))
		}
		fmt.Fprintln(in, "go")
		killAt := 1 + r.IntN(12)
		batches := 0
		for out.Scan() {
			line := out.Text()
			if strings.HasPrefix(line, "error") {
				t.Fatalf("round %d (%s): child: %s", round, mode, line)
			}
			if strings.HasPrefix(line, "committed") {
				if batches++; batches == killAt {
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
		}
		cmd.Wait()
		t.Logf("round %d: killed a %s sync after %d progress reports", round, mode, batches)
		// Progress reports come after each committed batch, the first one
		// before any: a child killed after its second report had committed at
		// least one batch, and the file kept it.
		bc, err := boltcache.Open(filepath.Join(dir, "cache.db"), boltcache.Options{TTLCheckInterval: -1, Logger: quiet})
		must(t, err)
		killedAt, err := bc.Watermark(ctx())
		must(t, err)
		must(t, bc.Close())
		if mode == "incremental" && round > 0 && batches >= 2 && killedAt <= prevWM {
			t.Fatalf("round %d: the killed sync committed a batch, but the file's watermark is %d (it was %d)", round, killedAt, prevWM)
		}

		m, err := memory.Open(ctx(), memory.Config{DataDir: dir, Logger: quiet,
			Sync: memory.SyncConfig{BatchSize: 50, MaxEpisodesCache: 100000, ValidateChecksums: true}})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "cache.db.rebuild")); err == nil {
			t.Fatalf("round %d: the killed rebuild's file is still there after Open", round)
		}
		rep, err := m.Sync(ctx(), engram.SyncOptions{Validate: true})
		if err != nil {
			t.Fatalf("round %d: sync after the kill: %v", round, err)
		}
		st := statusOf(t, m)
		if !rep.Validation.OK || st.Lag != 0 {
			t.Fatalf("round %d: after finishing the job: %s\n%s", round, dump(rep), dump(st))
		}
		prevWM = rep.WatermarkAfter
		for _, id := range ids[:50] {
			want, err := s.GetEpisode(ctx(), "default", id)
			must(t, err)
			got, err := m.GetEpisode(ctx(), "default", id)
			must(t, err)
			storetest.Equal(t, fmt.Sprintf("round %d: episode %s", round, id), got, want)
		}
		must(t, m.Close())
	}
	s.Close()
}
