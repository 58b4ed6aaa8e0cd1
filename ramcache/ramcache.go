// Package ramcache is the RAM tier: decoded records in an otter/v2 cache,
// bounded by (estimated) bytes, in front of the cache file. It implements
// engram.Cache, so it runs the same conformance suite as boltcache and the
// memory layer treats both tiers alike.
//
// What it owns and promises:
//   - A hit returns the record the tier holds, without decoding or copying:
//     it is shared with every other reader and must not be modified. Puts
//     store a deep copy, so a caller may go on changing what it put.
//   - Expiry is the same as boltcache's: an absolute time per record (the
//     put's TTL, or Options.TTL), checked on every read against the injected
//     clock, so an expired record is never returned; otter removes expired
//     records in its maintenance, and Sweep forces that.
//   - Eviction is otter's (W-TinyLFU with an LRU window), not strict LRU:
//     it keeps the records most likely to be read again within MaxBytes.
//   - Nothing survives Close or a crash; Apply is atomic with respect to
//     other Applies, and its watermark lives in memory only.
//   - AppendEpisodeJSON copies an episode's JSON encoding into the caller's
//     buffer: the encoding is made on the first such read of a record and
//     kept beside it (and weighed with it) until the record is replaced, so
//     a server answering reads of hot records encodes each once.
package ramcache

import (
	"context"
	"encoding/json"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/maypok86/otter/v2"
)

var _ engram.Cache = (*Cache)(nil)

// DefaultMaxBytes is the default bound of the RAM tier.
const DefaultMaxBytes = 256 << 20

// Options configure the RAM tier. The zero value of every field means its default.
type Options struct {
	// MaxBytes bounds the estimated size of the records held. 0: DefaultMaxBytes.
	MaxBytes int64
	// TTL is the time to live of a record put without one of its own.
	// 0: records never expire.
	TTL time.Duration
	// Clock drives expiry. nil: the wall clock.
	Clock clock.Clock
}

// item is one record as the tier holds it.
type item struct {
	ep  *engram.Episode
	pat *engram.Pattern
	heu *engram.Heuristic
	emb *engram.Embedding
	// js is the episode's JSON encoding (encoding/json's Marshal of ep),
	// kept from its first AppendEpisodeJSON until the record is replaced.
	// It is never changed once set: keeping it replaces the item.
	js      []byte
	expires int64 // Unix nanoseconds; 0: never
	size    uint32
}

// Cache is the RAM tier. Safe for concurrent use.
type Cache struct {
	opts  Options
	clock clock.Clock
	oc    *otter.Cache[engram.CacheKey, *item]

	applyMu   sync.Mutex // orders Applies, so each is atomic with respect to the others
	watermark atomic.Uint64
	closed    atomic.Bool

	hits, misses, writes, deletes, evictions, expirations atomic.Uint64
}

