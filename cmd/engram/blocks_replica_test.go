package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/blobblocks"
	"github.com/engramhq/engram/blockstore"
	"github.com/engramhq/engram/dag"
	"github.com/fxamacker/cbor/v2"
)

// In a child process started by TestBlocksPushResumesAfterSIGKILL, push
// stops after ENGRAM_TEST_PUSH_STALL_AFTER blocks, says so on stderr and
// waits to be killed.
func init() {
	n, err := strconv.Atoi(os.Getenv("ENGRAM_TEST_PUSH_STALL_AFTER"))
	if err != nil {
		return
	}
	replicaProgressHook = func(p blobblocks.Progress) {
		if p.Blocks >= int64(n) {
			fmt.Fprintf(os.Stderr, "stalled after %d blocks\n", p.Blocks)
			select {} // until SIGKILL
		}
	}
}

// fillBlocks writes n operations (each linking its parent and a raw note)
// into dir's blocks.db, makes the last the head, and returns it and the
// number of blocks.
func fillBlocks(t *testing.T, dir string, n int) (engram.CID, int) {
	t.Helper()
	s, err := blockstore.OpenOrInit(filepath.Join(dir, blocksFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var blocks []engram.Block
	var parent engram.CID
	for i := range n {
		note := []byte(fmt.Sprintf("note %d of %s", i, dir))
		nc := dag.SumRaw(note)
		op := map[string]any{"n": i, "note": cbor.Tag{Number: 42, Content: append([]byte{0}, nc.Bytes()...)}}
		if parent.Defined() {
			op["parent"] = cbor.Tag{Number: 42, Content: append([]byte{0}, parent.Bytes()...)}
		}
		data, err := cbor.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		parent = dag.SumDagCBOR(data)
		blocks = append(blocks, engram.Block{CID: nc, Data: note}, engram.Block{CID: parent, Data: data})
	}
	if err := s.PutMany(t.Context(), blocks); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(t.Context(), parent, nil); err != nil {
		t.Fatal(err)
	}
	return parent, len(blocks)
}

type replicaJSON struct {
	URL   string                    `json:"url"`
	Stats blobblocks.ReplicateStats `json:"stats"`
}

type verifyRemoteJSON struct {
	OK     bool                    `json:"ok"`
	Report blobblocks.VerifyReport `json:"report"`
}

// countRemote counts block objects and reads the heads of the store at url.
func countRemote(t *testing.T, url string) (int, []engram.CID) {
	t.Helper()
	b, err := blob.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := blobblocks.Open(t.Context(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range s.AllCIDs(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	h, err := s.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n, h
}

// A push killed with SIGKILL part way leaves the remote with some blocks
// and no heads; the next push copies only the rest, and the remote then
// passes verify and pulls into a store equal to the source.
func TestBlocksPushResumesAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	head, total := fillBlocks(t, dir, 150)
	url := "file://" + t.TempDir()

	child := exec.Command(os.Args[0], "--data-dir", dir, "blocks", "push", url)
	child.Env = append(os.Environ(), "ENGRAM_TEST_EXEC_MAIN=1", "ENGRAM_TEST_PUSH_STALL_AFTER=40")
	stderr, err := child.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	stalled := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "stalled after") {
			stalled = true
			break
		}
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	child.Wait()
	if !stalled {
		t.Fatalf("the child push ended without reaching 40 blocks: %v", sc.Err())
	}
	copied, heads := countRemote(t, url)
	if copied < 40 || copied >= total || len(heads) != 0 {
		t.Fatalf("after the kill the remote holds %d of %d blocks and heads %v; want some blocks and no heads", copied, total, heads)
	}

	var res replicaJSON
	oneJSON(t, mustRun(t, dir, "", "-o", "json", "blocks", "push", url), &res)
	if res.Stats.Present != int64(copied) || res.Stats.Blocks != int64(total-copied) || res.Stats.HeadsAdded != 1 {
		t.Fatalf("resumed push: %+v; want %d present, %d copied, 1 head added", res.Stats, copied, total-copied)
	}
	var ver verifyRemoteJSON
	oneJSON(t, mustRun(t, dir, "", "-o", "json", "blocks", "verify-remote", url), &ver)
	if !ver.OK || ver.Report.Blocks != total || ver.Report.Heads != 1 {
		t.Fatalf("verify-remote after the resumed push: %+v", ver)
	}

	other := t.TempDir()
	out := mustRun(t, other, "", "blocks", "pull", url)
	if want := fmt.Sprintf("pulled %d blocks", total); !strings.HasPrefix(out, want) || !strings.Contains(out, "head "+head.String()) {
		t.Fatalf("pull printed %q, want %q... and head %s", out, want, head)
	}
	if out := mustRun(t, other, "", "blocks", "verify"); !strings.Contains(out, fmt.Sprintf("verified %d blocks", total)) || !strings.Contains(out, "1 op heads") {
		t.Fatalf("verify of the pulled store: %q", out)
	}
}

func TestBlocksPushSummaryAndErrors(t *testing.T) {
	dir := t.TempDir()
	_, total := fillBlocks(t, dir, 3)
	remoteDir := t.TempDir()
	url := "file://" + remoteDir
	out := mustRun(t, dir, "", "blocks", "push", url)
	if want := fmt.Sprintf("pushed %d blocks (", total); !strings.HasPrefix(out, want) || !strings.Contains(out, "op heads: 1 added, 0 superseded; now 1") {
		t.Fatalf("push printed %q", out)
	}
	if out := mustRun(t, dir, "", "blocks", "push", url); !strings.HasPrefix(out, fmt.Sprintf("pushed 0 blocks (0 bytes) to %s; %d already there", url, total)) {
		t.Fatalf("second push printed %q", out)
	}

	r := mustFail(t, dir, "", "blocks", "push", "ftp://host/x")
	if !strings.Contains(r.stderr, "url") {
		t.Fatalf("push to a bad URL: %q, want an error naming the url", r.stderr)
	}
	r = mustFail(t, t.TempDir(), "", "blocks", "push", url) // no blocks.db
	if !strings.Contains(r.stderr, blocksFile) {
		t.Fatalf("push without a blocks file: %q", r.stderr)
	}

	// Damage one block object of the remote: verify-remote names it and exits 1.
	var victim string
	entries, err := os.ReadDir(filepath.Join(remoteDir, "objects", "blocks"))
	if err != nil || len(entries) != total {
		t.Fatalf("remote block objects: %d, %v", len(entries), err)
	}
	victim = filepath.Join(remoteDir, "objects", "blocks", entries[0].Name())
	if err := os.WriteFile(victim, []byte("not the block"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustFail(t, dir, "", "blocks", "verify-remote", url)
	if !strings.Contains(r.stdout, "corrupt b") || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stderr, "1 corrupt") {
		t.Fatalf("verify-remote of a damaged remote: stdout %q stderr %q", r.stdout, r.stderr)
	}
	// Pulling from it fails naming the block; once the damaged object is
	// removed, a push puts it back.
	r = mustFail(t, t.TempDir(), "", "blocks", "pull", url)
	if !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("pull of a damaged remote: %q", r.stderr)
	}
	os.Remove(victim)
	mustRun(t, dir, "", "blocks", "push", url)
	if out := mustRun(t, dir, "", "blocks", "verify-remote", url); !strings.Contains(out, ": ok") {
		t.Fatalf("verify-remote after a repairing push: %q", out)
	}
}

// openPTY returns a pseudo-terminal's two ends: what is written to term
// shows up on master.
func openPTY(t *testing.T) (master, term *os.File) {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: "+format, args...)
		}
		t.Skipf(format, args...)
	}
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		skip("no pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		skip("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		skip("pty number: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		skip("open pty: %v", err)
	}
	return m, s
}

// On a terminal push draws a progress bar on stderr; elsewhere (the other
// tests) stderr stays empty.
func TestBlocksPushShowsProgressOnATerminal(t *testing.T) {
	dir := t.TempDir()
	_, total := fillBlocks(t, dir, 20)
	master, tty := openPTY(t)
	defer master.Close()
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() { // owned here: ends when tty closes (EIO on master)
		defer close(done)
		io.Copy(&screen, master)
	}()
	var stdout bytes.Buffer
	code := run(context.Background(), []string{"--data-dir", dir, "blocks", "push", "file://" + t.TempDir()}, strings.NewReader(""), &stdout, tty)
	tty.Close()
	<-done
	if code != 0 {
		t.Fatalf("push exit %d: %s", code, screen.String())
	}
	if s := screen.String(); !strings.Contains(s, "push ") || !strings.Contains(s, fmt.Sprintf("/%d)", total)) {
		t.Fatalf("the terminal showed %q, want a bar of %d blocks", s, total)
	}
	if r := runCLI(t, dir, "", "blocks", "push", "file://"+t.TempDir()); r.code != 0 || r.stderr != "" {
		t.Fatalf("push to a non-terminal wrote %q to stderr (exit %d)", r.stderr, r.code)
	}
}
