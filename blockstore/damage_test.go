package blockstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/storetest"
	bolt "go.etcd.io/bbolt"
)

// damageCorpus is the same set of blocks every time: small ones (many to a
// leaf page), large ones (overflow pages), and an op linking some of them.
func damageCorpus() (blocks []engram.Block, op engram.Block) {
	rng := rand.New(rand.NewPCG(7, 7))
	var links []any
	for i := range 120 {
		n := 1 + rng.IntN(300)
		if i%15 == 0 {
			n = 5000 + rng.IntN(20000)
		}
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		b := engram.Block{CID: dag.SumRaw(data), Data: data}
		blocks = append(blocks, b)
		if i%10 == 0 {
			links = append(links, storetest.Link(b.CID))
		}
	}
	return blocks, opBlock(map[string]any{"leaves": links})
}

// buildDamageFile writes the corpus in several transactions: two PutManys,
// the op with its head, and a pin last.
func buildDamageFile(t *testing.T, path string) {
	t.Helper()
	blocks, op := damageCorpus()
	s := openAt(t, path)
	put(t, s, blocks[:60]...)
	put(t, s, blocks[60:]...)
	put(t, s, op)
	if err := s.Update(ctx, op.CID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, blocks[1].CID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// damageResult is what childDamaged saw, as JSON on its standard output.
type damageResult struct {
	Errors   []string // "code: message" of every failed call but a get of a missing block
	Missing  int      // gets that found no block
	Wrong    int      // gets that returned bytes other than the block's: never allowed
	Got      int      // gets that returned the block
	VerifyOK *bool    // nil: verify did not run
}

// childDamaged opens a damaged file read-only, gets every block of the
// corpus and verifies the file, then opens it for writing and puts a block:
// everything the CLI's commands do. A panic or memory fault kills it.
func childDamaged(path string) error {
	var r damageResult
	fail := func(what string, err error) {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %s: %v", engram.ErrorCode(err), what, err))
	}
	blocks, op := damageCorpus()
	if s, err := OpenOrInit(path, &Options{ReadOnly: true}); err != nil {
		fail("open read-only", err)
	} else {
		if _, err := s.Stat(ctx); err != nil {
			fail("stat", err)
		}
		for _, b := range append(blocks, op) {
			got, err := s.Get(ctx, b.CID)
			switch {
			case errors.Is(err, engram.ErrNotFound):
				r.Missing++
			case err != nil:
				fail("get", err)
			case !bytes.Equal(got, b.Data):
				r.Wrong++
			default:
				r.Got++
			}
		}
		if _, err := s.Current(ctx); err != nil {
			fail("heads", err)
		}
		rep, err := s.Verify(ctx)
		if err != nil {
			fail("verify", err)
		} else {
			ok := rep.OK()
			r.VerifyOK = &ok
		}
		_ = s.Close()
	}
	if s, err := OpenOrInit(path, nil); err != nil {
		fail("open", err)
	} else {
		b := engram.Block{CID: dag.SumRaw([]byte("written after the damage")), Data: []byte("written after the damage")}
		if err := s.Put(ctx, b.CID, b.Data); err != nil {
			fail("put", err)
		} else if got, err := s.Get(ctx, b.CID); err != nil || !bytes.Equal(got, b.Data) {
			fail("get after put", fmt.Errorf("%q, %w", got, err))
		}
		_ = s.Close()
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// TestDamagedFileNeverCrashes damages a real file at seeded random places
// (truncations at many offsets, flipped bytes in page headers and in the
// meta pages) and runs every operation on it in a child process. The child
// must never die of a panic or a memory fault; every failure must be an
// ECORRUPT error naming the file and suggesting salvage; a get returns the
// block or nothing, never other bytes; and a block that went missing is
// always reported: by an error or by verify.
func TestDamagedFileNeverCrashes(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	buildDamageFile(t, orig)
	clean, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(orig, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ps := db.Info().PageSize
	var used int
	_ = db.View(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil })
	db.Close()
	t.Logf("file of %d bytes, %d in use (%d pages)", len(clean), used, used/ps)

	type damage struct {
		what    string
		data    []byte
		mustErr bool // the damage must be reported
	}
	var cases []damage
	rounds := 15
	if testing.Short() {
		rounds = 6
	}
	// bbolt grows the file 16 MiB ahead; beyond the pages in use it holds
	// nothing, and copying it for every case only costs time.
	clean = clean[:used]
	for range rounds {
		n := 1 + rng.IntN(used-1)
		cases = append(cases, damage{fmt.Sprintf("truncated to %d bytes", n), clean[:n], true})
	}
	for range rounds {
		d := bytes.Clone(clean)
		pg := 2 + rng.IntN(used/ps-2)
		off := pg*ps + rng.IntN(16)
		d[off] ^= byte(1 + rng.IntN(255))
		cases = append(cases, damage{fmt.Sprintf("page %d header byte %d flipped", pg, off-pg*ps), d, false})
	}
	for i := range 2 * rounds / 3 {
		d := bytes.Clone(clean)
		pg := i % 2
		off := pg*ps + 16 + rng.IntN(64)
		d[off] ^= byte(1 + rng.IntN(255))
		cases = append(cases, damage{fmt.Sprintf("meta page %d byte %d flipped", pg, off-pg*ps), d, true})
	}

	reported := 0
	for i, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("damaged%d.db", i))
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := child(t, "damaged", path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			var exit *exec.ExitError
			errors.As(err, &exit)
			t.Fatalf("%s: the child died (%v):\n%s", c.what, err, stderr.String())
		}
		var r damageResult
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: child printed %q: %v", c.what, out, err)
		}
		for _, e := range r.Errors {
			// A damaged block is repaired by putting it again; damage to
			// the file itself needs salvage.
			if !strings.HasPrefix(e, engram.ECORRUPT+":") || !strings.Contains(e, path) ||
				!strings.Contains(e, "engram blocks salvage") && !strings.Contains(e, "putting its bytes again") {
				t.Fatalf("%s: error %q; want ECORRUPT naming %s and the salvage command", c.what, e, path)
			}
		}
		if r.Wrong > 0 {
			t.Fatalf("%s: %d gets returned wrong bytes", c.what, r.Wrong)
		}
		flagged := len(r.Errors) > 0 || (r.VerifyOK != nil && !*r.VerifyOK)
		if (c.mustErr || r.Missing > 0) && !flagged {
			t.Fatalf("%s: nothing reported the damage (%d blocks missing): %+v", c.what, r.Missing, r)
		}
		if strings.HasPrefix(c.what, "truncated") && len(r.Errors) == 0 {
			t.Fatalf("%s: opened without an error", c.what)
		}
		if flagged {
			reported++
		}
		_ = os.Remove(path)
	}
	t.Logf("%d damaged files, %d reported as damaged", len(cases), reported)
}

// TestVerifyReportsARolledBackTransaction flips a byte in the newer meta
// page. bbolt then opens the file as it was one transaction earlier (the
// pin, committed last, is gone); Verify must say so.
func TestVerifyReportsARolledBackTransaction(t *testing.T) {
	orig := filepath.Join(t.TempDir(), "orig.db")
	buildDamageFile(t, orig)
	clean, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "blocks.db")
	if err := os.WriteFile(path, clean, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ps := db.Info().PageSize
	var txid int
	_ = db.View(func(tx *bolt.Tx) error { txid = tx.ID(); return nil })
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	newer := int64(txid%2) * int64(ps)                              // bbolt writes the meta of transaction t to page t%2
	if _, err := f.WriteAt([]byte{0xFF}, newer+16+20); err != nil { // inside the root bucket's sequence
		t.Fatal(err)
	}
	f.Close()

	s, err := OpenOrInit(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blocks, _ := damageCorpus()
	if pins, err := s.Pins(ctx); err != nil || len(pins) != 0 {
		t.Fatalf("pins %v, %v: the damage did not roll the last transaction back", pins, err)
	}
	if ok, _ := s.Has(ctx, blocks[0].CID); !ok {
		t.Fatal("earlier transactions are gone too")
	}
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Structure) != 1 || !strings.Contains(rep.Structure[0], "rolled back") {
		t.Fatalf("Verify structure %q; want the lost transaction reported", rep.Structure)
	}
}

// TestCreateOnAFullDisk creates a store on a file system with too little
// room for it. The open fails with ENOSPACE and leaves no blocks.db (nor a
// temporary file) behind, so once there is room the next open creates a
// sound store, instead of finding a half-written file.
func TestCreateOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: cannot mount a tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	if err := f.Truncate(56 << 10); err != nil { // leave 8 KiB: two of the four pages bbolt writes first
		t.Fatal(err)
	}
	f.Close()

	path := filepath.Join(dir, "blocks.db")
	s, err := OpenOrInit(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("OpenOrInit succeeded on a full disk")
	}
	if !errors.Is(err, engram.ErrNoSpace) {
		t.Fatalf("OpenOrInit on a full disk: %v; want ENOSPACE", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Fatalf("a failed creation left %v behind", names)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	b := rawBlock("after the disk had room again")
	put(t, s, b)
	if got, err := s.Get(ctx, b.CID); err != nil || !bytes.Equal(got, b.Data) {
		t.Fatalf("Get: %q, %v", got, err)
	}
}
