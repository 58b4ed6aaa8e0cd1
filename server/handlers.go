package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/engramhq/engram"
)

// call is one request as a handler sees it: authenticated, authorised, its
// query checked against the route, its namespace resolved and a ReadInfo
// attached to its context.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	ctx   context.Context
	route *route
	p     *principal
	ns    engram.Namespace
	ri    engram.ReadInfo
	// status, when set, overrides the route's success status.
	status int
	// What admit holds for the request until release: a slot in flight,
	// and the bytes of body memory.
	slot     bool
	bodyHeld int64
}

// stale reports whether a read of this call was answered from a stale cache.
func (c *call) stale() bool { return staleOf(&c.ri) }

func staleOf(ri *engram.ReadInfo) bool {
	_, stale := ri.Get()
	return stale
}

// decode reads the request body into v strictly (engram.DecodeJSON: unknown
// fields rejected, errors naming the field).
func (s *Server) decode(c *call, v any) error {
	data, err := s.readBody(c.w, c.r)
	if err != nil {
		return err
	}
	if c.route.BodyOptional && len(data) == 0 {
		return nil
	}
	return engram.DecodeJSONBytes(data, v)
}

func episodeID(c *call, name string) (engram.EpisodeID, error) {
	id, err := engram.ParseEpisodeID(c.r.PathValue(name))
	if err != nil && name != "id" {
		err = engram.Invalid(name, "%s", err.(*engram.Error).Message)
	}
	return id, err
}

