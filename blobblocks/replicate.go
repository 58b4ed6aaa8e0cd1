package blobblocks

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"golang.org/x/sync/errgroup"
)

// Replica is one end of a replication: blocks and the op heads naming them.
// *Store is one; so is the local blocks.db (*blockstore.Store).
type Replica interface {
	engram.Blockstore
	engram.OpHeads
}

// ReplicateOptions tune Replicate. nil or the zero value gives the defaults.
type ReplicateOptions struct {
	// Concurrency is how many blocks are copied at once; default 8.
	Concurrency int
	// Progress, if set, is called on the calling goroutine after each
	// block copied, and once before the first with Total known.
	Progress func(Progress)
	// MaxPasses bounds how often the copy starts over because the source's
	// heads changed while it ran; default 5. Past it Replicate fails with
	// ECONFLICT and the destination's heads are left as they were.
	MaxPasses int
}

// Progress is how far a Replicate pass has got.
type Progress struct {
	Pass   int   // from 1
	Blocks int64 // blocks copied so far in this pass
	Bytes  int64
	Total  int64 // blocks this pass copies
}

// ReplicateStats say what a Replicate did.
type ReplicateStats struct {
	Blocks          int64        `json:"blocks"`           // copied
	Bytes           int64        `json:"bytes"`            // of the blocks copied
	Present         int64        `json:"present"`          // already at the destination
	Vanished        int64        `json:"vanished"`         // deleted at the source before they were copied
	HeadsAdded      int          `json:"heads_added"`      // source heads the destination lacked
	HeadsSuperseded int          `json:"heads_superseded"` // destination heads the source had moved past
	Heads           []engram.CID `json:"heads"`            // the destination's heads afterwards
	Passes          int          `json:"passes"`
}

// headsUpdater is implemented by destinations that add several heads in one
// step (*Store); others get one Update per head.
type headsUpdater interface {
	UpdateMany(ctx context.Context, add, supersedes []engram.CID) error
}

