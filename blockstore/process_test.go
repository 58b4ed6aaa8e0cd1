package blockstore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/storetest"
	"github.com/fxamacker/cbor/v2"
)

// Tests here re-run the test binary as a child process (TestMain runs the
// role ENGRAM_BLOCKSTORE_CHILD names instead of the tests) to hold locks, write concurrently and be
// killed.
const (
	envChild = "ENGRAM_BLOCKSTORE_CHILD" // the child's role
	envPath  = "ENGRAM_BLOCKSTORE_PATH"  // the store it opens
	envName  = "ENGRAM_BLOCKSTORE_NAME"  // a name for its blocks
	envSeed  = "ENGRAM_BLOCKSTORE_SEED"
)

func child(t *testing.T, role, path string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	// GORACE: a race-enabled child otherwise sleeps a second at exit.
	cmd.Env = append(os.Environ(), envChild+"="+role, envPath+"="+path, "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestMain runs the tests, or, in a child process, its role.
func TestMain(m *testing.M) {
	role := os.Getenv(envChild)
	if role == "" {
		os.Exit(m.Run())
	}
	path := os.Getenv(envPath)
	var err error
	switch role {
	case "open":
		err = childOpen(path)
	case "writer":
		err = childWriter(path)
	case "heads":
		err = childHeads(path, os.Getenv(envName))
	case "damaged":
		err = childDamaged(path)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// childOpen tries to open the store and prints the error code and message.
func childOpen(path string) error {
	s, err := OpenOrInit(path, &Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		fmt.Printf("%s\n%s\n", engram.ErrorCode(err), err)
		return nil
	}
	fmt.Println("opened")
	return s.Close()
}

func TestSecondProcessGetsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocks.db")
	s, err := OpenOrInit(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := child(t, "open", path).Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)
	if len(lines) != 2 || lines[0] != engram.ELOCKED || !strings.Contains(lines[1], path) || !strings.Contains(lines[1], "locked") {
		t.Fatalf("second process got %q; want an ELOCKED error naming %s", out, path)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := child(t, "open", path).Output(); err != nil || strings.TrimSpace(string(out)) != "opened" {
		t.Fatalf("after the first process closed, the second got %q, %v", out, err)
	}
}

// childHeads opens and closes the store for every update, so that two such
// processes take turns on the file, each extending its own chain.
func childHeads(path, name string) error {
	var prev engram.CID
	for i := range 12 {
		s, err := OpenOrInit(path, &Options{LockTimeout: time.Minute})
		if err != nil {
			return err
		}
		m := map[string]any{"proc": name, "i": i}
		var supersedes []engram.CID
		if prev.Defined() {
			m["prev"] = storetest.Link(prev)
			supersedes = []engram.CID{prev}
		}
		op := opBlock(m)
		err = errors.Join(s.Put(ctx, op.CID, op.Data), s.Update(ctx, op.CID, supersedes), s.Close())
		if err != nil {
			return err
		}
		prev = op.CID
	}
	fmt.Println(prev)
	return nil
}

func TestTwoProcessesUpdateHeads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocks.db")
	a := child(t, "heads", path, envName+"=a")
	b := child(t, "heads", path, envName+"=b")
	var outA, outB strings.Builder
	a.Stdout, b.Stdout = &outA, &outB
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(a.Wait(), b.Wait()); err != nil {
		t.Fatalf("children: %v", err)
	}
	want := []engram.CID{}
	for _, out := range []string{outA.String(), outB.String()} {
		c, err := engram.ParseCID(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("child printed %q: %v", out, err)
		}
		want = append(want, c)
	}
	slices.SortFunc(want, engram.CID.Compare)
	s := openAt(t, path)
	heads, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heads, want) {
		t.Fatalf("heads %v; want each process's last head %v", heads, want)
	}
	for _, h := range heads {
		n := 0
		if err := s.Walk(ctx, h, func(engram.CID, []byte) error { n++; return nil }); err != nil || n != 12 {
			t.Fatalf("chain from %s: %d blocks, %v; want 12", h, n, err)
		}
	}
}

// childWriter extends the single-head chain in the store until it is
// killed, alternating PutMany+Update with a Batch, and prints each op's CID
// once its commit has returned.
func childWriter(path string) error {
	var seed uint64
	fmt.Sscan(os.Getenv(envSeed), &seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	s, err := OpenOrInit(path, nil)
	if err != nil {
		return err
	}
	heads, err := s.Current(ctx)
	if err != nil || len(heads) > 1 {
		return fmt.Errorf("heads at start: %v, %v", heads, err)
	}
	var prev engram.CID
	if len(heads) == 1 {
		prev = heads[0]
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		var blocks []engram.Block
		var leaves []any
		for range 1 + rng.IntN(40) {
			data := make([]byte, 1+rng.IntN(8<<10))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			leaf := engram.Block{CID: dag.SumRaw(data), Data: data}
			blocks = append(blocks, leaf)
			leaves = append(leaves, storetest.Link(leaf.CID))
		}
		m := map[string]any{"i": i, "seed": seed, "leaves": leaves}
		var supersedes []engram.CID
		if prev.Defined() {
			m["prev"] = storetest.Link(prev)
			supersedes = []engram.CID{prev}
		}
		op := opBlock(m)
		blocks = append(blocks, op)
		if i%2 == 0 {
			if err := s.PutMany(ctx, blocks); err != nil {
				return err
			}
			if err := s.Update(ctx, op.CID, supersedes); err != nil {
				return err
			}
		} else {
			b, err := s.Batch(ctx)
			if err != nil {
				return err
			}
			for _, blk := range blocks {
				if err := b.Put(blk.CID, blk.Data); err != nil {
					return err
				}
			}
			if err := b.UpdateHeads(op.CID, supersedes); err != nil {
				return err
			}
			if err := b.Commit(); err != nil {
				return err
			}
		}
		fmt.Println(op.CID)
		prev = op.CID
	}
}

// TestCrashDuringWrites SIGKILLs a writer at random moments, reopens the
// file each time and checks: it opens, bbolt's structure is sound, every
// block verifies, there is exactly one head, nothing reachable from it is
// missing, and every op the writer saw committed is still there.
func TestCrashDuringWrites(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "blocks.db")
	kills := 30
	if testing.Short() {
		kills = 8
	}
	var acked []engram.CID // ops a writer printed, so their commit returned
	for k := range kills {
		cmd := child(t, "writer", path, fmt.Sprintf("%s=%d", envSeed, rng.Uint64()))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		if !lines.Scan() || lines.Text() != "ready" {
			t.Fatalf("kill %d: child did not start: %q", k, lines.Text())
		}
		// Let it commit a random number of ops, then kill it a random
		// number of microseconds later: somewhere in a later write.
		for range rng.IntN(4) {
			if !lines.Scan() {
				t.Fatalf("kill %d: child stopped early", k)
			}
			acked = append(acked, mustParseCID(t, lines.Text()))
		}
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		for lines.Scan() { // ops that committed before the kill landed
			acked = append(acked, mustParseCID(t, lines.Text()))
		}
		_, _ = io.Copy(io.Discard, stdout)
		err = cmd.Wait()
		timer.Stop()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: child ended with %v, not by SIGKILL", k, err)
		}
		checkAfterCrash(t, path, acked)
	}
	t.Logf("%d kills, %d acknowledged ops survived", kills, len(acked))
}

func mustParseCID(t *testing.T, s string) engram.CID {
	t.Helper()
	c, err := engram.ParseCID(s)
	if err != nil {
		t.Fatalf("child printed %q: %v", s, err)
	}
	return c
}

func checkAfterCrash(t *testing.T, path string, acked []engram.CID) {
	t.Helper()
	s, err := OpenOrInit(path, &Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after SIGKILL: %+v, %v", rep, err)
	}
	heads, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) > 0 && len(heads) != 1 {
		t.Fatalf("%d heads after SIGKILL, want 1: %v", len(heads), heads)
	}
	if len(heads) == 0 {
		return
	}
	chain := make(map[engram.CID]bool)
	if err := s.Walk(ctx, heads[0], func(c engram.CID, _ []byte) error { chain[c] = true; return nil }); err != nil {
		t.Fatalf("walk from the head after SIGKILL: %v", err)
	}
	for _, c := range acked {
		if !chain[c] {
			t.Fatalf("acknowledged op %s is not reachable from the head after SIGKILL", c)
		}
	}
}

// opBlock encodes m as a DAG-CBOR block, for the children, which have no *testing.T.
func opBlock(m map[string]any) engram.Block {
	data, err := cbor.Marshal(m)
	if err != nil {
		panic(err) // maps of ints, strings and tags always encode
	}
	return engram.Block{CID: dag.SumDagCBOR(data), Data: data}
}