func (s *Server) createEpisode(c *call) (any, error) {
	var ep engram.Episode
	if err := s.decode(c, &ep); err != nil {
		return nil, err
	}
	if err := s.store.CreateEpisode(c.ctx, c.ns, &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}

func (s *Server) createEpisodes(c *call) (any, error) {
	var b EpisodeBatch
	if err := s.decode(c, &b); err != nil {
		return nil, err
	}
	if err := s.checkBatch(len(b.Episodes), "episodes"); err != nil {
		return nil, err
	}
	for i, ep := range b.Episodes {
		if ep == nil {
			return nil, engram.Invalid(fmt.Sprintf("episodes[%d]", i), "is null; want an episode object")
		}
	}
	if err := s.store.CreateEpisodes(c.ctx, c.ns, b.Episodes); err != nil {
		return nil, err
	}
	if b.Episodes == nil {
		b.Episodes = []*engram.Episode{}
	}
	return &b, nil
}

func (s *Server) listEpisodes(c *call) (any, error) {
	f, err := parseEpisodeFilter(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListEpisodes(c.ctx, c.ns, f)
	if err != nil {
		return nil, err
	}
	if n := fitPage(page.Episodes, s.opts.MaxPageBytes); n < len(page.Episodes) {
		f.Limit = n
		if page, err = s.store.ListEpisodes(c.ctx, c.ns, f); err != nil {
			return nil, err
		}
	}
	if page.Episodes == nil {
		page.Episodes = []*engram.Episode{}
	}
	return &EpisodeList{Episodes: page.Episodes, NextCursor: page.NextCursor, Stale: c.stale()}, nil
}

func (s *Server) getEpisode(c *call) (any, error) {
	id, err := episodeID(c, "id")
	if err != nil {
		return nil, err
	}
	if s.epJSON != nil {
		buf := getJSONBuf()
		b, err := s.epJSON.AppendEpisodeJSON(c.ctx, c.ns, id, (*buf)[:0])
		if err != nil {
			putJSONBuf(buf)
			return nil, err
		}
		*buf = append(b, '\n') // as json.Encoder ends a value
		return encodedJSON{buf}, nil
	}
	return s.store.GetEpisode(c.ctx, c.ns, id)
}

// episodeJSONReader is a store that hands out an episode already encoded
// (memory.Memory: its RAM tier keeps the encoding of a hot record), byte
// for byte what writeJSON makes of GetEpisode's record without the final
// newline. The server then neither copies nor encodes the record.
type episodeJSONReader interface {
	AppendEpisodeJSON(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, dst []byte) ([]byte, error)
}

// encodedJSON is an answer already encoded as writeJSON would encode it; buf
// comes from jsonBufs and goes back once written.
type encodedJSON struct{ buf *[]byte }

var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getJSONBuf() *[]byte { return jsonBufs.Get().(*[]byte) }

// putJSONBuf returns buf to the pool, unless it grew large (a huge episode
// would otherwise stay pinned by the pool).
func putJSONBuf(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		jsonBufs.Put(buf)
	}
}

func (s *Server) updateEpisode(c *call) (any, error) {
	id, err := episodeID(c, "id")
	if err != nil {
		return nil, err
	}
	var ep engram.Episode
	if err := s.decode(c, &ep); err != nil {
		return nil, err
	}
	switch {
	case ep.ID.IsZero():
		ep.ID = id
	case ep.ID != id:
		return nil, engram.Invalid("episode_id", "is %s but the path names %s", ep.ID, id)
	}
	if err := s.store.UpdateEpisode(c.ctx, c.ns, &ep); err != nil {
		return nil, err
	}
	return s.store.GetEpisode(c.ctx, c.ns, id)
}

func (s *Server) deleteEpisode(c *call) (any, error) {
	id, err := episodeID(c, "id")
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteEpisode(c.ctx, c.ns, id); err != nil {
		return nil, err
	}
	return &Deleted{Deleted: id.String()}, nil
}

func (s *Server) appendStep(c *call) (any, error) {
	id, err := episodeID(c, "id")
	if err != nil {
		return nil, err
	}
	var st engram.Step
	if err := s.decode(c, &st); err != nil {
		return nil, err
	}
	if err := s.store.AppendStep(c.ctx, c.ns, id, &st); err != nil {
		return nil, unprefix(err, "step.") // the body is the step: its fields are top-level
	}
	return &st, nil
}

func (s *Server) completeEpisode(c *call) (any, error) {
	id, err := episodeID(c, "id")
	if err != nil {
		return nil, err
	}
	var comp engram.Completion
	if err := s.decode(c, &comp); err != nil {
		return nil, err
	}
	return s.store.CompleteEpisode(c.ctx, c.ns, id, &comp)
}

func (s *Server) listRelationships(c *call) (any, error) {
	id, err := episodeID(c, "id")
	if err != nil {
		return nil, err
	}
	f, err := parseRelationshipFilter(id, c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	rels, err := s.store.ListRelationships(c.ctx, c.ns, f)
	if err != nil {
		return nil, err
	}
	if rels == nil {
		rels = []engram.Relationship{}
	}
	return &RelationshipList{Relationships: rels, Stale: c.stale()}, nil
}

func (s *Server) putPattern(c *call) (any, error) {
	var p engram.Pattern
	if err := s.decode(c, &p); err != nil {
		return nil, err
	}
	if err := s.store.PutPattern(c.ctx, c.ns, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (s *Server) listPatterns(c *call) (any, error) {
	f, err := parsePatternFilter(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListPatterns(c.ctx, c.ns, f)
	if err != nil {
		return nil, err
	}
	if n := fitPage(page.Patterns, s.opts.MaxPageBytes); n < len(page.Patterns) {
		f.Limit = n
		if page, err = s.store.ListPatterns(c.ctx, c.ns, f); err != nil {
			return nil, err
		}
	}
	if page.Patterns == nil {
		page.Patterns = []*engram.Pattern{}
	}
	return &PatternList{Patterns: page.Patterns, NextCursor: page.NextCursor, Stale: c.stale()}, nil
}

func (s *Server) getPattern(c *call) (any, error) {
	id, err := engram.ParsePatternID(c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.store.GetPattern(c.ctx, c.ns, id)
}

func (s *Server) deletePattern(c *call) (any, error) {
	id, err := engram.ParsePatternID(c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := s.store.DeletePattern(c.ctx, c.ns, id); err != nil {
		return nil, err
	}
	return &Deleted{Deleted: id.String()}, nil
}

func (s *Server) putHeuristic(c *call) (any, error) {
	var h engram.Heuristic
	if err := s.decode(c, &h); err != nil {
		return nil, err
	}
	if err := s.store.PutHeuristic(c.ctx, c.ns, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

func (s *Server) listHeuristics(c *call) (any, error) {
	f, err := parseHeuristicFilter(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListHeuristics(c.ctx, c.ns, f)
	if err != nil {
		return nil, err
	}
	if n := fitPage(page.Heuristics, s.opts.MaxPageBytes); n < len(page.Heuristics) {
		f.Limit = n
		if page, err = s.store.ListHeuristics(c.ctx, c.ns, f); err != nil {
			return nil, err
		}
	}
	if page.Heuristics == nil {
		page.Heuristics = []*engram.Heuristic{}
	}
	return &HeuristicList{Heuristics: page.Heuristics, NextCursor: page.NextCursor, Stale: c.stale()}, nil
}

func (s *Server) getHeuristic(c *call) (any, error) {
	id, err := engram.ParseHeuristicID(c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.store.GetHeuristic(c.ctx, c.ns, id)
}

func (s *Server) deleteHeuristic(c *call) (any, error) {
	id, err := engram.ParseHeuristicID(c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteHeuristic(c.ctx, c.ns, id); err != nil {
		return nil, err
	}
	return &Deleted{Deleted: id.String()}, nil
}

func (s *Server) putEmbedding(c *call) (any, error) {
	var e engram.Embedding
	if err := s.decode(c, &e); err != nil {
		return nil, err
	}
	if err := s.checkVector(len(e.Vector), "vector"); err != nil {
		return nil, err
	}
	if err := s.store.PutEmbeddings(c.ctx, c.ns, []*engram.Embedding{&e}); err != nil {
		return nil, err
	}
	return &e, nil
}

func (s *Server) putEmbeddings(c *call) (any, error) {
	return s.putEmbeddingBatch(c, s.store.PutEmbeddings)
}

// putEmbeddingBatch decodes and checks a batch put's body (an
// EmbeddingList), stores it with put and answers the stored embeddings.
func (s *Server) putEmbeddingBatch(c *call, put func(context.Context, engram.Namespace, []*engram.Embedding) error) (any, error) {
	var b EmbeddingList
	if err := s.decode(c, &b); err != nil {
		return nil, err
	}
	if b.NextCursor != "" || b.Stale {
		return nil, engram.Invalid("next_cursor", "is not a field of a batch put")
	}
	if err := s.checkBatch(len(b.Embeddings), "embeddings"); err != nil {
		return nil, err
	}
	for i, e := range b.Embeddings {
		if e == nil {
			return nil, engram.Invalid(fmt.Sprintf("embeddings[%d]", i), "is null; want an embedding object")
		}
		if err := s.checkVector(len(e.Vector), fmt.Sprintf("embeddings[%d].vector", i)); err != nil {
			return nil, err
		}
	}
	if err := put(c.ctx, c.ns, b.Embeddings); err != nil {
		return nil, err
	}
	if b.Embeddings == nil {
		b.Embeddings = []*engram.Embedding{}
	}
	return &b, nil
}

func embeddingKey(c *call) (engram.EmbeddingKey, error) {
	id, err := engram.ParseUUID(c.r.PathValue("item_id"))
	if err != nil {
		return engram.EmbeddingKey{}, engram.Invalid("item_id", "%s", err.Error())
	}
	return engram.EmbeddingKey{ItemType: engram.ItemType(c.r.PathValue("item_type")), ItemID: id, Model: c.r.PathValue("model")}, nil
}

func (s *Server) listEmbeddings(c *call) (any, error) {
	f, err := parseEmbeddingFilter(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListEmbeddings(c.ctx, c.ns, f)
	if err != nil {
		return nil, err
	}
	if n := fitPage(page.Embeddings, s.opts.MaxPageBytes); n < len(page.Embeddings) {
		f.Limit = n
		if page, err = s.store.ListEmbeddings(c.ctx, c.ns, f); err != nil {
			return nil, err
		}
	}
	if page.Embeddings == nil {
		page.Embeddings = []*engram.Embedding{}
	}
	return &EmbeddingList{Embeddings: page.Embeddings, NextCursor: page.NextCursor, Stale: c.stale()}, nil
}

func (s *Server) getEmbedding(c *call) (any, error) {
	key, err := embeddingKey(c)
	if err != nil {
		return nil, err
	}
	return s.store.GetEmbedding(c.ctx, c.ns, key)
}

func (s *Server) deleteEmbedding(c *call) (any, error) {
	key, err := embeddingKey(c)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteEmbedding(c.ctx, c.ns, key); err != nil {
		return nil, err
	}
	return &Deleted{Deleted: key.String()}, nil
}

func (s *Server) addRelationship(c *call) (any, error) {
	var rel engram.Relationship
	if err := s.decode(c, &rel); err != nil {
		return nil, err
	}
	if err := s.store.AddRelationship(c.ctx, c.ns, &rel); err != nil {
		return nil, err
	}
	return &rel, nil
}

func (s *Server) removeRelationship(c *call) (any, error) {
	from, err := episodeID(c, "from")
	if err != nil {
		return nil, err
	}
	to, err := episodeID(c, "to")
	if err != nil {
		return nil, err
	}
	typ := engram.RelationshipType(c.r.PathValue("type"))
	if err := s.store.RemoveRelationship(c.ctx, c.ns, from, to, typ); err != nil {
		return nil, err
	}
	return &Deleted{Deleted: fmt.Sprintf("%s/%s/%s", from, to, typ)}, nil
}

func (s *Server) search(c *call) (any, error) {
	q, err := parseSearch(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	hits, err := s.store.Search(c.ctx, c.ns, q)
	if err != nil {
		return nil, err
	}
	if hits == nil {
		hits = []engram.SearchHit{}
	}
	return &SearchResult{Hits: hits, Stale: c.stale()}, nil
}

func (s *Server) counts(c *call) (any, error) {
	n, err := s.store.Counts(c.ctx, c.ns)
	if err != nil {
		return nil, err
	}
	return &CountsResult{Namespace: c.ns, Counts: n, Stale: c.stale()}, nil
}

func (s *Server) changes(c *call) (any, error) {
	after, limit, err := parseChanges(c.r.URL.Query())
	if err != nil {
		return nil, err
	}
	last, err := s.store.LastSeq(c.ctx)
	if err != nil {
		return nil, err
	}
	chs, err := s.store.Changes(c.ctx, after, limit)
	if err != nil {
		return nil, err
	}
	if chs == nil {
		chs = []engram.Change{}
	}
	return &ChangeList{Changes: chs, LastSeq: last}, nil
}

func (s *Server) namespaces(c *call) (any, error) {
	nss, err := s.store.Namespaces(c.ctx)
	if err != nil {
		return nil, err
	}
	return &NamespaceList{Namespaces: nss}, nil
}

func (s *Server) lastSeq(c *call) (any, error) {
	last, err := s.store.LastSeq(c.ctx)
	if err != nil {
		return nil, err
	}
	return &Seq{LastSeq: last}, nil
}

func (s *Server) sync(c *call) (any, error) {
	var req SyncRequest
	if err := s.decode(c, &req); err != nil {
		return nil, err
	}
	syncer, ok := s.store.(engram.Syncer)
	if !ok {
		return nil, httpError(CodeNotImplemented, "this store has no cache to sync (it is the durable tier alone)")
	}
	return syncer.Sync(c.ctx, engram.SyncOptions{Full: req.Full, DryRun: req.DryRun, Validate: req.Validate})
}

// status answers the store's status. It spans every namespace (the last
// sync's error names records of any of them; details name files), so a
// token not granted * sees the tenant's view: each tier's state and the
// staleness, nothing more.
func (s *Server) status(c *call) (any, error) {
	st, err := s.storeStatus(c.ctx)
	if err != nil || c.p.all {
		return st, err
	}
	return tenantStatus(st), nil
}

// tenantStatus is the view of st a namespace-scoped caller gets.
func tenantStatus(st *engram.Status) *engram.Status {
	out := &engram.Status{Tiers: make([]engram.TierStatus, len(st.Tiers)), Stale: st.Stale, LastSync: st.LastSync}
	for i, t := range st.Tiers {
		out.Tiers[i] = engram.TierStatus{Tier: t.Tier, State: t.State}
	}
	if st.LastSyncError != "" {
		out.LastSyncError = "the last sync failed (a * token sees why)"
	}
	return out
}

// storeStatus asks the store for its status; a store that cannot describe
// its tiers is one durable tier, never stale, whose watermark is its feed.
func (s *Server) storeStatus(ctx context.Context) (*engram.Status, error) {
	return storeStatus(ctx, s.store)
}

func storeStatus(ctx context.Context, store engram.Store) (*engram.Status, error) {
	if sr, ok := store.(engram.StatusReporter); ok {
		return sr.Status(ctx)
	}
	last, err := store.LastSeq(ctx)
	if err != nil {
		return &engram.Status{Tiers: []engram.TierStatus{{Tier: engram.TierDurable, State: "unavailable", Detail: engram.ErrorCode(err)}}, Stale: true}, nil
	}
	return &engram.Status{
		Tiers:   []engram.TierStatus{{Tier: engram.TierDurable, State: "ok"}},
		LastSeq: last, Watermark: last,
	}, nil
}

func (s *Server) healthz(c *call) (any, error) { return &Health{Status: "ok"}, nil }

// readyz answers 200 when the durable tier is usable, 503 otherwise: when
// it is unreachable, and when it is "degraded", which for the durable tier
// means its writes fail (a full disk, commits whose outcome is unknown), so
// the server cannot do what it is for. A * token is told the reason and
// the tiers' details; any other token their states.
func (s *Server) readyz(c *call) (any, error) {
	st, err := s.storeStatus(c.ctx)
	if err != nil {
		return nil, err
	}
	h := &Health{Status: "ok", Tiers: st.Tiers}
	for _, t := range st.Tiers {
		if t.Tier == engram.TierDurable && t.State != "ok" {
			h.Status = "unavailable"
			h.Reason = "durable tier " + t.State
			if t.Detail != "" {
				h.Reason += ": " + t.Detail
			}
		}
	}
	if h.Status != "ok" {
		c.status = http.StatusServiceUnavailable
	}
	if !c.p.all {
		h.Reason, h.Tiers = "", tenantStatus(st).Tiers
	}
	return h, nil
}

func (s *Server) checkBatch(n int, field string) error {
	if n > s.opts.MaxBatch {
		return engram.TooMany(field, n, "records", s.opts.MaxBatch)
	}
	return nil
}

func (s *Server) checkVector(n int, field string) error {
	if n > s.opts.MaxVectorDim {
		return engram.TooMany(field, n, "dimensions", s.opts.MaxVectorDim)
	}
	return nil
}
