package server

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/console"
)

// scope says which namespaces a route touches, and so what a token needs.
type scope int

const (
	scopePublic    scope = iota // no token needed (/healthz, the console's files)
	scopeAny                    // any valid token; touches no namespace's records
	scopeNamespace              // the request's namespace: the token must grant it
	scopeAll                    // every namespace (change feed, sync): the token needs "*"
)

// route is one endpoint. The table of routes below is the single source of
// the router, the OpenAPI document, the metric labels and the auth tests.
type route struct {
	Method  string // "" for any method (the MCP endpoint)
	Path    string // a net/http pattern path: /v1/episodes/{id}
	Name    string // operationId and the metrics label
	Summary string
	Scope   scope
	Query   []param
	Body    reflect.Type // the request body's type, nil for none
	// BodyOptional lets the body be empty (sync).
	BodyOptional bool
	Status       int          // the success status
	Resp         reflect.Type // the success body's type, nil for none
	// Stale marks reads that may be answered from a cache: they send
	// X-Engram-Stale and, in envelopes, "stale".
	Stale bool
	// Ops marks operational routes, which neither count against the
	// in-flight limit nor the rate limit.
	Ops    bool
	NoDoc  bool // left out of the OpenAPI document (the MCP endpoint)
	handle func(s *Server, c *call) (any, error)
	raw    func(s *Server) http.Handler // instead of handle: a plain handler
}

// Pattern is the route's net/http ServeMux pattern.
func (rt *route) Pattern() string {
	if rt.Method == "" {
		return rt.Path
	}
	return rt.Method + " " + rt.Path
}

