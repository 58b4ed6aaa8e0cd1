package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
)

// RunOpHeads runs the OpHeads conformance suite. open returns a new, empty
// set and registers its cleanup with t. If the value open returns is also an
// engram.Blockstore, the suite stores each head's block before naming it and
// checks that a head without a block is refused.
func RunOpHeads(t *testing.T, open func(t *testing.T) engram.OpHeads) {
	ctx := context.Background()

	t.Run("StartsEmpty", func(t *testing.T) {
		h := open(t)
		if got := current(t, h); len(got) != 0 {
			t.Fatalf("new set holds %v", got)
		}
	})

	t.Run("UpdateAddsAndSupersedes", func(t *testing.T) {
		h := open(t)
		a, b, c, d := head(t, h, "a"), head(t, h, "b"), head(t, h, "c"), head(t, h, "d")
		update(t, h, a)
		update(t, h, b)
		update(t, h, c)
		if got, want := current(t, h), sorted(a, b, c); !slices.Equal(got, want) {
			t.Fatalf("Current = %v, want %v", got, want)
		}
		update(t, h, d, a, b)
		if got, want := current(t, h), sorted(c, d); !slices.Equal(got, want) {
			t.Fatalf("after superseding a and b: %v, want %v", got, want)
		}
		// Superseding something that is not a head is not an error.
		update(t, h, a, b)
		if got, want := current(t, h), sorted(a, c, d); !slices.Equal(got, want) {
			t.Fatalf("after superseding a non-head: %v, want %v", got, want)
		}
		// The added head stays even if supersedes lists it.
		update(t, h, c, c, d)
		if got, want := current(t, h), sorted(a, c); !slices.Equal(got, want) {
			t.Fatalf("after Update(c, [c d]): %v, want %v", got, want)
		}
		// Adding a head twice keeps one.
		update(t, h, a)
		if got := current(t, h); len(got) != 2 {
			t.Fatalf("adding a head twice: %v", got)
		}
	})

	t.Run("ErrHeadWithoutBlock", func(t *testing.T) {
		h := open(t)
		if _, ok := h.(engram.Blockstore); !ok {
			t.Skip("stores no blocks")
		}
		a := head(t, h, "a")
		update(t, h, a)
		ghost := dag.SumRaw([]byte("no block"))
		if err := h.Update(ctx, ghost, []engram.CID{a}); !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("Update naming a missing block: %v, want ENOTFOUND", err)
		}
		if got := current(t, h); !slices.Equal(got, []engram.CID{a}) {
			t.Fatalf("a refused Update changed the heads to %v", got)
		}
	})

	t.Run("ConcurrentUpdatersLoseNothing", func(t *testing.T) {
		h := open(t)
		const workers, steps = 16, 25
		base := head(t, h, "base")
		update(t, h, base)
		// Each worker keeps one chain: every step supersedes its previous
		// head and the shared base. At the end exactly the last head of
		// each chain must remain.
		chains := make([][]engram.CID, workers)
		for w := range chains {
			for s := range steps {
				chains[w] = append(chains[w], head(t, h, fmt.Sprintf("w%d-s%d", w, s)))
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prev := base
				for _, c := range chains[w] {
					if err := h.Update(ctx, c, []engram.CID{prev, base}); err != nil {
						errs <- err
						return
					}
					prev = c
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var want []engram.CID
		for _, chain := range chains {
			want = append(want, chain[len(chain)-1])
		}
		if got := current(t, h); !slices.Equal(got, sorted(want...)) {
			t.Fatalf("Current holds %d heads, want the %d chain ends: %v", len(got), len(want), got)
		}
	})
}

// head returns the CID of a small DAG-CBOR operation block named name,
// storing the block first if h is also a Blockstore.
func head(t *testing.T, h engram.OpHeads, name string) engram.CID {
	t.Helper()
	b := dagCBOR(t, map[string]any{"op": name})
	if bs, ok := h.(engram.Blockstore); ok {
		mustPut(t, bs, b.CID, b.Data)
	}
	return b.CID
}

func update(t *testing.T, h engram.OpHeads, add engram.CID, supersedes ...engram.CID) {
	t.Helper()
	if err := h.Update(context.Background(), add, supersedes); err != nil {
		t.Fatalf("Update(%s, %v): %v", add, supersedes, err)
	}
}

func current(t *testing.T, h engram.OpHeads) []engram.CID {
	t.Helper()
	got, err := h.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(got, engram.CID.Compare) {
		t.Fatalf("Current is not sorted: %v", got)
	}
	return got
}

func sorted(cids ...engram.CID) []engram.CID {
	out := slices.Clone(cids)
	slices.SortFunc(out, engram.CID.Compare)
	return out
}
