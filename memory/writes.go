package memory

import (
	"context"
	"errors"
	"slices"

	"github.com/engramhq/engram"
)

// write runs a durable write, then updates the cache tiers. No lock is held
// across the durable call:
//
//   - keys (the keys the write changes, known before the call) are
//     registered first, so two writes of one key under way at once see each
//     other; they cannot know which committed first, so each invalidates the
//     key instead of putting its record.
//   - After the call, under the keys' stripe locks, after stages the tier
//     update from the records the durable store filled in, the stripes'
//     generations move (dropping fills that read before the write), and the
//     tiers are updated.
//
// A write the durable store refused changes nothing in the tiers either: the
// stores engram has roll a failed transaction back. A write whose outcome is
// unknown (EUNKNOWN) invalidates its keys. A write carrying an idempotency
// key invalidates instead of putting: a replay returns the record as the
// first call left it, which may be older than what is stored now.
func (m *Memory) write(ctx context.Context, keys []engram.CacheKey, durable func() error, after func(b *engram.CacheBatch)) error {
	keys = m.register(keys)
	err := m.call(durable)
	m.noteWrite(err)
	var b engram.CacheBatch
	switch {
	case err == nil:
		m.wrote.Store(true)
		after(&b)
		if engram.IdempotencyKey(ctx) != "" {
			invalidateAll(&b)
		}
	case errors.Is(err, engram.ErrUnknown):
		after(&b)
		invalidateAll(&b)
		for _, k := range keys {
			b.Delete(k)
		}
	default:
		m.finish(ctx, keys, nil)
		return err
	}
	m.finish(ctx, keys, &b)
	return err
}

// invalidateAll turns every put of b into a delete of its key.
func invalidateAll(b *engram.CacheBatch) {
	for i, w := range b.Writes {
		b.Writes[i] = engram.CacheWrite{Key: w.Key}
	}
}

// register marks a write of each key as under way, returning the distinct keys.
func (m *Memory) register(keys []engram.CacheKey) []engram.CacheKey {
	out := keys[:0:0]
	seen := make(map[engram.CacheKey]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
		s := &m.stripes[m.stripeIndex(k)]
		s.mu.Lock()
		if s.writing == nil {
			s.writing = map[engram.CacheKey]*inflight{}
		}
		f := s.writing[k]
		if f == nil {
			f = &inflight{}
			s.writing[k] = f
		} else {
			f.overlapped = true
		}
		f.n++
		s.mu.Unlock()
	}
	return out
}

// finish ends the writes of registered and, when b is not nil (the write
// may have changed the durable store), applies b to the tiers with the
// stripes of every key held. A key whose write overlapped another write of
// it is invalidated rather than put.
func (m *Memory) finish(ctx context.Context, registered []engram.CacheKey, b *engram.CacheBatch) {
	all := slices.Clone(registered)
	if b != nil {
		for _, w := range b.Writes {
			all = append(all, w.Key)
		}
	}
	idx := m.lockKeys(all)
	conflict := map[engram.CacheKey]bool{}
	reg := make(map[engram.CacheKey]bool, len(registered))
	for _, k := range registered {
		reg[k] = true
		s := &m.stripes[m.stripeIndex(k)]
		f := s.writing[k]
		if f.overlapped {
			conflict[k] = true
		}
		if f.n--; f.n == 0 {
			delete(s.writing, k)
		}
	}
	if b == nil {
		m.unlockKeys(idx, false)
		return
	}
	for i, w := range b.Writes {
		if !reg[w.Key] {
			// A key learnt from the durable store's answer (an id it
			// assigned or a replay returned): a write of it under way
			// cannot be ordered against this one.
			if f := m.stripes[m.stripeIndex(w.Key)].writing[w.Key]; f != nil {
				f.overlapped = true
				conflict[w.Key] = true
			}
		}
		if conflict[w.Key] {
			b.Writes[i] = engram.CacheWrite{Key: w.Key}
		}
	}
	m.applyWrite(ctx, b)
	m.unlockKeys(idx, true)
}

// applyWrite applies b to the tiers. If a cache file swap published a new
// file while b went to the old one, b is applied to the new one too; while a
// swap is being installed, b's keys are logged so the swap invalidates them
// in the file it installs. The caller holds b's stripes.
func (m *Memory) applyWrite(ctx context.Context, b *engram.CacheBatch) {
	for {
		ts, h, release := m.tiers()
		m.applyTiers(ctx, ts, b)
		m.swap.Lock()
		moved := m.file.Load() != h
		if !moved && m.swap.logging {
			for _, w := range b.Writes {
				m.swap.keys[w.Key] = struct{}{}
			}
		}
		m.swap.Unlock()
		release()
		if !moved {
			return
		}
	}
}

// noteWrite records whether writes are failing in a way the durable store
// keeps answering until something changes (a full disk, commits whose
// outcome is unknown), for Status; a successful write clears it.
func (m *Memory) noteWrite(err error) {
	code := engram.ErrorCode(err)
	switch {
	case err == nil:
		m.mu.Lock()
		m.mu.writeErr = ""
		m.mu.Unlock()
	case code == engram.ENOSPACE || code == engram.EUNKNOWN:
		m.mu.Lock()
		if m.mu.writeErr == "" {
			m.mu.writeErrAt = m.clock.Now()
		}
		m.mu.writeErr = err.Error()
		m.mu.Unlock()
	}
}

// assignIDs reports whether a zero id is assigned here, before the durable
// call, so that the new key is registered (see write) like any other. With
// an idempotency key it is left to the durable store: a retry then sends the
// same request, which the store recognises.
func assignIDs(ctx context.Context) bool { return engram.IdempotencyKey(ctx) == "" }

