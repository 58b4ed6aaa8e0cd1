package boltcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/engramhq/engram"
	bolt "go.etcd.io/bbolt"
)

// One goroutine, the committer, runs every write transaction. Callers encode
// their records, submit a writeReq and wait; the committer gathers whatever
// requests are queued into one transaction (group commit), so concurrent
// writers share one fsync, and only it changes the set of indexed records.

type writeReq struct {
	ops       []op
	watermark *uint64
	special   special
	done      chan error // buffered; nil: nobody waits
	removed   int        // set before done: records the ops removed
}

type special uint8

const (
	specialNone  special = iota
	specialClear         // remove every record, reset the watermark
	specialFlush         // also persist read ticks and counters
	specialClose         // flush, mark the file closed, stop the committer
	specialCheck         // run check in a write transaction
)

// op is one put (val set) or delete of an index key.
type op struct {
	key  []byte // index key: table code, then bolt key
	val  []byte // the encoded record; nil: delete
	cond cond   // deletes only
	old  []byte // condBytes: the value that must still be stored
	now  int64  // condExpired: the time the record must have expired by
	why  removal
}

type cond uint8

const (
	condNone    cond = iota
	condExpired      // delete only if the stored record has expired by now
	condBytes        // delete only if the stored value is still old
)

type removal uint8

const (
	removeDelete removal = iota
	removeExpire
	removeCorrupt
	removeEvict
)

// effect is what a committed transaction did to one key; the committer
// applies effects to the index only after the commit succeeded.
type effect struct {
	key     string
	put     bool
	absent  bool // a delete of a key that was not there
	size    int64
	expires int64
	tick    uint64
	why     removal
}

// submit queues req and, if wait, waits for its commit.
func (c *Cache) submit(ctx context.Context, req *writeReq, wait bool) error {
	if wait {
		req.done = make(chan error, 1)
	}
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return errClosed
	}
	c.writes <- req
	c.closeMu.RUnlock()
	if !wait {
		return nil
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the commit may still happen
	}
}

func (c *Cache) commitLoop() {
	defer c.wg.Done()
	var group []*writeReq
	for req := range c.writes {
		group = append(group[:0], req)
		n := len(req.ops)
	gather:
		for req.special == specialNone && n < maxGroupOps {
			select {
			case next, ok := <-c.writes:
				if !ok {
					break gather
				}
				if next.special != specialNone {
					c.commitGroup(group)
					group = append(group[:0], next)
					break gather
				}
				group = append(group, next)
				n += len(next.ops)
			default:
				break gather
			}
		}
		c.commitGroup(group)
	}
}

func finish(r *writeReq, err error) {
	if r.done != nil {
		r.done <- err
	}
}

// commitGroup commits the requests of group together, or each alone when
// the shared commit fails.
func (c *Cache) commitGroup(group []*writeReq) {
	if len(group) == 0 {
		return
	}
	err := c.commit(group)
	if err == nil || len(group) == 1 {
		for _, r := range group {
			finish(r, err)
		}
		return
	}
	for _, r := range group {
		finish(r, c.commit([]*writeReq{r}))
	}
}

