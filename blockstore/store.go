// Package blockstore keeps a versioned memory graph in one embedded bbolt
// file: immutable blocks named by the hash of their bytes (every node, edge,
// tree chunk, commit, view and operation), the small mutable set of op heads
// naming the current operations, pins, and k-nearest-neighbour edge indexes.
//
// It promises:
//
//   - Get never returns bytes that do not hash to the CID asked for; a stored
//     block whose bytes changed on disk is an ECORRUPT error naming the CID.
//   - Every write that returned nil is durable (committed and fsynced), and a
//     write is all or nothing: PutMany, a Batch and an op-heads Update each
//     commit in one transaction, whatever kills the process.
//   - Op heads and pins never name a missing block: Update and Pin refuse a
//     CID whose block is absent, Delete refuses a block that is a head or
//     pinned, and GC keeps everything reachable from them.
//   - One process writes a file at a time; another process gets an ELOCKED
//     error naming the path after Options.LockTimeout, never a hang. Within the
//     process a Store is safe for concurrent use; reads never wait for writes.
//
// Store implements engram.Blockstore, engram.TrustedPutter and
// engram.OpHeads over the same file. Hashing, DAG-CBOR links and traversal
// are package dag's, shared with every other Blockstore.
package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/internal/boltfile"
	"github.com/engramhq/engram/internal/fsync"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	_ engram.Blockstore    = (*Store)(nil)
	_ engram.TrustedPutter = (*Store)(nil)
	_ engram.OpHeads       = (*Store)(nil)
)

// Buckets of the file. Their names and the key and value formats are the
// on-disk format, versioned by formatVersion.
var (
	bucketBlocks = []byte("blocks")    // binary CID -> block bytes
	bucketHeads  = []byte("op_heads")  // binary CID -> empty; the key set is the op-heads set
	bucketPins   = []byte("pins")      // binary CID -> empty; roots GC keeps besides the heads
	bucketKNN    = []byte("knn_edges") // knnKey(root) -> encoded KNNEdges
	bucketMeta   = []byte("meta")      // "format" -> formatVersion
)

var (
	keyFormat     = []byte("format")
	formatVersion = []byte("engram-blockstore/1")
)

// initialMmapSize is the address space mapped for the file up front.
const initialMmapSize = 1 << 30

// DefaultLockTimeout is how long OpenOrInit waits for another process to
// release the file when Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

// Options configure OpenOrInit. The zero value (or nil) is the default.
type Options struct {
	// LockTimeout is how long to wait for another process that holds the
	// file. 0: DefaultLockTimeout; negative: do not wait at all.
	LockTimeout time.Duration

	// ReadOnly opens an existing file for reading: many processes may do so
	// at once, but not while one has it open for writing. Writes fail with
	// EINVALID.
	ReadOnly bool
}

// Store is a Blockstore and an OpHeads set sharing one bbolt file. Safe for
// concurrent use. Close it when done.
type Store struct {
	db       *bolt.DB
	path     string
	readOnly bool

	gcRun sync.Mutex // held for a whole GC: one at a time

	// failed is set when bbolt panicked: the file is damaged and every call
	// returns this error.
	failed atomic.Pointer[error]

	mu sync.Mutex // guards gc and writing
	// gc is non-nil while a GC runs: it records the blocks written since its
	// mark began, which the sweep must keep.
	gc *gcState
	// writing counts, per binary CID, the calls (and Batches) writing that
	// block right now; a GC starting takes them all as written during it.
	writing map[string]int

	// testHookAfterMark, when set by a test, runs between a GC's mark and its
	// sweep, so tests can write at exactly that moment.
	testHookAfterMark func()
}

