package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engramhq/engram"
)

// MCPOptions configure NewMCP.
type MCPOptions struct {
	// Namespace is used by tool calls that name none; "": "default". Over
	// HTTP, the namespace query parameter or X-Engram-Namespace header of the
	// /mcp request takes its place.
	Namespace engram.Namespace
	// Version is reported to clients; "": "dev".
	Version string
	// Logger receives the SDK's log; nil: nothing.
	Logger *slog.Logger
	// tokens, when set, authorise every call by the bearer token on the HTTP
	// request that carried it. Unset (stdio): every namespace is allowed.
	tokens *Tokens
	// onError, when set, counts a failed tool call by its error code.
	onError func(code string)
	// pageBytes bounds a list result (see Options.MaxPageBytes); 0: the default.
	pageBytes int
}

// NewMCP returns an MCP server whose tools read and write store: the
// engram tools for agents (create_episode, add_episode_step,
// complete_episode, get_episode, list_episodes, search_memory,
// store_pattern, list_patterns, store_heuristic, memory_status,
// recall_similar_episodes, memory_insights). Run it over
// stdio with mcp.StdioTransport; Server serves it over streamable HTTP at
// /mcp. Tool arguments are decoded strictly and validated like HTTP bodies;
// results are structured (the JSON the HTTP API answers), and failures are
// tool errors whose structured content is the HTTP error shape.
func NewMCP(store engram.Store, opts MCPOptions) (*mcp.Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = engram.DefaultNamespace
	}
	if err := opts.Namespace.Validate(); err != nil {
		return nil, err
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.pageBytes <= 0 {
		opts.pageBytes = DefaultMaxPageBytes
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "engram", Title: "engram agent memory", Version: opts.Version}, &mcp.ServerOptions{
		Logger: opts.Logger,
		Instructions: "engram stores what you learn. Record each task as an episode (create_episode), append the steps " +
			"you take (add_episode_step), and complete it with the outcome (complete_episode). Before a task, " +
			"search_memory and list_patterns for what worked before. Records live in a namespace; calls that " +
			"name none use the session's.",
	})
	t := &mcpTools{store: store, opts: opts}
	for _, tool := range t.tools() {
		in, err := schemaFor(tool.in, tool.required...)
		if err != nil {
			return nil, fmt.Errorf("server: schema of tool %s: %w", tool.name, err)
		}
		in.Properties["namespace"] = namespaceSchema()
		out, err := schemaFor(tool.out)
		if err != nil {
			return nil, fmt.Errorf("server: output schema of tool %s: %w", tool.name, err)
		}
		srv.AddTool(&mcp.Tool{Name: tool.name, Description: tool.desc, InputSchema: in, OutputSchema: out,
			Annotations: &mcp.ToolAnnotations{ReadOnlyHint: tool.readOnly}}, t.handler(tool))
	}
	return srv, nil
}

func namespaceSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Description: "the namespace to use; omit for the session's (1-64 characters of [a-z0-9_.-])"}
}

type mcpTools struct {
	store engram.Store
	opts  MCPOptions
}

// mcpTool is one tool: its input type (decoded strictly from the
// arguments) and what it does with it.
type mcpTool struct {
	name, desc string
	in         reflect.Type
	out        reflect.Type // the structured result of a successful call
	required   []string
	readOnly   bool
	run        func(ctx context.Context, ns engram.Namespace, in any, ri *engram.ReadInfo) (any, error)
}

