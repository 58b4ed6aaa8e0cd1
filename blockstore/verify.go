package blockstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
	"github.com/engramhq/engram/internal/boltfile"
	bolt "go.etcd.io/bbolt"
)

// Stats describe what the file holds.
type Stats struct {
	Path string `json:"path"`
	// FileBytes is the file's size (what ls -l shows). bbolt grows the file
	// ahead of need, so most of it may be unused (and, on most file systems,
	// not allocated on disk); UsedBytes is the part its pages occupy (the
	// high-water mark times the page size), free pages for reuse included.
	FileBytes     int64 `json:"file_bytes"`
	UsedBytes     int64 `json:"used_bytes"`
	Blocks        int   `json:"blocks"`
	BlockBytes    int64 `json:"block_bytes"`
	RawBlocks     int   `json:"raw_blocks"`
	DagCBORBlocks int   `json:"dag_cbor_blocks"`
	Heads         int   `json:"heads"`
	Pins          int   `json:"pins"`
	KNNIndexes    int   `json:"knn_indexes"`
}

// Stat counts blocks, bytes, heads, pins and KNN indexes from one snapshot.
func (s *Store) Stat(ctx context.Context) (Stats, error) {
	st := Stats{Path: s.path}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	err := s.view(func(tx *bolt.Tx) error {
		st.UsedBytes = tx.Size()
		err := tx.Bucket(bucketBlocks).ForEach(func(k, v []byte) error {
			st.Blocks++
			st.BlockBytes += int64(len(v))
			if c, err := engram.CIDFromBytes(k); err == nil {
				switch c.Codec() {
				case engram.CodecRaw:
					st.RawBlocks++
				case engram.CodecDagCBOR:
					st.DagCBORBlocks++
				}
			}
			return nil
		})
		st.Heads = tx.Bucket(bucketHeads).Stats().KeyN
		st.Pins = tx.Bucket(bucketPins).Stats().KeyN
		st.KNNIndexes = tx.Bucket(bucketKNN).Stats().KeyN
		return err
	})
	if err != nil {
		return st, fmt.Errorf("blockstore: stat: %w", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st, nil
}

// VerifyReport says what Verify found. OK reports whether it found nothing wrong.
type VerifyReport struct {
	Blocks     int            `json:"blocks"`
	Bytes      int64          `json:"bytes"`
	Heads      int            `json:"heads"`
	Pins       int            `json:"pins"`
	KNNIndexes int            `json:"knn_indexes"`
	Corrupt    []CorruptEntry `json:"corrupt"` // blocks and indexes whose bytes fail verification
	Missing    []MissingBlock `json:"missing"` // reachable from a head or pin but absent
	// Structure lists damage to the file itself: a meta page that fails its
	// checksum (when it is the newer one, the last committed transaction is
	// lost: bbolt opened the file from the older one) and page-level
	// inconsistencies (this package's check and bbolt's).
	Structure []string `json:"structure"`
}

// CorruptEntry names a stored record that failed verification.
type CorruptEntry struct {
	Kind    string `json:"kind"`    // "block", "key", "head", "pin" or "knn_edges"
	Key     string `json:"key"`     // the CID, or the raw key in hex when it is not one
	Problem string `json:"problem"` // what is wrong
}

// MissingBlock is a link to an absent block.
type MissingBlock struct {
	CID        engram.CID  `json:"cid"`
	LinkedFrom *engram.CID `json:"linked_from,omitempty"` // nil when a head or pin names it
}

// OK reports whether Verify found nothing wrong.
func (r *VerifyReport) OK() bool {
	return len(r.Corrupt) == 0 && len(r.Missing) == 0 && len(r.Structure) == 0
}

// Verify checks the whole file: bbolt's page structure, every block
// (re-hashed; DAG-CBOR blocks decoded), that every block reachable from the
// op heads and pins is present, and every KNN index's checksum. Problems go
// in the report; the error is for failing to run at all. Blocks are read in
// short transactions; the reachability pass and the structure check each use
// one read transaction.
func (s *Store) Verify(ctx context.Context) (*VerifyReport, error) {
	r := &VerifyReport{}
	probs, err := s.fileProblems()
	if err != nil {
		return r, fmt.Errorf("blockstore: verify: %w", err)
	}
	r.Structure = append(r.Structure, probs...)
	err = s.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			r.Structure = append(r.Structure, err.Error())
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("blockstore: verify: %w", err)
	}
	for kv, err := range s.scan(ctx, bucketBlocks, true) {
		if err != nil {
			return r, fmt.Errorf("blockstore: verify: %w", err)
		}
		r.Blocks++
		r.Bytes += int64(len(kv.value))
		c, err := engram.CIDFromBytes(kv.key)
		if err != nil {
			r.Corrupt = append(r.Corrupt, CorruptEntry{Kind: "key", Key: fmt.Sprintf("%x", kv.key), Problem: "stored key is not a CID: " + err.Error()})
			continue
		}
		if _, err := dag.Check(c, kv.value); err != nil {
			r.Corrupt = append(r.Corrupt, CorruptEntry{Kind: "block", Key: c.String(), Problem: problem(err)})
		}
	}
	corrupt := make(map[string]bool, len(r.Corrupt))
	for _, e := range r.Corrupt {
		corrupt[e.Key] = true
	}
	err = s.view(func(tx *bolt.Tx) error {
		var roots []engram.CID
		for _, b := range []struct {
			name []byte
			kind string
			n    *int
		}{{bucketHeads, "head", &r.Heads}, {bucketPins, "pin", &r.Pins}} {
			_ = tx.Bucket(b.name).ForEach(func(k, _ []byte) error {
				*b.n++
				c, err := engram.CIDFromBytes(k)
				if err != nil {
					r.Corrupt = append(r.Corrupt, CorruptEntry{Kind: b.kind, Key: fmt.Sprintf("%x", k), Problem: "stored key is not a CID: " + err.Error()})
					return nil
				}
				roots = append(roots, c)
				return nil
			})
		}
		r.Missing = missingFrom(tx, roots, corrupt)
		return tx.Bucket(bucketKNN).ForEach(func(k, v []byte) error {
			r.KNNIndexes++
			if _, err := decodeKNN(v); err != nil {
				r.Corrupt = append(r.Corrupt, CorruptEntry{Kind: "knn_edges", Key: fmt.Sprintf("%x", k), Problem: err.Error()})
			}
			return nil
		})
	})
	if err != nil {
		return r, fmt.Errorf("blockstore: verify: %w", err)
	}
	return r, nil
}

// fileProblems reads both meta pages and checks the file's structure with
// plain reads, holding bbolt's writer lock (without writing) on a writable
// store so no commit changes the file meanwhile.
func (s *Store) fileProblems() (probs []string, err error) {
	if !s.readOnly {
		if f := s.failed.Load(); f != nil {
			return nil, *f
		}
		defer s.recoverFault(&err)
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		tx, err := s.db.Begin(true)
		if err != nil {
			return nil, err
		}
		defer func() { _ = tx.Rollback() }()
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	metas, err := boltfile.Metas(f, st.Size())
	if err != nil {
		return []string{err.Error()}, nil
	}
	probs = boltfile.MetaProblems(metas)
	if err := boltfile.Check(f, st.Size()); err != nil {
		probs = append(probs, err.Error())
	}
	return probs, nil
}

func problem(err error) string {
	var mm *dag.MismatchError
	if errors.As(err, &mm) {
		return mm.Error()
	}
	return err.Error()
}

// missingFrom lists links from roots to absent blocks, following links
// through every present block except the corrupt ones (their links are
// unknown).
func missingFrom(tx *bolt.Tx, roots []engram.CID, corrupt map[string]bool) []MissingBlock {
	blocks := tx.Bucket(bucketBlocks)
	type entry struct {
		c      engram.CID
		parent *engram.CID
	}
	var missing []MissingBlock
	seen := make(map[string]struct{})
	stack := make([]entry, 0, len(roots))
	for _, c := range roots {
		stack = append(stack, entry{c: c})
	}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[e.c.KeyString()]; ok {
			continue
		}
		seen[e.c.KeyString()] = struct{}{}
		v := blocks.Get([]byte(e.c.KeyString()))
		if v == nil {
			missing = append(missing, MissingBlock{CID: e.c, LinkedFrom: e.parent})
			continue
		}
		if corrupt[e.c.String()] {
			continue
		}
		links, err := dag.BlockLinks(e.c, v)
		if err != nil {
			continue
		}
		parent := e.c
		for _, l := range links {
			stack = append(stack, entry{c: l, parent: &parent})
		}
	}
	return missing
}
