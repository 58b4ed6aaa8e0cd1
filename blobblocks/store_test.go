package blobblocks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/blobblocks"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/storetest"
)

// openOn returns a Store over b, failing the test on error.
func openOn(t *testing.T, b engram.BlobStore, opts *blobblocks.Options) *blobblocks.Store {
	t.Helper()
	s, err := blobblocks.Open(t.Context(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openURL opens a blob store by URL, closed when the test ends.
func openURL(t testing.TB, url string) engram.BlobStore {
	t.Helper()
	b, err := blob.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// backends are the object stores every test here runs on: mem://, file://
// and, with versitygw, s3://.
func backends(t *testing.T) map[string]func(t *testing.T) string {
	m := map[string]func(t *testing.T) string{
		"mem":  nil, // each Open of mem:// is a new store: use openURL once
		"file": func(t *testing.T) string { return "file://" + shmDir(t) },
		"s3":   func(t *testing.T) string { return s3Server(t).newURL(t) },
	}
	return m
}

// shmDir is a temporary directory on /dev/shm when there is one: the same
// file system calls as on disk, but fsync costs nothing, which keeps the
// conformance suites (thousands of objects) at seconds.
func shmDir(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "engram-blobblocks-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newStore(t *testing.T, backend string) *blobblocks.Store {
	t.Helper()
	if backend == "mem" {
		return openOn(t, openURL(t, "mem://"), nil)
	}
	return openOn(t, openURL(t, backends(t)[backend](t)), nil)
}

func TestConformance(t *testing.T) {
	for _, backend := range []string{"mem", "file", "s3"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "s3" {
				s3Server(t)
			}
			t.Run("Blockstore", func(t *testing.T) {
				storetest.RunBlockstore(t, func(t *testing.T) engram.Blockstore { return newStore(t, backend) })
			})
			t.Run("OpHeads", func(t *testing.T) {
				storetest.RunOpHeads(t, func(t *testing.T) engram.OpHeads { return newStore(t, backend) })
			})
		})
	}
}

func opBlock(t *testing.T, s engram.Blockstore, name string) engram.CID {
	t.Helper()
	// {"op": name} in DAG-CBOR (a one-entry map, short text key and value)
	data := append([]byte{0xa1, 0x62, 'o', 'p', 0x60 + byte(len(name))}, name...)
	c := dag.SumDagCBOR(data)
	if err := s.Put(t.Context(), c, data); err != nil {
		t.Fatal(err)
	}
	return c
}

// Two writers, each with its own connection to the object store (as two
// nodes have), race to extend their own chain of heads; every step
// supersedes the writer's previous head. Without conditional creates one
// writer's entry would overwrite the other's and its head would vanish (or
// a superseded head would come back).
func TestTwoWritersRacingLoseNothing(t *testing.T) {
	for _, backend := range []string{"file", "s3"} {
		t.Run(backend, func(t *testing.T) {
			url := backends(t)[backend](t)
			const steps = 40
			nodes := []*blobblocks.Store{openOn(t, openURL(t, url), nil), openOn(t, openURL(t, url), nil)}
			chains := make([][]engram.CID, len(nodes))
			for i, n := range nodes {
				for s := range steps {
					chains[i] = append(chains[i], opBlock(t, n, fmt.Sprintf("n%d-%d", i, s)))
				}
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, len(nodes))
			for i, n := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					var prev []engram.CID
					for _, c := range chains[i] {
						if err := n.Update(context.Background(), c, prev); err != nil {
							errs <- err
							return
						}
						prev = []engram.CID{c}
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			want := []engram.CID{chains[0][steps-1], chains[1][steps-1]}
			slices.SortFunc(want, engram.CID.Compare)
			for i, n := range nodes {
				got, err := n.Current(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("node %d sees heads %v, want the two chain ends %v", i, got, want)
				}
			}
			// A third node, starting cold, sees the same.
			if got, err := openOn(t, openURL(t, url), nil).Current(t.Context()); err != nil || !slices.Equal(got, want) {
				t.Fatalf("a new node sees heads %v, %v; want %v", got, err, want)
			}
		})
	}
}

// A node that last saw entry 1 writes entry 2 after the other node has
// moved the chain to 10 and deleted the old entries, 2 among them. Its
// conditional create succeeds (the key is free again), so it must notice
// that the chain went on without it and apply its update to the newest set.
func TestStaleWriterReusingADeletedEntryLosesNothing(t *testing.T) {
	b := openURL(t, "file://"+t.TempDir())
	a := openOn(t, b, &blobblocks.Options{KeepHeads: 2})
	stale := openOn(t, b, &blobblocks.Options{KeepHeads: 2})
	first := opBlock(t, a, "first")
	if err := stale.Update(t.Context(), first, nil); err != nil { // stale caches entry 1
		t.Fatal(err)
	}
	var last engram.CID
	for i := range 9 {
		c := opBlock(t, a, fmt.Sprintf("a%d", i))
		if err := a.Update(t.Context(), c, []engram.CID{last}); err != nil {
			t.Fatal(err)
		}
		last = c
	}
	if _, err := b.Stat(t.Context(), "heads/00000000000000000002"); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("entry 2 should have been deleted as old: %v", err)
	}
	mine := opBlock(t, stale, "stale")
	if err := stale.Update(t.Context(), mine, nil); err != nil {
		t.Fatal(err)
	}
	want := []engram.CID{first, last, mine}
	slices.SortFunc(want, engram.CID.Compare)
	got, err := a.Current(t.Context())
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("heads %v, %v; want %v (the stale writer's head lost?)", got, err, want)
	}
	if _, err := b.Stat(t.Context(), "heads/00000000000000000002"); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("the stale writer's stray entry 2 was left behind: %v", err)
	}
}

