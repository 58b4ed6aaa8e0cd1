package engram

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ItemType names what kind of record an embedding describes: "episode",
// "pattern", "heuristic", or any other 1-32 characters of [a-z0-9_].
// Embeddings of an episode are deleted with it.
type ItemType string

const (
	ItemEpisode   ItemType = "episode"
	ItemPattern   ItemType = "pattern"
	ItemHeuristic ItemType = "heuristic"
)

// DefaultModel is the model of an embedding that names none.
const DefaultModel = "default"

// Embedding is a vector describing one item, made by one model. An item may
// have one embedding per model.
type Embedding struct {
	ItemID    UUID      `json:"item_id"`
	ItemType  ItemType  `json:"item_type"`
	Model     string    `json:"model"` // "": DefaultModel
	Vector    []float32 `json:"vector"`
	CreatedAt time.Time `json:"created_at"` // set by the store
	// Metadata is free-form key=value data stored with the vector (at
	// most MaxMetadataEntries keys, the same limits as an episode's).
	Metadata map[string]string `json:"metadata,omitempty"`
	// ExpiresAt, when set, is when the embedding expires: from then on no
	// read, listing or recall returns it, and a background sweep deletes
	// it durably. Zero: it never expires.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// TTL, on a put, sets ExpiresAt to the store's clock plus TTL (give
	// one of the two). The store clears it: what was stored is ExpiresAt.
	TTL time.Duration `json:"ttl_ns,omitempty"`
}

// MaxEmbeddingTTL is the longest TTL an embedding may be given.
const MaxEmbeddingTTL = 100 * 365 * 24 * time.Hour