// OpenOrInit opens the store at path, creating the file, its parent
// directories and its tables if needed. Opening an existing store is
// idempotent, including after the previous process was killed. If another
// process holds the file, it waits up to opts.LockTimeout and then returns an
// ELOCKED error naming path. A read-only open of a missing file is ENOTFOUND.
//
// The file is the only copy of its blocks, so it is never trusted: before
// bbolt maps it, its structure is checked with plain reads (every page in
// bounds of the file and of the meta's high-water mark, reached once, its
// elements packed and in key order). A file that fails, or that bbolt cannot
// open, is an ECORRUPT error naming the file, saying what is wrong and
// suggesting engram blocks salvage; it is left as it is. A new file is
// initialised under a temporary name and linked into place once complete
// (file and directory fsynced), so a failed creation (a full disk) leaves no
// half-written blocks.db behind.
func OpenOrInit(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	timeout := o.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt treats 0 as "wait forever"
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("blockstore: open %s: %w", path, err)
		}
	}
	f, err := lockExisting(path, o.ReadOnly, timeout)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("blockstore: open %s: %w", path, err)
	}
	if err := boltfile.Check(f, st.Size()); err != nil {
		_ = f.Close()
		return nil, damaged(path, err.Error())
	}
	s := &Store{path: path, readOnly: o.ReadOnly, writing: make(map[string]int)}
	db, err := s.openBolt(f, o.ReadOnly, timeout)
	if err != nil {
		return nil, err
	}
	s.db = db
	if o.ReadOnly {
		err = s.view(s.checkFormat)
	} else {
		err = s.update(s.initTables)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("blockstore: open %s: %w", path, err)
	}
	return s, nil
}

// boltOptions are the options every open of a store file uses.
func boltOptions(readOnly bool, timeout time.Duration, f *os.File) *bolt.Options {
	return &bolt.Options{
		Timeout:  timeout,
		ReadOnly: readOnly,
		// The freelist is rebuilt by scanning on open instead of written on
		// every commit: fewer pages per fsync, and nothing to get wrong on a crash.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Address space, not memory: while the file fits, a writer growing
		// it need not wait for long read transactions (GC's mark, Verify)
		// to end before remapping.
		InitialMmapSize: initialMmapSize,
		OpenFile:        func(string, int, os.FileMode) (*os.File, error) { return f, nil },
	}
}

// openBolt opens the checked, locked file f with bbolt, turning a panic or
// memory fault inside bbolt into an ECORRUPT error. bbolt closes f on error.
func (s *Store) openBolt(f *os.File, readOnly bool, timeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			_ = f.Close()
			db, err = nil, damaged(s.path, fmt.Sprintf("bbolt panicked opening it: %v", p))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err = bolt.Open(s.path, 0o600, boltOptions(readOnly, timeout, f))
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, &engram.Error{Code: engram.ELOCKED,
			Message: fmt.Sprintf("blockstore %s is locked by another process (waited %s)", s.path, timeout)}
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return nil, damaged(s.path, err.Error())
	case err != nil:
		return nil, fmt.Errorf("blockstore: open %s: %w", s.path, noSpace(err))
	}
	return db, nil
}

// lockExisting opens and locks the file at path (shared when readOnly),
// creating and initialising it first when it is missing or empty and not
// readOnly. The lock is on the file at path (boltfile.Lock checks).
func lockExisting(path string, readOnly bool, timeout time.Duration) (*os.File, error) {
	lo := boltfile.LockOptions{Flag: os.O_RDWR, Timeout: timeout, Shared: readOnly}
	if readOnly {
		lo.Flag = os.O_RDONLY
	}
	for range 3 {
		f, err := boltfile.Lock(path, lo)
		switch {
		case errors.Is(err, os.ErrNotExist) && readOnly:
			return nil, fmt.Errorf("blockstore: open %s: %w", path, engram.NotFound("blockstore", path))
		case errors.Is(err, os.ErrNotExist):
			if err := create(path, false); err != nil {
				return nil, err
			}
			continue
		case errors.Is(err, boltfile.ErrLocked):
			return nil, &engram.Error{Code: engram.ELOCKED,
				Message: fmt.Sprintf("blockstore %s is locked by another process (waited %s)", path, timeout)}
		case err != nil:
			return nil, fmt.Errorf("blockstore: open %s: %w", path, err)
		}
		st, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("blockstore: open %s: %w", path, err)
		}
		if st.Size() > 0 || readOnly {
			return f, nil
		}
		// An empty file (created by hand, or by an engram before files were
		// created whole): nothing to lose. Replace it, holding its lock.
		err = create(path, true)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("blockstore: open %s: the file keeps changing under the open", path)
}

