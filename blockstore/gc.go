package blockstore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	bolt "go.etcd.io/bbolt"
)

// DefaultSweepBatch is how many blocks one GC sweep transaction deletes when
// GCOptions.SweepBatch is zero. Smaller batches let writers in sooner.
const DefaultSweepBatch = 10_000

// GCOptions configure a GC. The zero value (or nil) is the default.
type GCOptions struct {
	Roots      []engram.CID // kept for this run besides the op heads and pins
	DryRun     bool         // mark and count; delete nothing
	SweepBatch int          // deletions per write transaction; 0: DefaultSweepBatch
}

// GCStats says what a GC did.
type GCStats struct {
	Roots          int   `json:"roots"`           // op heads, pins and GCOptions.Roots
	Reachable      int   `json:"reachable"`       // blocks reachable from them, kept
	ReachableBytes int64 `json:"reachable_bytes"` //
	Missing        int   `json:"missing"`         // reachable but absent (Verify names them)
	Swept          int   `json:"swept"`           // unreachable blocks deleted (with DryRun: that would be)
	SweptBytes     int64 `json:"swept_bytes"`     //
	Kept           int   `json:"kept"`            // unreachable at the mark but written or linked to during the GC
	KNNSwept       int   `json:"knn_swept"`       // KNN edge indexes whose root block is gone
}

// gcState is what a running GC shares with writers.
type gcState struct {
	// touched holds the binary CIDs of blocks being written when the GC
	// began or written (or re-put) since. The sweep keeps them and
	// everything they link to.
	touched map[string]struct{}
}

// beginWrites registers blocks a caller is about to write, for as long as
// the call (or Batch) lasts; endWrites ends that. A GC that starts meanwhile
// takes them as touched, and a running GC is told at once. Callers register
// before their write transaction and before checking whether a block is
// already present, so that a sweep either sees the registration or has
// committed its deletion before the caller looks.
func (s *Store) beginWrites(cids ...engram.CID) {
	s.mu.Lock()
	for _, c := range cids {
		s.writing[c.KeyString()]++
		if s.gc != nil {
			s.gc.touched[c.KeyString()] = struct{}{}
		}
	}
	s.mu.Unlock()
}

func (s *Store) endWrites(cids ...engram.CID) {
	s.mu.Lock()
	for _, c := range cids {
		k := c.KeyString()
		if s.writing[k]--; s.writing[k] <= 0 {
			delete(s.writing, k)
		}
	}
	s.mu.Unlock()
}

// GC deletes every block not reachable through DAG-CBOR links from the op
// heads, the pins or opts.Roots, and the KNN edge indexes of deleted roots.
//
// It marks from one consistent snapshot (one read transaction: writers go
// on, though one that must grow the file past 1 GiB waits for it), then
// sweeps in transactions of opts.SweepBatch deletions. It is safe against
// concurrent writers in this process (other processes cannot open the file
// for writing meanwhile): each sweep transaction first marks from heads and
// pins added since the mark and from every block being written when the GC
// began or written during it, and keeps all of that.
//
// Unreachable blocks are deleted parents first: a block goes only after
// every unreachable block linking to it. So a writer that stored a whole DAG
// before the GC and names its root as a head during it either gets the DAG
// kept complete or an ENOTFOUND from Update, never a head with missing
// descendants. What GC cannot protect is a block stored before it began that
// a writer links to only from a block it writes afterwards: write a DAG and
// the head that publishes it in one Batch (Batch.UpdateHeads) or one
// PutMany, or Pin the root first.
//
// A reachable block that is corrupt stops the GC with ECORRUPT before
// anything is deleted, since its links are unknown; run Verify.
func (s *Store) GC(ctx context.Context, opts *GCOptions) (GCStats, error) {
	var o GCOptions
	if opts != nil {
		o = *opts
	}
	if o.SweepBatch <= 0 {
		o.SweepBatch = DefaultSweepBatch
	}
	var st GCStats
	if s.readOnly && !o.DryRun {
		return st, fmt.Errorf("blockstore: gc: %w", errReadOnly)
	}
	s.gcRun.Lock()
	defer s.gcRun.Unlock()
	s.mu.Lock()
	s.gc = &gcState{touched: make(map[string]struct{}, len(s.writing))}
	for k := range s.writing {
		s.gc.touched[k] = struct{}{}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.gc = nil
		s.mu.Unlock()
	}()

	marked := make(map[string]struct{})
	var candidates []string
	err := s.view(func(tx *bolt.Tx) error {
		roots := append([]engram.CID(nil), o.Roots...)
		for _, bucket := range [][]byte{bucketHeads, bucketPins} {
			cids, err := cidKeys(tx.Bucket(bucket))
			if err != nil {
				return err
			}
			roots = append(roots, cids...)
		}
		st.Roots = len(roots)
		if err := markFrom(tx, roots, marked, &st); err != nil {
			return err
		}
		err := tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			if _, ok := marked[string(k)]; !ok {
				candidates = append(candidates, string(k))
				st.Swept++
				st.SweptBytes += int64(len(v))
			}
			return nil
		})
		if err != nil {
			return err
		}
		candidates = parentsFirst(tx.Bucket(bucketBlocks), candidates)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("blockstore: gc: mark: %w", err)
	}
	if o.DryRun {
		return st, nil
	}
	if s.testHookAfterMark != nil {
		s.testHookAfterMark()
	}
	st.Swept, st.SweptBytes = 0, 0
	for i := 0; i < len(candidates); i += o.SweepBatch {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("blockstore: gc: sweep: %w", err)
		}
		if err := s.sweep(candidates[i:min(i+o.SweepBatch, len(candidates))], marked, &st); err != nil {
			return st, fmt.Errorf("blockstore: gc: sweep: %w", err)
		}
	}
	if err := s.update(func(tx *bolt.Tx) error { return sweepKNN(tx, &st) }); err != nil {
		return st, fmt.Errorf("blockstore: gc: sweep knn edges: %w", err)
	}
	return st, nil
}

