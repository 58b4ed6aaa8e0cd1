package engram

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Recall limits and defaults.
const (
	DefaultRecallLimit = 10
	MaxRecallLimit     = 200
	DefaultRRFK        = 60
	MaxRRFK            = 10000
	MaxRecallHalfLife  = 100 * 365 * 24 * time.Hour
)

// Fusion methods of RecallQuery.Fusion.
const (
	FusionRRF      = "rrf"      // reciprocal rank fusion: sum of weight/(k+rank)
	FusionWeighted = "weighted" // sum of weight * normalised score
)

// RecallQuery asks for the records most like a query vector and/or query
// text, optionally restricted by a filter and weighted toward recent ones.
// At least one of Vector and Text is required.
type RecallQuery struct {
	// Vector is compared with the stored embeddings of Model. Its dimension
	// must be that of the model's embeddings of each item type searched.
	Vector []float32
	Model  string // "": DefaultModel
	// Text is ranked by keyword relevance (BM25) against episodes (with
	// their steps) and patterns; any word may match.
	Text  string
	Limit int // 0: DefaultRecallLimit; at most MaxRecallLimit
	// ItemTypes are the kinds of record recalled; empty: episodes only.
	// Each is ItemEpisode, ItemPattern or ItemHeuristic.
	ItemTypes []ItemType
	// Filter restricts the records returned (Limit and Cursor must be
	// zero). Every field applies to episodes as ListEpisodes applies it;
	// see MatchPattern and MatchHeuristic for the other kinds.
	Filter EpisodeFilter
	// HalfLife, when positive, adds a recency signal: a record of age a
	// scores exp(-ln2 * a / HalfLife), by start_time for episodes and
	// updated_at for patterns and heuristics.
	HalfLife time.Duration
	Fusion   string         // "": FusionRRF
	RRFK     int            // the k of RRF; 0: DefaultRRFK
	Weights  *RecallWeights // nil: every signal weighs 1
}

// RecallWeights weigh each signal in the fused score. Each is finite and >= 0.
type RecallWeights struct {
	Vector  float64 `json:"vector"`
	Text    float64 `json:"text"`
	Recency float64 `json:"recency"`
}

// RecallHit is one recalled record with its fused score and each signal's
// rank (1-based, among the candidates that passed the filter) and score:
// the vector signal's score is the similarity (1 - distance for cosine),
// the text signal's the BM25 score, recency's the decay factor in (0, 1].
// Exactly one of Episode, Pattern, Heuristic is set, by ItemType.
type RecallHit struct {
	ItemType  ItemType
	ItemID    UUID
	Score     float64
	Signals   RecallSignals
	Episode   *Episode
	Pattern   *Pattern
	Heuristic *Heuristic
}

// RecallSignals holds the signals that ranked a hit; nil: the hit was not
// among that signal's candidates (or the signal was not asked for).
type RecallSignals struct {
	Vector  *SignalScore `json:"vector,omitempty"`
	Text    *SignalScore `json:"text,omitempty"`
	Recency *SignalScore `json:"recency,omitempty"`
}

// SignalScore is one signal's rank and score of a hit.
type SignalScore struct {
	Rank  int     `json:"rank"`
	Score float64 `json:"score"`
}

// RecallResult is a recall's answer, best first. Stale is set when some
// record or index came from a tier that may be behind the durable store.
type RecallResult struct {
	Hits  []RecallHit `json:"hits"`
	Stale bool        `json:"stale"`
	// Vector, when a vector search ran, says which tier of the vector
	// indexes answered and how long loading took.
	Vector *RecallVectorInfo `json:"vector,omitempty"`
}

// Recaller is implemented by stores that answer recall queries (memory.Memory
// and the HTTP client). Callers holding a Store test for it; a Store without
// it cannot recall.
type Recaller interface {
	Recall(ctx context.Context, ns Namespace, q RecallQuery) (*RecallResult, error)
}

// Normalize fills in RecallQuery's defaults (model, limit, item types,
// fusion, RRF k, weights) and the filter's tags in normal form.
func (q *RecallQuery) Normalize() {
	if q.Model == "" {
		q.Model = DefaultModel
	}
	if q.Limit == 0 {
		q.Limit = DefaultRecallLimit
	}
	if len(q.ItemTypes) == 0 {
		q.ItemTypes = []ItemType{ItemEpisode}
	}
	if q.Fusion == "" {
		q.Fusion = FusionRRF
	}
	if q.RRFK == 0 {
		q.RRFK = DefaultRRFK
	}
	if q.Weights == nil {
		q.Weights = &RecallWeights{Vector: 1, Text: 1, Recency: 1}
	}
	if len(q.Filter.Tags) > 0 {
		tags := make([]string, len(q.Filter.Tags))
		for i, t := range q.Filter.Tags {
			tags[i] = NormalizeTag(t)
		}
		q.Filter.Tags = tags
	}
}

