package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/backup"
	"github.com/engramhq/engram/blob"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("BACKUP_TEST_CHILD"); dir != "" {
		killedChild(dir)
		return
	}
	dir, err := os.MkdirTemp("", "backup-fixture-")
	if err != nil {
		panic(err)
	}
	fixture.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func chunkSet(t *testing.T, st engram.BlobStore) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	after := ""
	for {
		page, err := st.List(context.Background(), engram.BlobListOptions{Prefix: "chunks/", After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			out[it.Key] = true
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}

// A chunk replaced by other bytes and one deleted are both reported by key
// by Verify, and Restore refuses the backup naming the first, leaving the
// target directory absent.
func TestDamagedChunkReportedAndRefused(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			m, _, err := backup.Create(ctx, st, []backup.Source{{Name: "data.bin", Path: writeFile(t, randomBytes(3, 1<<20))}}, testOpts())
			if err != nil {
				t.Fatal(err)
			}
			if rep, err := backup.Verify(ctx, st, m.ID, nil); err != nil || len(rep.Problems) != 0 || rep.Bytes != m.Size() {
				t.Fatalf("verify of an intact backup: %+v %v", rep, err)
			}
			cs := m.Files[0].Chunks
			damaged, missing := backup.ChunkKey(cs[3].SHA256), backup.ChunkKey(cs[7].SHA256)
			if _, err := st.Put(ctx, damaged, strings.NewReader("r not the chunk"), engram.BlobPutOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(ctx, missing); err != nil {
				t.Fatal(err)
			}
			rep, err := backup.Verify(ctx, st, m.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 2 || !strings.Contains(rep.Problems[0], damaged) || !strings.Contains(rep.Problems[1], missing) ||
				!strings.Contains(rep.Problems[1], "missing") {
				t.Fatalf("verify problems %q; want %s damaged and %s missing", rep.Problems, damaged, missing)
			}
			dir := filepath.Join(t.TempDir(), "restored")
			_, err = backup.Restore(ctx, st, m.ID, dir, nil)
			var e *engram.Error
			if !errors.As(err, &e) || e.Code != engram.ECORRUPT || !strings.Contains(err.Error(), damaged) {
				t.Fatalf("restore of a damaged backup: %v; want ECORRUPT naming %s", err, damaged)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("restore left %s: %v", dir, err)
			}
			if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 0 {
				t.Fatalf("restore left %d entries beside the target", len(ents))
			}
		})
	}
}

func TestErrRestoreIntoNonEmptyDir(t *testing.T) {
	ctx := context.Background()
	st := stores(t)["mem"](t)
	m, _, err := backup.Create(ctx, st, []backup.Source{{Name: "data.bin", Path: writeFile(t, randomBytes(4, 100<<10))}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "engram.db"), []byte("live data"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = backup.Restore(ctx, st, m.ID, dir, nil)
	var e *engram.Error
	if !errors.As(err, &e) || e.Code != engram.EINVALID || e.Field != "dir" {
		t.Fatalf("restore into a non-empty directory: %v; want EINVALID naming dir", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "engram.db")); string(b) != "live data" {
		t.Fatal("restore touched the existing file")
	}
}

func TestErrDamagedManifestNamed(t *testing.T) {
	ctx := context.Background()
	st := stores(t)["mem"](t)
	m, _, err := backup.Create(ctx, st, []backup.Source{{Name: "data.bin", Path: writeFile(t, randomBytes(5, 100<<10))}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, backup.ManifestKey(m.ID), strings.NewReader(`r{"format":1,"id":`), engram.BlobPutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = backup.Verify(ctx, st, m.ID, nil)
	var e *engram.Error
	if !errors.As(err, &e) || e.Code != engram.ECORRUPT || !strings.Contains(err.Error(), backup.ManifestKey(m.ID)) {
		t.Fatalf("verify with a damaged manifest: %v; want ECORRUPT naming it", err)
	}
}

const killData = 4 << 20

// killedChild runs a create into a file:// store and, half-way through,
// says so on stdout and waits to be killed.
func killedChild(dir string) {
	st, err := blob.OpenFile(filepath.Join(dir, "store"), nil)
	if err != nil {
		panic(err)
	}
	o := testOpts()
	o.Progress = func(p backup.Progress) {
		if p.Done >= p.Total/2 {
			os.Stdout.WriteString("half\n")
			select {} // until SIGKILL
		}
	}
	_, _, err = backup.Create(context.Background(), st, []backup.Source{{Name: "data.bin", Path: filepath.Join(dir, "data.bin")}}, o)
	panic(err)
}

// A create killed half-way leaves chunks and no manifest; the next create
// reuses those chunks, completes, and its backup restores.
func TestKilledCreateIsCompletedByTheNext(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := randomBytes(6, killData)
	if err := os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "BACKUP_TEST_CHILD="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "half\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	st, err := blob.OpenFile(filepath.Join(dir, "store"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ms, err := backup.List(ctx, st); err != nil || len(ms) != 0 {
		t.Fatalf("after the kill: %d backups, %v; want none", len(ms), err)
	}
	left := len(chunkSet(t, st))
	if left == 0 {
		t.Fatal("the killed create stored no chunks")
	}
	m, stats, err := backup.Create(ctx, st, []backup.Source{{Name: "data.bin", Path: filepath.Join(dir, "data.bin")}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if stats.NewChunks+left != stats.Chunks || stats.ReusedBytes == 0 {
		t.Fatalf("second create: %+v with %d chunks left by the first; want those reused, the rest new", stats, left)
	}
	restored := filepath.Join(t.TempDir(), "r")
	if _, err := backup.Restore(ctx, st, m.ID, restored, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(restored, "data.bin")); !bytes.Equal(got, data) {
		t.Fatal("restored file differs")
	}
}

// Prune keeps the newest backups whole (they verify and restore) and
// removes exactly the chunks no kept manifest names.
func TestPruneKeepsWhatKeptBackupsNeed(t *testing.T) {
	ctx := context.Background()
	st := stores(t)["file"](t)
	data := randomBytes(7, 1<<20)
	var ms []*backup.Manifest
	for i := range 3 {
		data = append(data[:len(data)/2:len(data)/2], append(randomBytes(uint64(10+i), 64<<10), data[len(data)/2:]...)...)
		m, _, err := backup.Create(ctx, st, []backup.Source{{Name: "data.bin", Path: writeFile(t, data)}}, testOpts())
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	rep, err := backup.Prune(ctx, st, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Removed) != 1 || rep.Removed[0] != ms[0].ID || len(rep.Kept) != 2 || rep.ChunksRemoved == 0 || rep.ChunksDeferred {
		t.Fatalf("prune: %+v", rep)
	}
	want := map[string]bool{}
	for _, m := range ms[1:] {
		for _, c := range m.Files[0].Chunks {
			want[backup.ChunkKey(c.SHA256)] = true
		}
	}
	got := chunkSet(t, st)
	if len(got) != len(want) {
		t.Fatalf("%d chunks after prune; the kept backups name %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("prune removed %s, which a kept backup needs", k)
		}
	}
	for _, m := range ms[1:] {
		if rep, err := backup.Verify(ctx, st, m.ID, nil); err != nil || len(rep.Problems) > 0 {
			t.Fatalf("verify %s after prune: %v %v", m.ID, rep, err)
		}
	}
	if _, err := backup.Verify(ctx, st, ms[0].ID, nil); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("verify of a pruned backup: %v; want not found", err)
	}
}

// A prune that sees a create in progress removes no chunk (the create may
// be about to name one it found stored); a create that sees a prune running
// gives up. A create's lock older than StaleAfter is a killed one's.
func TestPruneAndCreateExcludeEachOther(t *testing.T) {
	ctx := context.Background()
	st := stores(t)["mem"](t)
	m1, _, err := backup.Create(ctx, st, []backup.Source{{Name: "a", Path: writeFile(t, randomBytes(8, 256<<10))}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	m2, _, err := backup.Create(ctx, st, []backup.Source{{Name: "a", Path: writeFile(t, randomBytes(9, 256<<10))}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	// A create paused at its first chunk, holding its lock.
	paused, resume, done := make(chan struct{}), make(chan struct{}), make(chan error)
	o := testOpts()
	once := false
	o.Progress = func(backup.Progress) {
		if !once {
			once = true
			close(paused)
			<-resume
		}
	}
	go func() {
		_, _, err := backup.Create(ctx, st, []backup.Source{{Name: "a", Path: writeFile(t, randomBytes(8, 256<<10))}}, o)
		done <- err
	}()
	<-paused
	before := len(chunkSet(t, st))
	rep, err := backup.Prune(ctx, st, 1, nil)
	if err != nil {
		close(resume)
		<-done
		t.Fatal(err)
	}
	if !rep.ChunksDeferred || rep.ChunksRemoved != 0 || len(rep.Removed) != 1 || rep.Removed[0] != m1.ID {
		t.Errorf("prune during a create: %+v; want the manifest removed and chunks deferred", rep)
	}
	if after := len(chunkSet(t, st)); after != before {
		t.Errorf("prune during a create: %d chunks before, %d after", before, after)
	}
	// A prune far in the future takes the paused create's lock for stale.
	later := &backup.Options{Now: func() time.Time { return time.Now().Add(2 * backup.DefaultStaleAfter) }}
	rep, err = backup.Prune(ctx, st, 1, later)
	if err != nil || rep.ChunksDeferred || len(rep.StaleLocks) != 1 {
		t.Errorf("prune with a stale create lock: %+v %v", rep, err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = m2

	// A running prune (its lock present) makes a create give up.
	if _, err := st.Put(ctx, "locks/prune", strings.NewReader(`{}`), engram.BlobPutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = backup.Create(ctx, st, []backup.Source{{Name: "a", Path: writeFile(t, randomBytes(8, 1<<10))}}, testOpts())
	var e *engram.Error
	if !errors.As(err, &e) || e.Code != engram.ELOCKED {
		t.Fatalf("create during a prune: %v; want ELOCKED", err)
	}
	if _, err := backup.Prune(ctx, st, 1, nil); !errors.As(err, &e) || e.Code != engram.ELOCKED {
		t.Fatalf("prune during a prune: %v; want ELOCKED", err)
	}
}