// Replicate makes dst hold every block of src and src's op heads, and is
// cheap to call again: it copies only blocks dst lacks (the two CID
// listings are merged in order), so a run killed at any point is resumed by
// the next one, and a server can call it in a loop.
//
// Guarantees:
//   - Blocks before heads: dst's heads change only after every block src
//     held when the pass began is in dst, so a head in dst never names a
//     block dst lacks. If src's heads changed during the copy, the copy
//     runs again for the new heads (Options.MaxPasses).
//   - Every block is verified on both ends: src.Get re-hashes what it read
//     and dst.Put re-hashes what it stores (a damaged source block is an
//     ECORRUPT error naming it, and nothing is copied past it).
//   - Heads merge, never overwrite: src's heads are added to dst's, and a
//     dst head is superseded only when src reaches it from its own heads
//     (src moved past it). Heads another node added to dst stay.
func Replicate(ctx context.Context, src, dst Replica, opts *ReplicateOptions) (ReplicateStats, error) {
	var o ReplicateOptions
	if opts != nil {
		o = *opts
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxPasses <= 0 {
		o.MaxPasses = 5
	}
	var st ReplicateStats
	var heads []engram.CID
	settled := false
	for pass := 1; pass <= o.MaxPasses && !settled; pass++ {
		st.Passes = pass
		before, err := src.Current(ctx)
		if err != nil {
			return st, fmt.Errorf("replicate: source heads: %w", err)
		}
		missing, present, err := missingBlocks(ctx, src, dst)
		if err != nil {
			return st, fmt.Errorf("replicate: %w", err)
		}
		if pass == 1 {
			st.Present = present
		}
		if err := copyBlocks(ctx, src, dst, missing, pass, o, &st); err != nil {
			return st, fmt.Errorf("replicate: %w", err)
		}
		after, err := src.Current(ctx)
		if err != nil {
			return st, fmt.Errorf("replicate: source heads: %w", err)
		}
		heads, settled = after, slices.Equal(before, after)
	}
	if !settled {
		return st, &engram.Error{Code: engram.ECONFLICT, Message: fmt.Sprintf(
			"replicate: the source's op heads changed during each of %d passes; the destination's heads were not updated (run again)", o.MaxPasses)}
	}
	if err := mergeHeads(ctx, src, dst, heads, &st); err != nil {
		return st, fmt.Errorf("replicate: %w", err)
	}
	return st, nil
}

// missingBlocks merges the two sorted CID listings and returns the CIDs
// src has and dst lacks, and how many src has that dst has too.
func missingBlocks(ctx context.Context, src, dst engram.Blockstore) ([]engram.CID, int64, error) {
	next, stop := iter.Pull2(dst.AllCIDs(ctx))
	defer stop()
	var d engram.CID
	dOK := true
	advance := func() error {
		c, err, ok := next()
		if err != nil {
			return fmt.Errorf("list destination blocks: %w", err)
		}
		d, dOK = c, ok
		return nil
	}
	if err := advance(); err != nil {
		return nil, 0, err
	}
	var missing []engram.CID
	var present int64
	for c, err := range src.AllCIDs(ctx) {
		if err != nil {
			return nil, 0, fmt.Errorf("list source blocks: %w", err)
		}
		for dOK && d.Compare(c) < 0 {
			if err := advance(); err != nil {
				return nil, 0, err
			}
		}
		if dOK && d == c {
			present++
			continue
		}
		missing = append(missing, c)
	}
	return missing, present, nil
}

// Blocks bound for a *Store (one object each) are stored by the readers as
// they arrive, o.Concurrency at a time. Others (a blocks.db) get batches of
// up to batchBlocks blocks or batchBytes bytes, one PutMany (one
// transaction, one fsync) each.
const (
	batchBlocks = 64
	batchBytes  = 4 << 20
)

// fetched is one block read from the source (or found gone).
type fetched struct {
	block    engram.Block
	vanished bool
	stored   bool // already in dst
}

// copyBlocks reads the blocks from src, o.Concurrency at a time, and stores
// them in dst in batches; the first error stops the rest.
func copyBlocks(ctx context.Context, src, dst engram.Blockstore, cids []engram.CID, pass int, o ReplicateOptions, st *ReplicateStats) error {
	p := Progress{Pass: pass, Total: int64(len(cids))}
	if o.Progress != nil {
		o.Progress(p)
	}
	if len(cids) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan engram.CID)
	results := make(chan fetched, o.Concurrency)
	g.Go(func() error { // the feeder; closes jobs
		defer close(jobs)
		for _, c := range cids {
			select {
			case jobs <- c:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	_, direct := dst.(*Store)
	readers, rctx := errgroup.WithContext(gctx)
	for range o.Concurrency {
		readers.Go(func() error {
			for c := range jobs {
				data, err := src.Get(rctx, c)
				r := fetched{block: engram.Block{CID: c, Data: data}}
				if errors.Is(err, engram.ErrNotFound) {
					r.vanished = true // deleted at the source (garbage collected) since it was listed
				} else if err != nil {
					return err
				} else if direct {
					if err := dst.Put(rctx, c, data); err != nil {
						return err
					}
					r.stored = true
				}
				select {
				case results <- r:
				case <-rctx.Done():
					return rctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error { // closes results once every reader is done
		err := readers.Wait()
		close(results)
		return err
	})

	count := func(b engram.Block) {
		st.Blocks++
		st.Bytes += int64(len(b.Data))
		p.Blocks++
		p.Bytes += int64(len(b.Data))
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	var batch []engram.Block
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.PutMany(ctx, batch); err != nil {
			return err
		}
		for _, b := range batch {
			count(b)
		}
		batch, size = nil, 0
		return nil
	}
	var err error
	for r := range results {
		if err != nil {
			continue // draining after a failed store
		}
		if r.vanished {
			st.Vanished++
			continue
		}
		if r.stored {
			count(r.block)
			continue
		}
		batch = append(batch, r.block)
		size += len(r.block.Data)
		if len(batch) >= batchBlocks || size >= batchBytes {
			if err = flush(); err != nil {
				cancel()
			}
		}
	}
	if gerr := g.Wait(); err == nil && gerr != nil {
		err = gerr
	}
	if err == nil {
		err = flush()
	}
	return err
}

// mergeHeads adds src's heads to dst and supersedes the dst heads src has
// moved past (reaches from its heads).
func mergeHeads(ctx context.Context, src, dst Replica, heads []engram.CID, st *ReplicateStats) error {
	theirs, err := dst.Current(ctx)
	if err != nil {
		return fmt.Errorf("destination heads: %w", err)
	}
	var add []engram.CID
	for _, h := range heads {
		if !slices.Contains(theirs, h) {
			add = append(add, h)
		}
	}
	// Heads of dst that src holds as blocks but not as heads: src may have
	// moved past them. Those reachable from src's heads are superseded.
	candidates := map[engram.CID]bool{}
	for _, h := range theirs {
		if slices.Contains(heads, h) {
			continue
		}
		ok, err := src.Has(ctx, h)
		if err != nil {
			return err
		}
		if ok {
			candidates[h] = true
		}
	}
	var supersede []engram.CID
	if len(candidates) > 0 {
		errFound := errors.New("all found")
		for _, h := range heads {
			err := dag.Walk(ctx, src, h, func(c engram.CID, _ []byte) error {
				if candidates[c] {
					delete(candidates, c)
					supersede = append(supersede, c)
					if len(candidates) == 0 {
						return errFound
					}
				}
				return nil
			})
			if errors.Is(err, errFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("find the destination heads the source moved past: %w", err)
			}
		}
	}
	if len(add) > 0 || len(supersede) > 0 {
		if u, ok := dst.(headsUpdater); ok {
			err = u.UpdateMany(ctx, add, supersede)
		} else {
			err = updateEach(ctx, dst, add, supersede)
		}
		if err != nil {
			return fmt.Errorf("update destination heads: %w", err)
		}
	}
	st.HeadsAdded, st.HeadsSuperseded = len(add), len(supersede)
	if st.Heads, err = dst.Current(ctx); err != nil {
		return fmt.Errorf("destination heads: %w", err)
	}
	return nil
}

// updateEach applies add and supersede through OpHeads.Update: the first
// add carries the supersedes; with nothing to add, each superseded head is
// removed by re-adding a head that stays.
func updateEach(ctx context.Context, dst engram.OpHeads, add, supersede []engram.CID) error {
	if len(add) == 0 {
		cur, err := dst.Current(ctx)
		if err != nil {
			return err
		}
		for _, h := range cur {
			if !slices.Contains(supersede, h) {
				return dst.Update(ctx, h, supersede)
			}
		}
		return nil // nothing would remain: leave the heads as they are
	}
	for i, a := range add {
		var sup []engram.CID
		if i == 0 {
			sup = supersede
		}
		if err := dst.Update(ctx, a, sup); err != nil {
			return err
		}
	}
	return nil
}
