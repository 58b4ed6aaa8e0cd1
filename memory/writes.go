package memory

import (
	"context"

	"github.com/engramhq/engram"
)

// write runs a durable write with the stripes of keys locked and, when it is
// acknowledged, bumps their generations and applies after's batch to the
// cache tiers. Holding the stripes orders the tier update against fills, sync
// commits and other writes of the same keys. A write the durable store
// refused changes nothing in the tiers either: the stores engram has roll a
// failed transaction back, so a failed write's outcome is never in doubt.
//
// Lock order, everywhere: the cache file's read lock (tiers), then stripes.
func (m *Memory) write(ctx context.Context, keys []engram.CacheKey, durable func() error, after func(b *engram.CacheBatch)) error {
	ts, done := m.tiers()
	defer done()
	idx := m.lockKeys(keys)
	err := m.call(durable)
	if err != nil {
		m.unlockKeys(idx, false)
		return err
	}
	defer m.unlockKeys(idx, true)
	m.wrote.Store(true)
	var b engram.CacheBatch
	after(&b)
	m.applyTiers(ctx, ts, &b)
	return nil
}

// CreateEpisode assigns the id here when it is zero, so that the new key's
// stripe is held while the tiers are updated: an append or delete of the same
// id racing the create is ordered after it.
func (m *Memory) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	var keys []engram.CacheKey
	if ep != nil {
		if ep.ID.IsZero() {
			ep.ID = engram.NewEpisodeID()
		}
		keys = append(keys, engram.EpisodeCacheKey(ns, ep.ID))
	}
	return m.write(ctx, keys,
		func() error { return m.durable.CreateEpisode(ctx, ns, ep) },
		func(b *engram.CacheBatch) { b.PutEpisode(ns, ep) })
}

func (m *Memory) CreateEpisodes(ctx context.Context, ns engram.Namespace, eps []*engram.Episode) error {
	var keys []engram.CacheKey
	for _, ep := range eps {
		if ep == nil {
			continue
		}
		if ep.ID.IsZero() {
			ep.ID = engram.NewEpisodeID()
		}
		keys = append(keys, engram.EpisodeCacheKey(ns, ep.ID))
	}
	return m.write(ctx, keys,
		func() error { return m.durable.CreateEpisodes(ctx, ns, eps) },
		func(b *engram.CacheBatch) {
			for _, ep := range eps {
				b.PutEpisode(ns, ep)
			}
		})
}

// UpdateEpisode invalidates the cached episode: the caller's record need
// not hold the stored steps.
func (m *Memory) UpdateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if ep == nil {
		return m.durable.UpdateEpisode(ctx, ns, ep)
	}
	key := engram.EpisodeCacheKey(ns, ep.ID)
	return m.write(ctx, []engram.CacheKey{key},
		func() error { return m.durable.UpdateEpisode(ctx, ns, ep) },
		func(b *engram.CacheBatch) { b.Delete(key) })
}

// DeleteEpisode removes the episode and its embeddings from every tier.
func (m *Memory) DeleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	keys := []engram.CacheKey{engram.EpisodeCacheKey(ns, id)}
	// The durable delete takes the episode's embeddings with it; find their
	// keys first so the tiers drop them too. One added between this list and
	// the delete is caught by the next incremental sync.
	err := eachPage(func(cur string) ([]*engram.Embedding, string, error) {
		p, err := m.ListEmbeddings(ctx, ns, engram.EmbeddingFilter{ItemType: engram.ItemEpisode, ItemID: id.UUID,
			Limit: engram.MaxQueryLimit, Cursor: cur})
		return p.Embeddings, p.NextCursor, err
	}, func(e *engram.Embedding) error {
		keys = append(keys, engram.EmbeddingCacheKey(ns, e.Key()))
		return nil
	})
	if err != nil {
		return err
	}
	return m.write(ctx, keys,
		func() error { return m.durable.DeleteEpisode(ctx, ns, id) },
		func(b *engram.CacheBatch) {
			for _, k := range keys {
				b.Delete(k)
			}
		})
}

