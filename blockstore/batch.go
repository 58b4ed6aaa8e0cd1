package blockstore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/engramhq/engram"
	bolt "go.etcd.io/bbolt"
)

// Batch holds one write transaction across many puts, so that a commit of
// thousands of blocks (and the op-heads update that publishes them) costs one
// fsync. Nothing it writes is visible to readers or durable until Commit
// returns nil; Rollback, or a crash, discards all of it.
//
// A Batch is used by one goroutine. While it is open every other write to
// the Store waits for it, so the goroutine holding it must not call the
// Store's write methods (Put, Update, GC, ...) or Close: that deadlocks.
// Reads (Get, Has, Current) from any goroutine proceed and see the state
// before the batch.
type Batch struct {
	s      *Store
	tx     *bolt.Tx
	blocks *bolt.Bucket
	n      int          // blocks written
	bytes  int64        // their bytes
	cids   []engram.CID // registered with beginWrites until the batch ends
}

// Batch begins a write transaction, waiting for any other write in this
// process to finish.
func (s *Store) Batch(ctx context.Context) (*Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.readOnly {
		return nil, fmt.Errorf("blockstore: batch: %w", errReadOnly)
	}
	if f := s.failed.Load(); f != nil {
		return nil, *f
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("blockstore: batch: %w", err)
	}
	return &Batch{s: s, tx: tx, blocks: tx.Bucket(bucketBlocks)}, nil
}

var errBatchDone = errors.New("blockstore: batch already committed or rolled back")

// Put adds a block after checking it as Store.Put does. An invalid block is
// an error and leaves the batch as it was.
func (b *Batch) Put(c engram.CID, data []byte) error {
	if err := checkBlock(c, data); err != nil {
		return fmt.Errorf("blockstore: batch put %s: %w", c, err)
	}
	return b.put(c, data)
}

// PutTrusted adds a block without hashing it, as Store.PutTrusted does.
func (b *Batch) PutTrusted(c engram.CID, data []byte) error {
	if err := checkTrusted(c, data); err != nil {
		return fmt.Errorf("blockstore: batch put %s: %w", c, err)
	}
	return b.put(c, data)
}

func (b *Batch) put(c engram.CID, data []byte) (err error) {
	if b.tx == nil {
		return errBatchDone
	}
	defer b.recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	b.s.beginWrites(c)
	b.cids = append(b.cids, c)
	if err := putBlock(b.blocks, []byte(c.KeyString()), data); err != nil {
		return fmt.Errorf("blockstore: batch put %s: %w", c, err)
	}
	b.n++
	b.bytes += int64(len(data))
	return nil
}

// Has reports whether the block is stored, counting the batch's own puts.
func (b *Batch) Has(c engram.CID) (ok bool) {
	if b.tx == nil {
		return false
	}
	var err error
	defer b.recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return b.blocks.Get([]byte(c.KeyString())) != nil
}

// recoverFault, deferred, turns a panic inside bbolt into the store's
// failure (see Store.view) and ends the batch.
func (b *Batch) recoverFault(err *error) {
	p := recover()
	if p == nil {
		return
	}
	e := damaged(b.s.path, fmt.Sprintf("bbolt panicked writing it: %v", p))
	b.s.failed.Store(&e)
	*err = e
	if b.tx != nil {
		func() {
			defer func() { _ = recover() }()
			_ = b.tx.Rollback()
		}()
		b.tx = nil
		b.s.endWrites(b.cids...)
	}
}

// UpdateHeads changes the op heads as Store.Update does, inside the batch:
// the blocks and the head that names them become durable together.
func (b *Batch) UpdateHeads(add engram.CID, supersedes []engram.CID) (err error) {
	if b.tx == nil {
		return errBatchDone
	}
	defer b.recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if err := updateHeads(b.tx, add, supersedes); err != nil {
		return fmt.Errorf("blockstore: batch update op heads (add %s): %w", add, err)
	}
	return nil
}

// Len returns how many blocks and bytes Put and PutTrusted have written.
func (b *Batch) Len() (blocks int, bytes int64) { return b.n, b.bytes }

// Commit makes everything in the batch durable at once, with one fsync.
// After Commit the batch is done, whatever it returns.
func (b *Batch) Commit() (err error) {
	if b.tx == nil {
		return errBatchDone
	}
	defer b.recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = b.tx.Commit() // a panic leaves b.tx for recoverFault to roll back
	b.tx = nil
	b.s.endWrites(b.cids...)
	if err != nil {
		err = noSpace(err)
		return fmt.Errorf("blockstore: batch commit (%d blocks): %w", b.n, err)
	}
	return nil
}

// Rollback discards the batch. It is a no-op after Commit or Rollback, so
// it can be deferred.
func (b *Batch) Rollback() {
	if b.tx == nil {
		return
	}
	_ = b.tx.Rollback()
	b.tx = nil
	b.s.endWrites(b.cids...)
}
