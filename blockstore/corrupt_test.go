package blockstore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/storetest"
)

// flipInFile flips one bit in the middle of every copy of data in the file
// and returns how many it changed.
func flipInFile(t *testing.T, path string, data []byte) int {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for off := 0; ; {
		i := bytes.Index(file[off:], data)
		if i < 0 {
			break
		}
		file[off+i+len(data)/2] ^= 0x10
		off += i + len(data)
		n++
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCorruptBlock(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{{"InlineInLeafPage", 300}, {"OverflowPages", 40_000}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.size)))
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			victim := engram.Block{CID: dag.SumRaw(data), Data: data}
			bystander := rawBlock("bystander")
			garbage := rawBlock("garbage")
			op := block(t, map[string]any{"data": storetest.Link(victim.CID), "other": storetest.Link(bystander.CID)})

			s := openTest(t)
			put(t, s, victim, bystander, garbage, op)
			if err := s.Update(ctx, op.CID, nil); err != nil {
				t.Fatal(err)
			}
			path := s.Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n := flipInFile(t, path, data); n == 0 {
				t.Fatal("block bytes not found in the file")
			}
			s = openAt(t, path)

			got, err := s.Get(ctx, victim.CID)
			if !errors.Is(err, engram.ErrCorrupt) || got != nil {
				t.Fatalf("Get of a flipped block = %d bytes, %v; want ECORRUPT and no bytes", len(got), err)
			}
			if !strings.Contains(err.Error(), victim.CID.String()) {
				t.Fatalf("error %q does not name the block", err)
			}
			if got, err := s.Get(ctx, bystander.CID); err != nil || !bytes.Equal(got, bystander.Data) {
				t.Fatalf("the other block: %q, %v", got, err)
			}

			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || len(rep.Corrupt) != 1 || rep.Corrupt[0].Key != victim.CID.String() || rep.Corrupt[0].Kind != "block" {
				t.Fatalf("Verify report %+v; want exactly %s corrupt", rep, victim.CID)
			}
			if !strings.Contains(rep.Corrupt[0].Problem, "bytes hash to") {
				t.Fatalf("problem %q does not say the hash differs", rep.Corrupt[0].Problem)
			}
			if rep.Blocks != 4 || len(rep.Missing) != 0 || len(rep.Structure) != 0 {
				t.Fatalf("Verify report %+v", rep)
			}

			// GC cannot trust a corrupt reachable block, so it deletes nothing.
			if _, err := s.GC(ctx, nil); !errors.Is(err, engram.ErrCorrupt) {
				t.Fatalf("GC with a corrupt reachable block: %v, want ECORRUPT", err)
			}
			if ok, _ := s.Has(ctx, garbage.CID); !ok {
				t.Fatal("a refused GC swept garbage")
			}

			// Putting the right bytes again repairs the block.
			if err := s.Put(ctx, victim.CID, victim.Data); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, victim.CID); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get after repair: %d bytes, %v", len(got), err)
			}
			if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
				t.Fatalf("Verify after repair: %+v, %v", rep, err)
			}
		})
	}
}

func TestVerifyReportsMissingLinks(t *testing.T) {
	s := openTest(t)
	absent := rawBlock("never stored")
	op := block(t, map[string]any{"x": storetest.Link(absent.CID)})
	put(t, s, op)
	if err := s.Pin(ctx, op.CID); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Missing) != 1 || rep.Missing[0].CID != absent.CID ||
		rep.Missing[0].LinkedFrom == nil || *rep.Missing[0].LinkedFrom != op.CID {
		t.Fatalf("Verify report %+v; want %s missing, linked from %s", rep, absent.CID, op.CID)
	}
	if rep.Pins != 1 || rep.Blocks != 1 || len(rep.Corrupt) != 0 {
		t.Fatalf("Verify report %+v", rep)
	}
	st, err := s.GC(ctx, nil)
	if err != nil || st.Missing != 1 || st.Reachable != 1 {
		t.Fatalf("GC with a dangling link = %+v, %v; want it counted", st, err)
	}
}
