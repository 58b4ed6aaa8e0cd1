package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/fxamacker/cbor/v2"
	bolt "go.etcd.io/bbolt"
)

type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs engram in-process, as main does, on dataDir and reports what
// a user would see.
func runCLI(t *testing.T, dataDir, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"--data-dir", dataDir}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func mustRun(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	r := runCLI(t, dir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("engram %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func mustFail(t *testing.T, dir, stdin string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, dir, stdin, args...)
	if r.code != 1 {
		t.Fatalf("engram %s: exit %d, want 1 (stdout %q)", strings.Join(args, " "), r.code, r.stdout)
	}
	if lines := strings.Count(r.stderr, "\n"); lines != 1 || !strings.HasPrefix(r.stderr, "engram: ") {
		t.Fatalf("engram %s: stderr %q, want one line", strings.Join(args, " "), r.stderr)
	}
	return r
}

// oneJSON decodes out as exactly one JSON document.
func oneJSON(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("output %q holds more than one JSON document", out)
	}
}

func TestBlocksPutGetHas(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if got := mustRun(t, dir, "", "blocks", "has", dag.SumRaw([]byte("x")).String()); got != "false\n" {
		t.Fatalf("has on a fresh data dir = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, blocksFile)); !os.IsNotExist(err) {
		t.Fatalf("a read command created the store: %v", err)
	}

	data := "hello, blocks\n"
	want := dag.SumRaw([]byte(data))
	if got := mustRun(t, dir, data, "blocks", "put"); got != want.String()+"\n" {
		t.Fatalf("put printed %q, want %s", got, want)
	}
	if got := mustRun(t, dir, "", "blocks", "get", want.String()); got != data {
		t.Fatalf("get = %q, want %q", got, data)
	}
	if got := mustRun(t, dir, "", "blocks", "has", want.String()); got != "true\n" {
		t.Fatalf("has = %q", got)
	}

	file := filepath.Join(t.TempDir(), "note.cbor")
	doc, _ := cbor.Marshal(map[string]any{"text": "a note", "prev": cbor.Tag{Number: 42, Content: append([]byte{0}, want.Bytes()...)}})
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, dir, "", "blocks", "put", "--codec", "dag-cbor", "--hash", "blake3", "-f", file, "-o", "json")
	var put struct {
		CID   engram.CID `json:"cid"`
		Codec string     `json:"codec"`
		Size  int        `json:"size"`
	}
	oneJSON(t, out, &put)
	if wantCID, _ := dag.Sum(engram.CodecDagCBOR, engram.HashBLAKE3, doc); put.CID != wantCID || put.Codec != "dag-cbor" || put.Size != len(doc) {
		t.Fatalf("put -o json = %+v, want %s", put, wantCID)
	}

	var got struct {
		Data []byte `json:"data"`
		Size int    `json:"size"`
	}
	oneJSON(t, mustRun(t, dir, "", "blocks", "get", put.CID.String(), "-o", "json"), &got)
	if !bytes.Equal(got.Data, doc) || got.Size != len(doc) {
		t.Fatalf("get -o json data %x, want %x", got.Data, doc)
	}

	t.Run("ErrNotDagCBOR", func(t *testing.T) {
		r := mustFail(t, dir, "not cbor", "blocks", "put", "--codec", "dag-cbor")
		if !strings.Contains(r.stderr, "DAG-CBOR") {
			t.Fatalf("stderr %q does not say why", r.stderr)
		}
	})
	t.Run("ErrGetMissing", func(t *testing.T) {
		missing := dag.SumRaw([]byte("absent"))
		r := mustFail(t, dir, "", "blocks", "get", missing.String())
		if !strings.Contains(r.stderr, "not found") || !strings.Contains(r.stderr, missing.String()) || r.stdout != "" {
			t.Fatalf("get of a missing block: %+v", r)
		}
	})
	t.Run("ErrBadCID", func(t *testing.T) {
		r := mustFail(t, dir, "", "blocks", "has", "bafy-not-a-cid")
		if !strings.Contains(r.stderr, "cid") {
			t.Fatalf("stderr %q", r.stderr)
		}
	})
	t.Run("ErrBadCodec", func(t *testing.T) {
		mustFail(t, dir, "x", "blocks", "put", "--codec", "dag-json")
	})
}

func TestHeadsAndGC(t *testing.T) {
	dir := t.TempDir()
	if got := mustRun(t, dir, "", "heads", "list"); got != "" {
		t.Fatalf("heads list on a fresh data dir = %q", got)
	}
	a := strings.TrimSpace(mustRun(t, dir, "op a", "blocks", "put"))
	b := strings.TrimSpace(mustRun(t, dir, "op b", "blocks", "put"))
	junk := strings.TrimSpace(mustRun(t, dir, "junk", "blocks", "put"))

	if got := mustRun(t, dir, "", "heads", "update", "--add", a); got != a+"\n" {
		t.Fatalf("heads after adding a = %q", got)
	}
	if got := mustRun(t, dir, "", "heads", "update", "--add", b, "--remove", a); got != b+"\n" {
		t.Fatalf("heads after b supersedes a = %q", got)
	}
	var heads struct{ Heads []string }
	oneJSON(t, mustRun(t, dir, "", "heads", "list", "-o", "json"), &heads)
	if len(heads.Heads) != 1 || heads.Heads[0] != b {
		t.Fatalf("heads list -o json = %+v", heads)
	}
	r := mustFail(t, dir, "", "heads", "update", "--add", dag.SumRaw([]byte("no block")).String())
	if !strings.Contains(r.stderr, "not found") {
		t.Fatalf("update naming a missing block: %q", r.stderr)
	}
	mustFail(t, dir, "", "heads", "update")

	if out := mustRun(t, dir, "", "blocks", "gc", "--dry-run"); !strings.Contains(out, "would sweep 2 blocks") {
		t.Fatalf("gc --dry-run: %q", out)
	}
	var gc struct {
		Stats struct{ Swept, Reachable int }
	}
	oneJSON(t, mustRun(t, dir, "", "blocks", "gc", "--root", a, "-o", "json"), &gc)
	if gc.Stats.Swept != 1 || gc.Stats.Reachable != 2 {
		t.Fatalf("gc --root a: %+v; want junk swept, a and b kept", gc)
	}
	if got := mustRun(t, dir, "", "blocks", "has", junk); got != "false\n" {
		t.Fatal("gc left the junk block")
	}
	if got := mustRun(t, dir, "", "blocks", "has", a); got != "true\n" {
		t.Fatal("gc swept a block kept by --root")
	}

	out := mustRun(t, dir, "", "blocks", "stat")
	if !strings.Contains(out, "blocks       2 (2 raw, 0 dag-cbor)") || !strings.Contains(out, "op heads     1") {
		t.Fatalf("stat:\n%s", out)
	}
	var st struct{ Blocks, Heads int }
	oneJSON(t, mustRun(t, dir, "", "blocks", "stat", "-o", "json"), &st)
	if st.Blocks != 2 || st.Heads != 1 {
		t.Fatalf("stat -o json: %+v", st)
	}
}

func TestBlocksVerify(t *testing.T) {
	dir := t.TempDir()
	data := strings.Repeat("verify me ", 50)
	c := strings.TrimSpace(mustRun(t, dir, data, "blocks", "put"))
	mustRun(t, dir, "", "heads", "update", "--add", c)
	if out := mustRun(t, dir, "", "blocks", "verify"); !strings.HasSuffix(out, ": ok\n") {
		t.Fatalf("verify of a sound store: %q", out)
	}

	path := filepath.Join(dir, blocksFile)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a bit in every copy: bbolt leaves stale copies in freed pages.
	n := 0
	for off := 0; ; n++ {
		i := bytes.Index(file[off:], []byte(data))
		if i < 0 {
			break
		}
		file[off+i+10] ^= 1
		off += i + len(data)
	}
	if n == 0 {
		t.Fatal("block not found in the file")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustFail(t, dir, "", "blocks", "verify")
	if !strings.Contains(r.stdout, "corrupt block "+c) || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stderr, "1 corrupt") {
		t.Fatalf("verify of a flipped block: %+v", r)
	}
	r = mustFail(t, dir, "", "blocks", "verify", "-o", "json")
	var rep struct {
		OK     bool
		Report struct{ Corrupt []struct{ Key string } }
	}
	oneJSON(t, r.stdout, &rep)
	if rep.OK || len(rep.Report.Corrupt) != 1 || rep.Report.Corrupt[0].Key != c {
		t.Fatalf("verify -o json: %+v", rep)
	}
	r = mustFail(t, dir, "", "blocks", "get", c)
	if !strings.Contains(r.stderr, "corrupt") || r.stdout != "" {
		t.Fatalf("get of a flipped block: %+v", r)
	}
}

// statNumbers replaces every run of digits in s with N.
func statNumbers(s string) string {
	var b strings.Builder
	digit := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digit {
				b.WriteByte('N')
			}
			digit = true
			continue
		}
		digit = false
		b.WriteRune(r)
	}
	return b.String()
}

