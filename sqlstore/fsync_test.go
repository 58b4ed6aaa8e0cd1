package sqlstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/testenv"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// fsyncChildEnv makes the test binary a writer child (see fsyncChild).
const fsyncChildEnv = "ENGRAM_FSYNC_CHILD"

// fsyncResult is one write the child reports.
type fsyncResult struct {
	Key  string `json:"key"`
	ID   string `json:"id"`
	Code string `json:"code"` // "" for success
	Err  string `json:"err"`
	// Request is the episode as passed, before the store filled it.
	Request json.RawMessage `json:"request"`
}

// fsyncChild opens the store at $ENGRAM_FSYNC_CHILD and creates
// $ENGRAM_FSYNC_WRITES episodes, each with its own idempotency key, printing
// one fsyncResult per write; it stops at the first failure and exits
// without closing the store, as a crash would.
func fsyncChild() {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: os.Getenv(fsyncChildEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	var n int
	fmt.Sscan(os.Getenv("ENGRAM_FSYNC_WRITES"), &n)
	enc := json.NewEncoder(os.Stdout)
	for i := 0; i < n; i++ {
		ep := storetest.SampleEpisode(i)
		ep.ID = engram.EpisodeID{UUID: engram.NewUUID()}
		key := fmt.Sprintf("write-%d", i)
		req, _ := json.Marshal(ep)
		err := s.CreateEpisode(engram.WithIdempotencyKey(ctx, key), "default", ep)
		r := fsyncResult{Key: key, ID: ep.ID.String(), Request: req}
		if err != nil {
			r.Code, r.Err = engram.ErrorCode(err), err.Error()
		}
		enc.Encode(r)
		if err != nil {
			break
		}
	}
	os.Exit(0)
}

// runFsyncChild runs the child under strace, tracing the file syncs of the
// database's WAL, with extra strace arguments (an injection). It returns
// the child's results and strace's log.
func runFsyncChild(t *testing.T, path string, writes int, straceArgs ...string) ([]fsyncResult, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "strace.log")
	args := append([]string{"-f", "-qq", "-o", log, "-P", path + "-wal", "-e", "trace=fsync,fdatasync"}, straceArgs...)
	args = append(args, os.Args[0], "-test.run=^TestFsyncFailureIsUnknown$", "-test.v=false")
	cmd := exec.Command("strace", args...)
	cmd.Env = append(os.Environ(), fsyncChildEnv+"="+path, fmt.Sprintf("ENGRAM_FSYNC_WRITES=%d", writes))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child under strace: %v", err)
	}
	var rs []fsyncResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r fsyncResult
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Key != "" {
			rs = append(rs, r)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return rs, string(b)
}

// TestFsyncFailureIsUnknown runs a writer child under strace, which makes
// the WAL's fsync fail with EIO from the second commit on (the first commit
// on a new WAL syncs twice: header, then frames). The refused commit is
// EUNKNOWN, not "unavailable": after the crash SQLite replays its frames and
// the write is there. Retried with its idempotency key, it is applied once.
func TestFsyncFailureIsUnknown(t *testing.T) {
	if p := os.Getenv(fsyncChildEnv); p != "" {
		fsyncChild()
		return
	}
	if _, err := exec.LookPath("strace"); err != nil {
		testenv.SkipOrFail(t, "strace is not installed (apt-get install strace)")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
	must(t, err)
	must(t, s.Close())

	rs, log := runFsyncChild(t, path, 5, "-e", "inject=fsync:error=EIO:when=3+")
	if !strings.Contains(log, "(INJECTED)") {
		t.Fatalf("strace injected no fsync failure:\n%s", log)
	}
	// How many commits succeed first depends on how many syncs opening a
	// new WAL takes; the first failed one must be EUNKNOWN.
	if len(rs) < 2 || len(rs) == 5 {
		t.Fatalf("child made %d writes, want at least one success and then a failure", len(rs))
	}
	failed := rs[len(rs)-1]
	for _, r := range rs[:len(rs)-1] {
		if r.Code != "" {
			t.Fatalf("write %s failed before the injection: %s", r.Key, r.Err)
		}
	}
	if failed.Code != engram.EUNKNOWN {
		t.Fatalf("write %s whose fsync failed: code %q (%s), want %s", failed.Key, failed.Code, failed.Err, engram.EUNKNOWN)
	}
	if !strings.Contains(failed.Err, path) || !strings.Contains(failed.Err, "idempotency key") {
		t.Fatalf("EUNKNOWN message %q names neither the file nor the remedy", failed.Err)
	}

	s = openTemp(t, sqlstore.Options{Path: path})
	id, err := engram.ParseEpisodeID(failed.ID)
	must(t, err)
	stored, err := s.GetEpisode(ctx, "default", id)
	if err != nil {
		t.Fatalf("the write refused with EUNKNOWN: %v (SQLite replays its WAL frames after the crash; this test expects them to survive)", err)
	}
	// The retry of the same request with the same key is the original outcome.
	var retry engram.Episode
	must(t, json.Unmarshal(failed.Request, &retry))
	must(t, s.CreateEpisode(engram.WithIdempotencyKey(ctx, failed.Key), "default", &retry))
	storetest.Equal(t, "retried episode", &retry, stored)
	c, err := s.Counts(ctx, "default")
	must(t, err)
	if c.Episodes != int64(len(rs)) {
		t.Fatalf("%d episodes after the retry, want %d", c.Episodes, len(rs))
	}
}

// TestEveryCommitSyncsTheWAL counts the child's fsyncs of the WAL with
// strace: with the default options every commit syncs at least once, so a
// weakened default (normal, off) fails here.
func TestEveryCommitSyncsTheWAL(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		testenv.SkipOrFail(t, "strace is not installed (apt-get install strace)")
	}
	path := filepath.Join(t.TempDir(), "engram.db")
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path})
	must(t, err)
	must(t, s.Close())
	const writes = 6
	rs, log := runFsyncChild(t, path, writes)
	if len(rs) != writes || rs[writes-1].Code != "" {
		t.Fatalf("child made %d writes, want %d successes", len(rs), writes)
	}
	syncs := strings.Count(log, "fsync(") + strings.Count(log, "fdatasync(")
	if syncs < writes {
		t.Fatalf("%d WAL syncs for %d commits, want at least one per commit:\n%s", syncs, writes, log)
	}
}
