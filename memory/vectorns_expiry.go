package memory

import (
	"context"
	"sync"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
)

// Expiry of embeddings (engram.Embedding.ExpiresAt).
//
// Correctness never waits for the sweep: the durable store skips expired
// rows on every read by its clock; GetEmbedding skips a cached copy that
// has expired; and every index group keeps the expiry of each of its
// vectors that has one (loaded from the durable store when the group opens
// from a snapshot of any tier, taken from the embeddings when it is built,
// and kept up by direct updates and the change feed), so that a search
// skips expired vectors by the clock.
//
// The sweep (sweepLoop, stopped by Close) deletes expired embeddings
// durably, VectorTierConfig.SweepBatch per transaction, each with its
// change-feed entry, so every node's indexes and caches drop them too; this
// process drops them from its own at once.

// Sweep defaults.
const (
	DefaultSweepInterval = time.Minute
	DefaultSweepBatch    = 1000
	// sweepMaxBatches bounds one pass; the next pass goes on.
	sweepMaxBatches = 100
)

// expiries maps the vectors of a group that expire to when.
type expiries struct {
	mu sync.RWMutex
	at map[engram.UUID]int64 // Unix nanoseconds
}

// set records id's expiry; the zero time forgets it.
func (x *expiries) set(id engram.UUID, t time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if t.IsZero() {
		delete(x.at, id)
		return
	}
	if x.at == nil {
		x.at = map[engram.UUID]int64{}
	}
	x.at[id] = t.UnixNano()
}

func (x *expiries) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.at)
}

// allow returns a search filter refusing the vectors expired at now, or
// nil when no vector of the group expires.
func (x *expiries) allow(now time.Time) func(engram.UUID) bool {
	if x.len() == 0 {
		return nil
	}
	n := now.UnixNano()
	return func(id engram.UUID) bool {
		x.mu.RLock()
		at, ok := x.at[id]
		x.mu.RUnlock()
		return !ok || at > n
	}
}

// durableVectors is what the durable store offers beyond engram.Store for
// the namespace contract and expiry (sqlstore.Store does).
type durableVectors interface {
	engram.VectorStore
	PutEmbeddingsSameDim(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error
	ClearEmbeddingsEach(ctx context.Context, ns engram.Namespace, each func([]engram.EmbeddingKey)) (int64, error)
	SweepExpiredEmbeddings(ctx context.Context, now time.Time, limit int) ([]sqlstore.ExpiredEmbedding, error)
	EmbeddingExpiries(ctx context.Context, ns engram.Namespace, typ engram.ItemType, model string, fn func(engram.UUID, time.Time)) error
}

var _ durableVectors = (*sqlstore.Store)(nil)

// vectors returns the durable store's vector operations, or EINVALID when
// it has none (a durable store other than sqlstore's).
func (m *Memory) vectors() (durableVectors, error) {
	if dv, ok := m.durable.(durableVectors); ok {
		return dv, nil
	}
	return nil, &engram.Error{Code: engram.EINVALID, Message: "memory: the durable store offers no vector namespace operations"}
}

// loadExpiries fills g.exp from the durable store (a group opened from a
// snapshot, whose files hold no expiries). A durable store without the
// operation has no expiries to give.
func (m *Memory) loadExpiries(ctx context.Context, g *group) error {
	dv, err := m.vectors()
	if err != nil {
		return nil
	}
	return m.call(func() error {
		return dv.EmbeddingExpiries(ctx, g.key.ns, g.key.typ, g.key.model, func(id engram.UUID, at time.Time) { g.exp.set(id, at) })
	})
}

// SweepExpired deletes every embedding expired by now (of any namespace)
// from the durable store, at most VectorTierConfig.SweepBatch per
// transaction and sweepMaxBatches per call, and from this process's
// indexes and caches. It returns how many it deleted. The sweep loop calls
// it every VectorTierConfig.SweepInterval.
func (m *Memory) SweepExpired(ctx context.Context) (int, error) {
	if m.shut.Load() {
		return 0, errClosed
	}
	dv, err := m.vectors()
	if err != nil {
		return 0, err
	}
	total := 0
	for range sweepMaxBatches {
		var gone []sqlstore.ExpiredEmbedding
		now := m.clock.Now()
		err := m.call(func() (err error) {
			gone, err = dv.SweepExpiredEmbeddings(ctx, now, m.cfg.Vectors.SweepBatch)
			return err
		})
		m.noteWrite(err)
		if err != nil {
			return total, err
		}
		byNS := map[engram.Namespace][]engram.EmbeddingKey{}
		for _, x := range gone {
			byNS[x.Namespace] = append(byNS[x.Namespace], x.Key)
		}
		for ns, keys := range byNS {
			m.dropEmbeddings(ctx, ns, keys)
		}
		total += len(gone)
		m.sweptTotal.Add(uint64(len(gone)))
		if len(gone) < m.cfg.Vectors.SweepBatch {
			break
		}
	}
	return total, nil
}

// dropEmbeddings removes keys, deleted durably already, from the cache
// tiers and the loaded indexes.
func (m *Memory) dropEmbeddings(ctx context.Context, ns engram.Namespace, keys []engram.EmbeddingKey) {
	cks := make([]engram.CacheKey, len(keys))
	for i, k := range keys {
		cks[i] = engram.EmbeddingCacheKey(ns, k)
	}
	_ = m.write(ctx, cks, func() error { return nil }, func(b *engram.CacheBatch) {
		for _, ck := range cks {
			b.Delete(ck)
		}
	})
	for _, k := range keys {
		m.idx.noteEmbeddingDeleted(ns, k)
	}
}

// sweepLoop runs SweepExpired every SweepInterval until Close.
func (m *Memory) sweepLoop() {
	defer m.wg.Done()
	t := m.clock.NewTicker(m.cfg.Vectors.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-m.bgCtx.Done():
			return
		case <-t.C():
			n, err := m.SweepExpired(m.bgCtx)
			if err != nil && m.bgCtx.Err() == nil {
				m.log.Warn("memory: sweeping expired embeddings failed; the next pass retries", "swept", n, "err", err)
			}
			if f := m.afterSweep.Load(); f != nil {
				(*f)(n, err)
			}
		}
	}
}
