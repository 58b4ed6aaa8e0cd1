package engram

import (
	"context"
	"fmt"
	"time"
)

// Cache holds rebuildable copies of durable records, keyed by (namespace, id).
// Both cache tiers implement it: the RAM tier (ramcache) and the embedded file
// (boltcache). Safe for concurrent use.
//
// Everything in a cache can be rebuilt from the durable Store, so a cache may
// lose recent writes on a crash, and callers treat every error as "the cache
// cannot help now" rather than as a failure of their operation. What a cache
// never does is return wrong data:
//
//   - Get reports a miss (ok == false, err == nil) for a record that is absent,
//     expired or unreadable. It never returns a record whose checksum does not
//     match, and never one past its expiry time, even before a sweep removed it.
//   - A record returned by Get may be shared with the cache and with other
//     callers (the RAM tier hands out the record it holds, so a hit costs no
//     copy): treat it as read-only and copy it before changing it. Put copies
//     or encodes what it is given, so the caller keeps ownership of its record.
//   - Puts key each record by its own id (an embedding by Key()); a zero id or
//     an invalid namespace is an EINVALID error and changes nothing. A put
//     replaces any record under the same key and gives it the default TTL.
//   - Apply commits a whole CacheBatch atomically: after a crash either all
//     of its writes, deletes and its watermark are visible, or none are.
//   - A call whose ctx ends while it waits returns ctx.Err(); its writes
//     may still be applied.
//   - Errors are *Error values: EINVALID for bad keys, EUNAVAILABLE once
//     closed or when the backing file fails, ECORRUPT only from
//     verification entry points that report damage instead of hiding it.
type Cache interface {
	GetEpisode(ctx context.Context, ns Namespace, id EpisodeID) (ep *Episode, ok bool, err error)
	GetPattern(ctx context.Context, ns Namespace, id PatternID) (p *Pattern, ok bool, err error)
	GetHeuristic(ctx context.Context, ns Namespace, id HeuristicID) (h *Heuristic, ok bool, err error)
	GetEmbedding(ctx context.Context, ns Namespace, key EmbeddingKey) (e *Embedding, ok bool, err error)

	PutEpisode(ctx context.Context, ns Namespace, ep *Episode) error
	PutPattern(ctx context.Context, ns Namespace, p *Pattern) error
	PutHeuristic(ctx context.Context, ns Namespace, h *Heuristic) error
	PutEmbedding(ctx context.Context, ns Namespace, e *Embedding) error

	// Delete removes the record under key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key CacheKey) error

	// Apply writes every put and delete of b and, when b sets one, the new
	// watermark, in one atomic commit. Writes apply in order, so a later
	// write to the same key wins.
	Apply(ctx context.Context, b *CacheBatch) error
	// Watermark returns the watermark last committed by Apply: the change-feed
	// sequence number up to which the cache reflects the durable store. 0 for
	// a new or cleared cache.
	Watermark(ctx context.Context) (uint64, error)

	// Clear removes every record and resets the watermark to 0.
	Clear(ctx context.Context) error
	// Stats returns the counters and sizes of this tier. Counters cover the
	// tier's lifetime: the process for a RAM tier, the file for a tier that
	// has one (persisted lazily, so a crash may lose recent counts). Sizes
	// describe what the tier holds now.
	Stats(ctx context.Context) (CacheStats, error)
	// Close releases the cache. Later calls return EUNAVAILABLE.
	Close() error
}

// CacheKey identifies one record in a cache. Use the constructors
// (EpisodeCacheKey, ...), which fill in exactly the fields each kind uses.
type CacheKey struct {
	Namespace Namespace
	Kind      RecordKind // KindEpisode, KindPattern, KindHeuristic or KindEmbedding
	ID        UUID       // the record's id; for an embedding, its item's id
	ItemType  ItemType   // embeddings only
	Model     string     // embeddings only; never "" (DefaultModel instead)
}

// EpisodeCacheKey returns the key of an episode.
func EpisodeCacheKey(ns Namespace, id EpisodeID) CacheKey {
	return CacheKey{Namespace: ns, Kind: KindEpisode, ID: id.UUID}
}

// PatternCacheKey returns the key of a pattern.
func PatternCacheKey(ns Namespace, id PatternID) CacheKey {
	return CacheKey{Namespace: ns, Kind: KindPattern, ID: id.UUID}
}

// HeuristicCacheKey returns the key of a heuristic.
func HeuristicCacheKey(ns Namespace, id HeuristicID) CacheKey {
	return CacheKey{Namespace: ns, Kind: KindHeuristic, ID: id.UUID}
}

// EmbeddingCacheKey returns the key of an embedding; an empty model is DefaultModel.
func EmbeddingCacheKey(ns Namespace, k EmbeddingKey) CacheKey {
	m := k.Model
	if m == "" {
		m = DefaultModel
	}
	return CacheKey{Namespace: ns, Kind: KindEmbedding, ID: k.ItemID, ItemType: k.ItemType, Model: m}
}

// Validate checks that k is a well-formed key of one of the four cached kinds.
func (k CacheKey) Validate() error {
	if err := k.Namespace.Validate(); err != nil {
		return err
	}
	switch k.Kind {
	case KindEpisode, KindPattern, KindHeuristic:
		if k.ItemType != "" || k.Model != "" {
			return Invalid("key", "a %s key has no item type or model", k.Kind)
		}
	case KindEmbedding:
		if err := validateItemType(k.ItemType); err != nil {
			return err
		}
		if k.Model == "" || len(k.Model) > MaxNameBytes {
			return Invalid("model", "must be 1-%d bytes", MaxNameBytes)
		}
	default:
		return Invalid("kind", "%q is not a cached record kind", k.Kind)
	}
	if k.ID.IsZero() {
		return Invalid("id", "must not be the nil UUID")
	}
	return nil
}

