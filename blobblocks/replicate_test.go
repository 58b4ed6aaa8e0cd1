package blobblocks_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blobblocks"
	"github.com/engramhq/engram/blockstore"
	"github.com/engramhq/engram/dag"
	"github.com/fxamacker/cbor/v2"
)

func link(c engram.CID) cbor.Tag {
	return cbor.Tag{Number: 42, Content: append([]byte{0}, c.Bytes()...)}
}

// graph writes n operations into s, each linking its parent operation and
// a note (a raw leaf), makes the last one the only head (superseding
// prev), and returns every CID written and the head.
func graph(t *testing.T, s blobblocks.Replica, name string, n int, prev engram.CID) (all []engram.CID, head engram.CID) {
	t.Helper()
	parent := prev
	for i := range n {
		note := []byte(fmt.Sprintf("%s note %d", name, i))
		nc := dag.SumRaw(note)
		op := map[string]any{"note": link(nc), "n": i}
		if parent.Defined() {
			op["parent"] = link(parent)
		}
		data, err := cbor.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		oc := dag.SumDagCBOR(data)
		for _, b := range []engram.Block{{CID: nc, Data: note}, {CID: oc, Data: data}} {
			if err := s.Put(t.Context(), b.CID, b.Data); err != nil {
				t.Fatal(err)
			}
			all = append(all, b.CID)
		}
		parent = oc
	}
	var sup []engram.CID
	if prev.Defined() {
		sup = []engram.CID{prev}
	}
	if err := s.Update(t.Context(), parent, sup); err != nil {
		t.Fatal(err)
	}
	return all, parent
}