// create initialises a store file under a temporary name in path's
// directory and links it into place: an existing file at path wins unless
// replace (then it is renamed over). The file and the directory are fsynced
// first, so path never names a file that is not complete.
func create(path string, replace bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("blockstore: create %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after a link, only the temporary name goes
	s := &Store{path: name, writing: make(map[string]int)}
	db, err := s.openBolt(tmp, false, time.Second)
	if err != nil {
		return fmt.Errorf("blockstore: create %s: %w", path, err)
	}
	s.db = db
	err = s.update(s.initTables)
	if err == nil {
		err = db.Sync()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blockstore: create %s: %w", path, noSpace(err))
	}
	if replace {
		err = os.Rename(name, path)
	} else if err = os.Link(name, path); errors.Is(err, os.ErrExist) {
		return nil // another process created it meanwhile: use that one
	}
	if err != nil {
		return fmt.Errorf("blockstore: create %s: %w", path, err)
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("blockstore: create %s: sync the directory: %w", path, err)
	}
	return nil
}

// noSpace marks a full disk as ENOSPACE.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return &engram.Error{Code: engram.ENOSPACE, Message: "the disk is full", Err: err}
	}
	return err
}

// damaged is the ECORRUPT error of a store file that fails a check: it
// names the file, says what is wrong and how to get the intact blocks out.
func damaged(path, what string) error {
	return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf(
		"blockstore: %s is damaged: %s; copy every intact block to a new file with: engram blocks salvage %s NEW.db", path, what, path)}
}

// view runs fn in a read transaction; update in a write transaction. A
// panic or memory fault inside bbolt (a file damaged under the running
// process) becomes an ECORRUPT error naming the file, and from then on the
// store answers every call with it: bbolt's state in memory is suspect.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	if f := s.failed.Load(); f != nil {
		return *f
	}
	defer s.recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.db.View(fn)
}

// recoverFault, deferred, turns a panic into the store's failure.
func (s *Store) recoverFault(err *error) {
	if p := recover(); p != nil {
		e := damaged(s.path, fmt.Sprintf("bbolt panicked reading it: %v", p))
		s.failed.Store(&e)
		*err = e
	}
}

func (s *Store) initTables(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketBlocks, bucketHeads, bucketPins, bucketKNN, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyFormat) == nil {
		return meta.Put(keyFormat, formatVersion)
	}
	return s.checkFormat(tx)
}

func (s *Store) checkFormat(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return &engram.Error{Code: engram.EINVALID, Message: "not an engram blockstore (no meta table)"}
	}
	if got := meta.Get(keyFormat); !bytes.Equal(got, formatVersion) {
		return &engram.Error{Code: engram.EINVALID,
			Message: fmt.Sprintf("file format is %q; this engram reads %q", got, formatVersion)}
	}
	for _, name := range [][]byte{bucketBlocks, bucketHeads, bucketPins, bucketKNN} {
		if tx.Bucket(name) == nil {
			return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("table %s is missing", name)}
		}
	}
	return nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close releases the file. It waits for an open Batch and for running reads.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("blockstore: close %s: %w", s.path, err)
	}
	return nil
}

// update runs fn in a write transaction (see view), refusing on a
// read-only store.
func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	if s.readOnly {
		return errReadOnly
	}
	if f := s.failed.Load(); f != nil {
		return *f
	}
	defer s.recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return noSpace(s.db.Update(fn))
}

var errReadOnly = &engram.Error{Code: engram.EINVALID, Message: "the blockstore is open read-only"}

func notFound(c engram.CID) error { return engram.NotFound("block", c) }

// Has reports whether the block is stored. It does not verify the bytes.
func (s *Store) Has(ctx context.Context, c engram.CID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketBlocks).Get([]byte(c.KeyString())) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("blockstore: has %s: %w", c, err)
	}
	return ok, nil
}