// New returns an empty RAM tier.
func New(o Options) (*Cache, error) {
	if o.TTL < 0 {
		return nil, engram.Invalid("ttl", "is %s; must not be negative", o.TTL)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxBytes < 0 {
		o.MaxBytes = math.MaxInt64
	}
	c := &Cache{opts: o, clock: clock.OrReal(o.Clock)}
	oo := &otter.Options[engram.CacheKey, *item]{
		MaximumWeight:    uint64(o.MaxBytes),
		Weigher:          func(_ engram.CacheKey, v *item) uint32 { return v.size },
		ExpiryCalculator: expiry{c.clock},
		OnAtomicDeletion: func(e otter.DeletionEvent[engram.CacheKey, *item]) {
			switch e.Cause {
			case otter.CauseOverflow:
				c.evictions.Add(1)
			case otter.CauseExpiration:
				c.expirations.Add(1)
			}
		},
	}
	if o.Clock != nil {
		oo.Clock = otterClock{o.Clock}
	}
	oc, err := otter.New(oo)
	if err != nil {
		return nil, engram.Invalid("ram_max_bytes", "%v", err)
	}
	c.oc = oc
	return c, nil
}

// otterClock lets the injected clock drive otter's expiry and its periodic clean-up.
type otterClock struct{ c clock.Clock }

func (o otterClock) NowNano() int64 { return o.c.Now().UnixNano() }

func (o otterClock) Tick(d time.Duration) <-chan time.Time { return o.c.NewTicker(d).C() }

// never is how otter is told a record does not expire.
const never = time.Duration(math.MaxInt64 / 4)

// expiry gives each record the time left until its absolute expiry; reads
// do not change it.
type expiry struct{ c clock.Clock }

func (x expiry) left(v *item) time.Duration {
	if v.expires == 0 {
		return never
	}
	return max(time.Duration(v.expires-x.c.Now().UnixNano()), 0)
}

func (x expiry) ExpireAfterCreate(e otter.Entry[engram.CacheKey, *item]) time.Duration {
	return x.left(e.Value)
}

func (x expiry) ExpireAfterUpdate(e otter.Entry[engram.CacheKey, *item], _ *item) time.Duration {
	return x.left(e.Value)
}

func (x expiry) ExpireAfterRead(e otter.Entry[engram.CacheKey, *item]) time.Duration {
	return e.ExpiresAfter()
}

var errClosed = &engram.Error{Code: engram.EUNAVAILABLE, Message: "ramcache: the cache is closed"}

func (c *Cache) get(ctx context.Context, key engram.CacheKey) (*item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.closed.Load() {
		return nil, errClosed
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	it, ok := c.oc.GetIfPresent(key)
	if !ok || it.expires != 0 && it.expires <= c.clock.Now().UnixNano() {
		c.misses.Add(1)
		return nil, nil
	}
	c.hits.Add(1)
	return it, nil
}

// GetEpisode returns the episode the tier holds. It is shared: do not modify it.
func (c *Cache) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, bool, error) {
	it, err := c.get(ctx, engram.EpisodeCacheKey(ns, id))
	if it == nil {
		return nil, false, err
	}
	return it.ep, true, nil
}

// AppendEpisodeJSON appends the JSON encoding of the episode the tier holds
// (what encoding/json's Marshal makes of it) to dst, and reports whether the
// tier holds the episode. The first call for a record encodes it and keeps
// the encoding beside it, counted in the tier's size, until the record is
// replaced or removed; later calls copy the kept bytes. dst is the only
// memory the caller gets: the kept encoding is never handed out.
func (c *Cache) AppendEpisodeJSON(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, dst []byte) ([]byte, bool, error) {
	key := engram.EpisodeCacheKey(ns, id)
	it, err := c.get(ctx, key)
	if it == nil || it.ep == nil {
		return dst, false, err
	}
	js := it.js
	if js == nil {
		if js, err = json.Marshal(it.ep); err != nil {
			return dst, false, err
		}
		c.keepJSON(key, it, js)
	}
	return append(dst, js...), true, nil
}

// keepJSON replaces it, if it is still the key's item, by a copy holding
// js and weighing it too. A write that replaced it since wins: its record
// may differ, so the encoding is dropped.
func (c *Cache) keepJSON(key engram.CacheKey, it *item, js []byte) {
	c.oc.ComputeIfPresent(key, func(old *item) (*item, otter.ComputeOp) {
		if old != it {
			return old, otter.CancelOp
		}
		n := *it
		n.js = js
		n.size = clampSize(int(it.size) + sliceHeader + len(js))
		return &n, otter.WriteOp
	})
}

// GetPattern returns the pattern the tier holds. It is shared: do not modify it.
func (c *Cache) GetPattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) (*engram.Pattern, bool, error) {
	it, err := c.get(ctx, engram.PatternCacheKey(ns, id))
	if it == nil {
		return nil, false, err
	}
	return it.pat, true, nil
}

// GetHeuristic returns the heuristic the tier holds. It is shared: do not modify it.
func (c *Cache) GetHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) (*engram.Heuristic, bool, error) {
	it, err := c.get(ctx, engram.HeuristicCacheKey(ns, id))
	if it == nil {
		return nil, false, err
	}
	return it.heu, true, nil
}

// GetEmbedding returns the embedding the tier holds. It is shared: do not modify it.
func (c *Cache) GetEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) (*engram.Embedding, bool, error) {
	it, err := c.get(ctx, engram.EmbeddingCacheKey(ns, key))
	if it == nil {
		return nil, false, err
	}
	return it.emb, true, nil
}

func (c *Cache) PutEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if ep == nil {
		return engram.Invalid("episode", "must not be nil")
	}
	return c.apply(ctx, []engram.CacheWrite{{Key: engram.EpisodeCacheKey(ns, ep.ID), Episode: ep}}, nil)
}

func (c *Cache) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	if p == nil {
		return engram.Invalid("pattern", "must not be nil")
	}
	return c.apply(ctx, []engram.CacheWrite{{Key: engram.PatternCacheKey(ns, p.ID), Pattern: p}}, nil)
}