// TestBlocksStatSizes checks the sizes stat prints against the file itself:
// the file's length, and the part bbolt's pages use (its high-water mark
// times its page size, read with bbolt). docs/blockstore.md shows the same
// line.
func TestBlocksStatSizes(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "the user prefers dark mode", "blocks", "put")
	path := filepath.Join(dir, "blocks.db")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	_ = db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	db.Close()
	if used >= fi.Size() {
		t.Fatalf("used %d of a %d-byte file: the test cannot tell them apart", used, fi.Size())
	}
	out := mustRun(t, dir, "", "blocks", "stat")
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "file ") {
			line = l
		}
	}
	want := fmt.Sprintf("file         %d bytes (%d in use; bbolt grows the file ahead of need)", fi.Size(), used)
	if line != want {
		t.Fatalf("stat says %q; want %q", line, want)
	}
	var st struct {
		FileBytes int64 `json:"file_bytes"`
		UsedBytes int64 `json:"used_bytes"`
	}
	oneJSON(t, mustRun(t, dir, "", "blocks", "stat", "-o", "json"), &st)
	if st.FileBytes != fi.Size() || st.UsedBytes != used {
		t.Fatalf("stat -o json: %+v; want file %d, used %d", st, fi.Size(), used)
	}
	doc, err := os.ReadFile("../../docs/blockstore.md")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "file     ") {
			found = true
			if statNumbers(l) != statNumbers(line) {
				t.Fatalf("docs/blockstore.md shows %q; stat prints %q", l, line)
			}
		}
	}
	if !found {
		t.Fatal("docs/blockstore.md has no stat example")
	}
}