// Tool inputs. Each embeds the record it writes, so an agent sends the
// record's fields at the top level, plus an optional namespace.
type (
	createEpisodeIn struct {
		Namespace string `json:"namespace,omitempty"`
		engram.Episode
	}
	addStepIn struct {
		Namespace string `json:"namespace,omitempty"`
		EpisodeID string `json:"episode_id" jsonschema:"the open episode's id (a UUID)"`
		engram.Step
	}
	completeIn struct {
		Namespace string `json:"namespace,omitempty"`
		EpisodeID string `json:"episode_id" jsonschema:"the open episode's id (a UUID)"`
		engram.Completion
	}
	getEpisodeIn struct {
		Namespace string `json:"namespace,omitempty"`
		EpisodeID string `json:"episode_id" jsonschema:"the episode's id (a UUID)"`
	}
	listEpisodesIn struct {
		Namespace string            `json:"namespace,omitempty"`
		Since     *time.Time        `json:"since,omitempty" jsonschema:"only episodes started at or after this time (RFC 3339)"`
		Until     *time.Time        `json:"until,omitempty" jsonschema:"only episodes started before this time (RFC 3339)"`
		Domain    string            `json:"domain,omitempty" jsonschema:"only episodes of this context.domain"`
		TaskType  engram.TaskType   `json:"task_type,omitempty"`
		Tags      []string          `json:"tags,omitempty" jsonschema:"only episodes with every one of these tags"`
		Metadata  map[string]string `json:"metadata,omitempty" jsonschema:"only episodes with every one of these metadata values"`
		Complete  *bool             `json:"complete,omitempty" jsonschema:"true: only complete episodes; false: only open ones"`
		Near      *nearIn           `json:"near,omitempty" jsonschema:"only episodes located within km of lat, lon"`
		Limit     *int              `json:"limit,omitempty" jsonschema:"episodes per page: 1-1000, default 100"`
		Cursor    string            `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	}
	nearIn struct {
		Lat float64 `json:"lat"`
		Lon float64 `json:"lon"`
		KM  float64 `json:"km"`
	}
	searchIn struct {
		Namespace string              `json:"namespace,omitempty"`
		Query     string              `json:"query" jsonschema:"the words to search for"`
		Kinds     []engram.SearchKind `json:"kinds,omitempty" jsonschema:"only hits of these kinds (default: all)"`
		Any       bool                `json:"any,omitempty" jsonschema:"true: hits need any word, not every word"`
		Limit     *int                `json:"limit,omitempty" jsonschema:"most hits: 1-1000, default 100"`
		// Recall (mcprecall.go).
		Mode     string               `json:"mode,omitempty" jsonschema:"keyword (BM25 hits; the default without a vector), vector, or hybrid (vector and words fused; the default with a vector)"`
		Vector   []float32            `json:"vector,omitempty" jsonschema:"a query embedding, for vector and hybrid modes"`
		Model    string               `json:"model,omitempty" jsonschema:"the embedding model of vector (default: default)"`
		Filter   *engram.RecallFilter `json:"filter,omitempty" jsonschema:"vector and hybrid modes: task_type, domain, tags, metadata, complete, since, until, near, box"`
		HalfLife string               `json:"half_life,omitempty" jsonschema:"vector and hybrid modes: favour recent records with this half-life (72h)"`
	}
	storePatternIn struct {
		Namespace string `json:"namespace,omitempty"`
		engram.Pattern
	}
	listPatternsIn struct {
		Namespace string             `json:"namespace,omitempty"`
		Domain    string             `json:"domain,omitempty"`
		Kind      engram.PatternKind `json:"kind,omitempty"`
		Tag       string             `json:"tag,omitempty"`
		Limit     *int               `json:"limit,omitempty" jsonschema:"patterns per page: 1-1000, default 100"`
		Cursor    string             `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	}
	storeHeuristicIn struct {
		Namespace string `json:"namespace,omitempty"`
		engram.Heuristic
	}
	statusIn struct {
		Namespace string `json:"namespace,omitempty"`
	}
)

// EpisodeResult is the structured result of get_episode: the episode, and
// whether it came from a stale cache.
type EpisodeResult struct {
	*engram.Episode
	Stale bool `json:"stale,omitempty"`
}

// toolLimit reads a tool's optional page size: absent is the default, a
// given one must be 1-MaxQueryLimit.
func toolLimit(p *int) (int, error) {
	if p == nil {
		return 0, nil
	}
	if *p < 1 || *p > engram.MaxQueryLimit {
		return 0, engram.Invalid("limit", "is %d; must be 1-%d (omit it for the default of %d)", *p, engram.MaxQueryLimit, engram.DefaultQueryLimit)
	}
	return *p, nil
}

// MemoryStatus is the structured result of memory_status.
type MemoryStatus struct {
	Namespace engram.Namespace `json:"namespace"`
	Counts    engram.Counts    `json:"counts"`
	Status    *engram.Status   `json:"status"`
}