func (c *Cache) commit(group []*writeReq) (err error) {
	if f := c.failed.Load(); f != nil {
		return *f
	}
	// bbolt panics when it finds its file inconsistent. The open check makes
	// that unlikely; if it happens anyway the transaction has rolled back,
	// but bbolt's state in memory is suspect, so the cache stops serving.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = unavailable("write "+c.path, fmt.Errorf("bbolt panicked: %v", p))
			c.setErr(err)
			c.failed.Store(&err)
			c.log.Error("boltcache: the cache file is inconsistent; serving nothing until it is reopened", "path", c.path, "err", err)
		}
	}()
	var effs []effect
	err = c.db.Update(func(tx *bolt.Tx) error {
		effs = effs[:0]
		for _, r := range group {
			r.removed = 0
			var err error
			switch r.special {
			case specialClear:
				effs, err = c.clearTx(tx, effs)
			case specialCheck:
				err = c.checkTx(tx)
			}
			if err != nil {
				return err
			}
			if effs, err = c.applyOps(tx, r, effs); err != nil {
				return err
			}
			if r.watermark != nil {
				if err := putMetaUint64(tx.Bucket(metaTable), keyWatermark, *r.watermark); err != nil {
					return err
				}
			}
		}
		var err error
		if effs, err = c.evict(tx, effs); err != nil {
			return err
		}
		for _, r := range group {
			if r.special == specialFlush || r.special == specialClose {
				if err := c.flushTx(tx, r.special == specialClose); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		var ee *engram.Error
		if !errors.As(err, &ee) {
			err = unavailable("write "+c.path, err)
		}
		c.setErr(err)
		return err
	}
	c.applyEffects(effs)
	c.commits.Add(1)
	return nil
}

func (c *Cache) applyOps(tx *bolt.Tx, r *writeReq, effs []effect) ([]effect, error) {
	rec := tx.Bucket(recencyTable)
	for i := range r.ops {
		o := &r.ops[i]
		code := kindCode(o.key[0])
		b := tx.Bucket(tableNames[code])
		bk := o.key[1:]
		if o.val != nil {
			if err := b.Put(bk, o.val); err != nil {
				return effs, err
			}
			effs = append(effs, effect{key: string(o.key), put: true, size: int64(len(bk) + len(o.val)),
				expires: recordExpiry(o.val), tick: recordTick(o.val)})
			continue
		}
		cur := b.Get(bk)
		switch {
		case cur == nil:
			if o.why == removeDelete {
				effs = append(effs, effect{key: string(o.key), absent: true, why: removeDelete})
			}
			continue
		case o.cond == condExpired:
			if exp := recordExpiry(cur); exp == 0 || exp > o.now {
				continue
			}
		case o.cond == condBytes:
			if !bytes.Equal(cur, o.old) {
				continue
			}
		}
		if err := b.Delete(bk); err != nil {
			return effs, err
		}
		if err := rec.Delete(o.key); err != nil {
			return effs, err
		}
		r.removed++
		effs = append(effs, effect{key: string(o.key), why: o.why})
	}
	return effs, nil
}

// evict deletes least recently used records until the file is within
// MaxEntries and MaxBytes once effs are applied. Records written by this
// transaction go last, oldest write first, so a batch larger than the bounds
// keeps its newest records.
func (c *Cache) evict(tx *bolt.Tx, effs []effect) ([]effect, error) {
	maxN, maxB := int64(c.opts.MaxEntries), c.opts.MaxBytes
	if maxN < 0 && maxB < 0 {
		return effs, nil
	}
	over := func(n, b int64) bool { return maxN >= 0 && n > maxN || maxB >= 0 && b > maxB }
	var victims []string
	c.mu.Lock()
	n, size := int64(len(c.mu.index)), c.mu.bytes
	after := make(map[string]int64, len(effs)) // size after effs; -1: absent
	for _, e := range effs {
		if e.absent {
			continue
		}
		old, ok := after[e.key]
		if !ok {
			old = -1
			if ie := c.mu.index[e.key]; ie != nil {
				old = ie.size
			}
		}
		if old >= 0 {
			n, size = n-1, size-old
		}
		after[e.key] = -1
		if e.put {
			n, size = n+1, size+e.size
			after[e.key] = e.size
		}
	}
	for e := c.mu.lru.prev; e != &c.mu.lru && over(n, size); e = e.prev {
		if _, touched := after[e.key]; touched {
			continue
		}
		victims = append(victims, e.key)
		n, size = n-1, size-e.size
	}
	c.mu.Unlock()
	for _, e := range effs {
		if !over(n, size) {
			break
		}
		if s := after[e.key]; e.put && s >= 0 {
			victims = append(victims, e.key)
			after[e.key] = -1
			n, size = n-1, size-s
		}
	}
	rec := tx.Bucket(recencyTable)
	for _, k := range victims {
		if err := tx.Bucket(tableNames[k[0]]).Delete([]byte(k[1:])); err != nil {
			return effs, err
		}
		if err := rec.Delete([]byte(k)); err != nil {
			return effs, err
		}
		effs = append(effs, effect{key: k, why: removeEvict})
	}
	return effs, nil
}

// applyEffects brings the index and the counters in line with a committed
// transaction.
func (c *Cache) applyEffects(effs []effect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range effs {
		switch {
		case e.put:
			c.ctr.writes.Add(1)
			ie := c.mu.index[e.key]
			if ie == nil {
				ie = &entry{key: e.key}
				c.mu.index[e.key] = ie
			} else {
				c.mu.bytes -= ie.size
				c.unlinkLocked(ie)
			}
			ie.size, ie.expires, ie.tick = e.size, e.expires, e.tick
			c.mu.bytes += ie.size
			c.pushFrontLocked(ie)
			continue
		case e.why == removeDelete:
			c.ctr.deletes.Add(1)
		case e.why == removeExpire:
			c.ctr.expirations.Add(1)
		case e.why == removeEvict:
			c.ctr.evictions.Add(1)
		}
		if ie := c.mu.index[e.key]; ie != nil && !e.absent {
			c.unlinkLocked(ie)
			delete(c.mu.index, e.key)
			c.mu.bytes -= ie.size
		}
	}
}

// clearTx empties every record table and the recency table and resets the
// watermark.
func (c *Cache) clearTx(tx *bolt.Tx, effs []effect) ([]effect, error) {
	for _, name := range append(tableNames[1:], recencyTable) {
		if err := tx.DeleteBucket(name); err != nil {
			return effs, err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return effs, err
		}
	}
	if err := tx.Bucket(metaTable).Delete(keyWatermark); err != nil {
		return effs, err
	}
	c.mu.Lock()
	for k := range c.mu.index {
		effs = append(effs, effect{key: k, why: removeCleared})
	}
	c.mu.Unlock()
	return effs, nil
}

// removeCleared drops a key from the index without counting it.
const removeCleared removal = 255

// flushTx persists the read ticks of records read since the last flush, the
// LRU clock and the counters; closing also marks the file cleanly closed.
func (c *Cache) flushTx(tx *bolt.Tx, closing bool) error {
	rec := tx.Bucket(recencyTable)
	c.mu.Lock()
	dirty := c.mu.dirty
	c.mu.dirty = nil
	type tk struct {
		key  string
		tick uint64
	}
	ticks := make([]tk, 0, len(dirty))
	for _, e := range dirty {
		e.dirty = false
		if c.mu.index[e.key] == e {
			ticks = append(ticks, tk{e.key, e.tick})
		}
	}
	c.mu.Unlock()
	for _, t := range ticks {
		if err := rec.Put([]byte(t.key), binary.BigEndian.AppendUint64(nil, t.tick)); err != nil {
			return err
		}
	}
	meta := tx.Bucket(metaTable)
	if err := putMetaUint64(meta, keyTick, c.tick.Load()); err != nil {
		return err
	}
	if err := putMeta(meta, keyCounters, c.ctr.encode()); err != nil {
		return err
	}
	if closing {
		return putMeta(meta, keyState, []byte(stateClosed))
	}
	return nil
}