// Get returns a copy of the block's bytes after checking they hash to c.
// An absent block is ENOTFOUND, a mismatch ECORRUPT naming c.
func (s *Store) Get(ctx context.Context, c engram.CID) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var data []byte
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlocks).Get([]byte(c.KeyString()))
		if v == nil {
			return notFound(c)
		}
		data = bytes.Clone(v)
		return nil
	})
	if err == nil {
		err = s.corruptUnlessVerified(c, data)
	}
	if err != nil {
		return nil, fmt.Errorf("blockstore: get %s: %w", c, err)
	}
	return data, nil
}

// corruptUnlessVerified reports stored bytes that do not hash to their CID.
func (s *Store) corruptUnlessVerified(c engram.CID, data []byte) error {
	if err := dag.Verify(c, data); err != nil {
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("block %s in %s is corrupt (putting its bytes again repairs it)", c, s.path), Err: err}
	}
	return nil
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

// checkTrusted validates a block for PutTrusted: everything but the hash.
func checkTrusted(c engram.CID, data []byte) error {
	if len(data) > engram.MaxBlockSize {
		return engram.TooLarge("data", len(data), engram.MaxBlockSize)
	}
	return dag.CheckPrefix(c)
}

// Put stores data under c after checking it hashes to c and, for DAG-CBOR,
// is valid DAG-CBOR. Putting a block already stored with these bytes costs a
// read, not a write. When Put returns nil the block is durable.
func (s *Store) Put(ctx context.Context, c engram.CID, data []byte) error {
	if err := checkBlock(c, data); err != nil {
		return fmt.Errorf("blockstore: put %s: %w", c, err)
	}
	return s.put(ctx, c, data)
}

// PutTrusted stores data under c without hashing it, for callers that have
// just computed c from data. Get still verifies, so a wrong trusted put is
// an ECORRUPT error later, never wrong bytes.
func (s *Store) PutTrusted(ctx context.Context, c engram.CID, data []byte) error {
	if err := checkTrusted(c, data); err != nil {
		return fmt.Errorf("blockstore: put %s: %w", c, err)
	}
	return s.put(ctx, c, data)
}

func (s *Store) put(ctx context.Context, c engram.CID, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := []byte(c.KeyString())
	s.beginWrites(c)
	defer s.endWrites(c)
	var present bool
	if err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlocks).Get(key)
		present = v != nil && bytes.Equal(v, data)
		return nil
	}); err != nil {
		return fmt.Errorf("blockstore: put %s: %w", c, err)
	}
	if present {
		return nil
	}
	if err := s.update(func(tx *bolt.Tx) error { return putBlock(tx.Bucket(bucketBlocks), key, data) }); err != nil {
		return fmt.Errorf("blockstore: put %s: %w", c, err)
	}
	return nil
}

// putBlock writes a block unless the same bytes are there; different bytes
// (a corrupted copy) are overwritten, so a Put repairs a corrupt block.
func putBlock(b *bolt.Bucket, key, data []byte) error {
	if old := b.Get(key); old != nil && bytes.Equal(old, data) {
		return nil
	}
	return b.Put(key, data)
}

// PutMany stores every block, all or none, in one transaction and one
// fsync, after checking each as Put does. Blocks already stored cost nothing;
// if all are, nothing is written.
func (s *Store) PutMany(ctx context.Context, blocks []engram.Block) error {
	for i, b := range blocks {
		if err := checkBlock(b.CID, b.Data); err != nil {
			return fmt.Errorf("blockstore: put many: block %d (%s): %w", i, b.CID, err)
		}
	}
	return s.putMany(ctx, blocks)
}