func TestOldHeadEntriesAreDeleted(t *testing.T) {
	b := openURL(t, "mem://")
	s := openOn(t, b, &blobblocks.Options{KeepHeads: 4})
	var prev []engram.CID
	for i := range 21 {
		c := opBlock(t, s, fmt.Sprintf("op%d", i))
		if err := s.Update(t.Context(), c, prev); err != nil {
			t.Fatal(err)
		}
		prev = []engram.CID{c}
	}
	page, err := b.List(t.Context(), engram.BlobListOptions{Prefix: "heads/"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range page.Items {
		keys = append(keys, strings.TrimLeft(strings.TrimPrefix(it.Key, "heads/"), "0"))
	}
	// Entry 20 pruned up to 16; 21 is new.
	if want := []string{"17", "18", "19", "20", "21"}; !slices.Equal(keys, want) {
		t.Fatalf("heads entries kept: %v, want %v", keys, want)
	}
	if got, _ := s.Current(t.Context()); !slices.Equal(got, prev) {
		t.Fatalf("heads %v, want %v", got, prev)
	}
}

// fileStore returns a Store on a file:// directory and the directory.
func fileStore(t *testing.T) (*blobblocks.Store, string) {
	dir := t.TempDir()
	return openOn(t, openURL(t, "file://"+dir), &blobblocks.Options{Name: "file://" + dir}), dir
}

func TestErrDamagedBlockIsCorruptAndPutRepairs(t *testing.T) {
	s, dir := fileStore(t)
	data := []byte("the user prefers dark mode")
	c := dag.SumRaw(data)
	if err := s.Put(t.Context(), c, data); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "objects", "blocks", fmt.Sprintf("%x", c.Bytes()))
	damaged := bytes.Clone(data)
	damaged[3] ^= 0x10
	if err := os.WriteFile(file, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(t.Context(), c)
	if !errors.Is(err, engram.ErrCorrupt) || got != nil {
		t.Fatalf("Get of a damaged block = %q, %v; want ECORRUPT and no bytes", got, err)
	}
	if !strings.Contains(err.Error(), c.String()) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the CID and the store", err)
	}
	if err := s.Put(t.Context(), c, data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), c); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after the repairing Put = %q, %v", got, err)
	}
	// An oversized object under a block key is corrupt too, and not read whole.
	if err := os.WriteFile(file, make([]byte, engram.MaxBlockSize+10), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), c); !errors.Is(err, engram.ErrCorrupt) || !strings.Contains(err.Error(), c.String()) {
		t.Fatalf("Get of an oversized block object: %v, want ECORRUPT naming %s", err, c)
	}
}

