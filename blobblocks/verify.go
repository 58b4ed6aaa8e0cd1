package blobblocks

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/dag"
)

// VerifyReport is what Verify found.
type VerifyReport struct {
	Name    string         `json:"name"`
	Blocks  int            `json:"blocks"`
	Bytes   int64          `json:"bytes"`
	Heads   int            `json:"heads"`
	Corrupt []CorruptBlock `json:"corrupt"` // blocks whose bytes fail verification
	Missing []MissingBlock `json:"missing"` // named by a head or a link but absent
}

// CorruptBlock is a block that fails verification.
type CorruptBlock struct {
	Key     string `json:"key"` // the CID, or the object's key when it is not a block key
	Problem string `json:"problem"`
}

// MissingBlock is a link or head naming an absent block.
type MissingBlock struct {
	CID        engram.CID  `json:"cid"`
	LinkedFrom *engram.CID `json:"linked_from,omitempty"` // nil when a head names it
}

// OK reports whether Verify found nothing wrong.
func (r *VerifyReport) OK() bool { return len(r.Corrupt) == 0 && len(r.Missing) == 0 }

// Verify reads every block back and re-hashes it, decodes every DAG-CBOR
// block, and checks that every head and every link names a stored block.
// Damage goes in the report; the error is for failures to read at all. It
// holds the set of stored CIDs in memory. progress, if set, is called after
// each block.
func (s *Store) Verify(ctx context.Context, progress func(blocks int, bytes int64)) (*VerifyReport, error) {
	rep := &VerifyReport{Name: s.opts.Name}
	present := map[engram.CID]bool{}
	links := map[engram.CID]engram.CID{} // link -> one block linking to it
	for info, err := range s.allBlocks(ctx) {
		if err != nil {
			return rep, fmt.Errorf("blobblocks: verify %s: %w", s.opts.Name, err)
		}
		c, err := cidOfKey(info.Key)
		if err != nil {
			rep.Corrupt = append(rep.Corrupt, CorruptBlock{Key: info.Key, Problem: "not a block key: " + err.Error()})
			continue
		}
		present[c] = true
		data, err := s.Get(ctx, c)
		if errors.Is(err, engram.ErrNotFound) {
			delete(present, c) // deleted since listed
			continue
		}
		if errors.Is(err, engram.ErrCorrupt) {
			rep.Corrupt = append(rep.Corrupt, CorruptBlock{Key: c.String(), Problem: err.Error()})
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("blobblocks: verify %s: %w", s.opts.Name, err)
		}
		ls, err := dag.Check(c, data)
		if err != nil {
			rep.Corrupt = append(rep.Corrupt, CorruptBlock{Key: c.String(), Problem: err.Error()})
			continue
		}
		for _, l := range ls {
			if _, ok := links[l]; !ok {
				links[l] = c
			}
		}
		rep.Blocks++
		rep.Bytes += int64(len(data))
		if progress != nil {
			progress(rep.Blocks, rep.Bytes)
		}
	}
	heads, err := s.Current(ctx)
	if err != nil {
		var e *engram.Error
		if errors.As(err, &e) && e.Code == engram.ECORRUPT {
			rep.Corrupt = append(rep.Corrupt, CorruptBlock{Key: "heads", Problem: err.Error()})
			return rep, nil
		}
		return rep, err
	}
	rep.Heads = len(heads)
	for _, h := range heads {
		if !present[h] {
			rep.Missing = append(rep.Missing, MissingBlock{CID: h})
		}
	}
	for l, from := range links {
		if !present[l] {
			rep.Missing = append(rep.Missing, MissingBlock{CID: l, LinkedFrom: &from})
		}
	}
	slices.SortFunc(rep.Missing, func(a, b MissingBlock) int { return a.CID.Compare(b.CID) })
	return rep, nil
}
