// Package blobblocks keeps blocks and op heads in an object store
// (engram.BlobStore): the object tier's twin of package blockstore, for
// blocks that outlive a node and for many nodes sharing one graph.
//
// Layout under the store (each key a separate object):
//
//	format                      "engram blockstore 1\n", written once by Open
//	blocks/<CID in hex>         a block's bytes, exactly; hex keeps List in CID order
//	heads/<seq, 20 digits>      the op-heads set after update number seq
//
// Blocks are immutable and written with conditional creates, so concurrent
// writers of one block never clash. The op heads are a chain of immutable
// objects: update seq+1 is a conditional create of heads/<seq+1> holding the
// whole set and the SHA-256 of heads/<seq>; the highest seq is the current
// set. A writer whose create loses the race reads the newer set and applies
// its update again on top of it, so no update is lost between processes or
// nodes. Old entries of the chain are deleted as it grows (Options.KeepHeads).
package blobblocks

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"golang.org/x/sync/errgroup"
)

const (
	formatKey    = "format"
	formatText   = "engram blockstore 1\n"
	blocksPrefix = "blocks/"
	headsPrefix  = "heads/"
)

// Options configure a Store. The zero value (or nil) gives the defaults.
type Options struct {
	// Name is how errors and reports name the store, such as its URL
	// (blob URLs carry no credentials). Default "blob store".
	Name string
	// KeepHeads is how many of the newest op-heads objects are kept when
	// older ones are deleted; default 16, at least 2.
	KeepHeads int
	// Concurrency bounds the object-store requests one PutMany makes at
	// once; default 8.
	Concurrency int
}

// EnsureDefaults fills unset fields.
func (o *Options) EnsureDefaults() {
	if o.Name == "" {
		o.Name = "blob store"
	}
	if o.KeepHeads == 0 {
		o.KeepHeads = 16
	}
	if o.Concurrency == 0 {
		o.Concurrency = 8
	}
}

// Validate reports a bad option as EINVALID naming it.
func (o *Options) Validate() error {
	if o.KeepHeads < 2 {
		return engram.Invalid("keep_heads", "is %d; it must be at least 2", o.KeepHeads)
	}
	if o.Concurrency < 1 {
		return engram.Invalid("concurrency", "is %d; it must be at least 1", o.Concurrency)
	}
	return nil
}

// Store is an engram.Blockstore and engram.OpHeads over an engram.BlobStore.
// Safe for concurrent use, and across processes and nodes sharing the
// object store. It does not own the BlobStore: Close does not close it.
type Store struct {
	b     engram.BlobStore
	opts  Options
	heads headCache
	queue headsQueue
}

var (
	_ engram.Blockstore    = (*Store)(nil)
	_ engram.OpHeads       = (*Store)(nil)
	_ engram.TrustedPutter = (*Store)(nil)
)

// Open returns the store kept in b, marking b as a blockstore (the format
// object) on first use. A b whose format object says something else is
// ECORRUPT naming it.
func Open(ctx context.Context, b engram.BlobStore, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Store{b: b, opts: o}
	if err := s.checkFormat(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// checkFormat reads the format object, creating it if absent (so opening
// an existing store needs only read access).
func (s *Store) checkFormat(ctx context.Context) error {
	got, err := s.readSmall(ctx, formatKey, 256)
	if errors.Is(err, engram.ErrNotFound) {
		_, err = s.b.Put(ctx, formatKey, strings.NewReader(formatText), engram.BlobPutOptions{IfAbsent: true})
		if err == nil {
			return nil
		}
		if errors.Is(err, engram.ErrConflict) { // created by another node meanwhile
			got, err = s.readSmall(ctx, formatKey, 256)
		}
	}
	if err != nil {
		return fmt.Errorf("blobblocks: open %s: %w", s.opts.Name, err)
	}
	if string(got) != formatText {
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf(
			"blobblocks: %s: object %q holds %q, not %q: not an engram blockstore, or a newer format",
			s.opts.Name, formatKey, truncate(string(got), 60), strings.TrimSpace(formatText))}
	}
	return nil
}

// Name returns the name errors use (Options.Name).
func (s *Store) Name() string { return s.opts.Name }

// Close releases nothing of the BlobStore, which the caller owns; it exists
// so a Store can stand where a closable blockstore is expected.
func (s *Store) Close() error { return nil }

func blockKey(c engram.CID) string { return blocksPrefix + hex.EncodeToString(c.Bytes()) }

// cidOfKey parses a key under blocks/.
func cidOfKey(key string) (engram.CID, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(key, blocksPrefix))
	if err != nil {
		return engram.CID{}, fmt.Errorf("not hex: %v", err)
	}
	c, err := engram.CIDFromBytes(b)
	if err != nil {
		return engram.CID{}, err
	}
	if blockKey(c) != key { // upper-case hex and the like
		return engram.CID{}, fmt.Errorf("not the canonical key of %s", c)
	}
	return c, nil
}