func TestErrDamagedHeadsEntryIsCorrupt(t *testing.T) {
	s, dir := fileStore(t)
	c := opBlock(t, s, "x")
	if err := s.Update(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "objects", "heads", "00000000000000000001")
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, damaged := range map[string][]byte{
		"bit flip":  bytes.Replace(body, []byte("head b"), []byte("head c"), 1),
		"truncated": body[:len(body)-10],
		"empty":     nil,
	} {
		if err := os.WriteFile(file, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		// A new node has no cached entry and must read it.
		fresh := openOn(t, openURL(t, "file://"+dir), &blobblocks.Options{Name: "file://" + dir})
		_, err := fresh.Current(t.Context())
		if !errors.Is(err, engram.ErrCorrupt) || !strings.Contains(err.Error(), "heads/00000000000000000001") {
			t.Fatalf("%s: Current = %v, want ECORRUPT naming the entry", name, err)
		}
	}
}

func TestErrNotABlockstore(t *testing.T) {
	b := openURL(t, "mem://")
	if _, err := b.Put(t.Context(), "format", strings.NewReader("backups v3\n"), engram.BlobPutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := blobblocks.Open(t.Context(), b, nil)
	if !errors.Is(err, engram.ErrCorrupt) || !strings.Contains(err.Error(), "backups v3") {
		t.Fatalf("Open of a store holding something else: %v, want ECORRUPT saying what it holds", err)
	}
	if _, err := blobblocks.Open(t.Context(), b, &blobblocks.Options{KeepHeads: 1}); engram.ErrorField(err) != "keep_heads" {
		t.Fatalf("KeepHeads 1: %v, want EINVALID naming keep_heads", err)
	}
}

func TestErrDeleteOfAHeadIsRefused(t *testing.T) {
	s := newStore(t, "mem")
	c := opBlock(t, s, "h")
	if err := s.Update(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(t.Context(), c); !errors.Is(err, engram.ErrConflict) {
		t.Fatalf("Delete of a head: %v, want ECONFLICT", err)
	}
	if ok, _ := s.Has(t.Context(), c); !ok {
		t.Fatal("the refused Delete removed the head's block")
	}
}

// readOnly is a real object store whose writes are refused, as with
// read-only credentials.
type readOnly struct{ engram.BlobStore }

var errReadOnly = &engram.Error{Code: engram.EUNAVAILABLE, Message: "writes refused (read-only credentials)"}

func (readOnly) Put(context.Context, string, io.Reader, engram.BlobPutOptions) (engram.BlobInfo, error) {
	return engram.BlobInfo{}, errReadOnly
}

func (readOnly) Delete(context.Context, string) error { return errReadOnly }

// Reading a store (pull, verify-remote) needs no write access.
func TestOpenOfAnExistingStoreOnlyReads(t *testing.T) {
	b := openURL(t, "mem://")
	s := openOn(t, b, nil)
	c := opBlock(t, s, "x")
	if err := s.Update(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	ro := openOn(t, readOnly{b}, nil)
	if got, err := ro.Current(t.Context()); err != nil || !slices.Equal(got, []engram.CID{c}) {
		t.Fatalf("Current through read-only access = %v, %v", got, err)
	}
	if rep, err := ro.Verify(t.Context(), nil); err != nil || !rep.OK() || rep.Blocks != 1 {
		t.Fatalf("Verify through read-only access = %+v, %v", rep, err)
	}
	if _, err := blobblocks.Open(t.Context(), readOnly{openURL(t, "mem://")}, nil); !errors.Is(err, errReadOnly) {
		t.Fatalf("Open of an empty store without write access: %v, want the refused write", err)
	}
}

const processSteps = 100

// chainOp is step i of writer name's chain: a DAG-CBOR {"op": "name-i"}.
func chainOp(name string, i int) engram.Block {
	op := fmt.Sprintf("%s-%d", name, i)
	data := append([]byte{0xa1, 0x62, 'o', 'p', 0x60 + byte(len(op))}, op...)
	return engram.Block{CID: dag.SumDagCBOR(data), Data: data}
}

// chainWriter runs in a child process of TestTwoProcessesRacingLoseNothing:
// it extends its own chain of heads on the store at url, each step
// superseding its previous head, and returns the exit code.
func chainWriter(url, name string) int {
	ctx := context.Background()
	b, err := blob.Open(ctx, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer b.Close()
	s, err := blobblocks.Open(ctx, b, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ops := make([]engram.Block, processSteps)
	for i := range ops {
		ops[i] = chainOp(name, i)
		if err := s.Put(ctx, ops[i].CID, ops[i].Data); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// Ready: wait for the parent's go (one byte on stdin), so both writers
	// update at the same time.
	if _, err := os.Stdin.Read(make([]byte, 1)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var prev []engram.CID
	for _, op := range ops {
		if err := s.Update(ctx, op.CID, prev); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		prev = []engram.CID{op.CID}
	}
	return 0
}

// Two processes (two nodes, each with its own cache and connection) race
// on one file:// store; each ends with exactly its last head, and no
// superseded head comes back.
func TestTwoProcessesRacingLoseNothing(t *testing.T) {
	url := "file://" + shmDir(t)
	openOn(t, openURL(t, url), nil) // creates the format object before the race
	names := []string{"p0", "p1"}
	var cmds []*exec.Cmd
	var gos []io.WriteCloser
	for _, name := range names {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BLOBBLOCKS_TEST_WRITER_URL="+url, "BLOBBLOCKS_TEST_WRITER_NAME="+name)
		cmd.Stderr = os.Stderr
		w, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, gos = append(cmds, cmd), append(gos, w)
	}
	for _, w := range gos {
		w.Write([]byte{1})
		w.Close()
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %s: %v", names[i], err)
		}
	}
	var want []engram.CID
	for _, name := range names {
		want = append(want, chainOp(name, processSteps-1).CID)
	}
	slices.SortFunc(want, engram.CID.Compare)
	if got, err := openOn(t, openURL(t, url), nil).Current(t.Context()); err != nil || !slices.Equal(got, want) {
		t.Fatalf("heads after two processes raced: %v, %v; want the two chain ends %v", got, err, want)
	}
}