func localStore(t testing.TB) *blockstore.Store {
	t.Helper()
	s, err := blockstore.OpenOrInit(filepath.Join(t.TempDir(), "blocks.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func heads(t *testing.T, h engram.OpHeads) []engram.CID {
	t.Helper()
	got, err := h.Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustVerify(t *testing.T, s *blobblocks.Store, wantBlocks int) {
	t.Helper()
	rep, err := s.Verify(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Blocks != wantBlocks {
		t.Fatalf("remote verify: %d blocks, corrupt %v, missing %v; want %d blocks and no damage", rep.Blocks, rep.Corrupt, rep.Missing, wantBlocks)
	}
}

// orderCheck wraps a real destination and fails an Update whose head does
// not already reach only blocks the destination holds: the "blocks before
// heads" guarantee, checked at the moment heads change.
type orderCheck struct {
	*blobblocks.Store
	t       *testing.T
	updates int
}

func (o *orderCheck) UpdateMany(ctx context.Context, add, sup []engram.CID) error {
	for _, h := range add {
		if err := dag.Walk(ctx, o.Store, h, func(engram.CID, []byte) error { return nil }); err != nil {
			o.t.Errorf("heads updated to %s before its blocks were all there: %v", h, err)
		}
	}
	o.updates++
	return o.Store.UpdateMany(ctx, add, sup)
}

func TestReplicatePushThenPull(t *testing.T) {
	local := localStore(t)
	first, h1 := graph(t, local, "a", 30, engram.CID{})
	remote := &orderCheck{Store: openOn(t, openURL(t, "file://"+shmDir(t)), nil), t: t}

	st, err := blobblocks.Replicate(t.Context(), local, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != int64(len(first)) || st.Present != 0 || st.HeadsAdded != 1 || !slices.Equal(st.Heads, []engram.CID{h1}) {
		t.Fatalf("first push: %+v; want %d blocks copied, head %s", st, len(first), h1)
	}
	mustVerify(t, remote.Store, len(first))

	// More work locally: the new head supersedes h1. The second push copies
	// only what is new and moves the remote head along.
	second, h2 := graph(t, local, "b", 10, h1)
	st, err = blobblocks.Replicate(t.Context(), local, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != int64(len(second)) || st.Present != int64(len(first)) || st.HeadsAdded != 1 || st.HeadsSuperseded != 1 {
		t.Fatalf("second push: %+v; want %d copied, %d present, h1 superseded", st, len(second), len(first))
	}
	if got := heads(t, remote); !slices.Equal(got, []engram.CID{h2}) {
		t.Fatalf("remote heads %v, want [%s]", got, h2)
	}
	if remote.updates != 2 {
		t.Fatalf("%d head updates, want 2", remote.updates)
	}
	// Nothing new: nothing copied, heads untouched.
	if st, err = blobblocks.Replicate(t.Context(), local, remote, nil); err != nil || st.Blocks != 0 || remote.updates != 2 {
		t.Fatalf("third push: %+v, %v, %d updates; want no copies and no update", st, err, remote.updates)
	}

	// Pull into an empty local store on another node.
	other := localStore(t)
	st, err = blobblocks.Replicate(t.Context(), remote.Store, other, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(first) + len(second); st.Blocks != int64(want) {
		t.Fatalf("pull copied %d blocks, want %d", st.Blocks, want)
	}
	if got := heads(t, other); !slices.Equal(got, []engram.CID{h2}) {
		t.Fatalf("pulled heads %v, want [%s]", got, h2)
	}
	rep, err := other.Verify(t.Context())
	if err != nil || !rep.OK() || rep.Blocks != len(first)+len(second) {
		t.Fatalf("pulled store verify: %+v, %v", rep, err)
	}
}

// Two nodes push to one remote; each node's head survives the other's
// push, and a node pulling back sees both.
func TestReplicateMergesHeadsOfTwoNodes(t *testing.T) {
	url := "file://" + shmDir(t)
	remote := openOn(t, openURL(t, url), nil)
	a, b := localStore(t), localStore(t)
	_, ha := graph(t, a, "a", 5, engram.CID{})
	_, hb := graph(t, b, "b", 5, engram.CID{})
	if _, err := blobblocks.Replicate(t.Context(), a, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := blobblocks.Replicate(t.Context(), b, openOn(t, openURL(t, url), nil), nil); err != nil {
		t.Fatal(err)
	}
	want := []engram.CID{ha, hb}
	slices.SortFunc(want, engram.CID.Compare)
	if got := heads(t, remote); !slices.Equal(got, want) {
		t.Fatalf("remote heads %v, want both nodes' %v", got, want)
	}
	if _, err := blobblocks.Replicate(t.Context(), remote, a, nil); err != nil {
		t.Fatal(err)
	}
	if got := heads(t, a); !slices.Equal(got, want) {
		t.Fatalf("node a after pull: %v, want %v", got, want)
	}
}

// A damaged block at the source stops the copy with an error naming it,
// and the destination's heads do not move.
func TestErrReplicateStopsAtACorruptSourceBlock(t *testing.T) {
	dir := shmDir(t)
	src := openOn(t, openURL(t, "file://"+dir), &blobblocks.Options{Name: "file://" + dir})
	all, _ := graph(t, src, "a", 4, engram.CID{})
	bad := all[2]
	file := filepath.Join(dir, "objects", "blocks", fmt.Sprintf("%x", bad.Bytes()))
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 1
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := localStore(t)
	_, err = blobblocks.Replicate(t.Context(), src, dst, &blobblocks.ReplicateOptions{Concurrency: 1})
	if !errors.Is(err, engram.ErrCorrupt) || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("Replicate from a damaged source: %v, want ECORRUPT naming %s", err, bad)
	}
	if got := heads(t, dst); len(got) != 0 {
		t.Fatalf("destination heads moved to %v despite the failed copy", got)
	}
	if ok, _ := dst.Has(t.Context(), bad); ok {
		t.Fatal("the damaged block was copied")
	}
	rep, err := src.Verify(t.Context(), nil)
	if err != nil || len(rep.Corrupt) != 1 || !strings.Contains(rep.Corrupt[0].Key, bad.String()) {
		t.Fatalf("Verify of the damaged source: %+v, %v; want one corrupt block %s", rep, err, bad)
	}
}

// writingSource is a real store that does more work whenever Replicate
// reads its first block of a pass: a writer racing the copy.
type writingSource struct {
	*blockstore.Store
	t      *testing.T
	writes int // how many passes get a racing write
	n      int
	head   engram.CID
	inPass bool
}

func (w *writingSource) Current(ctx context.Context) ([]engram.CID, error) {
	w.inPass = false // Replicate reads the heads at the start and end of each pass
	return w.Store.Current(ctx)
}

func (w *writingSource) Get(ctx context.Context, c engram.CID) ([]byte, error) {
	if !w.inPass && w.writes > 0 {
		w.inPass, w.writes = true, w.writes-1
		w.n++
		_, w.head = graph(w.t, w.Store, fmt.Sprintf("racing%d", w.n), 2, w.head)
	}
	return w.Store.Get(ctx, c)
}

// Heads that move during the copy make Replicate copy again, so the heads
// it publishes are the newest, with all their blocks.
func TestReplicateCopiesAgainWhenHeadsMoveDuringTheCopy(t *testing.T) {
	local := localStore(t)
	all, h := graph(t, local, "a", 20, engram.CID{})
	src := &writingSource{Store: local, t: t, writes: 2, head: h}
	remote := &orderCheck{Store: openOn(t, openURL(t, "mem://"), nil), t: t}
	st, err := blobblocks.Replicate(t.Context(), src, remote, &blobblocks.ReplicateOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(all) + 2*4; st.Passes != 3 || st.Blocks != int64(want) {
		t.Fatalf("%+v; want 3 passes copying %d blocks", st, want)
	}
	if got := heads(t, remote); !slices.Equal(got, []engram.CID{src.head}) {
		t.Fatalf("remote heads %v, want the newest %s", got, src.head)
	}
	mustVerify(t, remote.Store, len(all)+8)
}

func TestErrReplicateGivesUpWhenHeadsNeverSettle(t *testing.T) {
	local := localStore(t)
	graph(t, local, "a", 3, engram.CID{})
	src := &writingSource{Store: local, t: t, writes: 100}
	src.head = heads(t, local)[0]
	remote := openOn(t, openURL(t, "mem://"), nil)
	_, err := blobblocks.Replicate(t.Context(), src, remote, &blobblocks.ReplicateOptions{Concurrency: 1, MaxPasses: 3})
	if !errors.Is(err, engram.ErrConflict) {
		t.Fatalf("Replicate with heads moving in every pass: %v, want ECONFLICT", err)
	}
	if got := heads(t, remote); len(got) != 0 {
		t.Fatalf("the remote's heads moved to %v though the copy never settled", got)
	}
}

// collecting deletes victim from the real store just before Replicate reads
// it, as a garbage collection running during the copy would.
type collecting struct {
	*blockstore.Store
	victim engram.CID
}

func (c *collecting) Get(ctx context.Context, cid engram.CID) ([]byte, error) {
	if cid == c.victim {
		if err := c.Store.Delete(ctx, cid); err != nil {
			return nil, err
		}
	}
	return c.Store.Get(ctx, cid)
}

// A block collected at the source during the copy is counted, not an
// error; everything the heads reach still arrives.
func TestReplicateSkipsBlocksCollectedDuringTheCopy(t *testing.T) {
	local := localStore(t)
	all, h := graph(t, local, "a", 5, engram.CID{})
	garbage := []byte("unreachable")
	gc := dag.SumRaw(garbage)
	if err := local.Put(t.Context(), gc, garbage); err != nil {
		t.Fatal(err)
	}
	remote := openOn(t, openURL(t, "mem://"), nil)
	st, err := blobblocks.Replicate(t.Context(), &collecting{Store: local, victim: gc}, remote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Vanished != 1 || st.Blocks != int64(len(all)) || !slices.Equal(st.Heads, []engram.CID{h}) {
		t.Fatalf("%+v; want 1 vanished, %d copied, head %s", st, len(all), h)
	}
	mustVerify(t, remote, len(all))
}
