package memory

import (
	"context"
	"errors"
	"math"
	"sort"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/vector"
)

var _ engram.Recaller = (*Memory)(nil)

// candidate is one record some signal proposed.
type candidate struct {
	typ engram.ItemType
	id  engram.UUID

	vecSim, textScore, recency float64
	hasVec, hasText            bool
	rec                        any // *Episode, *Pattern, *Heuristic
}

type candKey struct {
	typ engram.ItemType
	id  engram.UUID
}

// Recall answers q from the vector indexes (the query vector against the
// model's embeddings of each item type), the durable keyword search (the
// query text, any word) and a recency signal, fused by RRF or weighted
// scores. Records are read through the tiers; a record that is gone or
// fails the filter is never returned. See docs/recall.md.
func (m *Memory) Recall(ctx context.Context, ns engram.Namespace, q engram.RecallQuery) (*engram.RecallResult, error) {
	if m.shut.Load() {
		return nil, errClosed
	}
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	m.embedQuery(ctx, &q)
	q.Normalize()
	if err := q.Validate(); err != nil {
		return nil, err
	}
	per := min(max(q.Limit*5, 50), engram.MaxQueryLimit)
	cands := map[candKey]*candidate{}
	get := func(t engram.ItemType, id engram.UUID) *candidate {
		k := candKey{t, id}
		c := cands[k]
		if c == nil {
			c = &candidate{typ: t, id: id}
			cands[k] = c
		}
		return c
	}
	stale := false
	var vinfo *engram.RecallVectorInfo
	if len(q.Vector) > 0 {
		vinfo = &engram.RecallVectorInfo{Tier: engram.VectorHot}
		for _, t := range q.ItemTypes {
			hits, recs, st, err := m.vectorCandidates(ctx, ns, t, &q, per, vinfo)
			if err != nil {
				return nil, err
			}
			stale = stale || st
			for _, h := range hits {
				c := get(t, h.Key)
				c.hasVec, c.vecSim = true, float64(1-h.Distance)
				if r, ok := recs[h.Key]; ok {
					c.rec = r
				}
			}
		}
	}
	if q.Text != "" {
		err := m.textCandidates(ctx, ns, &q, per, get)
		switch {
		case engram.ErrorCode(err) == engram.EUNAVAILABLE && len(q.Vector) > 0:
			stale = true // the durable store is down: answer by the index alone
		case err != nil:
			return nil, err
		}
	}
	// Read, filter.
	var alive []*candidate
	for _, c := range cands {
		if c.rec == nil {
			rec, err := m.readItem(ctx, ns, c.typ, c.id)
			if engram.ErrorCode(err) == engram.ENOTFOUND {
				continue
			}
			if engram.ErrorCode(err) == engram.EUNAVAILABLE {
				stale = true // in no cache tier while the durable store is down
				continue
			}
			if err != nil {
				return nil, err
			}
			c.rec = rec
		}
		if !matches(c.rec, &q.Filter) {
			continue
		}
		if q.HalfLife > 0 {
			c.recency = engram.RecencyScore(m.clock.Now().Sub(recordTime(c.rec)), q.HalfLife)
		}
		alive = append(alive, c)
	}
	hits := fuse(alive, &q)
	if len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	return &engram.RecallResult{Hits: hits, Stale: stale || m.stale.Load() || m.idx.stale.Load(), Vector: vinfo}, nil
}

// vectorCandidates searches the group of (ns, t, q.Model). With a filter on
// episodes it first lists the episodes the filter allows: when they are
// few (indexAllowedMax) the search runs over them alone (exact), and their
// records are returned too; otherwise it post-filters a widened search.
func (m *Memory) vectorCandidates(ctx context.Context, ns engram.Namespace, t engram.ItemType, q *engram.RecallQuery, k int, vi *engram.RecallVectorInfo) ([]vector.Hit, map[engram.UUID]any, bool, error) {
	hits, recs, stale, g, err := m.vectorCandidatesOnce(ctx, ns, t, q, k, vi)
	for tries := 0; errors.Is(err, errDemoted) && tries < 8; tries++ {
		// The group was demoted or replaced between lookup and search: ask
		// the current one.
		hits, recs, stale, g, err = m.vectorCandidatesOnce(ctx, ns, t, q, k, vi)
	}
	if engram.ErrorCode(err) == engram.ECORRUPT && g != nil {
		// A snapshot's vectors are verified as searches first read them: a
		// damaged one is rebuilt from the durable embeddings and asked again.
		if rerr := m.idx.rebuildDamaged(ctx, g, err); rerr != nil {
			return nil, nil, false, rerr
		}
		hits, recs, stale, _, err = m.vectorCandidatesOnce(ctx, ns, t, q, k, vi)
	}
	return hits, recs, stale, err
}

// errDemoted: the group a search looked up was demoted (its indexes are
// closed) or replaced before the search held idx.use.
var errDemoted = &engram.Error{Code: engram.EUNAVAILABLE, Message: "memory: the vector index group was demoted during the search (the hot tier is smaller than the groups searched at once); retry"}