func (t *mcpTools) tools() []mcpTool {
	return append([]mcpTool{
		{name: "create_episode", in: reflect.TypeFor[createEpisodeIn](), out: reflect.TypeFor[engram.Episode](), required: []string{"task_description"},
			desc: "Start recording a task: store a new episode (task_type, task_description, context, optional steps, tags, metadata). Returns the stored episode with its episode_id.",
			run: func(ctx context.Context, ns engram.Namespace, in any, _ *engram.ReadInfo) (any, error) {
				ep := &in.(*createEpisodeIn).Episode
				return ep, t.store.CreateEpisode(ctx, ns, ep)
			}},
		{name: "add_episode_step", in: reflect.TypeFor[addStepIn](), out: reflect.TypeFor[engram.Step](), required: []string{"episode_id", "tool", "action"},
			desc: "Append a step (tool, action, parameters, result, latency_ms) to an open episode. step_number is assigned when omitted. Returns the stored step.",
			run: func(ctx context.Context, ns engram.Namespace, in any, _ *engram.ReadInfo) (any, error) {
				a := in.(*addStepIn)
				id, err := engram.ParseEpisodeID(a.EpisodeID)
				if err != nil {
					return nil, err
				}
				return &a.Step, unprefix(t.store.AppendStep(ctx, ns, id, &a.Step), "step.")
			}},
		{name: "complete_episode", in: reflect.TypeFor[completeIn](), out: reflect.TypeFor[engram.Episode](), required: []string{"episode_id", "outcome"},
			desc: "Finish an episode: record its outcome (success with verdict, partial_success, failure with reason, abstained), reward and reflection. Returns the completed episode.",
			run: func(ctx context.Context, ns engram.Namespace, in any, _ *engram.ReadInfo) (any, error) {
				c := in.(*completeIn)
				id, err := engram.ParseEpisodeID(c.EpisodeID)
				if err != nil {
					return nil, err
				}
				return t.store.CompleteEpisode(ctx, ns, id, &c.Completion)
			}},
		{name: "get_episode", in: reflect.TypeFor[getEpisodeIn](), out: reflect.TypeFor[EpisodeResult](), required: []string{"episode_id"}, readOnly: true,
			desc: "Read one episode with all its steps.",
			run: func(ctx context.Context, ns engram.Namespace, in any, ri *engram.ReadInfo) (any, error) {
				id, err := engram.ParseEpisodeID(in.(*getEpisodeIn).EpisodeID)
				if err != nil {
					return nil, err
				}
				ep, err := t.store.GetEpisode(ctx, ns, id)
				if err != nil {
					return nil, err
				}
				return &EpisodeResult{ep, staleOf(ri)}, nil
			}},
		{name: "list_episodes", in: reflect.TypeFor[listEpisodesIn](), out: reflect.TypeFor[EpisodeList](), readOnly: true,
			desc: "List episodes, newest first, filtered by time, domain, task type, tags, metadata, completion or location. Pages with cursor.",
			run: func(ctx context.Context, ns engram.Namespace, in any, ri *engram.ReadInfo) (any, error) {
				l := in.(*listEpisodesIn)
				f := engram.EpisodeFilter{Domain: l.Domain, TaskType: l.TaskType, Tags: l.Tags, Metadata: l.Metadata,
					Complete: l.Complete, Cursor: l.Cursor}
				var err error
				if f.Limit, err = toolLimit(l.Limit); err != nil {
					return nil, err
				}
				if err := checkEpisodeFilter(f, indexed("tags")); err != nil {
					return nil, err
				}
				if l.Since != nil {
					f.Since = *l.Since
				}
				if l.Until != nil {
					f.Until = *l.Until
				}
				if l.Near != nil {
					f.Near = &engram.GeoRadius{Lat: l.Near.Lat, Lon: l.Near.Lon, KM: l.Near.KM}
				}
				page, err := t.store.ListEpisodes(ctx, ns, f)
				if err != nil {
					return nil, err
				}
				if n := fitPage(page.Episodes, t.opts.pageBytes); n < len(page.Episodes) {
					f.Limit = n
					if page, err = t.store.ListEpisodes(ctx, ns, f); err != nil {
						return nil, err
					}
				}
				if page.Episodes == nil {
					page.Episodes = []*engram.Episode{}
				}
				return &EpisodeList{Episodes: page.Episodes, NextCursor: page.NextCursor, Stale: staleOf(ri)}, nil
			}},
		{name: "search_memory", in: reflect.TypeFor[searchIn](), out: reflect.TypeFor[memorySearchDoc](), readOnly: true,
			desc: "Search memory. keyword mode: BM25 (stemmed) over episodes, their steps and patterns; hits with scores, ids and snippets. vector and hybrid modes (give a vector): the records most like it, fused with the words in hybrid, filtered, with each signal's rank and score, under recalled.",
			run:  t.searchMemory},
		{name: "store_pattern", in: reflect.TypeFor[storePatternIn](), out: reflect.TypeFor[engram.Pattern](), required: []string{"kind"},
			desc: "Store (create, or replace by pattern_id) a learned pattern. kind decides the fields: tool_sequence (tools), decision_point (condition, action), error_recovery (error_type, recovery_steps), context_pattern (context_features, recommended_approach).",
			run: func(ctx context.Context, ns engram.Namespace, in any, _ *engram.ReadInfo) (any, error) {
				p := &in.(*storePatternIn).Pattern
				return p, t.store.PutPattern(ctx, ns, p)
			}},
		{name: "list_patterns", in: reflect.TypeFor[listPatternsIn](), out: reflect.TypeFor[PatternList](), readOnly: true,
			desc: "List patterns, most recently updated first, by domain, kind or tag.",
			run: func(ctx context.Context, ns engram.Namespace, in any, ri *engram.ReadInfo) (any, error) {
				l := in.(*listPatternsIn)
				f := engram.PatternFilter{Domain: l.Domain, Kind: l.Kind, Tag: l.Tag, Cursor: l.Cursor}
				var err error
				if f.Limit, err = toolLimit(l.Limit); err != nil {
					return nil, err
				}
				if err := checkPatternFilter(f, "tag"); err != nil {
					return nil, err
				}
				page, err := t.store.ListPatterns(ctx, ns, f)
				if err != nil {
					return nil, err
				}
				if n := fitPage(page.Patterns, t.opts.pageBytes); n < len(page.Patterns) {
					f.Limit = n
					if page, err = t.store.ListPatterns(ctx, ns, f); err != nil {
						return nil, err
					}
				}
				if page.Patterns == nil {
					page.Patterns = []*engram.Pattern{}
				}
				return &PatternList{Patterns: page.Patterns, NextCursor: page.NextCursor, Stale: staleOf(ri)}, nil
			}},
		{name: "store_heuristic", in: reflect.TypeFor[storeHeuristicIn](), out: reflect.TypeFor[engram.Heuristic](), required: []string{"condition", "action"},
			desc: "Store (create, or replace by heuristic_id) a rule of thumb: when condition holds, do action, with a confidence (0-1) and evidence.",
			run: func(ctx context.Context, ns engram.Namespace, in any, _ *engram.ReadInfo) (any, error) {
				h := &in.(*storeHeuristicIn).Heuristic
				return h, t.store.PutHeuristic(ctx, ns, h)
			}},
		{name: "memory_status", in: reflect.TypeFor[statusIn](), out: reflect.TypeFor[MemoryStatus](), readOnly: true,
			desc: "How many records the namespace holds, and the state of the storage tiers (lag, staleness).",
			run: func(ctx context.Context, ns engram.Namespace, in any, _ *engram.ReadInfo) (any, error) {
				n, err := t.store.Counts(ctx, ns)
				if err != nil {
					return nil, err
				}
				st, err := storeStatus(ctx, t.store)
				if err != nil {
					return nil, err
				}
				if !seesAll(ctx) {
					st = tenantStatus(st)
				}
				return &MemoryStatus{Namespace: ns, Counts: n, Status: st}, nil
			}},
	}, append(t.recallTools(), t.insightsTools()...)...)
}

