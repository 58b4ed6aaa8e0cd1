package memory

import (
	"context"
	"encoding/json"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/ramcache"
)

// getThrough reads one record: each cache tier in turn, then the durable
// store, filling the tiers that missed. get reads a tier, load the durable
// store, put stages the record in a batch, clone copies a record for the
// caller.
func getThrough[T any](ctx context.Context, m *Memory, key engram.CacheKey,
	get func(engram.Cache) (T, bool, error),
	load func() (T, error),
	put func(*engram.CacheBatch, T),
	clone func(T) T,
) (T, error) {
	var zero T
	if err := key.Namespace.Validate(); err != nil {
		return zero, err
	}
	if m.shut.Load() {
		return zero, errClosed
	}
	// The generation is read before any tier a fill could copy from (every
	// tier but the first, and the durable store): a write acknowledged
	// after this point makes every fill of this read stale, and fill drops
	// it. A hit in the first tier fills nothing, so it skips hashing the
	// key. It is an atomic load: a read answered by a cache tier takes no
	// lock.
	var g uint64
	haveGen := false
	stale := m.stale.Load()
	var buf [2]tier
	ts, h := m.readTiers(&buf)
	release := func() {
		if h != nil {
			h.release()
			h = nil
		}
	}
	for i, t := range ts {
		if i > 0 && !haveGen {
			g, haveGen = m.gen(key), true
		}
		rec, ok, err := get(t.cache)
		if err != nil || !ok {
			continue // a tier failing is a miss
		}
		if i > 0 {
			var b engram.CacheBatch
			put(&b, rec)
			m.fill(ctx, key, ts[:i], &b, g)
		}
		release()
		engram.ReportRead(ctx, t.name, stale)
		if t.name == engram.TierRAM && !m.cfg.ShareRecords {
			rec = clone(rec)
		}
		return rec, nil
	}
	// The cache file is not held across the durable call: a swap closes
	// the old file as soon as the calls using it are done.
	release()
	if !haveGen {
		g = m.gen(key)
	}
	var rec T
	err := m.call(func() (err error) {
		rec, err = load()
		return err
	})
	if err != nil {
		return zero, err
	}
	var b engram.CacheBatch
	put(&b, rec)
	ts, h = m.readTiers(&buf)
	m.fill(ctx, key, ts, &b, g)
	release()
	engram.ReportRead(ctx, engram.TierDurable, false)
	return rec, nil
}

// readTiers is tiers for the read path, without allocating: the tiers go
// into buf, and the cache file handle returned (nil if none) is referenced;
// release it when done with the tiers.
func (m *Memory) readTiers(buf *[2]tier) ([]tier, *fileHandle) {
	h := m.acquireFile()
	ts := buf[:0]
	m.mu.Lock()
	suspect := m.mu.suspect
	if m.ram != nil && suspect[engram.TierRAM] == "" {
		ts = append(ts, tier{engram.TierRAM, m.ram})
	}
	if h != nil && suspect[engram.TierCache] == "" {
		ts = append(ts, tier{engram.TierCache, h.c})
	}
	m.mu.Unlock()
	return ts, h
}

// fill writes b (records read from a slower tier) to the faster tiers ts,
// unless a write to key was acknowledged since generation g was read (the
// records may then be older than what that write put in the tiers), or the
// key's stripe is busy: a fill is an optimisation and never waits.
func (m *Memory) fill(ctx context.Context, key engram.CacheKey, ts []tier, b *engram.CacheBatch, g uint64) {
	if len(ts) == 0 {
		return
	}
	s := &m.stripes[m.stripeIndex(key)]
	if !s.mu.TryLock() {
		m.fillsLost.Add(1)
		return
	}
	defer s.mu.Unlock()
	if s.gen.Load() != g {
		m.fillsLost.Add(1)
		return
	}
	s.fills++
	m.applyTiers(ctx, ts, b)
	m.fills.Add(1)
}

func (m *Memory) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	return getThrough(ctx, m, engram.EpisodeCacheKey(ns, id),
		func(c engram.Cache) (*engram.Episode, bool, error) { return c.GetEpisode(ctx, ns, id) },
		func() (*engram.Episode, error) { return m.durable.GetEpisode(ctx, ns, id) },
		func(b *engram.CacheBatch, ep *engram.Episode) { b.PutEpisode(ns, ep) },
		(*engram.Episode).Clone)
}

// AppendEpisodeJSON appends the JSON encoding of the episode (what
// encoding/json's Marshal makes of the record GetEpisode returns) to dst.
// It reads like GetEpisode, tier by tier, filling the tiers that missed and
// reporting the read (engram.ReadInfo) the same way. A RAM hit copies the
// encoding the RAM tier keeps beside the record (made on the first such
// read), so a hot record is encoded once instead of on every read; other
// reads encode the record they got. Only dst is handed to the caller.
func (m *Memory) AppendEpisodeJSON(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, dst []byte) ([]byte, error) {
	var out []byte
	fromRAM := false
	ep, err := getThrough(ctx, m, engram.EpisodeCacheKey(ns, id),
		func(c engram.Cache) (*engram.Episode, bool, error) {
			if rc, ok := c.(*ramcache.Cache); ok && rc == m.ram {
				b, ok, err := rc.AppendEpisodeJSON(ctx, ns, id, dst)
				if ok {
					out, fromRAM = b, true
				}
				return nil, ok, err
			}
			return c.GetEpisode(ctx, ns, id)
		},
		func() (*engram.Episode, error) { return m.durable.GetEpisode(ctx, ns, id) },
		func(b *engram.CacheBatch, ep *engram.Episode) { b.PutEpisode(ns, ep) },
		func(ep *engram.Episode) *engram.Episode { return ep }) // encoded here, never handed out
	if err != nil {
		return dst, err
	}
	if fromRAM {
		return out, nil
	}
	js, err := json.Marshal(ep)
	if err != nil {
		return dst, err
	}
	return append(dst, js...), nil
}

