package blobblocks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/engramhq/engram"
)

// maxHeadsObject bounds what is read of one heads/<seq> object.
const maxHeadsObject = 32 << 20

// maxUpdateAttempts bounds how often one Update re-reads and retries after
// losing races; beyond it the Update fails with EUNAVAILABLE.
const maxUpdateAttempts = 10_000

// headState is one entry of the heads chain.
type headState struct {
	seq    uint64       // 0: no entry yet, the empty set
	heads  []engram.CID // sorted by CID.Compare
	digest [32]byte     // SHA-256 of the object's bytes; zero for seq 0
}

// headCache remembers the newest entry this Store has seen, so an Update
// usually needs no listing first.
type headCache struct {
	mu sync.Mutex
	st headState
}

func (h *headCache) get() headState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// advance keeps st if it is newer than what is cached.
func (h *headCache) advance(st headState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st.seq > h.st.seq {
		h.st = st
	}
}

func headsKey(seq uint64) string { return fmt.Sprintf("%s%020d", headsPrefix, seq) }

func seqOfKey(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, headsPrefix)
	if !ok || len(rest) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil && n > 0
}

// encodeHeads writes one chain entry:
//
//	engram op heads 1
//	seq 42
//	parent <hex SHA-256 of heads/41's bytes> | none
//	head <CID>            (one line per head, sorted)
//	sum <hex SHA-256 of every byte above>
func encodeHeads(seq uint64, parent [32]byte, heads []engram.CID) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "engram op heads 1\nseq %d\n", seq)
	if seq == 1 {
		b.WriteString("parent none\n")
	} else {
		fmt.Fprintf(&b, "parent %x\n", parent)
	}
	for _, h := range heads {
		fmt.Fprintf(&b, "head %s\n", h)
	}
	sum := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, "sum %x\n", sum)
	return b.Bytes()
}

// decodeHeads parses what encodeHeads wrote under key; anything else is
// ECORRUPT naming key.
func (s *Store) decodeHeads(key string, data []byte) (st headState, parent [32]byte, err error) {
	bad := func(format string, args ...any) error {
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("op heads object %s in %s is damaged: %s", key, s.opts.Name, fmt.Sprintf(format, args...))}
	}
	i := bytes.LastIndex(data, []byte("sum "))
	if i < 0 || !bytes.HasSuffix(data, []byte("\n")) || (i > 0 && data[i-1] != '\n') {
		return st, parent, bad("no checksum line")
	}
	want, err := hex.DecodeString(string(data[i+4 : len(data)-1]))
	if got := sha256.Sum256(data[:i]); err != nil || !bytes.Equal(want, got[:]) {
		return st, parent, bad("checksum does not match")
	}
	sc := bufio.NewScanner(bytes.NewReader(data[:i]))
	sc.Buffer(nil, 1<<16)
	line := 0
	for sc.Scan() {
		text := sc.Text()
		line++
		switch {
		case line == 1:
			if text != "engram op heads 1" {
				return st, parent, bad("line 1 is %q", truncate(text, 40))
			}
		case line == 2:
			n, ok := strings.CutPrefix(text, "seq ")
			v, err := strconv.ParseUint(n, 10, 64)
			if !ok || err != nil {
				return st, parent, bad("line 2 is %q, want seq N", truncate(text, 40))
			}
			if k, _ := seqOfKey(key); k != v {
				return st, parent, bad("it says seq %d under the key of seq %d", v, k)
			}
			st.seq = v
		case line == 3:
			p, ok := strings.CutPrefix(text, "parent ")
			if !ok {
				return st, parent, bad("line 3 is %q, want parent", truncate(text, 40))
			}
			if p != "none" {
				b, err := hex.DecodeString(p)
				if err != nil || len(b) != 32 {
					return st, parent, bad("parent %q is not a SHA-256", truncate(p, 70))
				}
				copy(parent[:], b)
			}
		default:
			cs, ok := strings.CutPrefix(text, "head ")
			if !ok {
				return st, parent, bad("line %d is %q, want head CID", line, truncate(text, 40))
			}
			c, err := engram.ParseCID(cs)
			if err != nil {
				return st, parent, bad("line %d: %v", line, err)
			}
			if n := len(st.heads); n > 0 && st.heads[n-1].Compare(c) >= 0 {
				return st, parent, bad("line %d: heads are not sorted and distinct", line)
			}
			st.heads = append(st.heads, c)
		}
	}
	if err := sc.Err(); err != nil {
		return st, parent, bad("%v", err)
	}
	if line < 3 {
		return st, parent, bad("it ends after line %d", line)
	}
	st.digest = sha256.Sum256(data)
	return st, parent, nil
}

