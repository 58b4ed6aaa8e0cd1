package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/fxamacker/cbor/v2"
)

// RunBlockstore runs the Blockstore conformance suite. open returns a new,
// empty store and registers its cleanup with t.
func RunBlockstore(t *testing.T, open func(t *testing.T) engram.Blockstore) {
	ctx := context.Background()

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		bs := open(t)
		for _, codec := range []uint64{engram.CodecRaw, engram.CodecDagCBOR} {
			for _, hash := range []uint64{engram.HashSHA2_256, engram.HashBLAKE3} {
				data := []byte{0xa1, 0x61, 'n', 0x18, byte(codec)} // {"n": codec}, also valid raw
				c, err := dag.Sum(codec, hash, data)
				if err != nil {
					t.Fatal(err)
				}
				if err := bs.Put(ctx, c, data); err != nil {
					t.Fatalf("Put %s: %v", c, err)
				}
				got, err := bs.Get(ctx, c)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("Get %s = %x, %v; want %x", c, got, err, data)
				}
				if ok, err := bs.Has(ctx, c); err != nil || !ok {
					t.Fatalf("Has %s = %v, %v; want true", c, ok, err)
				}
			}
		}
	})

	t.Run("EmptyBlock", func(t *testing.T) {
		bs := open(t)
		c := dag.SumRaw(nil)
		mustPut(t, bs, c, nil)
		got, err := bs.Get(ctx, c)
		if err != nil || len(got) != 0 {
			t.Fatalf("Get(empty block) = %x, %v", got, err)
		}
		if ok, _ := bs.Has(ctx, c); !ok {
			t.Fatal("Has(empty block) = false after Put")
		}
	})

	t.Run("ErrGetMissingIsNotFound", func(t *testing.T) {
		bs := open(t)
		c := dag.SumRaw([]byte("never stored"))
		_, err := bs.Get(ctx, c)
		if !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("Get of a missing block: %v, want ENOTFOUND", err)
		}
		if !strings.Contains(err.Error(), c.String()) {
			t.Fatalf("error %q does not name %s", err, c)
		}
		if ok, err := bs.Has(ctx, c); err != nil || ok {
			t.Fatalf("Has of a missing block = %v, %v", ok, err)
		}
	})

	t.Run("ErrPutMismatchStoresNothing", func(t *testing.T) {
		bs := open(t)
		c := dag.SumRaw([]byte("the real bytes"))
		err := bs.Put(ctx, c, []byte("other bytes"))
		if !errors.Is(err, engram.ErrInvalid) {
			t.Fatalf("Put of bytes that do not hash to the CID: %v, want EINVALID", err)
		}
		if ok, _ := bs.Has(ctx, c); ok {
			t.Fatal("a rejected Put stored the block")
		}
	})

	t.Run("ErrPutUnsupportedCID", func(t *testing.T) {
		bs := open(t)
		data := []byte("x")
		// dag-pb codec, and a sha2-512 multihash with a raw codec
		for _, b := range [][]byte{append([]byte{1, 0x70, 0x12, 32}, make([]byte, 32)...), append([]byte{1, 0x55, 0x13, 32}, make([]byte, 32)...)} {
			c, err := engram.CIDFromBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := bs.Put(ctx, c, data); !errors.Is(err, engram.ErrInvalid) {
				t.Fatalf("Put under %s: %v, want EINVALID", c, err)
			}
		}
		if err := bs.Put(ctx, engram.CID{}, data); !errors.Is(err, engram.ErrInvalid) {
			t.Fatalf("Put under the zero CID: %v, want EINVALID", err)
		}
	})

	t.Run("ErrPutInvalidDagCBOR", func(t *testing.T) {
		bs := open(t)
		data := []byte{0xa1, 0x61} // truncated map
		c := dag.SumDagCBOR(data)
		if err := bs.Put(ctx, c, data); !errors.Is(err, engram.ErrInvalid) {
			t.Fatalf("Put of malformed DAG-CBOR: %v, want EINVALID", err)
		}
		if ok, _ := bs.Has(ctx, c); ok {
			t.Fatal("malformed DAG-CBOR was stored")
		}
	})

	t.Run("ErrPutTooLarge", func(t *testing.T) {
		bs := open(t)
		data := make([]byte, engram.MaxBlockSize+1)
		c := dag.SumRaw(data)
		if err := bs.Put(ctx, c, data); !errors.Is(err, engram.ErrTooLarge) {
			t.Fatalf("Put of %d bytes: %v, want ETOOLARGE", len(data), err)
		}
		ok := make([]byte, engram.MaxBlockSize)
		mustPut(t, bs, dag.SumRaw(ok), ok)
	})

	t.Run("PutIsIdempotentAndCopies", func(t *testing.T) {
		bs := open(t)
		data := []byte("idempotent")
		c := dag.SumRaw(data)
		mustPut(t, bs, c, data)
		mustPut(t, bs, c, data)
		data[0] = 'X' // the store must not have kept the caller's slice
		got := mustGet(t, bs, c)
		if string(got) != "idempotent" {
			t.Fatalf("Get = %q after the caller changed its slice", got)
		}
		got[0] = 'Y' // nor hand out its own
		if got := mustGet(t, bs, c); string(got) != "idempotent" {
			t.Fatalf("Get = %q after the caller changed a returned slice", got)
		}
		if n := countAll(t, bs); n != 1 {
			t.Fatalf("AllCIDs has %d blocks after putting one twice", n)
		}
	})

	t.Run("PutManyAllOrNothing", func(t *testing.T) {
		bs := open(t)
		blocks := rawBlocks("many", 50)
		bad := blocks[30]
		blocks[30] = engram.Block{CID: bad.CID, Data: []byte("not the bytes")}
		if err := bs.PutMany(ctx, blocks); !errors.Is(err, engram.ErrInvalid) {
			t.Fatalf("PutMany with one bad block: %v, want EINVALID", err)
		}
		if n := countAll(t, bs); n != 0 {
			t.Fatalf("a rejected PutMany stored %d blocks", n)
		}
		blocks[30] = bad
		if err := bs.PutMany(ctx, blocks); err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			if got := mustGet(t, bs, b.CID); !bytes.Equal(got, b.Data) {
				t.Fatalf("Get %s = %q, want %q", b.CID, got, b.Data)
			}
		}
		if err := bs.PutMany(ctx, blocks); err != nil {
			t.Fatalf("PutMany of stored blocks: %v", err)
		}
		if err := bs.PutMany(ctx, nil); err != nil {
			t.Fatalf("PutMany of nothing: %v", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		bs := open(t)
		blocks := rawBlocks("del", 3)
		if err := bs.PutMany(ctx, blocks); err != nil {
			t.Fatal(err)
		}
		if err := bs.Delete(ctx, blocks[1].CID); err != nil {
			t.Fatal(err)
		}
		if _, err := bs.Get(ctx, blocks[1].CID); !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("Get after Delete: %v, want ENOTFOUND", err)
		}
		if err := bs.Delete(ctx, blocks[1].CID); err != nil {
			t.Fatalf("Delete of an absent block: %v", err)
		}
		for _, i := range []int{0, 2} {
			if got := mustGet(t, bs, blocks[i].CID); !bytes.Equal(got, blocks[i].Data) {
				t.Fatalf("Delete of another block changed %s", blocks[i].CID)
			}
		}
	})

	t.Run("AllCIDsStreamsSorted", func(t *testing.T) {
		bs := open(t)
		blocks := rawBlocks("all", 2500) // more than one read chunk of any sane implementation
		if err := bs.PutMany(ctx, blocks); err != nil {
			t.Fatal(err)
		}
		want := make([]engram.CID, len(blocks))
		for i, b := range blocks {
			want[i] = b.CID
		}
		slices.SortFunc(want, engram.CID.Compare)
		var got []engram.CID
		for c, err := range bs.AllCIDs(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("AllCIDs returned %d CIDs (sorted %v), want the %d stored in binary order",
				len(got), slices.IsSortedFunc(got, engram.CID.Compare), len(want))
		}
		n := 0
		for _, err := range bs.AllCIDs(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 10 {
				break
			}
		}
		if n != 10 {
			t.Fatalf("breaking out of AllCIDs after 10 gave %d", n)
		}
	})

	t.Run("AllCIDsAllowsWritesInTheLoop", func(t *testing.T) {
		bs := open(t)
		blocks := rawBlocks("loop", 2100)
		if err := bs.PutMany(ctx, blocks); err != nil {
			t.Fatal(err)
		}
		deleted := 0
		for c, err := range bs.AllCIDs(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if err := bs.Delete(ctx, c); err != nil {
				t.Fatal(err)
			}
			deleted++
		}
		if deleted != len(blocks) || countAll(t, bs) != 0 {
			t.Fatalf("deleted %d of %d blocks inside AllCIDs; %d remain", deleted, len(blocks), countAll(t, bs))
		}
	})

	t.Run("WalkFollowsLinks", func(t *testing.T) {
		bs := open(t)
		leaf := []byte("leaf")
		leafCID := dag.SumRaw(leaf)
		mustPut(t, bs, leafCID, leaf)
		mid := dagCBOR(t, map[string]any{"leaf": Link(leafCID)})
		root := dagCBOR(t, []any{Link(mid.CID), Link(leafCID)})
		for _, b := range []engram.Block{mid, root} {
			mustPut(t, bs, b.CID, b.Data)
		}
		var seen []engram.CID
		err := dag.Walk(ctx, bs, root.CID, func(c engram.CID, _ []byte) error {
			seen = append(seen, c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []engram.CID{root.CID, mid.CID, leafCID}; !slices.Equal(seen, want) {
			t.Fatalf("walk visited %v, want %v", seen, want)
		}
	})

	t.Run("ConcurrentPutGet", func(t *testing.T) {
		bs := open(t)
		const workers, each = 8, 40
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, b := range rawBlocks(fmt.Sprintf("w%d", w), each) {
					if err := bs.Put(ctx, b.CID, b.Data); err != nil {
						errs <- err
						return
					}
					got, err := bs.Get(ctx, b.CID)
					if err != nil || !bytes.Equal(got, b.Data) {
						errs <- fmt.Errorf("get %s after put: %x, %v", b.CID, got, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := countAll(t, bs); n != workers*each {
			t.Fatalf("%d blocks stored, want %d", n, workers*each)
		}
	})

	t.Run("TrustedPutNeverYieldsWrongBytes", func(t *testing.T) {
		bs := open(t)
		tp, ok := bs.(engram.TrustedPutter)
		if !ok {
			t.Skip("not a TrustedPutter")
		}
		good := []byte("trusted")
		c := dag.SumRaw(good)
		if err := tp.PutTrusted(ctx, c, good); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, bs, c); !bytes.Equal(got, good) {
			t.Fatalf("Get after PutTrusted = %q", got)
		}
		liar := dag.SumRaw([]byte("claimed"))
		if err := tp.PutTrusted(ctx, liar, []byte("actual")); err != nil {
			t.Fatalf("PutTrusted does not hash, so it should accept: %v", err)
		}
		got, err := bs.Get(ctx, liar)
		if !errors.Is(err, engram.ErrCorrupt) || got != nil {
			t.Fatalf("Get of a wrongly trusted block = %q, %v; want ECORRUPT and no bytes", got, err)
		}
		if !strings.Contains(err.Error(), liar.String()) {
			t.Fatalf("corruption error %q does not name %s", err, liar)
		}
	})
}

// Link is the DAG-CBOR value of a link to c, for building blocks with
// fxamacker/cbor.
func Link(c engram.CID) cbor.Tag {
	return cbor.Tag{Number: 42, Content: append([]byte{0}, c.Bytes()...)}
}

func dagCBOR(t *testing.T, v any) engram.Block {
	t.Helper()
	data, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return engram.Block{CID: dag.SumDagCBOR(data), Data: data}
}

// rawBlocks returns n distinct raw blocks.
func rawBlocks(prefix string, n int) []engram.Block {
	out := make([]engram.Block, n)
	for i := range out {
		data := []byte(fmt.Sprintf("%s-%d", prefix, i))
		out[i] = engram.Block{CID: dag.SumRaw(data), Data: data}
	}
	return out
}

func mustPut(t *testing.T, bs engram.Blockstore, c engram.CID, data []byte) {
	t.Helper()
	if err := bs.Put(context.Background(), c, data); err != nil {
		t.Fatalf("Put %s: %v", c, err)
	}
}

func mustGet(t *testing.T, bs engram.Blockstore, c engram.CID) []byte {
	t.Helper()
	data, err := bs.Get(context.Background(), c)
	if err != nil {
		t.Fatalf("Get %s: %v", c, err)
	}
	return data
}

func countAll(t *testing.T, bs engram.Blockstore) int {
	t.Helper()
	n := 0
	for _, err := range bs.AllCIDs(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}