func (m *Memory) GetPattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) (*engram.Pattern, error) {
	return getThrough(ctx, m, engram.PatternCacheKey(ns, id),
		func(c engram.Cache) (*engram.Pattern, bool, error) { return c.GetPattern(ctx, ns, id) },
		func() (*engram.Pattern, error) { return m.durable.GetPattern(ctx, ns, id) },
		func(b *engram.CacheBatch, p *engram.Pattern) { b.PutPattern(ns, p) },
		(*engram.Pattern).Clone)
}

func (m *Memory) GetHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) (*engram.Heuristic, error) {
	return getThrough(ctx, m, engram.HeuristicCacheKey(ns, id),
		func(c engram.Cache) (*engram.Heuristic, bool, error) { return c.GetHeuristic(ctx, ns, id) },
		func() (*engram.Heuristic, error) { return m.durable.GetHeuristic(ctx, ns, id) },
		func(b *engram.CacheBatch, h *engram.Heuristic) { b.PutHeuristic(ns, h) },
		(*engram.Heuristic).Clone)
}

func (m *Memory) GetEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) (*engram.Embedding, error) {
	if key.Model == "" {
		key.Model = engram.DefaultModel
	}
	if key.ItemID.IsZero() {
		return nil, engram.Invalid("item_id", "is required")
	}
	e, err := getThrough(ctx, m, engram.EmbeddingCacheKey(ns, key),
		func(c engram.Cache) (*engram.Embedding, bool, error) { return c.GetEmbedding(ctx, ns, key) },
		func() (*engram.Embedding, error) { return m.durable.GetEmbedding(ctx, ns, key) },
		func(b *engram.CacheBatch, e *engram.Embedding) { b.PutEmbedding(ns, e) },
		(*engram.Embedding).Clone)
	if err == nil && e.Expired(m.clock.Now()) {
		return nil, engram.NotFound("embedding", key) // a cached copy the sweep has not reached
	}
	return e, err
}

// Queries read the durable store only: a cache holds records by key, not
// the indexes a query needs.

// durableRead runs a durable query through the breaker.
func durableRead[T any](m *Memory, ctx context.Context, fn func() (T, error)) (T, error) {
	var out T
	err := m.call(func() (err error) {
		out, err = fn()
		return err
	})
	if err == nil {
		engram.ReportRead(ctx, engram.TierDurable, false)
	}
	return out, err
}

func (m *Memory) ListEpisodes(ctx context.Context, ns engram.Namespace, f engram.EpisodeFilter) (engram.EpisodePage, error) {
	return durableRead(m, ctx, func() (engram.EpisodePage, error) { return m.durable.ListEpisodes(ctx, ns, f) })
}

func (m *Memory) Search(ctx context.Context, ns engram.Namespace, q engram.SearchQuery) ([]engram.SearchHit, error) {
	return durableRead(m, ctx, func() ([]engram.SearchHit, error) { return m.durable.Search(ctx, ns, q) })
}

func (m *Memory) ListPatterns(ctx context.Context, ns engram.Namespace, f engram.PatternFilter) (engram.PatternPage, error) {
	return durableRead(m, ctx, func() (engram.PatternPage, error) { return m.durable.ListPatterns(ctx, ns, f) })
}

func (m *Memory) ListHeuristics(ctx context.Context, ns engram.Namespace, f engram.HeuristicFilter) (engram.HeuristicPage, error) {
	return durableRead(m, ctx, func() (engram.HeuristicPage, error) { return m.durable.ListHeuristics(ctx, ns, f) })
}

func (m *Memory) ListEmbeddings(ctx context.Context, ns engram.Namespace, f engram.EmbeddingFilter) (engram.EmbeddingPage, error) {
	return durableRead(m, ctx, func() (engram.EmbeddingPage, error) { return m.durable.ListEmbeddings(ctx, ns, f) })
}

func (m *Memory) ListRelationships(ctx context.Context, ns engram.Namespace, f engram.RelationshipFilter) ([]engram.Relationship, error) {
	return durableRead(m, ctx, func() ([]engram.Relationship, error) { return m.durable.ListRelationships(ctx, ns, f) })
}

func (m *Memory) Counts(ctx context.Context, ns engram.Namespace) (engram.Counts, error) {
	return durableRead(m, ctx, func() (engram.Counts, error) { return m.durable.Counts(ctx, ns) })
}

func (m *Memory) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	return durableRead(m, ctx, func() ([]engram.Change, error) { return m.durable.Changes(ctx, after, limit) })
}

func (m *Memory) LastSeq(ctx context.Context) (uint64, error) {
	return durableRead(m, ctx, func() (uint64, error) { return m.durable.LastSeq(ctx) })
}

func (m *Memory) Namespaces(ctx context.Context) ([]engram.Namespace, error) {
	return durableRead(m, ctx, func() ([]engram.Namespace, error) { return m.durable.Namespaces(ctx) })
}