// readHeads reads and decodes one chain entry.
func (s *Store) readHeads(ctx context.Context, key string) (headState, [32]byte, error) {
	data, err := s.readSmall(ctx, key, maxHeadsObject)
	if err != nil {
		return headState{}, [32]byte{}, err
	}
	return s.decodeHeads(key, data)
}

// latest returns the newest entry of the chain: it lists the keys after the
// newest one this Store has seen and reads the last.
func (s *Store) latest(ctx context.Context) (headState, error) {
	for range maxUpdateAttempts {
		from := s.heads.get()
		opts := engram.BlobListOptions{Prefix: headsPrefix}
		if from.seq > 0 {
			opts.After = headsKey(from.seq)
		}
		last := ""
		for {
			page, err := s.b.List(ctx, opts)
			if err != nil {
				return headState{}, fmt.Errorf("list op heads: %w", err)
			}
			for _, it := range page.Items {
				if _, ok := seqOfKey(it.Key); !ok {
					return headState{}, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("object %s in %s is not an op heads entry", it.Key, s.opts.Name)}
				}
				last = it.Key
			}
			if page.Next == "" {
				break
			}
			opts.After = page.Next
		}
		if last == "" {
			return from, nil
		}
		st, _, err := s.readHeads(ctx, last)
		if errors.Is(err, engram.ErrNotFound) {
			continue // deleted as old after we listed it: list again
		}
		if err != nil {
			return headState{}, err
		}
		s.heads.advance(st)
		return st, nil
	}
	return headState{}, engram.Unavailable("op heads of "+s.opts.Name, errors.New("the newest entry kept vanishing"))
}

// Current returns the op heads: the set in the newest chain entry.
func (s *Store) Current(ctx context.Context) ([]engram.CID, error) {
	st, err := s.latest(ctx)
	if err != nil {
		return nil, fmt.Errorf("blobblocks: op heads: %w", err)
	}
	return slices.Clone(st.heads), nil
}

// Update adds add to the op heads and removes every CID in supersedes, as
// one new chain entry. add must name a stored block (ENOTFOUND otherwise).
// Concurrent Updates from any number of processes or nodes each land
// exactly once: the loser of a race re-reads the newer set and applies its
// change on top.
func (s *Store) Update(ctx context.Context, add engram.CID, supersedes []engram.CID) error {
	if !add.Defined() {
		return fmt.Errorf("blobblocks: update op heads: %w", engram.Invalid("add", "is undefined"))
	}
	if err := s.UpdateMany(ctx, []engram.CID{add}, supersedes); err != nil {
		return fmt.Errorf("blobblocks: update op heads (add %s): %w", add, err)
	}
	return nil
}

// UpdateMany is Update for several added heads in one chain entry: the
// supersedes are removed, then every add is added.
func (s *Store) UpdateMany(ctx context.Context, add, supersedes []engram.CID) error {
	for _, c := range add {
		if !c.Defined() {
			return engram.Invalid("add", "is undefined")
		}
		ok, err := s.Has(ctx, c)
		if err != nil {
			return err
		}
		if !ok {
			return notFound(c)
		}
	}
	return s.enqueue(ctx, add, supersedes)
}

// headsReq is one UpdateMany waiting for its batch.
type headsReq struct {
	ctx      context.Context
	add, sup []engram.CID
	result   chan error    // buffered: the batch's outcome
	lead     chan struct{} // buffered: this request's caller commits the next batch
}

// headsQueue batches the Updates of one Store (group commit): while one
// caller writes a chain entry, the Updates arriving meanwhile queue, and
// the next entry applies them all, in arrival order. Racing within a
// process would otherwise cost a lost conditional create per waiting
// caller per entry. mu guards the queue only, never I/O.
type headsQueue struct {
	mu      sync.Mutex
	pending []*headsReq
	busy    bool // a caller is committing a batch
}

// enqueue adds the request and waits for its batch, committing the batch
// itself when no other caller is (or when handed the turn).
func (s *Store) enqueue(ctx context.Context, add, sup []engram.CID) error {
	r := &headsReq{ctx: ctx, add: add, sup: sup, result: make(chan error, 1), lead: make(chan struct{}, 1)}
	q := &s.queue
	q.mu.Lock()
	q.pending = append(q.pending, r)
	lead := !q.busy
	q.busy = true
	q.mu.Unlock()
	if !lead {
		select {
		case err := <-r.result:
			return err
		case <-r.lead:
		}
	}
	q.mu.Lock()
	batch := q.pending
	q.pending = nil
	q.mu.Unlock()

	err := s.commitBatch(batch)
	for _, b := range batch {
		if errors.Is(err, errBatchAbandoned) {
			b.result <- b.ctx.Err()
		} else {
			b.result <- err
		}
	}
	q.mu.Lock()
	if len(q.pending) > 0 {
		q.pending[0].lead <- struct{}{} // its caller commits the next batch
	} else {
		q.busy = false
	}
	q.mu.Unlock()
	return <-r.result
}