func (m *Memory) vectorCandidatesOnce(ctx context.Context, ns engram.Namespace, t engram.ItemType, q *engram.RecallQuery, k int, vi *engram.RecallVectorInfo) (_ []vector.Hit, _ map[engram.UUID]any, _ bool, _ *group, err error) {
	g, tier, took, err := m.idx.getTier(ctx, groupKey{ns, t, q.Model})
	if err != nil {
		return nil, nil, false, g, err
	}
	vi.LoadTime += took
	if vectorTierRank[tier] > vectorTierRank[vi.Tier] {
		vi.Tier = tier
	}
	g.mu.Lock()
	di := g.dims[len(q.Vector)]
	var other int
	for d := range g.dims {
		other = d
	}
	g.mu.Unlock()
	if di == nil {
		if other != 0 {
			return nil, nil, false, nil, engram.Invalid("vector", "has %d dimensions; the %s embeddings of model %q have %d", len(q.Vector), t, q.Model, other)
		}
		return nil, nil, false, nil, nil // no embeddings of this model yet
	}
	allow := g.exp.allow(m.clock.Now()) // nil unless some vector expires
	search := func(k int, opts *vector.SearchOptions) ([]vector.Hit, error) {
		opts.Allow = allow
		m.idx.use.RLock()
		defer m.idx.use.RUnlock()
		if m.idx.lookup(g.key) != g {
			return nil, errDemoted
		}
		return di.ix.Search(q.Vector, k, opts)
	}
	if engram.FilterIsEmpty(&q.Filter) {
		hits, err := search(k, &vector.SearchOptions{})
		return hits, nil, false, g, err
	}
	// A filter: first post-filter a widened search. When a filter is wide
	// enough that at least limit hits pass it, that is the answer (and
	// listing its allowed episodes, thousands of whole records, is not
	// needed); otherwise a filter on episodes is narrow, and the search
	// runs over exactly the episodes it allows.
	wide, err := search(min(k*8, vector.MaxK), &vector.SearchOptions{})
	if err != nil {
		return nil, nil, false, g, err
	}
	passed, recs, err := m.passFilter(ctx, ns, t, wide, &q.Filter)
	switch {
	case err != nil:
		// A record could not be read (the durable store is down): the
		// main loop post-filters what the cache tiers hold.
		return wide, nil, false, g, nil
	case len(passed) >= q.Limit || t != engram.ItemEpisode:
		return passed, recs, false, g, nil
	}
	allowed, eps, err := m.allowedEpisodes(ctx, ns, q.Filter)
	switch {
	case engram.ErrorCode(err) == engram.EUNAVAILABLE:
		return wide, nil, true, g, nil // post-filter cached records instead
	case err != nil:
		return nil, nil, false, g, err
	case allowed == nil: // too many to list: the widened search it is
		return passed, recs, false, g, nil
	}
	hits, err := search(k, &vector.SearchOptions{Keys: allowed})
	if err != nil {
		return nil, nil, false, g, err
	}
	return hits, eps, false, g, nil
}

// passFilter reads the records of hits through the tiers and returns the
// hits whose record passes f, with those records. A record that is gone is
// left out; any other read error is returned.
func (m *Memory) passFilter(ctx context.Context, ns engram.Namespace, t engram.ItemType, hits []vector.Hit, f *engram.EpisodeFilter) ([]vector.Hit, map[engram.UUID]any, error) {
	var passed []vector.Hit
	recs := map[engram.UUID]any{}
	for _, h := range hits {
		rec, err := m.readItem(ctx, ns, t, h.Key)
		if engram.ErrorCode(err) == engram.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if matches(rec, f) {
			passed = append(passed, h)
			recs[h.Key] = rec
		}
	}
	return passed, recs, nil
}

// allowedEpisodes lists the episodes f allows, or nil when there are more
// than indexAllowedMax.
func (m *Memory) allowedEpisodes(ctx context.Context, ns engram.Namespace, f engram.EpisodeFilter) ([]engram.UUID, map[engram.UUID]any, error) {
	ids := []engram.UUID{}
	recs := map[engram.UUID]any{}
	f.Limit = engram.MaxQueryLimit
	for {
		p, err := m.ListEpisodes(ctx, ns, f)
		if err != nil {
			return nil, nil, err
		}
		for _, ep := range p.Episodes {
			ids = append(ids, ep.ID.UUID)
			recs[ep.ID.UUID] = ep
		}
		if len(ids) > indexAllowedMax {
			return nil, nil, nil
		}
		if p.NextCursor == "" {
			return ids, recs, nil
		}
		f.Cursor = p.NextCursor
	}
}

