package blockstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
	bolt "go.etcd.io/bbolt"
)

// chain builds n operation blocks, each linking the previous one and a raw
// leaf of its own, and returns them leaves first, ops in order.
func chain(t testing.TB, name string, n int) (blocks []engram.Block, ops []engram.CID) {
	var prev any
	for i := range n {
		leaf := rawBlock(fmt.Sprintf("%s leaf %d", name, i))
		m := map[string]any{"leaf": storetest.Link(leaf.CID), "n": i}
		if prev != nil {
			m["prev"] = prev
		}
		op := block(t, m)
		blocks = append(blocks, leaf, op)
		ops = append(ops, op.CID)
		prev = storetest.Link(op.CID)
	}
	return blocks, ops
}

func sumBytes(blocks []engram.Block) (n int64) {
	for _, b := range blocks {
		n += int64(len(b.Data))
	}
	return n
}

func present(t testing.TB, s *Store, blocks []engram.Block) (have int) {
	t.Helper()
	for _, b := range blocks {
		if ok, err := s.Has(ctx, b.CID); err != nil {
			t.Fatal(err)
		} else if ok {
			have++
		}
	}
	return have
}

func TestGC(t *testing.T) {
	s := openTest(t)
	live, liveOps := chain(t, "live", 20)
	pinned, pinnedOps := chain(t, "pinned", 5)
	extra, extraOps := chain(t, "extra root", 3)
	garbage, _ := chain(t, "garbage", 30)
	loose := rawBlock("loose garbage")
	garbage = append(garbage, loose)
	put(t, s, slices.Concat(live, pinned, extra, garbage)...)
	if err := s.Update(ctx, liveOps[len(liveOps)-1], nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, pinnedOps[len(pinnedOps)-1]); err != nil {
		t.Fatal(err)
	}
	knnRoot := garbage[1].CID
	if err := s.StoreKNNEdges(ctx, &KNNEdges{Root: knnRoot, K: 1, Metric: MetricL2}); err != nil {
		t.Fatal(err)
	}
	keep := slices.Concat(live, pinned, extra)
	opts := &GCOptions{Roots: []engram.CID{extraOps[2]}, SweepBatch: 7}

	dry, err := s.GC(ctx, &GCOptions{Roots: opts.Roots, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Swept != len(garbage) || present(t, s, garbage) != len(garbage) {
		t.Fatalf("dry run: %+v, %d garbage blocks left; want %d counted, none deleted", dry, present(t, s, garbage), len(garbage))
	}

	st, err := s.GC(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := GCStats{Roots: 3, Reachable: len(keep), ReachableBytes: sumBytes(keep),
		Swept: len(garbage), SweptBytes: sumBytes(garbage), KNNSwept: 1}
	if st != want {
		t.Fatalf("GC stats %+v, want %+v", st, want)
	}
	if got := present(t, s, keep); got != len(keep) {
		t.Fatalf("%d of %d reachable blocks left", got, len(keep))
	}
	if got := present(t, s, garbage); got != 0 {
		t.Fatalf("%d garbage blocks left", got)
	}
	if _, err := s.LoadKNNEdges(ctx, knnRoot); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("KNN index of a swept root: %v, want ENOTFOUND", err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("Verify after GC: %+v, %v", rep, err)
	}
	// Without the extra root, its chain goes next time.
	st, err = s.GC(ctx, nil)
	if err != nil || st.Swept != len(extra) {
		t.Fatalf("second GC %+v, %v; want the %d extra-root blocks swept", st, err, len(extra))
	}
}

func TestParentsFirst(t *testing.T) {
	s := openTest(t)
	blocks, ops := chain(t, "g", 6)
	put(t, s, blocks...)
	var keys []string
	for _, b := range blocks {
		keys = append(keys, b.CID.KeyString())
	}
	slices.Sort(keys) // an order unrelated to the links
	var order []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		order = parentsFirst(tx.Bucket(bucketBlocks), keys)
		return nil
	})
	pos := make(map[string]int)
	for i, k := range order {
		pos[k] = i
	}
	if len(order) != len(blocks) {
		t.Fatalf("order has %d of %d blocks", len(order), len(blocks))
	}
	for i := range ops {
		op, leaf := pos[ops[i].KeyString()], pos[blocks[2*i].CID.KeyString()]
		if op > leaf {
			t.Fatalf("op %d comes after its leaf", i)
		}
		if i > 0 && pos[ops[i].KeyString()] > pos[ops[i-1].KeyString()] {
			t.Fatalf("op %d comes after op %d, which it links to", i, i-1)
		}
	}
}

// TestGCKeepsWritesDuringIt writes between the mark and the sweep, when
// every one of these blocks is already marked unreachable.
func TestGCKeepsWritesDuringIt(t *testing.T) {
	s := openTest(t)
	reput := rawBlock("re-put during gc")
	linked := rawBlock("linked from a block written during gc")
	dagBlocks, dagOps := chain(t, "published during gc", 4)
	garbage, _ := chain(t, "garbage", 10)
	put(t, s, slices.Concat([]engram.Block{reput, linked}, dagBlocks, garbage)...)
	fresh := block(t, map[string]any{"old": storetest.Link(linked.CID)})

	s.testHookAfterMark = func() {
		if err := s.Put(ctx, reput.CID, reput.Data); err != nil { // present: no write, but noted
			t.Error(err)
		}
		if err := s.Put(ctx, fresh.CID, fresh.Data); err != nil {
			t.Error(err)
		}
		if err := s.Update(ctx, dagOps[len(dagOps)-1], nil); err != nil {
			t.Error(err)
		}
	}
	st, err := s.GC(ctx, &GCOptions{SweepBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	keep := slices.Concat([]engram.Block{reput, linked, fresh}, dagBlocks)
	if got := present(t, s, keep); got != len(keep) {
		t.Fatalf("%d of %d blocks written or published during GC survive (stats %+v)", got, len(keep), st)
	}
	if got := present(t, s, garbage); got != 0 {
		t.Fatalf("%d garbage blocks survive", got)
	}
	if st.Swept != len(garbage) || st.Kept != len(keep)-1 { // fresh was not there at the mark
		t.Fatalf("stats %+v; want %d swept, %d kept", st, len(garbage), len(keep)-1)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}

// TestGCConcurrentWriters runs GCs in a loop while writers publish chains
// with the two safe patterns (a Batch with UpdateHeads, and PutMany of a
// whole DAG then Update, retried on ENOTFOUND). No head may ever name a
// missing block.
func TestGCConcurrentWriters(t *testing.T) {
	s := openTest(t)
	const writers, rounds = 4, 30
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev engram.CID
			for r := range rounds {
				leaf := rawBlock(fmt.Sprintf("w%d r%d", w, r))
				m := map[string]any{"leaf": storetest.Link(leaf.CID)}
				var supersedes []engram.CID
				if prev.Defined() {
					m["prev"] = storetest.Link(prev)
					supersedes = []engram.CID{prev}
				}
				op := block(t, m)
				if w%2 == 0 {
					b, err := s.Batch(ctx)
					if err == nil {
						err = errors.Join(b.Put(leaf.CID, leaf.Data), b.Put(op.CID, op.Data), b.UpdateHeads(op.CID, supersedes))
						if err == nil {
							err = b.Commit()
						}
						b.Rollback()
					}
					if err != nil {
						errs <- err
						return
					}
				} else {
					for {
						if err := s.PutMany(ctx, []engram.Block{leaf, op}); err != nil {
							errs <- err
							return
						}
						err := s.Update(ctx, op.CID, supersedes)
						if err == nil {
							break
						}
						if !errors.Is(err, engram.ErrNotFound) {
							errs <- err
							return
						}
					}
				}
				// Garbage for the GC to chew on.
				if err := s.Put(ctx, rawBlock(fmt.Sprintf("junk w%d r%d", w, r)).CID, []byte(fmt.Sprintf("junk w%d r%d", w, r))); err != nil {
					errs <- err
					return
				}
				prev = op.CID
			}
		}()
	}
	gcs := 0
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.GC(ctx, &GCOptions{SweepBatch: 2}); err != nil {
				errs <- err
				return
			}
			gcs++
		}
	}()
	wg.Wait() // the writers
	close(done)
	<-gcDone
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	heads, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != writers {
		t.Fatalf("%d heads, want %d", len(heads), writers)
	}
	for _, h := range heads {
		n := 0
		if err := s.Walk(ctx, h, func(engram.CID, []byte) error { n++; return nil }); err != nil {
			t.Fatalf("walk from head %s: %v", h, err)
		}
		if n != 2*rounds {
			t.Fatalf("head %s reaches %d blocks, want %d", h, n, 2*rounds)
		}
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
	t.Logf("%d GCs ran alongside the writers", gcs)
}

// testSeed returns ENGRAM_TEST_SEED or a fresh seed, and logs it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ENGRAM_TEST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("ENGRAM_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (rerun with ENGRAM_TEST_SEED=%d)", seed, seed)
	return seed
}

