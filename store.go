package engram

import (
	"context"
	"time"
)

// Store is the durable tier: the source of truth for every record. An
// acknowledged write (a nil error) has been committed durably; a failed write
// changed nothing. Every method is scoped to one namespace and never reads or
// changes records of another. Safe for concurrent use.
//
// Writes normalise and validate their input (see Normalize and Validate on
// each record type) and fill in the store-owned fields (ids when zero,
// created_at, updated_at) of the record passed in, so the caller holds what
// was stored. Errors are *Error values: EINVALID or ETOOLARGE for bad input,
// ENOTFOUND for an unknown key, ECONFLICT for a duplicate key or an invalid
// state change, EUNAVAILABLE when the store cannot be reached.
//
// Every committed change appends to the change feed in the same transaction
// (see Changes).
//
// Every write may carry an idempotency key (WithIdempotencyKey). A write whose
// key was already committed in the namespace is not applied again: it returns
// the original outcome (the record passed in is filled as the first call
// filled it), or ECONFLICT when the key was used for a different request.
// A write that failed with EUNKNOWN is settled by retrying it with its key.
type Store interface {
	// CreateEpisode stores a new episode with its steps. ECONFLICT if the id exists.
	CreateEpisode(ctx context.Context, ns Namespace, ep *Episode) error
	// CreateEpisodes stores up to MaxBatch new episodes in one transaction:
	// all of them or, on any error, none.
	CreateEpisodes(ctx context.Context, ns Namespace, eps []*Episode) error
	// GetEpisode returns the episode with all its steps in step order.
	GetEpisode(ctx context.Context, ns Namespace, id EpisodeID) (*Episode, error)
	// UpdateEpisode replaces an existing episode's fields, except its steps
	// (changed only by AppendStep) and created_at. ENOTFOUND if absent.
	UpdateEpisode(ctx context.Context, ns Namespace, ep *Episode) error
	// DeleteEpisode removes the episode with its steps, tags, metadata,
	// embeddings (item_type "episode"), relationships and index rows.
	DeleteEpisode(ctx context.Context, ns Namespace, id EpisodeID) error
	// AppendStep adds one step to an open episode. A zero StepNumber is
	// assigned the next number; otherwise it must exceed every existing one.
	// ECONFLICT if the episode is complete.
	AppendStep(ctx context.Context, ns Namespace, id EpisodeID, step *Step) error
	// CompleteEpisode records the outcome and returns the completed episode.
	// ECONFLICT if it is complete already.
	CompleteEpisode(ctx context.Context, ns Namespace, id EpisodeID, c *Completion) (*Episode, error)
	// ListEpisodes returns episodes matching f, newest start_time first.
	ListEpisodes(ctx context.Context, ns Namespace, f EpisodeFilter) (EpisodePage, error)
	// Search ranks episodes, steps and patterns by keyword relevance (BM25).
	Search(ctx context.Context, ns Namespace, q SearchQuery) ([]SearchHit, error)

	// PutPattern creates or replaces a pattern (keeping created_at on replace).
	PutPattern(ctx context.Context, ns Namespace, p *Pattern) error
	GetPattern(ctx context.Context, ns Namespace, id PatternID) (*Pattern, error)
	DeletePattern(ctx context.Context, ns Namespace, id PatternID) error
	// ListPatterns returns patterns matching f, most recently updated first.
	ListPatterns(ctx context.Context, ns Namespace, f PatternFilter) (PatternPage, error)

	// PutHeuristic creates or replaces a heuristic (keeping created_at on replace).
	PutHeuristic(ctx context.Context, ns Namespace, h *Heuristic) error
	GetHeuristic(ctx context.Context, ns Namespace, id HeuristicID) (*Heuristic, error)
	DeleteHeuristic(ctx context.Context, ns Namespace, id HeuristicID) error
	// ListHeuristics returns heuristics matching f, most recently updated first.
	ListHeuristics(ctx context.Context, ns Namespace, f HeuristicFilter) (HeuristicPage, error)

	// PutEmbeddings creates or replaces up to MaxBatch embeddings in one
	// transaction: all of them or, on any error, none.
	PutEmbeddings(ctx context.Context, ns Namespace, embs []*Embedding) error
	GetEmbedding(ctx context.Context, ns Namespace, key EmbeddingKey) (*Embedding, error)
	DeleteEmbedding(ctx context.Context, ns Namespace, key EmbeddingKey) error
	// ListEmbeddings returns embeddings matching f in key order.
	ListEmbeddings(ctx context.Context, ns Namespace, f EmbeddingFilter) (EmbeddingPage, error)

	// AddRelationship creates or replaces (same from, to, type) a relationship
	// between two existing episodes; ENOTFOUND names a missing one.
	AddRelationship(ctx context.Context, ns Namespace, r *Relationship) error
	RemoveRelationship(ctx context.Context, ns Namespace, from, to EpisodeID, typ RelationshipType) error
	// ListRelationships returns the relationships of one episode.
	ListRelationships(ctx context.Context, ns Namespace, f RelationshipFilter) ([]Relationship, error)

	// Counts returns how many records of each kind the namespace holds.
	Counts(ctx context.Context, ns Namespace) (Counts, error)
	// Namespaces lists, sorted, every namespace holding at least one
	// episode, pattern, heuristic or embedding. Administrative: it is the
	// one call not scoped to a namespace besides the change feed.
	Namespaces(ctx context.Context) ([]Namespace, error)

	// Changes returns up to limit change-feed entries with Seq > after, in
	// Seq order, across all namespaces. LastSeq is the highest Seq written
	// (0 for an empty store).
	//
	// The feed is gap-free in visibility order: once any reader has seen
	// an entry with Seq N (from Changes or LastSeq), no entry with Seq <= N
	// that it has not seen can ever appear later. A reader that resumes from
	// the highest Seq it saw therefore never misses a change. Stores whose
	// sequence values can commit out of order (concurrent writers on a
	// server database) must hold back entries behind an uncommitted one.
	//
	// The feed has a retention horizon: entries older than it may be dropped.
	// When entries after `after` have been dropped, Changes answers EGONE and
	// the reader must rebuild from the records themselves.
	Changes(ctx context.Context, after uint64, limit int) ([]Change, error)
	LastSeq(ctx context.Context) (uint64, error)

	Close() error
}