// handler decodes a call's arguments into a fresh input, resolves and
// authorises its namespace, runs the tool and renders the result. A failed
// call is logged with its request id and counted by its code.
func (t *mcpTools) handler(tool mcpTool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		out, err := t.call(ctx, tool, req)
		if err != nil {
			_, d := errorDetail(err)
			id := ""
			if req.Extra != nil {
				id = req.Extra.Header.Get(headerRequestID)
			}
			if id == "" {
				id = newRequestID()
			}
			level := slog.LevelInfo
			if StatusOf(d.Code) >= 500 {
				level = slog.LevelError
			}
			t.opts.Logger.LogAttrs(ctx, level, "tool call failed", slog.String("request_id", id), slog.String("tool", tool.name),
				slog.String("code", d.Code), slog.String("field", d.Field), slog.String("error", err.Error()))
			if t.opts.onError != nil {
				t.opts.onError(d.Code)
			}
			return toolError(err), nil
		}
		text, err := json.Marshal(out)
		if err != nil {
			return toolError(err), nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}}, StructuredContent: json.RawMessage(text)}, nil
	}
}

func (t *mcpTools) call(ctx context.Context, tool mcpTool, req *mcp.CallToolRequest) (any, error) {
	in := reflect.New(tool.in)
	args := []byte(req.Params.Arguments)
	if len(args) == 0 || string(args) == "null" {
		args = []byte("{}")
	}
	if err := engram.DecodeJSONBytes(args, in.Interface()); err != nil {
		return nil, err
	}
	var probe struct {
		Namespace *string `json:"namespace"`
	}
	if json.Unmarshal(args, &probe) == nil && probe.Namespace != nil && *probe.Namespace == "" {
		return nil, engram.Invalid("namespace", "is empty; omit it for the session's namespace")
	}
	ns, all, err := t.namespace(req, in.Elem().FieldByName("Namespace").String())
	if err != nil {
		return nil, err
	}
	var ri engram.ReadInfo
	ctx = context.WithValue(ctx, seesAllKey{}, all)
	return tool.run(engram.WithReadInfo(ctx, &ri), ns, in.Interface(), &ri)
}