func (c *Cache) PutHeuristic(ctx context.Context, ns engram.Namespace, h *engram.Heuristic) error {
	if h == nil {
		return engram.Invalid("heuristic", "must not be nil")
	}
	return c.apply(ctx, []engram.CacheWrite{{Key: engram.HeuristicCacheKey(ns, h.ID), Heuristic: h}}, nil)
}

func (c *Cache) PutEmbedding(ctx context.Context, ns engram.Namespace, e *engram.Embedding) error {
	if e == nil {
		return engram.Invalid("embedding", "must not be nil")
	}
	return c.apply(ctx, []engram.CacheWrite{{Key: engram.EmbeddingCacheKey(ns, e.Key()), Embedding: e}}, nil)
}

func (c *Cache) Delete(ctx context.Context, key engram.CacheKey) error {
	return c.apply(ctx, []engram.CacheWrite{{Key: key}}, nil)
}

// Apply validates the whole batch, then applies it in order while holding
// out other Applies.
func (c *Cache) Apply(ctx context.Context, b *engram.CacheBatch) error {
	if b == nil {
		return nil
	}
	return c.apply(ctx, b.Writes, b.Watermark)
}

func (c *Cache) apply(ctx context.Context, writes []engram.CacheWrite, watermark *uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.closed.Load() {
		return errClosed
	}
	b := engram.CacheBatch{Writes: writes, Watermark: watermark}
	if err := b.Validate(); err != nil {
		return err
	}
	now := c.clock.Now()
	items := make([]*item, len(writes))
	for i := range writes {
		w := &writes[i]
		if w.IsDelete() {
			continue
		}
		it := &item{}
		switch {
		case w.Episode != nil:
			it.ep = w.Episode.Clone()
			it.size = clampSize(sizeEpisode(it.ep))
		case w.Pattern != nil:
			it.pat = w.Pattern.Clone()
			it.size = clampSize(sizePattern(it.pat))
		case w.Heuristic != nil:
			it.heu = w.Heuristic.Clone()
			it.size = clampSize(sizeHeuristic(it.heu))
		case w.Embedding != nil:
			it.emb = w.Embedding.Clone()
			it.size = clampSize(sizeEmbedding(it.emb))
		}
		ttl := w.TTL
		if ttl == 0 {
			ttl = c.opts.TTL
		}
		if ttl > 0 {
			it.expires = now.Add(ttl).UnixNano()
		}
		items[i] = it
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	for i := range writes {
		if items[i] == nil {
			c.oc.Invalidate(writes[i].Key)
			c.deletes.Add(1)
			continue
		}
		c.oc.Set(writes[i].Key, items[i])
		c.writes.Add(1)
	}
	if watermark != nil {
		c.watermark.Store(*watermark)
	}
	return nil
}

func clampSize(n int) uint32 { return uint32(min(n, math.MaxUint32)) }

// Watermark returns the watermark the last Apply with one set.
func (c *Cache) Watermark(ctx context.Context) (uint64, error) {
	if c.closed.Load() {
		return 0, errClosed
	}
	return c.watermark.Load(), ctx.Err()
}

// Clear removes every record and resets the watermark.
func (c *Cache) Clear(ctx context.Context) error {
	if c.closed.Load() {
		return errClosed
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.oc.InvalidateAll()
	c.watermark.Store(0)
	return ctx.Err()
}

// Sweep runs otter's pending maintenance now: expired records are removed
// and the byte bound is enforced.
func (c *Cache) Sweep() { c.oc.CleanUp() }

// Stats returns the tier's counters since New and its current size.
func (c *Cache) Stats(ctx context.Context) (engram.CacheStats, error) {
	c.oc.CleanUp()
	s := engram.CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Writes: c.writes.Load(),
		Deletes: c.deletes.Load(), Evictions: c.evictions.Load(), Expirations: c.expirations.Load(),
		Entries: int64(c.oc.EstimatedSize()), Bytes: int64(c.oc.WeightedSize())}
	s.Reads = s.Hits + s.Misses
	if s.Reads > 0 {
		s.HitRate = float64(s.Hits) / float64(s.Reads)
	}
	return s, ctx.Err()
}

// Close drops every record and stops otter's goroutines.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return errClosed
	}
	c.oc.InvalidateAll()
	c.oc.StopAllGoroutines()
	return nil
}