// textCandidates runs the keyword search over the kinds the item types
// cover; a step's hit counts for its episode (at its best rank).
func (m *Memory) textCandidates(ctx context.Context, ns engram.Namespace, q *engram.RecallQuery, k int, get func(engram.ItemType, engram.UUID) *candidate) error {
	var kinds []engram.SearchKind
	for _, t := range q.ItemTypes {
		switch t {
		case engram.ItemEpisode:
			kinds = append(kinds, engram.SearchEpisode, engram.SearchStep)
		case engram.ItemPattern:
			kinds = append(kinds, engram.SearchPattern)
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	hits, err := m.Search(ctx, ns, engram.SearchQuery{Text: q.Text, Kinds: kinds, Any: true, Limit: k})
	if engram.ErrorCode(err) == engram.EINVALID {
		// Text of punctuation only has no words to search for.
		return nil
	}
	if err != nil {
		return err
	}
	for _, h := range hits {
		var c *candidate
		switch {
		case h.EpisodeID != nil:
			c = get(engram.ItemEpisode, h.EpisodeID.UUID)
		case h.PatternID != nil:
			c = get(engram.ItemPattern, h.PatternID.UUID)
		default:
			continue
		}
		if !c.hasText || h.Score > c.textScore {
			c.hasText, c.textScore = true, h.Score
		}
	}
	return nil
}

func (m *Memory) readItem(ctx context.Context, ns engram.Namespace, t engram.ItemType, id engram.UUID) (any, error) {
	switch t {
	case engram.ItemEpisode:
		return m.GetEpisode(ctx, ns, engram.EpisodeID{UUID: id})
	case engram.ItemPattern:
		return m.GetPattern(ctx, ns, engram.PatternID{UUID: id})
	default:
		return m.GetHeuristic(ctx, ns, engram.HeuristicID{UUID: id})
	}
}

func matches(rec any, f *engram.EpisodeFilter) bool {
	switch r := rec.(type) {
	case *engram.Episode:
		return engram.MatchEpisode(r, f)
	case *engram.Pattern:
		return engram.MatchPattern(r, f)
	case *engram.Heuristic:
		return engram.MatchHeuristic(r, f)
	}
	return false
}

func recordTime(rec any) (t time.Time) {
	switch r := rec.(type) {
	case *engram.Episode:
		return r.StartTime
	case *engram.Pattern:
		return r.UpdatedAt
	case *engram.Heuristic:
		return r.UpdatedAt
	}
	return t
}

// fuse ranks each signal among cs (1-based; ties by id), scores each
// candidate and sorts them best first.
func fuse(cs []*candidate, q *engram.RecallQuery) []engram.RecallHit {
	hits := make([]engram.RecallHit, len(cs))
	byID := func(i, j int) bool { return lessUUID(cs[i].id, cs[j].id) }
	rank := func(has func(*candidate) bool, score func(*candidate) float64, set func(h *engram.RecallHit, s *engram.SignalScore)) {
		idx := make([]int, 0, len(cs))
		for i, c := range cs {
			if has(c) {
				idx = append(idx, i)
			}
		}
		sort.Slice(idx, func(a, b int) bool {
			sa, sb := score(cs[idx[a]]), score(cs[idx[b]])
			if sa != sb {
				return sa > sb
			}
			return byID(idx[a], idx[b])
		})
		for r, i := range idx {
			set(&hits[i], &engram.SignalScore{Rank: r + 1, Score: score(cs[i])})
		}
	}
	rank(func(c *candidate) bool { return c.hasVec }, func(c *candidate) float64 { return c.vecSim },
		func(h *engram.RecallHit, s *engram.SignalScore) { h.Signals.Vector = s })
	rank(func(c *candidate) bool { return c.hasText }, func(c *candidate) float64 { return c.textScore },
		func(h *engram.RecallHit, s *engram.SignalScore) { h.Signals.Text = s })
	if q.HalfLife > 0 {
		rank(func(*candidate) bool { return true }, func(c *candidate) float64 { return c.recency },
			func(h *engram.RecallHit, s *engram.SignalScore) { h.Signals.Recency = s })
	}
	maxText := 0.0
	for _, c := range cs {
		maxText = math.Max(maxText, c.textScore)
	}
	w := q.Weights
	for i, c := range cs {
		h := &hits[i]
		h.ItemType, h.ItemID = c.typ, c.id
		switch r := c.rec.(type) {
		case *engram.Episode:
			h.Episode = r
		case *engram.Pattern:
			h.Pattern = r
		case *engram.Heuristic:
			h.Heuristic = r
		}
		sig := h.Signals
		if q.Fusion == engram.FusionRRF {
			k := float64(q.RRFK)
			if sig.Vector != nil {
				h.Score += w.Vector / (k + float64(sig.Vector.Rank))
			}
			if sig.Text != nil {
				h.Score += w.Text / (k + float64(sig.Text.Rank))
			}
			if sig.Recency != nil {
				h.Score += w.Recency / (k + float64(sig.Recency.Rank))
			}
			continue
		}
		if sig.Vector != nil {
			h.Score += w.Vector * (1 + sig.Vector.Score) / 2 // cosine in [-1, 1] to [0, 1]
		}
		if sig.Text != nil && maxText > 0 {
			h.Score += w.Text * sig.Text.Score / maxText
		}
		if sig.Recency != nil {
			h.Score += w.Recency * sig.Recency.Score
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return lessUUID(hits[i].ItemID, hits[j].ItemID)
	})
	return hits
}

func lessUUID(a, b engram.UUID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