// Validate checks a normalised query. Errors name the field: "vector",
// "vector[3]", "limit", "item_types[1]", "filter.tags[0]", "half_life", ...
func (q *RecallQuery) Validate() error {
	if len(q.Vector) == 0 && strings.TrimSpace(q.Text) == "" {
		return Invalid("vector", "and text are both empty; a recall needs a vector, a text or both")
	}
	if len(q.Vector) > MaxVectorDim {
		return TooMany("vector", len(q.Vector), "dimensions", MaxVectorDim)
	}
	for i, v := range q.Vector {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return Invalid(fmt.Sprintf("vector[%d]", i), "is %v; components must be finite", v)
		}
	}
	if len(q.Model) > MaxNameBytes {
		return TooLarge("model", len(q.Model), MaxNameBytes)
	}
	if len(q.Text) > MaxSearchQueryBytes {
		return TooLarge("text", len(q.Text), MaxSearchQueryBytes)
	}
	if q.Limit < 1 || q.Limit > MaxRecallLimit {
		return Invalid("limit", "is %d; must be 1-%d", q.Limit, MaxRecallLimit)
	}
	if len(q.ItemTypes) > 3 {
		return TooMany("item_types", len(q.ItemTypes), "entries", 3)
	}
	for i, t := range q.ItemTypes {
		if t != ItemEpisode && t != ItemPattern && t != ItemHeuristic {
			return Invalid(fmt.Sprintf("item_types[%d]", i), "is %q; recall returns episode, pattern or heuristic", truncate(string(t), 40))
		}
		if slices.Index(q.ItemTypes, t) < i {
			return Invalid(fmt.Sprintf("item_types[%d]", i), "%q is listed twice", t)
		}
	}
	if err := ValidateRecallFilter(&q.Filter, "filter."); err != nil {
		return err
	}
	if q.HalfLife < 0 || q.HalfLife > MaxRecallHalfLife {
		return Invalid("half_life", "is %v; must be 0 (no recency signal) up to %v", q.HalfLife, MaxRecallHalfLife)
	}
	if q.Fusion != FusionRRF && q.Fusion != FusionWeighted {
		return Invalid("fusion", "is %q; want rrf or weighted", truncate(q.Fusion, 40))
	}
	if q.RRFK < 1 || q.RRFK > MaxRRFK {
		return Invalid("rrf_k", "is %d; must be 1-%d", q.RRFK, MaxRRFK)
	}
	if w := q.Weights; w != nil {
		for _, p := range []struct {
			name string
			v    float64
		}{{"weights.vector", w.Vector}, {"weights.text", w.Text}, {"weights.recency", w.Recency}} {
			if math.IsNaN(p.v) || math.IsInf(p.v, 0) || p.v < 0 {
				return Invalid(p.name, "is %v; must be finite and not negative", p.v)
			}
		}
	}
	return nil
}

// ValidateRecallFilter checks f as a recall filter: the caps and value
// rules of ListEpisodes, and no Limit or Cursor. prefix starts each field
// name ("filter.").
func ValidateRecallFilter(f *EpisodeFilter, prefix string) error {
	if f.Limit != 0 || f.Cursor != "" {
		return Invalid(prefix+"limit", "limit and cursor are not filters; set the query's limit")
	}
	if len(f.Tags) > MaxFilterTags {
		return TooMany(prefix+"tags", len(f.Tags), "tag filters", MaxFilterTags)
	}
	if len(f.Metadata) > MaxFilterMetadata {
		return TooMany(prefix+"metadata", len(f.Metadata), "metadata filters", MaxFilterMetadata)
	}
	for i, t := range f.Tags {
		if err := ValidateTag(NormalizeTag(t)); err != nil {
			return Invalid(fmt.Sprintf("%stags[%d]", prefix, i), "%s", err.(*Error).Message)
		}
	}
	if f.TaskType != "" && !slices.Contains(TaskTypes, f.TaskType) {
		return Invalid(prefix+"task_type", "%q is not one of %s", truncate(string(f.TaskType), 64), strings.Join(strs(TaskTypes), ", "))
	}
	if !f.Since.IsZero() {
		if err := CheckTime(prefix+"since", f.Since); err != nil {
			return err
		}
	}
	if !f.Until.IsZero() {
		if err := CheckTime(prefix+"until", f.Until); err != nil {
			return err
		}
		if !f.Since.IsZero() && !f.Until.After(f.Since) {
			return Invalid(prefix+"until", "must be after since")
		}
	}
	if r := f.Near; r != nil {
		switch {
		case math.IsNaN(r.Lat) || r.Lat < -90 || r.Lat > 90:
			return Invalid(prefix+"near.lat", "is %v; must be between -90 and 90", r.Lat)
		case math.IsNaN(r.Lon) || r.Lon < -180 || r.Lon > 180:
			return Invalid(prefix+"near.lon", "is %v; must be between -180 and 180", r.Lon)
		case math.IsNaN(r.KM) || math.IsInf(r.KM, 0) || r.KM <= 0:
			return Invalid(prefix+"near.km", "is %v; must be a positive distance", r.KM)
		}
	}
	if b := f.Box; b != nil {
		switch {
		case math.IsNaN(b.MinLat) || b.MinLat < -90 || b.MinLat > 90:
			return Invalid(prefix+"box.min_lat", "is %v; must be between -90 and 90", b.MinLat)
		case math.IsNaN(b.MaxLat) || b.MaxLat < -90 || b.MaxLat > 90:
			return Invalid(prefix+"box.max_lat", "is %v; must be between -90 and 90", b.MaxLat)
		case b.MinLat > b.MaxLat:
			return Invalid(prefix+"box.min_lat", "%v is above max_lat %v", b.MinLat, b.MaxLat)
		case math.IsNaN(b.MinLon) || b.MinLon < -180 || b.MinLon > 180:
			return Invalid(prefix+"box.min_lon", "is %v; must be between -180 and 180", b.MinLon)
		case math.IsNaN(b.MaxLon) || b.MaxLon < -180 || b.MaxLon > 180:
			return Invalid(prefix+"box.max_lon", "is %v; must be between -180 and 180", b.MaxLon)
		}
	}
	return nil
}