// unprefix drops prefix from the field of a validation error: a tool whose
// arguments are a record's fields at the top level names them as sent
// ("tool", not "step.tool").
func unprefix(err error, prefix string) error {
	var e *engram.Error
	if err == nil || !errors.As(err, &e) || !strings.HasPrefix(e.Field, prefix) {
		return err
	}
	cp := *e
	cp.Field = strings.TrimPrefix(e.Field, prefix)
	return &cp
}

type seesAllKey struct{}

// seesAll reports whether the tool's caller may see every namespace (a *
// token, or stdio).
func seesAll(ctx context.Context) bool {
	all, _ := ctx.Value(seesAllKey{}).(bool)
	return all
}

// namespace resolves a call's namespace (its argument, else the HTTP
// request's, else the default) and checks the caller may use it; all
// reports whether the caller may use every namespace.
func (t *mcpTools) namespace(req *mcp.CallToolRequest, arg string) (ns engram.Namespace, all bool, err error) {
	var h http.Header
	if req.Extra != nil {
		h = req.Extra.Header
	}
	ns = t.opts.Namespace
	switch {
	case arg != "":
		ns = engram.Namespace(arg)
	case len(h.Values(headerNamespace)) > 0:
		ns = engram.Namespace(h.Get(headerNamespace))
	}
	if err := ns.Validate(); err != nil {
		return "", false, err
	}
	if t.opts.tokens == nil {
		return ns, true, nil
	}
	p, err := t.opts.tokens.authenticate(h)
	if err != nil {
		return "", false, err
	}
	if !p.allows(ns) {
		return "", false, httpError(CodeForbidden, "this token may not use namespace %q", ns)
	}
	return ns, p.all, nil
}

// toolError renders err as a failed tool call whose structured content is
// the HTTP API's error shape.
func toolError(err error) *mcp.CallToolResult {
	_, d := errorDetail(err)
	body, _ := json.Marshal(ErrorBody{Error: d})
	text := d.Code + ": " + d.Message
	if d.Field != "" {
		text = d.Code + ": " + d.Field + ": " + d.Message
	}
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}, StructuredContent: json.RawMessage(body)}
}

func (s *Server) mcpHTTPHandler() http.Handler { return s.mcpHandler }

// buildMCPHandler serves MCP over streamable HTTP, statelessly: every POST
// stands alone, so any engram node can answer it and nothing lingers at
// shutdown. The namespace query parameter is passed to the tools as the
// X-Engram-Namespace header.
func (s *Server) buildMCPHandler() (http.Handler, error) {
	srv, err := NewMCP(s.store, MCPOptions{Version: s.opts.Version, Logger: s.log, tokens: s.opts.Tokens,
		onError: func(code string) { s.metrics.errors.WithLabelValues(code).Inc() }, pageBytes: s.opts.MaxPageBytes})
	if err != nil {
		return nil, err
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless: true, JSONResponse: true, Logger: s.log, MaxRequestBodyBytes: s.opts.MaxBodyBytes,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ns := r.URL.Query()["namespace"]; len(ns) > 0 {
			r.Header.Set(headerNamespace, ns[0])
		}
		r.Header.Set(headerRequestID, requestID(r.Context())) // for the tools' logs
		h.ServeHTTP(w, r)
	}), nil
}