// CreateEpisode assigns the id here when it is zero (see assignIDs), so
// that an append or delete of the same id racing the create is seen.
func (m *Memory) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	var keys []engram.CacheKey
	if ep != nil {
		if ep.ID.IsZero() && assignIDs(ctx) {
			ep.ID = engram.NewEpisodeID()
		}
		if !ep.ID.IsZero() {
			keys = append(keys, engram.EpisodeCacheKey(ns, ep.ID))
		}
	}
	err := m.write(ctx, keys,
		func() error { return m.durable.CreateEpisode(ctx, ns, ep) },
		func(b *engram.CacheBatch) { putIf(b, ns, ep) })
	if err == nil {
		m.autoEmbed(ctx, ns, []*engram.Episode{ep})
	}
	return err
}

func (m *Memory) CreateEpisodes(ctx context.Context, ns engram.Namespace, eps []*engram.Episode) error {
	var keys []engram.CacheKey
	for _, ep := range eps {
		if ep == nil {
			continue
		}
		if ep.ID.IsZero() && assignIDs(ctx) {
			ep.ID = engram.NewEpisodeID()
		}
		if !ep.ID.IsZero() {
			keys = append(keys, engram.EpisodeCacheKey(ns, ep.ID))
		}
	}
	err := m.write(ctx, keys,
		func() error { return m.durable.CreateEpisodes(ctx, ns, eps) },
		func(b *engram.CacheBatch) {
			for _, ep := range eps {
				putIf(b, ns, ep)
			}
		})
	if err == nil {
		m.autoEmbed(ctx, ns, eps)
	}
	return err
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
	err = m.write(ctx, keys,
		func() error { return m.durable.DeleteEpisode(ctx, ns, id) },
		func(b *engram.CacheBatch) {
			for _, k := range keys {
				b.Delete(k)
			}
		})
	if err == nil {
		m.idx.noteItemDeleted(ns, engram.ItemEpisode, id.UUID)
	}
	return err
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
		func(b *engram.CacheBatch) {
			if done != nil {
				b.PutEpisode(ns, done)
			} else {
				b.Delete(key)
			}
		})
	return done, err
}

func (m *Memory) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	var keys []engram.CacheKey
	if p != nil {
		if p.ID.IsZero() && assignIDs(ctx) {
			p.ID = engram.NewPatternID()
		}
		if !p.ID.IsZero() {
			keys = append(keys, engram.PatternCacheKey(ns, p.ID))
		}
	}
	return m.write(ctx, keys,
		func() error { return m.durable.PutPattern(ctx, ns, p) },
		func(b *engram.CacheBatch) {
			if p != nil && !p.ID.IsZero() {
				b.PutPattern(ns, p)
			}
		})
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
		if h.ID.IsZero() && assignIDs(ctx) {
			h.ID = engram.NewHeuristicID()
		}
		if !h.ID.IsZero() {
			keys = append(keys, engram.HeuristicCacheKey(ns, h.ID))
		}
	}
	return m.write(ctx, keys,
		func() error { return m.durable.PutHeuristic(ctx, ns, h) },
		func(b *engram.CacheBatch) {
			if h != nil && !h.ID.IsZero() {
				b.PutHeuristic(ns, h)
			}
		})
}

func (m *Memory) DeleteHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) error {
	key := engram.HeuristicCacheKey(ns, id)
	return m.write(ctx, []engram.CacheKey{key},
		func() error { return m.durable.DeleteHeuristic(ctx, ns, id) },
		func(b *engram.CacheBatch) { b.Delete(key) })
}

func (m *Memory) PutEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	return m.putEmbeddings(ctx, ns, embs, m.durable.PutEmbeddings)
}

// putEmbeddings writes embs through put (a durable batch put) and the
// cache tiers, and tells the indexes of the puts once put succeeded.
func (m *Memory) putEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding, put func(context.Context, engram.Namespace, []*engram.Embedding) error) (err error) {
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
	defer func() {
		if err == nil {
			m.idx.noteEmbeddingsPut(ns, embs)
		}
	}()
	return m.write(ctx, keys,
		func() error { return put(ctx, ns, embs) },
		func(b *engram.CacheBatch) {
			for _, e := range embs {
				if e == nil || e.ItemID.IsZero() {
					continue
				}
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
	err := m.write(ctx, []engram.CacheKey{ck},
		func() error { return m.durable.DeleteEmbedding(ctx, ns, key) },
		func(b *engram.CacheBatch) { b.Delete(ck) })
	if err == nil {
		m.idx.noteEmbeddingDeleted(ns, key)
	}
	return err
}

// Relationships are not cached: they pass through to the durable store.

func (m *Memory) AddRelationship(ctx context.Context, ns engram.Namespace, r *engram.Relationship) error {
	err := m.call(func() error { return m.durable.AddRelationship(ctx, ns, r) })
	m.noteWrite(err)
	return err
}

func (m *Memory) RemoveRelationship(ctx context.Context, ns engram.Namespace, from, to engram.EpisodeID, typ engram.RelationshipType) error {
	err := m.call(func() error { return m.durable.RemoveRelationship(ctx, ns, from, to, typ) })
	m.noteWrite(err)
	return err
}

// putIf stages a put of ep when the durable store gave it an id.
func putIf(b *engram.CacheBatch, ns engram.Namespace, ep *engram.Episode) {
	if ep != nil && !ep.ID.IsZero() {
		b.PutEpisode(ns, ep)
	}
}