// TestBlocksSalvage damages blocks.db so that every command refuses it,
// then salvages it into a new data directory and reads the blocks back.
func TestBlocksSalvage(t *testing.T) {
	dir := t.TempDir()
	var cids []string
	for i := range 30 {
		cids = append(cids, strings.TrimSpace(mustRun(t, dir, fmt.Sprintf("note %d %s", i, strings.Repeat("x", i*40)), "blocks", "put")))
	}
	mustRun(t, dir, "", "heads", "update", "--add", cids[3])
	path := filepath.Join(dir, "blocks.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	ps := int64(db.Info().PageSize)
	_ = db.View(func(tx *bolt.Tx) error {
		root = int64(tx.Bucket([]byte("blocks")).Root())
		return nil
	})
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if root < 2 {
		t.Fatal("the blocks table is inline; the test needs its own page")
	}
	if _, err := f.WriteAt([]byte{0xAB, 0xCD}, root*ps); err != nil { // the page's id
		t.Fatal(err)
	}
	f.Close()

	r := mustFail(t, dir, "", "blocks", "get", cids[0])
	if !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "engram blocks salvage") {
		t.Fatalf("get of a damaged file: %q; want the file named and the salvage command", r.stderr)
	}
	dst := filepath.Join(t.TempDir(), "new")
	out := mustRun(t, dir, "", "blocks", "salvage", path, filepath.Join(dst, "blocks.db"))
	if !strings.HasPrefix(out, "salvaged 30 blocks") || !strings.Contains(out, "op heads     1 copied, 0 dropped") {
		t.Fatalf("salvage printed:\n%s", out)
	}
	for i, c := range cids {
		if got := mustRun(t, dst, "", "blocks", "get", c); got != fmt.Sprintf("note %d %s", i, strings.Repeat("x", i*40)) {
			t.Fatalf("block %d after salvage: %q", i, got)
		}
	}
	mustRun(t, dst, "", "blocks", "verify")
	if r := mustFail(t, dir, "", "blocks", "salvage", path, filepath.Join(dst, "blocks.db")); !strings.Contains(r.stderr, "exists") {
		t.Fatalf("salvage over an existing file: %q", r.stderr)
	}
}
