package blockstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/engramhq/engram"
	bolt "go.etcd.io/bbolt"
)

// blockSpans returns, through bbolt, where each block's key and value lie in
// the file (start of the key, end of the value), and the first pages of the
// file's branch and leaf pages (whose headers are bbolt's, not data).
func blockSpans(t *testing.T, path string) (spans map[engram.CID][2]int64, headers []int64, ps int, used int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := db.Info().Data
	ps = db.Info().PageSize
	spans = make(map[engram.CID][2]int64)
	err = db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			c, err := engram.CIDFromBytes(k)
			if err != nil {
				return err
			}
			start := int64(uintptr(unsafe.Pointer(&k[0])) - base)
			spans[c] = [2]int64{start, start + int64(len(k)+len(v))}
			return nil
		})
		if err != nil {
			return err
		}
		used = tx.Size()
		for id := 2; id < int(tx.Size())/ps; {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				id++
				continue
			}
			if info.Type == "leaf" || info.Type == "branch" {
				headers = append(headers, int64(id))
			}
			id += 1 + info.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return spans, headers, ps, used
}

// TestSalvage damages a real file (truncation, page headers of every leaf
// and branch page scrambled, the tree's pages zeroed) and salvages it: every
// block whose own bytes are intact must be in the new file (checked by its
// CID), nothing else, and the new file must verify.
func TestSalvage(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 9))
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	buildDamageFile(t, orig)
	spans, headers, ps, used := blockSpans(t, orig)
	clean, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	blocks, op := damageCorpus()
	all := map[engram.CID][]byte{op.CID: op.Data}
	for _, b := range blocks {
		all[b.CID] = b.Data
	}
	if len(spans) != len(all) {
		t.Fatalf("%d blocks in the file, %d in the corpus", len(spans), len(all))
	}

	for _, tc := range []struct {
		name    string
		damage  func(d []byte) []byte
		intact  func(c engram.CID) bool
		wantAll bool // heads and pins too
	}{
		{"Intact", func(d []byte) []byte { return d }, func(engram.CID) bool { return true }, true},
		{"Truncated", func(d []byte) []byte {
			return d[:used/2+rng.Int64N(used/2)]
		}, nil, false},
		{"PageHeadersScrambled", func(d []byte) []byte {
			for _, pg := range headers {
				for i := range 16 {
					d[pg*int64(ps)+int64(i)] ^= byte(rng.Uint32())
				}
			}
			return d
		}, func(engram.CID) bool { return true }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged := tc.damage(bytes.Clone(clean))
			src := filepath.Join(t.TempDir(), "blocks.db")
			if err := os.WriteFile(src, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			intact := tc.intact
			if intact == nil {
				intact = func(c engram.CID) bool { return spans[c][1] <= int64(len(damaged)) }
			}
			dst := filepath.Join(t.TempDir(), "salvaged.db")
			var calls int
			rep, err := Salvage(ctx, src, dst, func(done, total int64) { calls++ })
			if err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			t.Logf("%+v", rep)
			if calls == 0 {
				t.Error("progress was never reported")
			}
			s := openAt(t, dst)
			want := 0
			for c, data := range all {
				got, err := s.Get(ctx, c)
				switch {
				case err == nil && !bytes.Equal(got, data):
					t.Fatalf("block %s: wrong bytes", c)
				case err != nil && intact(c):
					t.Errorf("intact block %s (bytes %d-%d of %d) not salvaged: %v", c, spans[c][0], spans[c][1], len(damaged), err)
				}
				if intact(c) {
					want++
				}
			}
			if rep.Blocks < want || rep.Blocks > len(all) {
				t.Fatalf("salvaged %d blocks; %d were intact, %d stored", rep.Blocks, want, len(all))
			}
			// The new file is sound; only links to blocks that were lost
			// may dangle, and the report lists them.
			vr, err := s.Verify(ctx)
			if err != nil || len(vr.Corrupt) != 0 || len(vr.Structure) != 0 || len(vr.Missing) != len(rep.Missing) {
				t.Fatalf("the salvaged file does not verify: %+v, %v", vr, err)
			}
			for _, m := range vr.Missing {
				if intact(m.CID) {
					t.Fatalf("%s is missing from the salvaged file but was intact", m.CID)
				}
			}
			heads, _ := s.Current(ctx)
			pins, _ := s.Pins(ctx)
			if tc.wantAll && (len(heads) != 1 || heads[0] != op.CID || len(pins) != 1 || rep.Tree != "ok") {
				t.Fatalf("heads %v, pins %v, tree %q; want the op as head and one pin", heads, pins, rep.Tree)
			}
			if n := fmt.Sprint(rep.Heads + rep.HeadsDropped); tc.wantAll && n != "1" {
				t.Fatalf("%s heads found", n)
			}
		})
	}
	t.Run("RefusesAnExistingDestination", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "exists.db")
		if err := os.WriteFile(dst, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Salvage(ctx, orig, dst, nil); engram.ErrorCode(err) != engram.EINVALID {
			t.Fatalf("Salvage over an existing file: %v; want EINVALID", err)
		}
		if b, _ := os.ReadFile(dst); string(b) != "keep me" {
			t.Fatal("the existing file was changed")
		}
	})
}