func (k CacheKey) String() string {
	if k.Kind == KindEmbedding {
		return fmt.Sprintf("%s/%s/%s/%s/%s", k.Namespace, k.Kind, k.ItemType, k.ID, k.Model)
	}
	return fmt.Sprintf("%s/%s/%s", k.Namespace, k.Kind, k.ID)
}

// CacheWrite is one write of a CacheBatch: a put when its record field for
// Key.Kind is set, a delete when every record field is nil.
type CacheWrite struct {
	Key       CacheKey
	Episode   *Episode
	Pattern   *Pattern
	Heuristic *Heuristic
	Embedding *Embedding
	TTL       time.Duration // puts only; 0: the cache's default TTL; < 0: never expire
}

// IsDelete reports whether w deletes its key.
func (w *CacheWrite) IsDelete() bool {
	return w.Episode == nil && w.Pattern == nil && w.Heuristic == nil && w.Embedding == nil
}

// Validate checks the key and that at most the one record field matching
// Key.Kind is set, with the id the key names.
func (w *CacheWrite) Validate() error {
	if err := w.Key.Validate(); err != nil {
		return err
	}
	set := 0
	for _, p := range []bool{w.Episode != nil, w.Pattern != nil, w.Heuristic != nil, w.Embedding != nil} {
		if p {
			set++
		}
	}
	if set > 1 {
		return Invalid("record", "a cache write holds at most one record")
	}
	if set == 0 {
		return nil
	}
	match := false
	switch w.Key.Kind {
	case KindEpisode:
		match = w.Episode != nil && w.Episode.ID.UUID == w.Key.ID
	case KindPattern:
		match = w.Pattern != nil && w.Pattern.ID.UUID == w.Key.ID
	case KindHeuristic:
		match = w.Heuristic != nil && w.Heuristic.ID.UUID == w.Key.ID
	case KindEmbedding:
		match = w.Embedding != nil && EmbeddingCacheKey(w.Key.Namespace, w.Embedding.Key()) == w.Key
	}
	if !match {
		return Invalid("record", "the record does not match its key %s", w.Key)
	}
	return nil
}

// CacheBatch collects writes to commit together with Cache.Apply. The zero
// value is an empty batch. A batch is not safe for concurrent use.
type CacheBatch struct {
	Writes []CacheWrite
	// Watermark, when set, is committed with the writes (see Cache.Watermark).
	Watermark *uint64
}

// PutEpisode adds a put of ep (keyed by its id) with the default TTL.
func (b *CacheBatch) PutEpisode(ns Namespace, ep *Episode) {
	b.Writes = append(b.Writes, CacheWrite{Key: EpisodeCacheKey(ns, ep.ID), Episode: ep})
}

// PutPattern adds a put of p with the default TTL.
func (b *CacheBatch) PutPattern(ns Namespace, p *Pattern) {
	b.Writes = append(b.Writes, CacheWrite{Key: PatternCacheKey(ns, p.ID), Pattern: p})
}

// PutHeuristic adds a put of h with the default TTL.
func (b *CacheBatch) PutHeuristic(ns Namespace, h *Heuristic) {
	b.Writes = append(b.Writes, CacheWrite{Key: HeuristicCacheKey(ns, h.ID), Heuristic: h})
}

// PutEmbedding adds a put of e with the default TTL.
func (b *CacheBatch) PutEmbedding(ns Namespace, e *Embedding) {
	b.Writes = append(b.Writes, CacheWrite{Key: EmbeddingCacheKey(ns, e.Key()), Embedding: e})
}

// Delete adds a delete of key.
func (b *CacheBatch) Delete(key CacheKey) { b.Writes = append(b.Writes, CacheWrite{Key: key}) }

// SetWatermark makes the batch commit seq as the cache's watermark.
func (b *CacheBatch) SetWatermark(seq uint64) { b.Watermark = &seq }

// Validate checks every write (the first error names its index) and that
// the batch holds at most MaxCacheBatch writes.
func (b *CacheBatch) Validate() error {
	if len(b.Writes) > MaxCacheBatch {
		return Invalid("writes", "has %d writes; the limit is %d", len(b.Writes), MaxCacheBatch)
	}
	for i := range b.Writes {
		if err := b.Writes[i].Validate(); err != nil {
			return fmt.Errorf("writes[%d]: %w", i, err)
		}
	}
	return nil
}

// MaxCacheBatch is the most writes one CacheBatch may hold. It is larger than
// MaxBatch because sync and rebuilds fill caches in big transactions.
const MaxCacheBatch = 100_000

// CacheStats describes one cache tier (see Cache.Stats for what the
// counters cover); Entries, Bytes and FileSize describe it now.
type CacheStats struct {
	Hits        uint64  `json:"hits"`
	Misses      uint64  `json:"misses"`   // absent, expired and corrupt reads
	HitRate     float64 `json:"hit_rate"` // Hits / Reads; 0 before the first read
	Reads       uint64  `json:"reads"`    // Hits + Misses
	Writes      uint64  `json:"writes"`   // records put
	Deletes     uint64  `json:"deletes"`  // deletes applied (present or not)
	Evictions   uint64  `json:"evictions"`
	Expirations uint64  `json:"expirations"` // expired records removed (an expired read is a miss)
	Corrupt     uint64  `json:"corrupt"`     // records that failed verification
	Entries     int64   `json:"entries"`
	Bytes       int64   `json:"bytes"`     // the records' size: encoded (file) or estimated (RAM)
	FileSize    int64   `json:"file_size"` // 0 for a tier without a file
}