func notFound(c engram.CID) error { return engram.NotFound("block", c) }

// readSmall reads a whole object of at most limit bytes; a longer one is
// ECORRUPT naming the key.
func (s *Store) readSmall(ctx context.Context, key string, limit int64) ([]byte, error) {
	r, err := s.b.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("object %s in %s is over %d bytes", key, s.opts.Name, limit)}
	}
	return data, nil
}

// Has reports whether the block is stored. It does not read the bytes.
func (s *Store) Has(ctx context.Context, c engram.CID) (bool, error) {
	if !c.Defined() {
		return false, engram.Invalid("cid", "is undefined")
	}
	_, err := s.b.Stat(ctx, blockKey(c))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, engram.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("blobblocks: has %s: %w", c, err)
}

// Get returns the block's bytes after checking they hash to c. An absent
// block is ENOTFOUND, bytes that do not match (or are over MaxBlockSize)
// ECORRUPT naming c and the store.
func (s *Store) Get(ctx context.Context, c engram.CID) ([]byte, error) {
	if !c.Defined() {
		return nil, engram.Invalid("cid", "is undefined")
	}
	data, err := s.get(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("blobblocks: get %s: %w", c, err)
	}
	return data, nil
}

func (s *Store) get(ctx context.Context, c engram.CID) ([]byte, error) {
	data, err := s.readSmall(ctx, blockKey(c), engram.MaxBlockSize)
	switch {
	case errors.Is(err, engram.ErrNotFound):
		return nil, notFound(c)
	case errors.Is(err, engram.ErrCorrupt):
		return nil, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("block %s in %s is corrupt (putting its bytes again repairs it)", c, s.opts.Name), Err: err}
	case err != nil:
		return nil, err
	}
	if err := dag.Verify(c, data); err != nil {
		return nil, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("block %s in %s is corrupt (putting its bytes again repairs it)", c, s.opts.Name), Err: err}
	}
	return data, nil
}

// checkBlock validates a block for Put: size, supported CID, bytes that hash
// to it and, for DAG-CBOR, valid DAG-CBOR.
func checkBlock(c engram.CID, data []byte) error {
	if len(data) > engram.MaxBlockSize {
		return engram.TooLarge("data", len(data), engram.MaxBlockSize)
	}
	_, err := dag.Check(c, data)
	var mm *dag.MismatchError
	if errors.As(err, &mm) {
		return &engram.Error{Code: engram.EINVALID, Field: "data", Message: mm.Error()}
	}
	return err
}

// Put stores data under c after checking it hashes to c and, for DAG-CBOR,
// is valid DAG-CBOR. The object is written with a conditional create; a
// block already present is read back and verified instead, and replaced if
// its bytes are damaged (so putting a block again repairs it). When Put
// returns nil the block is stored as durably as the object store stores
// objects.
func (s *Store) Put(ctx context.Context, c engram.CID, data []byte) error {
	if err := checkBlock(c, data); err != nil {
		return fmt.Errorf("blobblocks: put %s: %w", c, err)
	}
	return s.put(ctx, c, data)
}

// PutTrusted stores data under c without hashing it, for callers that have
// just computed c from data. Get still verifies, so a wrong trusted put is
// an ECORRUPT error later, never wrong bytes.
func (s *Store) PutTrusted(ctx context.Context, c engram.CID, data []byte) error {
	if len(data) > engram.MaxBlockSize {
		return fmt.Errorf("blobblocks: put %s: %w", c, engram.TooLarge("data", len(data), engram.MaxBlockSize))
	}
	if err := dag.CheckPrefix(c); err != nil {
		return fmt.Errorf("blobblocks: put %s: %w", c, err)
	}
	return s.put(ctx, c, data)
}

