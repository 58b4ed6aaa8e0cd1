package blockstore

import (
	"context"
	"fmt"

	"github.com/engramhq/engram"
	bolt "go.etcd.io/bbolt"
)

// Current returns the op heads sorted by binary CID. A key that is not a CID
// is an ECORRUPT error.
func (s *Store) Current(ctx context.Context) ([]engram.CID, error) {
	heads, err := s.cidSet(ctx, bucketHeads)
	if err != nil {
		return nil, fmt.Errorf("blockstore: op heads: %w", err)
	}
	return heads, nil
}

// Update adds add to the op heads and removes every CID in supersedes, in one
// transaction. add must name a stored block (ENOTFOUND otherwise), so heads
// never point at a missing block. Concurrent Updates serialise; none loses
// another's head.
func (s *Store) Update(ctx context.Context, add engram.CID, supersedes []engram.CID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.update(func(tx *bolt.Tx) error { return updateHeads(tx, add, supersedes) })
	if err != nil {
		return fmt.Errorf("blockstore: update op heads (add %s): %w", add, err)
	}
	return nil
}

func updateHeads(tx *bolt.Tx, add engram.CID, supersedes []engram.CID) error {
	if !add.Defined() {
		return engram.Invalid("add", "is undefined")
	}
	key := []byte(add.KeyString())
	if tx.Bucket(bucketBlocks).Get(key) == nil {
		return notFound(add)
	}
	heads := tx.Bucket(bucketHeads)
	for _, c := range supersedes {
		if err := heads.Delete([]byte(c.KeyString())); err != nil {
			return err
		}
	}
	return heads.Put(key, nil)
}

// Pin keeps c and everything reachable from it through GC, like an op head.
// c must name a stored block (ENOTFOUND otherwise). Pinning twice is a no-op.
func (s *Store) Pin(ctx context.Context, c engram.CID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := []byte(c.KeyString())
	err := s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBlocks).Get(key) == nil {
			return notFound(c)
		}
		return tx.Bucket(bucketPins).Put(key, nil)
	})
	if err != nil {
		return fmt.Errorf("blockstore: pin %s: %w", c, err)
	}
	return nil
}

// Unpin removes a pin; unpinning a CID that is not pinned is not an error.
// The blocks stay until a GC finds them unreachable.
func (s *Store) Unpin(ctx context.Context, c engram.CID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPins).Delete([]byte(c.KeyString())) })
	if err != nil {
		return fmt.Errorf("blockstore: unpin %s: %w", c, err)
	}
	return nil
}

// Pins returns the pinned CIDs sorted by binary CID.
func (s *Store) Pins(ctx context.Context) ([]engram.CID, error) {
	pins, err := s.cidSet(ctx, bucketPins)
	if err != nil {
		return nil, fmt.Errorf("blockstore: pins: %w", err)
	}
	return pins, nil
}

func (s *Store) cidSet(ctx context.Context, bucket []byte) ([]engram.CID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []engram.CID
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = cidKeys(tx.Bucket(bucket))
		return err
	})
	return out, err
}

// cidKeys returns a set bucket's keys as CIDs, in key (binary) order.
func cidKeys(b *bolt.Bucket) ([]engram.CID, error) {
	var out []engram.CID
	err := b.ForEach(func(k, _ []byte) error {
		c, err := engram.CIDFromBytes(k)
		if err != nil {
			return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("stored key %x is not a CID", k), Err: err}
		}
		out = append(out, c)
		return nil
	})
	return out, err
}