func (s *Store) putMany(ctx context.Context, blocks []engram.Block) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cids := make([]engram.CID, len(blocks))
	for i, b := range blocks {
		cids[i] = b.CID
	}
	s.beginWrites(cids...)
	defer s.endWrites(cids...)
	// A read transaction first: if every block is already there, no write
	// (and no fsync) is needed. Otherwise all of them are written in one
	// transaction that checks presence again itself: the set found missing
	// here may have grown by then (a GC between the two), and writing only
	// that stale subset could leave a DAG with holes.
	allPresent := true
	if err := s.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketBlocks)
		for _, b := range blocks {
			if v := bk.Get([]byte(b.CID.KeyString())); v == nil || !bytes.Equal(v, b.Data) {
				allPresent = false
				return nil
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("blockstore: put many: %w", err)
	}
	if allPresent {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketBlocks)
		for _, b := range blocks {
			if err := putBlock(bk, []byte(b.CID.KeyString()), b.Data); err != nil {
				return fmt.Errorf("block %s: %w", b.CID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("blockstore: put many (%d blocks): %w", len(blocks), err)
	}
	return nil
}

// Delete removes a block. Deleting an absent block is not an error; deleting
// an op head or a pinned block is ECONFLICT (supersede or unpin it first).
// Blocks that linked to it are not touched: Verify reports the dangling link.
func (s *Store) Delete(ctx context.Context, c engram.CID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := []byte(c.KeyString())
	err := s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketHeads).Get(key) != nil {
			return &engram.Error{Code: engram.ECONFLICT, Message: fmt.Sprintf("block %s is an op head; supersede it first", c)}
		}
		if tx.Bucket(bucketPins).Get(key) != nil {
			return &engram.Error{Code: engram.ECONFLICT, Message: fmt.Sprintf("block %s is pinned; unpin it first", c)}
		}
		return tx.Bucket(bucketBlocks).Delete(key)
	})
	if err != nil {
		return fmt.Errorf("blockstore: delete %s: %w", c, err)
	}
	return nil
}

// scanChunk is how many keys one read transaction of a streaming scan
// collects before yielding them. Short transactions never hold back a
// writer that needs to grow the file.
const scanChunk = 1024

// AllCIDs streams every stored CID in binary order, scanChunk keys per read
// transaction, so the caller may write to the store inside the loop. A key
// that is not a CID is an ECORRUPT error.
func (s *Store) AllCIDs(ctx context.Context) iter.Seq2[engram.CID, error] {
	return func(yield func(engram.CID, error) bool) {
		for kv, err := range s.scan(ctx, bucketBlocks, false) {
			if err != nil {
				yield(engram.CID{}, err)
				return
			}
			c, err := engram.CIDFromBytes(kv.key)
			if err != nil {
				yield(engram.CID{}, fmt.Errorf("blockstore: all cids: key %x: %w", kv.key,
					&engram.Error{Code: engram.ECORRUPT, Message: "stored key is not a CID", Err: err}))
				return
			}
			if !yield(c, nil) {
				return
			}
		}
	}
}

type keyValue struct{ key, value []byte }

// scan streams a bucket's keys (and copies of values when withValues) in
// chunks of short read transactions.
func (s *Store) scan(ctx context.Context, bucket []byte, withValues bool) iter.Seq2[keyValue, error] {
	return func(yield func(keyValue, error) bool) {
		var after []byte
		chunk := make([]keyValue, 0, scanChunk)
		for {
			if err := ctx.Err(); err != nil {
				yield(keyValue{}, err)
				return
			}
			chunk = chunk[:0]
			err := s.view(func(tx *bolt.Tx) error {
				cur := tx.Bucket(bucket).Cursor()
				var k, v []byte
				if after == nil {
					k, v = cur.First()
				} else if k, v = cur.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = cur.Next()
				}
				for ; k != nil && len(chunk) < scanChunk; k, v = cur.Next() {
					kv := keyValue{key: bytes.Clone(k)}
					if withValues {
						kv.value = bytes.Clone(v)
					}
					chunk = append(chunk, kv)
				}
				return nil
			})
			if err != nil {
				yield(keyValue{}, fmt.Errorf("blockstore: scan %s: %w", bucket, err))
				return
			}
			for _, kv := range chunk {
				if !yield(kv, nil) {
					return
				}
			}
			if len(chunk) < scanChunk {
				return
			}
			after = chunk[len(chunk)-1].key
		}
	}
}

// Walk visits root and every block reachable from it through DAG-CBOR links,
// each once, as dag.Walk does; fn gets verified bytes it may keep.
func (s *Store) Walk(ctx context.Context, root engram.CID, fn func(c engram.CID, data []byte) error) error {
	return dag.Walk(ctx, s, root, fn)
}
