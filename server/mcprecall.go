package server

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/engramhq/engram"
)

// Modes of search_memory.
const (
	modeKeyword = "keyword" // BM25 only: hits with snippets
	modeVector  = "vector"  // the query vector only, through recall
	modeHybrid  = "hybrid"  // vector and text fused, through recall
)

// memorySearchDoc documents search_memory's result: "hits" in keyword
// mode, "recalled" (POST /v1/recall's hits) in vector and hybrid modes.
type memorySearchDoc struct {
	Hits     []engram.SearchHit `json:"hits"`
	Recalled []RecallHitDoc     `json:"recalled,omitempty"`
	Stale    bool               `json:"stale"`
}

type memorySearchResult struct {
	Hits     []engram.SearchHit `json:"hits"`
	Recalled []engram.RecallHit `json:"recalled,omitempty"`
	Stale    bool               `json:"stale"`
}

// searchMemory runs search_memory: a keyword search, or with mode vector or
// hybrid (the default when a vector is given) a recall.
func (t *mcpTools) searchMemory(ctx context.Context, ns engram.Namespace, in any, ri *engram.ReadInfo) (any, error) {
	q := in.(*searchIn)
	mode := q.Mode
	if mode == "" {
		mode = modeKeyword
		if len(q.Vector) > 0 {
			mode = modeHybrid
		}
	}
	if mode != modeKeyword && mode != modeVector && mode != modeHybrid {
		return nil, engram.Invalid("mode", "is %q; want keyword, vector or hybrid", clip(mode))
	}
	limit, err := toolLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if mode == modeKeyword {
		if len(q.Vector) > 0 || q.Filter != nil || q.HalfLife != "" || q.Model != "" {
			return nil, engram.Invalid("mode", "keyword search takes no vector, model, filter or half_life; use mode vector or hybrid")
		}
		if q.Query == "" {
			return nil, engram.Invalid("query", "is required in keyword mode")
		}
		if err := checkSearchKinds(q.Kinds, indexed("kinds")); err != nil {
			return nil, err
		}
		hits, err := t.store.Search(ctx, ns, engram.SearchQuery{Text: q.Query, Kinds: q.Kinds, Any: q.Any, Limit: limit})
		if err != nil {
			return nil, err
		}
		if hits == nil {
			hits = []engram.SearchHit{}
		}
		return &memorySearchResult{Hits: hits, Stale: staleOf(ri)}, nil
	}
	if len(q.Kinds) > 0 || q.Any {
		return nil, engram.Invalid("kinds", "kinds and any apply to keyword mode only")
	}
	if len(q.Vector) == 0 {
		return nil, engram.Invalid("vector", "is required in %s mode", mode)
	}
	text := q.Query
	if mode == modeVector {
		text = ""
	}
	req := engram.RecallRequest{Vector: q.Vector, Model: q.Model, Text: text, Limit: min(limit, engram.MaxRecallLimit), Filter: q.Filter, HalfLife: q.HalfLife}
	res, err := t.recall(ctx, ns, &req)
	if err != nil {
		return nil, err
	}
	return &memorySearchResult{Hits: []engram.SearchHit{}, Recalled: res.Hits, Stale: res.Stale || staleOf(ri)}, nil
}

func (t *mcpTools) recall(ctx context.Context, ns engram.Namespace, req *engram.RecallRequest) (*engram.RecallResult, error) {
	rc, ok := t.store.(engram.Recaller)
	if !ok {
		return nil, httpError(CodeNotImplemented, "this store cannot recall (it has no vector indexes)")
	}
	q, err := req.Query()
	if err != nil {
		return nil, err
	}
	res, err := rc.Recall(ctx, ns, q)
	if err != nil {
		return nil, err
	}
	if res.Hits == nil {
		res.Hits = []engram.RecallHit{}
	}
	return res, nil
}

type similarIn struct {
	Namespace string               `json:"namespace,omitempty"`
	EpisodeID engram.EpisodeID     `json:"episode_id" jsonschema:"the episode whose stored embedding is the query"`
	Model     string               `json:"model,omitempty" jsonschema:"the embedding model (default: default)"`
	Text      string               `json:"text,omitempty" jsonschema:"optional words to fuse with the vector"`
	Limit     *int                 `json:"limit,omitempty" jsonschema:"most episodes: 1-199, default 10"`
	Filter    *engram.RecallFilter `json:"filter,omitempty" jsonschema:"task_type, domain, tags, metadata, complete, since, until, near, box"`
	HalfLife  string               `json:"half_life,omitempty" jsonschema:"favour recent episodes with this half-life (72h)"`
}

// RecallList is recall_similar_episodes' result.
type RecallList struct {
	Hits  []engram.RecallHit `json:"hits"`
	Stale bool               `json:"stale"`
}

func (t *mcpTools) recallTools() []mcpTool {
	return []mcpTool{
		{name: "recall_similar_episodes", in: reflect.TypeFor[similarIn](), out: reflect.TypeFor[RecallAnswer](), required: []string{"episode_id"}, readOnly: true,
			desc: "Find the episodes most like a given one, by its stored embedding (optionally fused with words, filtered, favouring recent ones). The episode itself is left out.",
			run: func(ctx context.Context, ns engram.Namespace, in any, ri *engram.ReadInfo) (any, error) {
				s := in.(*similarIn)
				limit := engram.DefaultRecallLimit
				if s.Limit != nil {
					if *s.Limit < 1 || *s.Limit >= engram.MaxRecallLimit {
						return nil, engram.Invalid("limit", "is %d; must be 1-%d", *s.Limit, engram.MaxRecallLimit-1)
					}
					limit = *s.Limit
				}
				model := s.Model
				if model == "" {
					model = engram.DefaultModel
				}
				e, err := t.store.GetEmbedding(ctx, ns, engram.EmbeddingKey{ItemType: engram.ItemEpisode, ItemID: s.EpisodeID.UUID, Model: model})
				if engram.ErrorCode(err) == engram.ENOTFOUND {
					return nil, &engram.Error{Code: engram.ENOTFOUND, Field: "episode_id",
						Message: fmt.Sprintf("episode %s has no embedding of model %q", s.EpisodeID, model)}
				}
				if err != nil {
					return nil, err
				}
				res, err := t.recall(ctx, ns, &engram.RecallRequest{Vector: e.Vector, Model: model, Text: s.Text, Limit: limit + 1,
					Filter: s.Filter, HalfLife: s.HalfLife})
				if err != nil {
					return nil, err
				}
				res.Hits = slices.DeleteFunc(res.Hits, func(h engram.RecallHit) bool { return h.ItemID == s.EpisodeID.UUID })
				if len(res.Hits) > limit {
					res.Hits = res.Hits[:limit]
				}
				return &RecallList{Hits: res.Hits, Stale: res.Stale || staleOf(ri)}, nil
			}},
	}
}
