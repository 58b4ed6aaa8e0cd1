package sqlstore_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "engram.db")
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	ep := storetest.SampleEpisode(1)
	if err := s.CreateEpisode(ctx, "default", ep); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTemp(t, sqlstore.Options{Path: path})
	got, err := s2.GetEpisode(ctx, "default", ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, "episode after reopen", got, ep)
	info, err := s2.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.SchemaVersion != sqlstore.SchemaVersion() || info.Tables["episodes"] != 1 || info.Tables["steps"] != 2 || info.FileBytes == 0 {
		t.Fatalf("info after reopen: %+v", info)
	}
}

func TestErrNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engram.db")
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	next := sqlstore.SchemaVersion() + 1
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 0)`, next); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlstore.Open(ctx, sqlstore.Options{Path: path})
	storetest.WantCode(t, err, engram.EINVALID, "schema_version")
	if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", next)) {
		t.Fatalf("error does not name the version: %v", err)
	}
}

func TestErrOptions(t *testing.T) {
	_, err := sqlstore.Open(context.Background(), sqlstore.Options{})
	storetest.WantCode(t, err, engram.EINVALID, "path")
	_, err = sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "sometimes"})
	storetest.WantCode(t, err, engram.EINVALID, "synchronous")
}

// Another process holding the write lock makes a write fail with
// EUNAVAILABLE once the busy timeout passes, never hang.
func TestErrBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engram.db")
	s := openTemp(t, sqlstore.Options{Path: path, BusyTimeout: 20 * time.Millisecond})
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	err = s.CreateEpisode(context.Background(), "default", storetest.SampleEpisode(1))
	storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
	if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEpisode(context.Background(), "default", storetest.SampleEpisode(2)); err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	s := openTemp(t, sqlstore.Options{Synchronous: sqlstore.SyncNormal})
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ep := &engram.Episode{TaskDescription: fmt.Sprintf("worker %d item %d", w, i)}
				if err := s.CreateEpisode(ctx, "default", ep); err != nil {
					errs <- err
					return
				}
				if err := s.AppendStep(ctx, "default", ep.ID, &engram.Step{Tool: "t", Action: "a"}); err != nil {
					errs <- err
					return
				}
				got, err := s.GetEpisode(ctx, "default", ep.ID)
				if err != nil {
					errs <- err
					return
				}
				if len(got.Steps) != 1 {
					errs <- fmt.Errorf("episode %s has %d steps after one append", ep.ID, len(got.Steps))
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, err := s.Counts(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if c.Episodes != workers*each || c.Steps != workers*each {
		t.Fatalf("counts %+v, want %d episodes and steps", c, workers*each)
	}
	seq, err := s.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 2*workers*each {
		t.Fatalf("change feed at %d, want %d", seq, 2*workers*each)
	}
}

// TestCrashLosesNothingAcknowledged runs a writer in a child process, kills
// it with SIGKILL at a random moment, and checks every episode the child
// reported as acknowledged is in the reopened store, whole.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if os.Getenv("ENGRAM_CRASH_CHILD") != "" {
		crashChild()
		return
	}
	if testing.Short() {
		t.Skip("crash test: not in -short mode")
	}
	r := storetest.NewRand(t)
	path := filepath.Join(t.TempDir(), "engram.db")
	acked := map[string]int{} // id -> steps acknowledged
	for round := 0; round < 8; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLosesNothingAcknowledged$", "-test.v=false")
		cmd.Env = append(os.Environ(), "ENGRAM_CRASH_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		kill := 5 + r.IntN(60)
		for n := 0; sc.Scan(); n++ {
			var id string
			var steps int
			if _, err := fmt.Sscanf(sc.Text(), "ack %s %d", &id, &steps); err != nil {
				continue
			}
			acked[id] = steps
			if n == kill {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		// Whatever the child printed before dying was acknowledged too.
		for sc.Scan() {
			var id string
			var steps int
			if _, err := fmt.Sscanf(sc.Text(), "ack %s %d", &id, &steps); err == nil {
				acked[id] = steps
			}
		}
		cmd.Wait()

		s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		for id, steps := range acked {
			eid, err := engram.ParseEpisodeID(id)
			if err != nil {
				t.Fatal(err)
			}
			ep, err := s.GetEpisode(context.Background(), "default", eid)
			if err != nil {
				t.Fatalf("round %d: acknowledged episode %s: %v", round, id, err)
			}
			if len(ep.Steps) < steps {
				t.Fatalf("round %d: episode %s has %d steps, %d acknowledged", round, id, len(ep.Steps), steps)
			}
		}
		if problems, err := s.Check(context.Background()); err != nil || len(problems) > 0 {
			t.Fatalf("round %d: check after crash: %v %v", round, problems, err)
		}
		s.Close()
	}
	if len(acked) == 0 {
		t.Fatal("the child acknowledged nothing; the test proved nothing")
	}
}

// crashChild writes episodes and steps forever, printing each acknowledgement.
func crashChild() {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: os.Getenv("ENGRAM_CRASH_CHILD")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for i := 0; ; i++ {
		ep := storetest.SampleEpisode(i)
		if err := s.CreateEpisode(ctx, "default", ep); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Printf("ack %s %d\n", ep.ID, len(ep.Steps))
		if err := s.AppendStep(ctx, "default", ep.ID, &engram.Step{Tool: "t", Action: "a"}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Printf("ack %s %d\n", ep.ID, len(ep.Steps)+1)
	}
}

// TestDefaultCommitDurabilityIsFull reads PRAGMA synchronous back from the
// writer connection: by default every commit is synced (FULL), so weakening
// the default fails here; an explicit setting is what the connection gets.
func TestDefaultCommitDurabilityIsFull(t *testing.T) {
	for _, c := range []struct {
		opt  sqlstore.Synchronous
		want string
	}{{"", "full"}, {sqlstore.SyncNormal, "normal"}, {sqlstore.SyncOff, "off"}} {
		s := openTemp(t, sqlstore.Options{Synchronous: c.opt})
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.Synchronous != c.want {
			t.Errorf("Synchronous %q: the writer runs synchronous=%s, want %s", c.opt, info.Synchronous, c.want)
		}
	}
}