// sweep deletes the unmarked keys in one write transaction, holding s.mu
// until it has committed (see beginWrites).
func (s *Store) sweep(keys []string, marked map[string]struct{}, st *GCStats) (err error) {
	if f := s.failed.Load(); f != nil {
		return *f
	}
	defer s.recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	s.mu.Lock()
	defer s.mu.Unlock()

	// Roots that appeared since the mark: new heads and pins, and blocks
	// written during the GC (with what they link to).
	var roots []engram.CID
	for _, bucket := range [][]byte{bucketHeads, bucketPins} {
		cids, err := cidKeys(tx.Bucket(bucket))
		if err != nil {
			return err
		}
		roots = append(roots, cids...)
	}
	for k := range s.gc.touched {
		if _, ok := marked[k]; !ok {
			if c, err := engram.CIDFromBytes([]byte(k)); err == nil {
				roots = append(roots, c)
			}
		}
	}
	if err := markFrom(tx, roots, marked, nil); err != nil {
		return err
	}
	blocks := tx.Bucket(bucketBlocks)
	var swept int
	var sweptBytes int64
	for _, k := range keys {
		if _, ok := marked[k]; ok {
			st.Kept++
			continue
		}
		v := blocks.Get([]byte(k))
		if v == nil {
			continue // deleted meanwhile
		}
		swept++
		sweptBytes += int64(len(v))
		if err := blocks.Delete([]byte(k)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	st.Swept += swept
	st.SweptBytes += sweptBytes
	return nil
}

// markFrom adds to marked every stored block reachable from roots that is
// not marked yet, reading through tx. It verifies each block it marks: a
// corrupt or undecodable block has unknown links, so it is an ECORRUPT error.
// With st non-nil it counts reachable blocks and missing ones.
func markFrom(tx *bolt.Tx, roots []engram.CID, marked map[string]struct{}, st *GCStats) error {
	blocks := tx.Bucket(bucketBlocks)
	stack := append([]engram.CID(nil), roots...)
	missing := make(map[string]struct{})
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := c.KeyString()
		if _, ok := marked[k]; ok {
			continue
		}
		v := blocks.Get([]byte(k))
		if v == nil {
			// Not marked: if it appears later, its links must still be
			// followed. Counted once per CID.
			if _, counted := missing[k]; st != nil && !counted {
				missing[k] = struct{}{}
				st.Missing++
			}
			continue
		}
		marked[k] = struct{}{}
		if st != nil {
			st.Reachable++
			st.ReachableBytes += int64(len(v))
		}
		links, err := dag.Check(c, v)
		if err != nil {
			var mm *dag.MismatchError
			if errors.As(err, &mm) {
				return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("reachable block %s is corrupt; not sweeping (run verify)", c), Err: err}
			}
			return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("reachable block %s is unreadable, its links unknown; not sweeping (run verify)", c), Err: err}
		}
		for _, l := range links {
			if _, ok := marked[l.KeyString()]; !ok {
				stack = append(stack, l)
			}
		}
	}
	return nil
}

// parentsFirst orders unreachable blocks so that each comes after every
// other unreachable block that links to it (Kahn's algorithm; content
// addressing makes the graph acyclic). Undecodable blocks count as leaves.
func parentsFirst(blocks *bolt.Bucket, keys []string) []string {
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k] = i
	}
	children := make([][]int, len(keys))
	indegree := make([]int, len(keys))
	var links []engram.CID
	for i, k := range keys {
		c, err := engram.CIDFromBytes([]byte(k))
		if err != nil || c.Codec() != engram.CodecDagCBOR {
			continue
		}
		links, err = dag.AppendBlockLinks(links[:0], c, blocks.Get([]byte(k)))
		if err != nil {
			continue
		}
		for _, l := range links {
			if j, ok := index[l.KeyString()]; ok && j != i {
				children[i] = append(children[i], j)
				indegree[j]++
			}
		}
	}
	order := make([]string, 0, len(keys))
	queue := make([]int, 0, len(keys))
	for i := range keys {
		if indegree[i] == 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		order = append(order, keys[i])
		for _, j := range children[i] {
			if indegree[j]--; indegree[j] == 0 {
				queue = append(queue, j)
			}
		}
	}
	return order
}