// pathParams lists the {wildcards} of the path, without "...".
func (rt *route) pathParams() []string {
	var out []string
	for _, seg := range strings.Split(rt.Path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// Response envelopes. List and search responses carry "stale"; single
// records are sent bare, with the X-Engram-Stale header when stale.

// EpisodeList is a page of episodes.
type EpisodeList struct {
	Episodes   []*engram.Episode `json:"episodes"`
	NextCursor string            `json:"next_cursor,omitempty"`
	Stale      bool              `json:"stale"`
}

// PatternList is a page of patterns.
type PatternList struct {
	Patterns   []*engram.Pattern `json:"patterns"`
	NextCursor string            `json:"next_cursor,omitempty"`
	Stale      bool              `json:"stale"`
}

// HeuristicList is a page of heuristics.
type HeuristicList struct {
	Heuristics []*engram.Heuristic `json:"heuristics"`
	NextCursor string              `json:"next_cursor,omitempty"`
	Stale      bool                `json:"stale"`
}

// EmbeddingList is a page of embeddings, and the body and answer of a batch put.
type EmbeddingList struct {
	Embeddings []*engram.Embedding `json:"embeddings"`
	NextCursor string              `json:"next_cursor,omitempty"`
	Stale      bool                `json:"stale,omitempty"`
}

// EpisodeBatch is the body and answer of a batch create.
type EpisodeBatch struct {
	Episodes []*engram.Episode `json:"episodes"`
}

// RelationshipList is the relationships of one episode.
type RelationshipList struct {
	Relationships []engram.Relationship `json:"relationships"`
	Stale         bool                  `json:"stale"`
}

// SearchResult is the answer of a search.
type SearchResult struct {
	Hits  []engram.SearchHit `json:"hits"`
	Stale bool               `json:"stale"`
}

// ChangeList is a batch of the change feed.
type ChangeList struct {
	Changes []engram.Change `json:"changes"`
	LastSeq uint64          `json:"last_seq"`
}

// Seq is the change feed's position.
// NamespaceList lists namespaces, sorted.
type NamespaceList struct {
	Namespaces []engram.Namespace `json:"namespaces"`
}

type Seq struct {
	LastSeq uint64 `json:"last_seq"`
}

// CountsResult is how many records of each kind a namespace holds.
type CountsResult struct {
	Namespace engram.Namespace `json:"namespace"`
	engram.Counts
	Stale bool `json:"stale"`
}

// Deleted is the answer of a delete.
type Deleted struct {
	Deleted string `json:"deleted"`
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // "ok" or "unavailable"
	// Reason says why the server is not ready; only a * token is told.
	Reason string              `json:"reason,omitempty"`
	Tiers  []engram.TierStatus `json:"tiers,omitempty"`
}

// SyncRequest is the optional body of POST /v1/sync.
type SyncRequest struct {
	Full     bool `json:"full,omitempty"`
	DryRun   bool `json:"dry_run,omitempty"`
	Validate bool `json:"validate,omitempty"`
}

// routes returns the route table.
func routes() []*route {
	return append(coreRoutes(), vectorRoutes()...)
}

func coreRoutes() []*route {
	ep, pat, heu := typeOf[engram.Episode](), typeOf[engram.Pattern](), typeOf[engram.Heuristic]()
	return []*route{
		{Method: "GET", Path: "/healthz", Name: "healthz", Summary: "The process is up", Scope: scopePublic, Ops: true,
			Status: 200, Resp: typeOf[Health](), handle: (*Server).healthz},
		{Method: "GET", Path: "/readyz", Name: "readyz", Summary: "The tiers are usable (503 when not)", Scope: scopeAny, Ops: true,
			Status: 200, Resp: typeOf[Health](), handle: (*Server).readyz},
		{Method: "GET", Path: "/metrics", Name: "metrics", Summary: "Prometheus metrics (text exposition format)", Scope: scopeAny, Ops: true,
			Status: 200, raw: (*Server).metricsHandler},
		{Method: "GET", Path: "/v1/openapi.json", Name: "openapi", Summary: "This OpenAPI document", Scope: scopeAny, Ops: true,
			Status: 200, handle: (*Server).openapi},
		{Method: "", Path: "/mcp", Name: "mcp", Summary: "MCP over streamable HTTP", Scope: scopeAny, NoDoc: true,
			Status: 200, raw: (*Server).mcpHTTPHandler},

		{Method: "POST", Path: "/v1/episodes", Name: "createEpisode", Summary: "Create an episode (with steps); answers the stored episode",
			Scope: scopeNamespace, Body: ep, Status: 201, Resp: ep, handle: (*Server).createEpisode},
		{Method: "POST", Path: "/v1/episodes:batch", Name: "createEpisodes", Summary: "Create up to 1000 episodes in one transaction: all or none",
			Scope: scopeNamespace, Body: typeOf[EpisodeBatch](), Status: 201, Resp: typeOf[EpisodeBatch](), handle: (*Server).createEpisodes},
		{Method: "GET", Path: "/v1/episodes", Name: "listEpisodes", Summary: "List episodes, newest start_time first, with filters and cursor paging",
			Scope: scopeNamespace, Query: episodeListParams, Status: 200, Resp: typeOf[EpisodeList](), Stale: true, handle: (*Server).listEpisodes},
		{Method: "GET", Path: "/v1/episodes/{id}", Name: "getEpisode", Summary: "Get an episode with all its steps",
			Scope: scopeNamespace, Status: 200, Resp: ep, Stale: true, handle: (*Server).getEpisode},
		{Method: "PUT", Path: "/v1/episodes/{id}", Name: "updateEpisode", Summary: "Replace an episode's fields except steps and created_at",
			Scope: scopeNamespace, Body: ep, Status: 200, Resp: ep, handle: (*Server).updateEpisode},
		{Method: "DELETE", Path: "/v1/episodes/{id}", Name: "deleteEpisode", Summary: "Delete an episode with its steps, embeddings and relationships",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[Deleted](), handle: (*Server).deleteEpisode},
		{Method: "POST", Path: "/v1/episodes/{id}/steps", Name: "appendStep", Summary: "Append a step to an open episode; answers the stored step",
			Scope: scopeNamespace, Body: typeOf[engram.Step](), Status: 201, Resp: typeOf[engram.Step](), handle: (*Server).appendStep},
		{Method: "POST", Path: "/v1/episodes/{id}/complete", Name: "completeEpisode", Summary: "Record an episode's outcome; answers the completed episode",
			Scope: scopeNamespace, Body: typeOf[engram.Completion](), Status: 200, Resp: ep, handle: (*Server).completeEpisode},
		{Method: "GET", Path: "/v1/episodes/{id}/relationships", Name: "listRelationships", Summary: "List the relationships of an episode",
			Scope: scopeNamespace, Query: relationshipListParams, Status: 200, Resp: typeOf[RelationshipList](), Stale: true, handle: (*Server).listRelationships},

		{Method: "POST", Path: "/v1/patterns", Name: "putPattern", Summary: "Create or replace (same pattern_id) a pattern",
			Scope: scopeNamespace, Body: pat, Status: 200, Resp: pat, handle: (*Server).putPattern},
		{Method: "GET", Path: "/v1/patterns", Name: "listPatterns", Summary: "List patterns, most recently updated first",
			Scope: scopeNamespace, Query: patternListParams, Status: 200, Resp: typeOf[PatternList](), Stale: true, handle: (*Server).listPatterns},
		{Method: "GET", Path: "/v1/patterns/{id}", Name: "getPattern", Summary: "Get a pattern",
			Scope: scopeNamespace, Status: 200, Resp: pat, Stale: true, handle: (*Server).getPattern},
		{Method: "DELETE", Path: "/v1/patterns/{id}", Name: "deletePattern", Summary: "Delete a pattern",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[Deleted](), handle: (*Server).deletePattern},

		{Method: "POST", Path: "/v1/heuristics", Name: "putHeuristic", Summary: "Create or replace (same heuristic_id) a heuristic",
			Scope: scopeNamespace, Body: heu, Status: 200, Resp: heu, handle: (*Server).putHeuristic},
		{Method: "GET", Path: "/v1/heuristics", Name: "listHeuristics", Summary: "List heuristics, most recently updated first",
			Scope: scopeNamespace, Query: heuristicListParams, Status: 200, Resp: typeOf[HeuristicList](), Stale: true, handle: (*Server).listHeuristics},
		{Method: "GET", Path: "/v1/heuristics/{id}", Name: "getHeuristic", Summary: "Get a heuristic",
			Scope: scopeNamespace, Status: 200, Resp: heu, Stale: true, handle: (*Server).getHeuristic},
		{Method: "DELETE", Path: "/v1/heuristics/{id}", Name: "deleteHeuristic", Summary: "Delete a heuristic",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[Deleted](), handle: (*Server).deleteHeuristic},

		{Method: "POST", Path: "/v1/embeddings", Name: "putEmbedding", Summary: "Create or replace one embedding",
			Scope: scopeNamespace, Body: typeOf[engram.Embedding](), Status: 200, Resp: typeOf[engram.Embedding](), handle: (*Server).putEmbedding},
		{Method: "POST", Path: "/v1/embeddings:batch", Name: "putEmbeddings", Summary: "Create or replace up to 1000 embeddings in one transaction: all or none",
			Scope: scopeNamespace, Body: typeOf[EmbeddingList](), Status: 200, Resp: typeOf[EmbeddingList](), handle: (*Server).putEmbeddings},
		{Method: "GET", Path: "/v1/embeddings", Name: "listEmbeddings", Summary: "List embeddings in key order",
			Scope: scopeNamespace, Query: embeddingListParams, Status: 200, Resp: typeOf[EmbeddingList](), Stale: true, handle: (*Server).listEmbeddings},
		{Method: "GET", Path: "/v1/embeddings/{item_type}/{item_id}/{model...}", Name: "getEmbedding", Summary: "Get one embedding by item type, item id and model",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[engram.Embedding](), Stale: true, handle: (*Server).getEmbedding},
		{Method: "DELETE", Path: "/v1/embeddings/{item_type}/{item_id}/{model...}", Name: "deleteEmbedding", Summary: "Delete one embedding",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[Deleted](), handle: (*Server).deleteEmbedding},

		{Method: "POST", Path: "/v1/relationships", Name: "addRelationship", Summary: "Create or replace (same from, to, type) a relationship between two episodes",
			Scope: scopeNamespace, Body: typeOf[engram.Relationship](), Status: 200, Resp: typeOf[engram.Relationship](), handle: (*Server).addRelationship},
		{Method: "DELETE", Path: "/v1/relationships/{from}/{to}/{type}", Name: "removeRelationship", Summary: "Remove a relationship",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[Deleted](), handle: (*Server).removeRelationship},

		{Method: "GET", Path: "/v1/search", Name: "search", Summary: "Keyword search (BM25) over episodes, steps and patterns",
			Scope: scopeNamespace, Query: searchParams, Status: 200, Resp: typeOf[SearchResult](), Stale: true, handle: (*Server).search},
		{Method: "POST", Path: "/v1/recall", Name: "recall", Summary: "Recall the records most like a vector and/or text, filtered, with recency, fused by RRF or weights (501 when the store cannot recall)",
			Scope: scopeNamespace, Body: typeOf[RecallBody](), Status: 200, Resp: typeOf[RecallAnswer](), Stale: true, handle: (*Server).recall},
		{Method: "GET", Path: "/v1/insights", Name: "insights", Summary: "Summarise the namespace's episodes over a window: rates, rewards, percentiles, a timeline, tools, errors, patterns, heuristics (501 when the store cannot)",
			Scope: scopeNamespace, Query: insightsParams, Status: 200, Resp: typeOf[engram.Insights](), handle: (*Server).insights},
		{Method: "GET", Path: "/v1/counts", Name: "counts", Summary: "How many records of each kind the namespace holds",
			Scope: scopeNamespace, Status: 200, Resp: typeOf[CountsResult](), Stale: true, handle: (*Server).counts},

		{Method: "GET", Path: "/v1/changes", Name: "changes", Summary: "Read the change feed of every namespace (needs a * token)",
			Scope: scopeAll, Query: changesParams, Status: 200, Resp: typeOf[ChangeList](), handle: (*Server).changes},
		{Method: "GET", Path: "/v1/namespaces", Name: "namespaces", Summary: "Every namespace holding records (needs a * token)",
			Scope: scopeAll, Status: 200, Resp: typeOf[NamespaceList](), handle: (*Server).namespaces},
		{Method: "GET", Path: "/v1/changes/seq", Name: "lastSeq", Summary: "The change feed's position (needs a * token)",
			Scope: scopeAll, Status: 200, Resp: typeOf[Seq](), handle: (*Server).lastSeq},
		{Method: "POST", Path: "/v1/sync", Name: "sync", Summary: "Bring the cache up to date with the durable tier (501 when the store has no cache; needs a * token)",
			Scope: scopeAll, Body: typeOf[SyncRequest](), BodyOptional: true, Status: 200, Resp: typeOf[engram.SyncReport](), handle: (*Server).sync},
		{Method: "GET", Path: "/v1/status", Name: "status", Summary: "Tiers, watermark, lag, staleness and tier statistics",
			Scope: scopeAny, Status: 200, Resp: typeOf[engram.Status](), handle: (*Server).status},

		// The web console's page and files (internal/console): public, since
		// the page asks for the token; it reads the API with it.
		{Method: "GET", Path: "/{$}", Name: "console", Summary: "The web console", Scope: scopePublic, Ops: true, NoDoc: true,
			Status: 200, raw: consoleHandler},
		{Method: "GET", Path: console.Prefix, Name: "consoleFiles", Summary: "The web console's files", Scope: scopePublic, Ops: true, NoDoc: true,
			Status: 200, raw: consoleHandler},
	}
}

func consoleHandler(*Server) http.Handler { return console.Handler() }