// AppendStep invalidates the cached episode, so no tier serves a step list
// without the new step.
func (m *Memory) AppendStep(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, step *engram.Step) error {
	key := engram.EpisodeCacheKey(ns, id)
	return m.write(ctx, []engram.CacheKey{key},
		func() error { return m.durable.AppendStep(ctx, ns, id, step) },
		func(b *engram.CacheBatch) { b.Delete(key) })
}

// CompleteEpisode puts the completed episode, as the durable store returned
// it, in every tier.
func (m *Memory) CompleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, c *engram.Completion) (*engram.Episode, error) {
	key := engram.EpisodeCacheKey(ns, id)
	var done *engram.Episode
	err := m.write(ctx, []engram.CacheKey{key},
		func() (err error) {
			done, err = m.durable.CompleteEpisode(ctx, ns, id, c)
			return err
		},
		func(b *engram.CacheBatch) { b.PutEpisode(ns, done) })
	return done, err
}

func (m *Memory) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	var keys []engram.CacheKey
	if p != nil {
		if p.ID.IsZero() {
			p.ID = engram.NewPatternID()
		}
		keys = append(keys, engram.PatternCacheKey(ns, p.ID))
	}
	return m.write(ctx, keys,
		func() error { return m.durable.PutPattern(ctx, ns, p) },
		func(b *engram.CacheBatch) { b.PutPattern(ns, p) })
}

func (m *Memory) DeletePattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) error {
	key := engram.PatternCacheKey(ns, id)
	return m.write(ctx, []engram.CacheKey{key},
		func() error { return m.durable.DeletePattern(ctx, ns, id) },
		func(b *engram.CacheBatch) { b.Delete(key) })
}

func (m *Memory) PutHeuristic(ctx context.Context, ns engram.Namespace, h *engram.Heuristic) error {
	var keys []engram.CacheKey
	if h != nil {
		if h.ID.IsZero() {
			h.ID = engram.NewHeuristicID()
		}
		keys = append(keys, engram.HeuristicCacheKey(ns, h.ID))
	}
	return m.write(ctx, keys,
		func() error { return m.durable.PutHeuristic(ctx, ns, h) },
		func(b *engram.CacheBatch) { b.PutHeuristic(ns, h) })
}

func (m *Memory) DeleteHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) error {
	key := engram.HeuristicCacheKey(ns, id)
	return m.write(ctx, []engram.CacheKey{key},
		func() error { return m.durable.DeleteHeuristic(ctx, ns, id) },
		func(b *engram.CacheBatch) { b.Delete(key) })
}

func (m *Memory) PutEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	var keys []engram.CacheKey
	for _, e := range embs {
		if e != nil {
			k := e.Key()
			if k.Model == "" {
				k.Model = engram.DefaultModel
			}
			keys = append(keys, engram.EmbeddingCacheKey(ns, k))
		}
	}
	return m.write(ctx, keys,
		func() error { return m.durable.PutEmbeddings(ctx, ns, embs) },
		func(b *engram.CacheBatch) {
			for _, e := range embs {
				if m.cfg.Sync.SkipEmbeddings {
					b.Delete(engram.EmbeddingCacheKey(ns, e.Key())) // not cached: drop any copy a read filled
				} else {
					b.PutEmbedding(ns, e)
				}
			}
		})
}

func (m *Memory) DeleteEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) error {
	if key.Model == "" {
		key.Model = engram.DefaultModel
	}
	ck := engram.EmbeddingCacheKey(ns, key)
	return m.write(ctx, []engram.CacheKey{ck},
		func() error { return m.durable.DeleteEmbedding(ctx, ns, key) },
		func(b *engram.CacheBatch) { b.Delete(ck) })
}

// Relationships are not cached: they pass through to the durable store.

func (m *Memory) AddRelationship(ctx context.Context, ns engram.Namespace, r *engram.Relationship) error {
	return m.call(func() error { return m.durable.AddRelationship(ctx, ns, r) })
}

func (m *Memory) RemoveRelationship(ctx context.Context, ns engram.Namespace, from, to engram.EpisodeID, typ engram.RelationshipType) error {
	return m.call(func() error { return m.durable.RemoveRelationship(ctx, ns, from, to, typ) })
}