// TestGCModel runs random puts, deletes, head updates, pins and GCs against
// the store and a map, and after every GC demands the store holds exactly
// what the map says is reachable.
func TestGCModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 0))
	s := openTest(t)
	type entry struct {
		data  []byte
		links []engram.CID
	}
	model := map[engram.CID]entry{}
	heads, pins := map[engram.CID]bool{}, map[engram.CID]bool{}
	pick := func() (engram.CID, bool) {
		if len(model) == 0 {
			return engram.CID{}, false
		}
		keys := make([]engram.CID, 0, len(model))
		for c := range model {
			keys = append(keys, c)
		}
		slices.SortFunc(keys, engram.CID.Compare)
		return keys[rng.IntN(len(keys))], true
	}
	gcs := 0
	for step := range 600 {
		switch op := rng.IntN(20); {
		case op < 8: // put a raw block or a DAG-CBOR block linking up to 3 others
			var b engram.Block
			var links []engram.CID
			if rng.IntN(2) == 0 {
				b = rawBlock(fmt.Sprintf("raw %d %d", step, rng.Uint64()))
			} else {
				var ls []any
				for range rng.IntN(4) {
					if c, ok := pick(); ok {
						ls = append(ls, storetest.Link(c))
						links = append(links, c)
					}
				}
				b = block(t, map[string]any{"step": step, "links": ls})
			}
			put(t, s, b)
			model[b.CID] = entry{b.Data, links}
		case op < 10: // delete a block that is neither head nor pin
			c, ok := pick()
			if !ok {
				continue
			}
			err := s.Delete(ctx, c)
			if heads[c] || pins[c] {
				if !errors.Is(err, engram.ErrConflict) {
					t.Fatalf("step %d: Delete of head/pin %s: %v", step, c, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			delete(model, c)
		case op < 14: // add a head, superseding some
			c, ok := pick()
			if !ok {
				continue
			}
			var sup []engram.CID
			for h := range heads {
				if rng.IntN(2) == 0 {
					sup = append(sup, h)
				}
			}
			if err := s.Update(ctx, c, sup); err != nil {
				t.Fatal(err)
			}
			for _, h := range sup {
				delete(heads, h)
			}
			heads[c] = true
		case op < 16: // pin or unpin
			c, ok := pick()
			if !ok {
				continue
			}
			if pins[c] {
				if err := s.Unpin(ctx, c); err != nil {
					t.Fatal(err)
				}
				delete(pins, c)
			} else {
				if err := s.Pin(ctx, c); err != nil {
					t.Fatal(err)
				}
				pins[c] = true
			}
		case op < 18: // GC
			reach, missing := map[engram.CID]bool{}, map[engram.CID]bool{}
			var stack []engram.CID
			for c := range heads {
				stack = append(stack, c)
			}
			for c := range pins {
				stack = append(stack, c)
			}
			for len(stack) > 0 {
				c := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if reach[c] || missing[c] {
					continue
				}
				e, ok := model[c]
				if !ok {
					missing[c] = true
					continue
				}
				reach[c] = true
				stack = append(stack, e.links...)
			}
			st, err := s.GC(ctx, &GCOptions{SweepBatch: 1 + rng.IntN(5)})
			if err != nil {
				t.Fatal(err)
			}
			if st.Reachable != len(reach) || st.Swept != len(model)-len(reach) || st.Missing != len(missing) {
				t.Fatalf("step %d: GC %+v; model has %d reachable, %d unreachable, %d missing",
					step, st, len(reach), len(model)-len(reach), len(missing))
			}
			for c := range model {
				if !reach[c] {
					delete(model, c)
				}
			}
			gcs++
			var got []engram.CID
			for c, err := range s.AllCIDs(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, c)
			}
			if len(got) != len(model) {
				t.Fatalf("step %d: store holds %d blocks after GC, model %d", step, len(got), len(model))
			}
			for _, c := range got {
				if _, ok := model[c]; !ok {
					t.Fatalf("step %d: store holds %s, which the model swept", step, c)
				}
			}
		default: // read back
			c, ok := pick()
			if !ok {
				continue
			}
			data, err := s.Get(ctx, c)
			if err != nil || string(data) != string(model[c].data) {
				t.Fatalf("step %d: Get %s = %q, %v; want %q", step, c, data, err, model[c].data)
			}
		}
	}
	t.Logf("%d GCs, %d blocks left", gcs, len(model))
}