// FilterIsEmpty reports whether f restricts nothing.
func FilterIsEmpty(f *EpisodeFilter) bool {
	return f.Since.IsZero() && f.Until.IsZero() && f.Domain == "" && f.TaskType == "" &&
		len(f.Tags) == 0 && len(f.Metadata) == 0 && f.Complete == nil && f.Near == nil && f.Box == nil
}

// MatchEpisode reports whether ep passes f exactly as ListEpisodes selects
// it (ep as the store returns it: domain and tags normalised). Limit and
// Cursor are ignored.
func MatchEpisode(ep *Episode, f *EpisodeFilter) bool {
	if !f.Since.IsZero() && ep.StartTime.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !ep.StartTime.Before(f.Until) {
		return false
	}
	if f.Domain != "" && ep.Context.Domain != f.Domain {
		return false
	}
	if f.TaskType != "" && ep.TaskType != f.TaskType {
		return false
	}
	if f.Complete != nil && ep.Complete() != *f.Complete {
		return false
	}
	if len(f.Tags) > 0 {
		all := ep.AllTags()
		for _, t := range f.Tags {
			if !slices.Contains(all, NormalizeTag(t)) {
				return false
			}
		}
	}
	for k, v := range f.Metadata {
		if got, ok := ep.Metadata[k]; !ok || got != v {
			return false
		}
	}
	if f.Near != nil && (ep.Location == nil || !InRadius(f.Near, ep.Location.Lat, ep.Location.Lon)) {
		return false
	}
	if f.Box != nil && (ep.Location == nil || !InBox(f.Box, ep.Location.Lat, ep.Location.Lon)) {
		return false
	}
	return true
}

// MatchPattern reports whether p passes f: domain against the pattern's
// domain, tags against its tags, since/until against updated_at. A filter
// setting anything else (task type, metadata, complete, near, box) only
// episodes have matches no pattern.
func MatchPattern(p *Pattern, f *EpisodeFilter) bool {
	if f.TaskType != "" || len(f.Metadata) > 0 || f.Complete != nil || f.Near != nil || f.Box != nil {
		return false
	}
	if f.Domain != "" && p.Domain != f.Domain {
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(p.Tags, NormalizeTag(t)) {
			return false
		}
	}
	return inWindow(p.UpdatedAt, f)
}

// MatchHeuristic reports whether h passes f: domain against its domain,
// since/until against updated_at. A filter setting anything else matches no
// heuristic (heuristics have no tags).
func MatchHeuristic(h *Heuristic, f *EpisodeFilter) bool {
	if f.TaskType != "" || len(f.Metadata) > 0 || f.Complete != nil || f.Near != nil || f.Box != nil || len(f.Tags) > 0 {
		return false
	}
	if f.Domain != "" && h.Domain != f.Domain {
		return false
	}
	return inWindow(h.UpdatedAt, f)
}

func inWindow(t time.Time, f *EpisodeFilter) bool {
	if !f.Since.IsZero() && t.Before(f.Since) {
		return false
	}
	return f.Until.IsZero() || t.Before(f.Until)
}