// EpisodeFilter selects episodes. Zero fields do not filter. All set fields
// must match.
type EpisodeFilter struct {
	Since    time.Time         // start_time >= Since
	Until    time.Time         // start_time < Until
	Domain   string            // context.domain
	TaskType TaskType          // task_type
	Tags     []string          // every tag, matched against tags and context.tags
	Metadata map[string]string // every key with exactly this value
	Complete *bool             // true: only complete episodes; false: only open ones
	Near     *GeoRadius        // location within a great-circle radius
	Box      *GeoBox           // location within a bounding box
	Limit    int               // 0: DefaultQueryLimit; at most MaxQueryLimit
	Cursor   string            // from a previous page's NextCursor
}

// GeoRadius is a circle on the Earth's surface.
type GeoRadius struct {
	Lat, Lon float64
	KM       float64 // radius in kilometres, > 0
}

// GeoBox is a latitude/longitude box. MinLon > MaxLon spans the antimeridian.
type GeoBox struct {
	MinLat, MinLon, MaxLat, MaxLon float64
}

// EarthRadiusKM is the mean Earth radius the radius queries use.
const EarthRadiusKM = 6371.0088

// EpisodePage is one page of a listing. NextCursor is empty on the last page.
type EpisodePage struct {
	Episodes   []*Episode `json:"episodes"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// PatternFilter selects patterns.
type PatternFilter struct {
	Domain string
	Kind   PatternKind
	Tag    string
	Limit  int // 0: DefaultQueryLimit; at most MaxQueryLimit
	Cursor string
}

// PatternPage is one page of patterns.
type PatternPage struct {
	Patterns   []*Pattern `json:"patterns"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// HeuristicFilter selects heuristics.
type HeuristicFilter struct {
	Domain        string
	MinConfidence float64
	Limit         int // 0: DefaultQueryLimit; at most MaxQueryLimit
	Cursor        string
}

// HeuristicPage is one page of heuristics.
type HeuristicPage struct {
	Heuristics []*Heuristic `json:"heuristics"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// EmbeddingFilter selects embeddings.
type EmbeddingFilter struct {
	ItemType ItemType
	ItemID   UUID // with ItemType: every model's embedding of one item
	Model    string
	Limit    int // 0: DefaultQueryLimit; at most MaxQueryLimit
	Cursor   string
}

// EmbeddingPage is one page of embeddings.
type EmbeddingPage struct {
	Embeddings []*Embedding `json:"embeddings"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// Direction selects which relationships of an episode to list.
type Direction string

const (
	Outgoing Direction = "out"  // the episode is From
	Incoming Direction = "in"   // the episode is To
	Both     Direction = "both" // either; the default
)

// RelationshipFilter selects the relationships of one episode.
type RelationshipFilter struct {
	Episode   EpisodeID
	Direction Direction        // "": Both
	Type      RelationshipType // "": every type
}

// SearchKind is what a search hit points at.
type SearchKind string

const (
	SearchEpisode SearchKind = "episode" // task description, tags, reflection, outcome
	SearchStep    SearchKind = "step"    // tool, action, output, message
	SearchPattern SearchKind = "pattern" // the pattern's text fields
)

// SearchQuery is a keyword search. Text is split into words; by default a hit
// contains every word (Any: at least one). Punctuation is ignored, so query
// text is never interpreted as query syntax.
type SearchQuery struct {
	Text  string
	Kinds []SearchKind // empty: all kinds
	Any   bool
	Limit int // 0: DefaultQueryLimit; at most MaxQueryLimit
}

// SearchHit is one search result. Score is BM25 relevance, higher is better.
type SearchHit struct {
	Kind       SearchKind `json:"kind"`
	EpisodeID  *EpisodeID `json:"episode_id,omitempty"`
	StepNumber int        `json:"step_number,omitempty"`
	PatternID  *PatternID `json:"pattern_id,omitempty"`
	Score      float64    `json:"score"`
	Snippet    string     `json:"snippet"`
}

// Counts is how many records of each kind a namespace holds.
type Counts struct {
	Episodes      int64 `json:"episodes"`
	Steps         int64 `json:"steps"`
	Patterns      int64 `json:"patterns"`
	Heuristics    int64 `json:"heuristics"`
	Embeddings    int64 `json:"embeddings"`
	Relationships int64 `json:"relationships"`
}

// RecordKind names a kind of record in the change feed.
type RecordKind string

const (
	KindEpisode      RecordKind = "episode"
	KindPattern      RecordKind = "pattern"
	KindHeuristic    RecordKind = "heuristic"
	KindEmbedding    RecordKind = "embedding"
	KindRelationship RecordKind = "relationship"
)

// ChangeOp says what happened to a record.
type ChangeOp string

const (
	OpInsert ChangeOp = "insert"
	OpUpdate ChangeOp = "update" // includes appending a step and completing an episode
	OpDelete ChangeOp = "delete"
)

// Change is one entry of the durable change feed. Key is the record's id in
// text form: a UUID for episodes, patterns and heuristics, an
// EmbeddingKey.String() for embeddings, "from/to/type" for relationships.
type Change struct {
	Seq       uint64     `json:"seq"`
	Namespace Namespace  `json:"namespace"`
	Kind      RecordKind `json:"kind"`
	Key       string     `json:"key"`
	Op        ChangeOp   `json:"op"`
	At        time.Time  `json:"at"`
}

// ClampLimit returns limit, DefaultQueryLimit when it is 0, or an EINVALID
// error when it is negative or over MaxQueryLimit.
func ClampLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultQueryLimit, nil
	case limit < 0 || limit > MaxQueryLimit:
		return 0, Invalid("limit", "is %d; must be 1-%d", limit, MaxQueryLimit)
	}
	return limit, nil
}