func (s *Store) put(ctx context.Context, c engram.CID, data []byte) error {
	key := blockKey(c)
	for attempt := 0; ; attempt++ {
		_, err := s.b.Put(ctx, key, bytes.NewReader(data), engram.BlobPutOptions{IfAbsent: true})
		if err == nil {
			return nil
		}
		if !errors.Is(err, engram.ErrConflict) {
			return fmt.Errorf("blobblocks: put %s: %w", c, err)
		}
		// Present: success if it is intact, repaired if it is not.
		_, gerr := s.get(ctx, c)
		switch {
		case gerr == nil:
			return nil
		case errors.Is(gerr, engram.ErrNotFound) && attempt < 3:
			continue // deleted between our create and our read
		case errors.Is(gerr, engram.ErrCorrupt):
			if _, err := s.b.Put(ctx, key, bytes.NewReader(data), engram.BlobPutOptions{}); err != nil {
				return fmt.Errorf("blobblocks: put %s (replacing a damaged copy): %w", c, err)
			}
			return nil
		}
		return fmt.Errorf("blobblocks: put %s: %w", c, gerr)
	}
}

// PutMany validates every block before storing any, so a bad block stores
// nothing; then it stores them, Options.Concurrency at a time. An object
// store has no multi-object transaction: if storing fails part way, some
// blocks may be stored (harmless: blocks are immutable and unreferenced
// until a head names them) and the error says which failed.
func (s *Store) PutMany(ctx context.Context, blocks []engram.Block) error {
	for _, b := range blocks {
		if err := checkBlock(b.CID, b.Data); err != nil {
			return fmt.Errorf("blobblocks: put %s: %w", b.CID, err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	for _, b := range blocks {
		g.Go(func() error { return s.put(gctx, b.CID, b.Data) })
	}
	return g.Wait()
}

// Delete removes a block; deleting an absent block is not an error. A
// current op head is refused with ECONFLICT. The check and the delete are
// two requests: a head added by another process between them can name a
// block this Delete removes, so delete only blocks no process is about to
// make a head.
func (s *Store) Delete(ctx context.Context, c engram.CID) error {
	if !c.Defined() {
		return engram.Invalid("cid", "is undefined")
	}
	st, err := s.latest(ctx)
	if err != nil {
		return fmt.Errorf("blobblocks: delete %s: %w", c, err)
	}
	for _, h := range st.heads {
		if h == c {
			return fmt.Errorf("blobblocks: delete %s: %w", c, &engram.Error{Code: engram.ECONFLICT, Message: fmt.Sprintf("block %s is an op head; supersede it first", c)})
		}
	}
	if err := s.b.Delete(ctx, blockKey(c)); err != nil {
		return fmt.Errorf("blobblocks: delete %s: %w", c, err)
	}
	return nil
}

// AllCIDs streams every stored CID in binary order, one listing page at a
// time, so the caller may write to the store inside the loop. An object
// under blocks/ whose key is not a block key is an ECORRUPT error naming
// the key.
func (s *Store) AllCIDs(ctx context.Context) iter.Seq2[engram.CID, error] {
	return func(yield func(engram.CID, error) bool) {
		for info, err := range s.list(ctx, blocksPrefix) {
			if err != nil {
				yield(engram.CID{}, fmt.Errorf("blobblocks: list blocks: %w", err))
				return
			}
			c, err := cidOfKey(info.Key)
			if err != nil {
				yield(engram.CID{}, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("blobblocks: object %s in %s is not a block: %v", info.Key, s.opts.Name, err)})
				return
			}
			if !yield(c, nil) {
				return
			}
		}
	}
}

// allBlocks is AllCIDs with each object's size.
func (s *Store) allBlocks(ctx context.Context) iter.Seq2[engram.BlobInfo, error] {
	return s.list(ctx, blocksPrefix)
}

// list streams every object under prefix, page by page.
func (s *Store) list(ctx context.Context, prefix string) iter.Seq2[engram.BlobInfo, error] {
	return func(yield func(engram.BlobInfo, error) bool) {
		after := ""
		for {
			page, err := s.b.List(ctx, engram.BlobListOptions{Prefix: prefix, After: after})
			if err != nil {
				yield(engram.BlobInfo{}, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			after = page.Next
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
