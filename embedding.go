package engram

import (
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
