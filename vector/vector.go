// Package vector is engram's nearest-neighbour search over float32 vectors:
// one index per (namespace, item type, model, dimension), keyed by the
// item's UUID.
//
// Two index types share one storage layout:
//
//   - Flat scans int8 codes of every vector (one per-vector scale) and
//     reranks the best Rerank candidates in float32. No build, exact in
//     practice at a small rerank window, and trivially filtered;
//     SearchBatch answers several queries with one pass over the codes.
//   - HNSW adds a hierarchical navigable small-world graph (M=16,
//     efConstruction=200 by default) traversed on the int8 codes, with the
//     nearest k+10 of the ef-wide beam reranked in float32. A planner answers each query
//     by a flat scan when the index or the filter is small, by filtering
//     during traversal otherwise, and by post-filtering only when the filter
//     lets nearly everything through.
//
// Both are safe for concurrent use: searches take no lock and run beside
// Add and Delete, which hold a mutex only over memory operations (the key
// map). Add of an existing key replaces its vector; Delete leaves a
// tombstone that searches skip and Compact unlinks. Save writes a
// checksummed snapshot (with the change-feed position it covers) that Open
// maps back in milliseconds.
//
// Distances are "smaller is nearer" for every metric: 1-cos for Cosine, -dot
// for Dot, and the squared Euclidean distance for L2.
package vector

import (
	"github.com/engramhq/engram"
)

// Metric says how vectors are compared.
type Metric uint8

const (
	// Cosine compares directions: vectors are normalised on insert and
	// query; Distance is 1 - cos, in [0, 2].
	Cosine Metric = iota
	// Dot ranks by the inner product; Distance is -dot.
	Dot
	// L2 ranks by Euclidean distance; Distance is its square.
	L2
)

func (m Metric) String() string {
	switch m {
	case Cosine:
		return "cosine"
	case Dot:
		return "dot"
	case L2:
		return "l2"
	}
	return "metric(" + itoa(int(m)) + ")"
}

// ParseMetric parses "cosine", "dot" or "l2".
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "cosine":
		return Cosine, nil
	case "dot":
		return Dot, nil
	case "l2":
		return L2, nil
	}
	return 0, engram.Invalid("metric", "is %q; want cosine, dot or l2", s)
}

// Defaults of Options and SearchOptions.
const (
	DefaultM              = 16
	DefaultEfConstruction = 200
	DefaultEfSearch       = 64
	DefaultRerank         = 64    // flat scan: int8 candidates reranked in float32
	DefaultFlatBelow      = 20000 // HNSW: indexes with fewer live vectors are scanned
	DefaultFlatFilterMax  = 10000 // HNSW: filters allowing at most this many are scanned
	DefaultPostFilterMin  = 0.9   // HNSW: filters allowing at least this share post-filter
)

// Options configure an index. The zero value of each field means its
// default; Dim is required.
type Options struct {
	Dim    int    // 1..engram.MaxVectorDim
	Metric Metric // zero: Cosine

	// HNSW only.
	M              int // neighbours per node on upper layers (2M on layer 0); 0: DefaultM; 2..64
	EfConstruction int // beam width while inserting; 0: DefaultEfConstruction
	EfSearch       int // default beam width of a query; 0: DefaultEfSearch
	Seed           uint64
	FlatBelow      int     // answer by flat scan below this many live vectors; 0: DefaultFlatBelow, <0: never
	FlatFilterMax  int     // answer a filter allowing <= this many by flat scan; 0: DefaultFlatFilterMax
	PostFilterMin  float64 // post-filter when the filter allows >= this share; 0: DefaultPostFilterMin
}

func (o *Options) ensureDefaults() {
	if o.M == 0 {
		o.M = DefaultM
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = DefaultEfConstruction
	}
	if o.EfSearch == 0 {
		o.EfSearch = DefaultEfSearch
	}
	if o.FlatBelow == 0 {
		o.FlatBelow = DefaultFlatBelow
	}
	if o.FlatFilterMax == 0 {
		o.FlatFilterMax = DefaultFlatFilterMax
	}
	if o.PostFilterMin == 0 {
		o.PostFilterMin = DefaultPostFilterMin
	}
}