// commitBatch writes one chain entry applying every request of batch. It
// runs until it lands or fails, or until every caller in the batch has
// given up (their contexts ended): one caller's cancellation does not fail
// the others. A caller whose context ended may still see its update
// applied (nil); one that gets ctx's error may too, as with any write
// whose answer was lost.
func (s *Store) commitBatch(batch []*headsReq) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	var live atomic.Int64
	live.Store(int64(len(batch)))
	for _, b := range batch {
		stop := context.AfterFunc(b.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	err := s.commit(ctx, batch)
	if err != nil && ctx.Err() != nil {
		return errBatchAbandoned
	}
	return err
}

// errBatchAbandoned stands for each caller's own ctx.Err().
var errBatchAbandoned = errors.New("every caller of the batch gave up")

// commit applies batch to the newest set as one new chain entry.
func (s *Store) commit(ctx context.Context, batch []*headsReq) error {
	apply := func(heads []engram.CID) []engram.CID {
		for _, b := range batch {
			heads = applyHeads(heads, b.add, b.sup)
		}
		return heads
	}
	st := s.heads.get()
	fresh := false
	if st.seq == 0 {
		var err error
		if st, err = s.latest(ctx); err != nil {
			return err
		}
		fresh = true
	}
	for range maxUpdateAttempts {
		next := apply(st.heads)
		if slices.Equal(next, st.heads) {
			if fresh {
				return nil // nothing to change in the newest set
			}
			var err error
			if st, err = s.latest(ctx); err != nil {
				return err
			}
			fresh = true
			continue
		}
		seq := st.seq + 1
		body := encodeHeads(seq, st.digest, next)
		key := headsKey(seq)
		_, err := s.b.Put(ctx, key, bytes.NewReader(body), engram.BlobPutOptions{IfAbsent: true})
		if errors.Is(err, engram.ErrConflict) {
			if st, err = s.latest(ctx); err != nil {
				return err
			}
			fresh = true
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", key, err)
		}
		digest := sha256.Sum256(body)
		ok, err := s.confirm(ctx, seq, digest)
		if err != nil {
			return fmt.Errorf("confirm %s: %w", key, err)
		}
		if !ok {
			// Our create re-used the key of an entry deleted as old: the
			// chain had moved on, so this entry is not part of it. Remove
			// it and apply the change to the newest set.
			_ = s.b.Delete(ctx, key)
			if st, err = s.latest(ctx); err != nil {
				return err
			}
			fresh = true
			continue
		}
		s.heads.advance(headState{seq: seq, heads: next, digest: digest})
		s.prune(ctx, seq)
		return nil
	}
	return engram.Unavailable("op heads of "+s.opts.Name, fmt.Errorf("lost %d races in a row", maxUpdateAttempts))
}

// confirm reports whether the entry seq we just created (with bytes hashing
// to digest) is part of the chain: it is the newest entry, or the next one
// names it as its parent. It is not when the key had been deleted as old
// and the chain had moved past it while we computed it.
func (s *Store) confirm(ctx context.Context, seq uint64, digest [32]byte) (bool, error) {
	for range maxUpdateAttempts {
		page, err := s.b.List(ctx, engram.BlobListOptions{Prefix: headsPrefix, After: headsKey(seq), Limit: 1})
		if err != nil {
			return false, err
		}
		if len(page.Items) == 0 {
			return true, nil
		}
		if page.Items[0].Key != headsKey(seq+1) {
			return false, nil
		}
		_, parent, err := s.readHeads(ctx, page.Items[0].Key)
		if errors.Is(err, engram.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		return parent == digest, nil
	}
	return false, engram.Unavailable("op heads of "+s.opts.Name, errors.New("the entry after ours kept vanishing"))
}

// prune deletes entries older than the newest KeepHeads, every KeepHeads
// updates, one listing page at a time. It is best effort: a failure leaves
// old entries for the next prune.
func (s *Store) prune(ctx context.Context, seq uint64) {
	keep := uint64(s.opts.KeepHeads)
	if seq%keep != 0 || seq <= keep {
		return
	}
	limit := seq - keep
	page, err := s.b.List(ctx, engram.BlobListOptions{Prefix: headsPrefix})
	if err != nil {
		return
	}
	for _, it := range page.Items {
		n, ok := seqOfKey(it.Key)
		if !ok || n > limit {
			return
		}
		if s.b.Delete(ctx, it.Key) != nil {
			return
		}
	}
}

// applyHeads returns heads without supersedes and with add, sorted.
func applyHeads(heads, add, supersedes []engram.CID) []engram.CID {
	out := make([]engram.CID, 0, len(heads)+len(add))
	for _, h := range heads {
		if !slices.Contains(supersedes, h) {
			out = append(out, h)
		}
	}
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, engram.CID.Compare)
	return out
}
