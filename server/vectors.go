package server

// The namespace contract over embeddings (engram.VectorStore) under
// /v1/vectors: namespace stats and listing, batch put (one dimension per
// item type and model), batch get and delete, a streaming export of a
// namespace (NDJSON), clear, flush and sweep. docs/vectors.md describes them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/engramhq/engram"
)

// VectorNamespaceList is every namespace holding embeddings, with stats.
type VectorNamespaceList struct {
	Namespaces []engram.VectorNamespaceStats `json:"namespaces"`
}

// VectorKeys names embeddings as item_type/item_id/model (at most 1000).
type VectorKeys struct {
	Keys []string `json:"keys"`
}

// VectorGetAnswer holds the embeddings found, in the order asked, and the
// keys that were absent or expired.
type VectorGetAnswer struct {
	Embeddings []*engram.Embedding `json:"embeddings"`
	Missing    []string            `json:"missing"`
}

// VectorDeleteAnswer says how many of the keys were deleted and which were
// absent (or expired already).
type VectorDeleteAnswer struct {
	Deleted int      `json:"deleted"`
	Missing []string `json:"missing"`
}

// VectorClearAnswer is how many embeddings a clear deleted.
type VectorClearAnswer struct {
	Namespace engram.Namespace `json:"namespace"`
	Deleted   int64            `json:"deleted"`
}

// VectorSweepAnswer is how many expired embeddings a sweep deleted.
type VectorSweepAnswer struct {
	Swept int `json:"swept"`
}

// sameDimPutter is the batch put that keeps one dimension per item type
// and model (memory.Memory, sqlstore.Store).
type sameDimPutter interface {
	PutEmbeddingsSameDim(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error
}

// sweeper runs the expiry sweep on demand (memory.Memory).
type sweeper interface {
	SweepExpired(ctx context.Context) (int, error)
}

var clearParams = []param{
	{Name: "confirm", Type: "string", Desc: "required: the namespace's name again, so that a clear is never sent by mistake"},
}

func vectorRoutes() []*route {
	return []*route{
		{Method: "GET", Path: "/v1/vectors/namespaces", Name: "vectorNamespaces", Summary: "Every namespace holding unexpired embeddings, with count, dimensions and approximate bytes (needs a * token; 501 when the store has no vector contract)",
			Scope: scopeAll, Status: 200, Resp: typeOf[VectorNamespaceList](), handle: (*Server).vectorNamespaces},
		{Method: "GET", Path: "/v1/vectors", Name: "vectorNamespace", Summary: "The namespace's embedding count, dimensions and approximate bytes (404 when it holds none: the exists check)",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[engram.VectorNamespaceStats](), handle: (*Server).vectorNamespace},
		{Method: "POST", Path: "/v1/vectors:put", Name: "putVectors", Summary: "Create or replace up to 1000 embeddings in one transaction (all or none), refusing a dimension other than that of the item type and model; ttl_ns or expires_at sets an expiry",
			Scope: scopeNamespace, Body: typeOf[EmbeddingList](), Status: 200, Resp: typeOf[EmbeddingList](), handle: (*Server).putVectors},
		{Method: "POST", Path: "/v1/vectors:get", Name: "getVectors", Summary: "Get up to 1000 embeddings by key (item_type/item_id/model); absent or expired keys are listed as missing",
			Scope: scopeNamespace, Body: typeOf[VectorKeys](), Status: 200, Resp: typeOf[VectorGetAnswer](), handle: (*Server).getVectors},
		{Method: "POST", Path: "/v1/vectors:delete", Name: "deleteVectors", Summary: "Delete up to 1000 embeddings by key in one transaction; unknown keys are listed as missing",
			Scope: scopeNamespace, Body: typeOf[VectorKeys](), Status: 200, Resp: typeOf[VectorDeleteAnswer](), handle: (*Server).deleteVectors},
		{Method: "GET", Path: "/v1/vectors:export", Name: "exportVectors", Summary: "Stream every unexpired embedding of the namespace (filtered like listEmbeddings) as NDJSON, one embedding per line, in key order; limit is the page size read at a time",
			Scope: scopeNamespace, Query: embeddingListParams, Status: 200, Resp: nil, raw: (*Server).exportVectorsHandler},
		{Method: "DELETE", Path: "/v1/vectors", Name: "clearVectors", Summary: "Delete every embedding of the namespace, durably and from every tier of the vector indexes (confirm must repeat the namespace)",
			Scope: scopeNamespace, Query: clearParams, Status: 200, Resp: typeOf[VectorClearAnswer](), handle: (*Server).clearVectors},
		{Method: "POST", Path: "/v1/vectors:flush", Name: "flushVectors", Summary: "Save the vector indexes' snapshots and upload them to the object tier (needs a * token)",
			Scope: scopeAll, Status: 200, Resp: typeOf[engram.VectorTiersStatus](), handle: (*Server).flushVectors},
		{Method: "POST", Path: "/v1/vectors:sweep", Name: "sweepVectors", Summary: "Delete the expired embeddings of every namespace now (the server also sweeps on its own; needs a * token)",
			Scope: scopeAll, Status: 200, Resp: typeOf[VectorSweepAnswer](), handle: (*Server).sweepVectors},
	}
}

func (s *Server) vectorStore() (engram.VectorStore, error) {
	vs, ok := s.store.(engram.VectorStore)
	if !ok {
		return nil, httpError(CodeNotImplemented, "this store has no vector namespace operations (serve a data directory)")
	}
	return vs, nil
}

func (s *Server) vectorNamespaces(c *call) (any, error) {
	vs, err := s.vectorStore()
	if err != nil {
		return nil, err
	}
	list, err := vs.VectorNamespaces(c.ctx)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []engram.VectorNamespaceStats{}
	}
	return &VectorNamespaceList{Namespaces: list}, nil
}