func (o *Options) validate() error {
	switch {
	case o.Dim < 1 || o.Dim > engram.MaxVectorDim:
		return engram.Invalid("dim", "is %d; it must be 1-%d", o.Dim, engram.MaxVectorDim)
	case o.Metric > L2:
		return engram.Invalid("metric", "is %d; want Cosine, Dot or L2", o.Metric)
	case o.M < 2 || o.M > 64:
		return engram.Invalid("m", "is %d; it must be 2-64", o.M)
	case o.EfConstruction < 1 || o.EfConstruction > 4096:
		return engram.Invalid("ef_construction", "is %d; it must be 1-4096", o.EfConstruction)
	case o.EfSearch < 1 || o.EfSearch > MaxEf:
		return engram.Invalid("ef_search", "is %d; it must be 1-%d", o.EfSearch, MaxEf)
	case o.PostFilterMin < 0 || o.PostFilterMin > 1:
		return engram.Invalid("post_filter_min", "is %v; it must be in [0, 1]", o.PostFilterMin)
	}
	return nil
}

// Limits of a query.
const (
	MaxK      = 10000
	MaxEf     = 10000
	MaxRerank = 100000
)

// Hit is one search result.
type Hit struct {
	Key      engram.UUID
	Distance float32 // smaller is nearer; see the package doc
}

// SearchOptions tune one query. nil means all defaults.
type SearchOptions struct {
	Ef int // HNSW beam width; 0: Options.EfSearch; raised to k when smaller
	// Rerank is how many int8 candidates are reranked in float32: for a
	// flat scan 0 means DefaultRerank; for a graph walk, the nearest Rerank
	// of the ef beam, 0 meaning k+10 (at most ef). Never fewer than k.
	Rerank int

	// Keys, when non-nil, restricts results to these keys (unknown keys are
	// ignored). Allow, when non-nil, restricts them to keys it accepts; it is
	// called from the searching goroutine, possibly for keys it will not
	// return, and must not call back into the index. Both may be set.
	Keys  []engram.UUID
	Allow func(engram.UUID) bool

	// Exact scans the float32 vectors of every (allowed) node: the ground
	// truth, at the cost of reading every vector.
	Exact bool

	// Stats, when non-nil, is filled with how the query was answered.
	Stats *SearchStats
}

// Plans a query can be answered by, reported in SearchStats.Plan.
const (
	PlanExact       = "exact"       // float32 scan of every allowed vector
	PlanFlat        = "flat"        // int8 scan of every vector, float32 rerank
	PlanFlatFilter  = "flat-filter" // int8 scan of the allowed vectors only
	PlanGraph       = "graph"       // HNSW traversal, no filter
	PlanGraphFilter = "graph-filter"
	PlanPostFilter  = "post-filter"
)

// SearchStats says how a query was answered.
type SearchStats struct {
	Plan      string
	Allowed   int // vectors the filter allows (estimated for Allow alone); -1: no filter
	Ef        int // final beam width (after widening), graph plans only
	Distances int // int8 distance computations
}

func (o *SearchOptions) orDefault() *SearchOptions {
	if o == nil {
		return &SearchOptions{}
	}
	return o
}

func checkK(k int) error {
	if k < 1 || k > MaxK {
		return engram.Invalid("k", "is %d; it must be 1-%d", k, MaxK)
	}
	return nil
}

func (o *SearchOptions) validate() error {
	switch {
	case o.Ef < 0 || o.Ef > MaxEf:
		return engram.Invalid("ef", "is %d; it must be 0-%d", o.Ef, MaxEf)
	case o.Rerank < 0 || o.Rerank > MaxRerank:
		return engram.Invalid("rerank", "is %d; it must be 0-%d", o.Rerank, MaxRerank)
	}
	return nil
}