// InRadius reports whether (lat, lon) lies within r, by the chord test the
// durable store's radius query uses (the same points, to the last bit).
func InRadius(r *GeoRadius, lat, lon float64) bool {
	angle := r.KM / EarthRadiusKM
	if angle >= math.Pi {
		return true
	}
	deg := angle * 180 / math.Pi
	if lat < math.Max(-90, r.Lat-deg) || lat > math.Min(90, r.Lat+deg) {
		return false
	}
	c := 2 * math.Sin(angle/2)
	x0, y0, z0 := unitVector(r.Lat, r.Lon)
	x, y, z := unitVector(lat, lon)
	return (x-x0)*(x-x0)+(y-y0)*(y-y0)+(z-z0)*(z-z0) <= c*c
}

// InBox reports whether (lat, lon) lies within b (inclusive; MinLon > MaxLon
// spans the antimeridian).
func InBox(b *GeoBox, lat, lon float64) bool {
	if lat < b.MinLat || lat > b.MaxLat {
		return false
	}
	if b.MinLon > b.MaxLon {
		return lon >= b.MinLon || lon <= b.MaxLon
	}
	return lon >= b.MinLon && lon <= b.MaxLon
}

func unitVector(lat, lon float64) (x, y, z float64) {
	φ, λ := lat*math.Pi/180, lon*math.Pi/180
	return math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)
}

// RecencyScore is the decay factor of a record of the given age:
// exp(-ln2 * age / halfLife), 1 for a record from the future.
func RecencyScore(age, halfLife time.Duration) float64 {
	if age <= 0 {
		return 1
	}
	return math.Exp(-math.Ln2 * float64(age) / float64(halfLife))
}

// recallHitJSON is RecallHit's wire form: the record under "record".
type recallHitJSON struct {
	ItemType ItemType        `json:"item_type"`
	ItemID   UUID            `json:"item_id"`
	Score    float64         `json:"score"`
	Signals  RecallSignals   `json:"signals"`
	Record   json.RawMessage `json:"record"`
}

// MarshalJSON writes {"item_type", "item_id", "score", "signals", "record"}.
func (h RecallHit) MarshalJSON() ([]byte, error) {
	var rec any
	switch {
	case h.Episode != nil:
		rec = h.Episode
	case h.Pattern != nil:
		rec = h.Pattern
	case h.Heuristic != nil:
		rec = h.Heuristic
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return json.Marshal(recallHitJSON{ItemType: h.ItemType, ItemID: h.ItemID, Score: h.Score, Signals: h.Signals, Record: b})
}

// UnmarshalJSON reads what MarshalJSON writes, decoding the record by item_type.
func (h *RecallHit) UnmarshalJSON(b []byte) error {
	var w recallHitJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = RecallHit{ItemType: w.ItemType, ItemID: w.ItemID, Score: w.Score, Signals: w.Signals}
	if len(w.Record) == 0 || string(w.Record) == "null" {
		return nil
	}
	switch w.ItemType {
	case ItemEpisode:
		h.Episode = new(Episode)
		return json.Unmarshal(w.Record, h.Episode)
	case ItemPattern:
		h.Pattern = new(Pattern)
		return json.Unmarshal(w.Record, h.Pattern)
	case ItemHeuristic:
		h.Heuristic = new(Heuristic)
		return json.Unmarshal(w.Record, h.Heuristic)
	}
	return fmt.Errorf("engram: recall hit of unknown item type %q", w.ItemType)
}

// IndexStatus describes one vector index of a recalling store: one per
// (namespace, item type, model, dimension).
type IndexStatus struct {
	Namespace Namespace `json:"namespace"`
	ItemType  ItemType  `json:"item_type"`
	Model     string    `json:"model"`
	Dim       int       `json:"dim"`
	Kind      string    `json:"kind"` // "flat" or "hnsw"
	Vectors   int       `json:"vectors"`
	Bytes     int64     `json:"bytes"` // estimated memory of vectors, codes and keys
	// Seq is the change-feed position the index has applied; Lag how far
	// the feed's end is past it.
	Seq           uint64     `json:"seq"`
	Lag           uint64     `json:"lag"`
	LastRebuild   *time.Time `json:"last_rebuild,omitempty"`
	RebuildReason string     `json:"rebuild_reason,omitempty"` // why it was last rebuilt instead of opened
	SnapshotError string     `json:"snapshot_error,omitempty"` // the last snapshot save's failure
}

// Embedder turns texts into vectors with one model: an embeddings service
// (package embed speaks the OpenAI-compatible API). It returns one vector
// per text, in order, or an error (EUNAVAILABLE when the service cannot be
// reached).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model names the vectors' model, stored as the embeddings' model.
	Model() string
}