func (s *Server) vectorNamespace(c *call) (any, error) {
	vs, err := s.vectorStore()
	if err != nil {
		return nil, err
	}
	return vs.VectorNamespace(c.ctx, c.ns)
}

func (s *Server) putVectors(c *call) (any, error) {
	return s.putEmbeddingBatch(c, func(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
		p, ok := s.store.(sameDimPutter)
		if !ok {
			return httpError(CodeNotImplemented, "this store has no vector namespace operations (serve a data directory)")
		}
		return p.PutEmbeddingsSameDim(ctx, ns, embs)
	})
}

// vectorKeys decodes and parses a VectorKeys body.
func (s *Server) vectorKeys(c *call) ([]engram.EmbeddingKey, []string, error) {
	var b VectorKeys
	if err := s.decode(c, &b); err != nil {
		return nil, nil, err
	}
	if len(b.Keys) > s.opts.MaxBatch {
		return nil, nil, engram.TooMany("keys", len(b.Keys), "keys", s.opts.MaxBatch)
	}
	keys := make([]engram.EmbeddingKey, len(b.Keys))
	for i, k := range b.Keys {
		ek, err := engram.ParseEmbeddingKey(k)
		if err != nil {
			var ee *engram.Error
			if errors.As(err, &ee) && ee.Field == "key" {
				e := *ee
				e.Field = fmt.Sprintf("keys[%d]", i)
				return nil, nil, &e
			}
			return nil, nil, engram.Within("keys", i, err)
		}
		keys[i] = ek
	}
	return keys, b.Keys, nil
}

func (s *Server) getVectors(c *call) (any, error) {
	vs, err := s.vectorStore()
	if err != nil {
		return nil, err
	}
	keys, raw, err := s.vectorKeys(c)
	if err != nil {
		return nil, err
	}
	got, err := vs.GetEmbeddings(c.ctx, c.ns, keys)
	if err != nil {
		return nil, err
	}
	ans := &VectorGetAnswer{Embeddings: []*engram.Embedding{}, Missing: []string{}}
	for i, e := range got {
		if e == nil {
			ans.Missing = append(ans.Missing, raw[i])
		} else {
			ans.Embeddings = append(ans.Embeddings, e)
		}
	}
	return ans, nil
}

func (s *Server) deleteVectors(c *call) (any, error) {
	vs, err := s.vectorStore()
	if err != nil {
		return nil, err
	}
	keys, raw, err := s.vectorKeys(c)
	if err != nil {
		return nil, err
	}
	existed, err := vs.DeleteEmbeddings(c.ctx, c.ns, keys)
	if err != nil {
		return nil, err
	}
	ans := &VectorDeleteAnswer{Missing: []string{}}
	for i, ok := range existed {
		if ok {
			ans.Deleted++
		} else {
			ans.Missing = append(ans.Missing, raw[i])
		}
	}
	return ans, nil
}

func (s *Server) clearVectors(c *call) (any, error) {
	vs, err := s.vectorStore()
	if err != nil {
		return nil, err
	}
	if got := c.r.URL.Query().Get("confirm"); got != string(c.ns) {
		return nil, engram.Invalid("confirm", "must repeat the namespace (%q) to clear it", c.ns)
	}
	n, err := vs.ClearEmbeddings(c.ctx, c.ns)
	if err != nil {
		return nil, err
	}
	return &VectorClearAnswer{Namespace: c.ns, Deleted: n}, nil
}

func (s *Server) flushVectors(c *call) (any, error) {
	vs, err := s.vectorStore()
	if err != nil {
		return nil, err
	}
	if err := vs.FlushVectors(c.ctx); err != nil {
		return nil, err
	}
	st := &engram.VectorTiersStatus{Tiers: []engram.VectorTierStatus{}}
	if sr, ok := s.store.(engram.StatusReporter); ok {
		if full, err := sr.Status(c.ctx); err == nil && full.Vectors != nil {
			st = full.Vectors
		}
	}
	return st, nil
}

func (s *Server) sweepVectors(c *call) (any, error) {
	sw, ok := s.store.(sweeper)
	if !ok {
		return nil, httpError(CodeNotImplemented, "this store does not sweep expired embeddings (its reads skip them)")
	}
	n, err := sw.SweepExpired(c.ctx)
	if err != nil {
		return nil, err
	}
	return &VectorSweepAnswer{Swept: n}, nil
}

// exportVectorsHandler streams the namespace as NDJSON. Errors found
// before the first line are answered as usual; one after it ends the
// stream with a line {"error": {...}} (and no more embeddings), so a
// reader can tell a cut stream from a complete one.
func (s *Server) exportVectorsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) { s.writeError(w, r, err) }
		vs, err := s.vectorStore()
		if err != nil {
			fail(err)
			return
		}
		ns, err := namespaceOf(r.URL.Query(), r.Header)
		if err != nil {
			fail(err)
			return
		}
		f, err := parseEmbeddingFilter(r.URL.Query())
		if err != nil {
			fail(err)
			return
		}
		if f.Cursor == "" {
			// Check the namespace and filter with a first read, so bad
			// input is a plain error.
			probe := f
			probe.Limit = 1
			if _, err := s.store.ListEmbeddings(r.Context(), ns, probe); err != nil {
				fail(err)
				return
			}
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		fl, _ := w.(http.Flusher)
		n := 0
		err = vs.EachEmbedding(r.Context(), ns, f, func(e *engram.Embedding) error {
			n++
			if fl != nil && n%engram.DefaultQueryLimit == 0 {
				fl.Flush()
			}
			return enc.Encode(e)
		})
		if err != nil {
			_, d := errorDetail(err)
			_ = enc.Encode(ErrorBody{Error: d})
		}
	})
}