// Expired reports whether e has expired at now.
func (e *Embedding) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// SetExpiry turns a put's TTL into ExpiresAt (now + TTL) and checks the
// expiry: a TTL of 0 up to MaxEmbeddingTTL, not both TTL and ExpiresAt,
// and an ExpiresAt after now. Stores call it before Normalize.
func (e *Embedding) SetExpiry(now time.Time) error {
	switch {
	case e.TTL < 0 || e.TTL > MaxEmbeddingTTL:
		return Invalid("ttl_ns", "is %v; must be 0 (use expires_at, or none) up to %v", e.TTL, MaxEmbeddingTTL)
	case e.TTL > 0 && !e.ExpiresAt.IsZero():
		return Invalid("ttl_ns", "and expires_at are both set; give one")
	case e.TTL > 0:
		e.ExpiresAt, e.TTL = now.Add(e.TTL), 0
	}
	if !e.ExpiresAt.IsZero() {
		e.ExpiresAt = e.ExpiresAt.UTC()
		if !e.ExpiresAt.After(now) {
			return Invalid("expires_at", "is %s, not after now (%s); an embedding must not expire before it is stored",
				e.ExpiresAt.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
		}
		if e.ExpiresAt.After(now.Add(MaxEmbeddingTTL)) {
			return Invalid("expires_at", "is %s, more than %v from now", e.ExpiresAt.Format(time.RFC3339), MaxEmbeddingTTL)
		}
	}
	return nil
}

// Key returns the key the embedding is stored under.
func (e *Embedding) Key() EmbeddingKey {
	return EmbeddingKey{ItemType: e.ItemType, ItemID: e.ItemID, Model: e.Model}
}

// EmbeddingKey identifies an embedding within a namespace.
type EmbeddingKey struct {
	ItemType ItemType
	ItemID   UUID
	Model    string // "": DefaultModel
}

func (k EmbeddingKey) String() string {
	m := k.Model
	if m == "" {
		m = DefaultModel
	}
	return fmt.Sprintf("%s/%s/%s", k.ItemType, k.ItemID, m)
}

// RelationshipType says how two episodes relate.
type RelationshipType string

const (
	RelParentChild RelationshipType = "parent_child"
	RelDependsOn   RelationshipType = "depends_on"
	RelFollows     RelationshipType = "follows"
	RelRelatedTo   RelationshipType = "related_to"
	RelBlocks      RelationshipType = "blocks"
	RelDuplicates  RelationshipType = "duplicates"
	RelReferences  RelationshipType = "references"
)

// RelationshipTypes lists every valid RelationshipType.
var RelationshipTypes = []RelationshipType{RelParentChild, RelDependsOn, RelFollows, RelRelatedTo, RelBlocks, RelDuplicates, RelReferences}

// Relationship is a directed, typed, weighted edge between two episodes of one
// namespace. (From, To, Type) is its key.
type Relationship struct {
	From      EpisodeID        `json:"from"`
	To        EpisodeID        `json:"to"`
	Type      RelationshipType `json:"type"`
	Weight    float64          `json:"weight"` // in (0, 1]; 0: 1
	CreatedAt time.Time        `json:"created_at"`
}

func (r *Relationship) String() string { return fmt.Sprintf("%s -%s-> %s", r.From, r.Type, r.To) }

// ParseEmbeddingKey parses the form EmbeddingKey.String writes:
// item_type/item_id/model (the model may itself contain slashes).
func ParseEmbeddingKey(s string) (EmbeddingKey, error) {
	typ, rest, ok1 := strings.Cut(s, "/")
	id, model, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || model == "" {
		return EmbeddingKey{}, Invalid("key", "%q is not item_type/item_id/model", truncate(s, 80))
	}
	u, err := ParseUUID(id)
	if err != nil {
		return EmbeddingKey{}, Invalid("key", "%q: %v", truncate(s, 80), err)
	}
	if err := validateItemType(ItemType(typ)); err != nil {
		return EmbeddingKey{}, err
	}
	return EmbeddingKey{ItemType: ItemType(typ), ItemID: u, Model: model}, nil
}

// VectorStore is the namespace contract over embeddings (Dakera's storage
// contract): batch get and delete beside Store's batch put, a streaming
// read of a namespace, namespace listing, stats and clear, and flush. It
// is implemented by sqlstore.Store, memory.Memory and the HTTP client;
// callers holding a Store test for it.
//
// Expired embeddings (see Embedding.ExpiresAt) are never returned or
// counted by any of these calls, whether or not the sweep has deleted them
// yet: expiry is judged by the store's clock at read time.
type VectorStore interface {
	// GetEmbeddings returns, aligned with keys (at most MaxBatch), each
	// embedding, or nil where it is absent or expired.
	GetEmbeddings(ctx context.Context, ns Namespace, keys []EmbeddingKey) ([]*Embedding, error)
	// DeleteEmbeddings deletes up to MaxBatch embeddings in one
	// transaction and reports, aligned with keys, which of them existed
	// (an unknown key is not an error).
	DeleteEmbeddings(ctx context.Context, ns Namespace, keys []EmbeddingKey) ([]bool, error)
	// EachEmbedding calls fn with every embedding matching f, in key order,
	// reading f.Limit (0: DefaultQueryLimit) at a time from f.Cursor, so a
	// namespace of any size streams in bounded memory. It stops at fn's
	// first error and returns it. fn must not keep the embedding after it
	// returns unless it copies it.
	EachEmbedding(ctx context.Context, ns Namespace, f EmbeddingFilter, fn func(*Embedding) error) error
	// VectorNamespaces describes, sorted, every namespace holding at least
	// one unexpired embedding.
	VectorNamespaces(ctx context.Context) ([]VectorNamespaceStats, error)
	// VectorNamespace describes one namespace; ENOTFOUND when it holds no
	// unexpired embedding (that is "exists").
	VectorNamespace(ctx context.Context, ns Namespace) (*VectorNamespaceStats, error)
	// ClearEmbeddings deletes every embedding of ns durably (MaxBatch per
	// transaction, each deletion in the change feed, so every node's
	// indexes drop it) and from every tier holding a copy, and returns how
	// many it deleted. Other namespaces are untouched.
	ClearEmbeddings(ctx context.Context, ns Namespace) (int64, error)
	// FlushVectors persists what is held only in memory: the vector
	// indexes' snapshots, and their object-tier copies when there is an
	// object tier. A durable store has nothing to flush.
	FlushVectors(ctx context.Context) error
}

// VectorNamespaceStats describes the embeddings of one namespace.
type VectorNamespaceStats struct {
	Namespace Namespace `json:"namespace"`
	// Count is the number of unexpired embeddings; Expiring how many of
	// them carry an expiry time.
	Count    int64 `json:"count"`
	Expiring int64 `json:"expiring"`
	// Dimension is the namespace's one dimension, 0 when its models differ
	// (Dimensions lists each, ascending).
	Dimension  int   `json:"dimension"`
	Dimensions []int `json:"dimensions"`
	// Models lists "item_type/model" of the namespace's index groups.
	Models []string `json:"models"`
	// Bytes is an approximate size: the stored vectors and metadata plus a
	// fixed per-row overhead (EmbeddingRowOverhead).
	Bytes int64 `json:"bytes"`
}

// EmbeddingRowOverhead is the bytes VectorNamespaceStats.Bytes counts per
// embedding besides its vector and metadata: keys, times and digest.
const EmbeddingRowOverhead = 96
