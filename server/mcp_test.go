package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/server"
)

// bearer adds a token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// mcpSession connects the SDK's client to the server's /mcp endpoint.
func mcpSession(t *testing.T, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: bearer{token, http.DefaultTransport}}
	if token == "" {
		hc = http.DefaultClient
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "engram-test", Version: "0"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// callTool calls a tool that must succeed and decodes its structured result.
func callTool(t *testing.T, s *mcp.ClientSession, name string, args any, out any) {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s: tool error: %v", name, text(res))
	}
	data, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s: structured content %s: %v", name, data, err)
	}
	var fromText, fromStruct any
	json.Unmarshal([]byte(text(res)), &fromText)
	json.Unmarshal(data, &fromStruct)
	if !reflect.DeepEqual(fromText, fromStruct) {
		t.Fatalf("%s: text content differs from the structured content:\n%s\n%s", name, text(res), data)
	}
}

// toolError calls a tool that must fail and returns its structured error.
func toolError(t *testing.T, s *mcp.ClientSession, name string, args any) server.ErrorDetail {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !res.IsError {
		t.Fatalf("%s succeeded, want a tool error: %s", name, text(res))
	}
	data, _ := json.Marshal(res.StructuredContent)
	var b server.ErrorBody
	if err := json.Unmarshal(data, &b); err != nil || b.Error.Code == "" {
		t.Fatalf("%s: error without the error shape: %s", name, data)
	}
	return b.Error
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// TestMCPOverHTTP drives an agent's whole loop through the SDK's client:
// record an episode step by step, complete it, recall it, learn a pattern
// and a heuristic, and check the status.
func TestMCPOverHTTP(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	s := mcpSession(t, url+"/mcp?namespace=agent-a", "")

	tools, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
		if tool.Description == "" || tool.InputSchema == nil {
			t.Errorf("tool %s lacks a description or schema", tool.Name)
		}
	}
	slices.Sort(names)
	want := []string{"add_episode_step", "complete_episode", "create_episode", "get_episode", "list_episodes", "list_patterns",
		"memory_insights", "memory_status", "recall_similar_episodes", "search_memory", "store_heuristic", "store_pattern"}
	if !slices.Equal(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}

	var ep engram.Episode
	callTool(t, s, "create_episode", map[string]any{"task_type": "debugging", "task_description": "Fix the flaky retry loop",
		"context": map[string]any{"language": "go", "domain": "web-api"}, "tags": []string{"flaky"}}, &ep)
	if ep.ID.IsZero() || ep.Context.Domain != "web-api" {
		t.Fatalf("created: %+v", ep)
	}
	var st engram.Step
	callTool(t, s, "add_episode_step", map[string]any{"episode_id": ep.ID, "tool": "grep", "action": "find the retry call sites",
		"parameters": map[string]any{"pattern": "retry"}, "result": map[string]any{"type": "success", "output": "client/retry.go:42"}}, &st)
	if st.StepNumber != 1 || string(st.Parameters) != `{"pattern":"retry"}` {
		t.Fatalf("step: %+v", st)
	}
	var done engram.Episode
	callTool(t, s, "complete_episode", map[string]any{"episode_id": ep.ID, "outcome": map[string]any{"type": "success", "verdict": "the loop honours the deadline"},
		"reward": map[string]any{"total": 0.9}}, &done)
	if !done.Complete() || len(done.Steps) != 1 {
		t.Fatalf("completed: %+v", done)
	}
	var got engram.Episode
	callTool(t, s, "get_episode", map[string]any{"episode_id": ep.ID}, &got)
	if got.ID != ep.ID || got.Outcome.Verdict != "the loop honours the deadline" {
		t.Fatalf("get: %+v", got)
	}
	var list server.EpisodeList
	callTool(t, s, "list_episodes", map[string]any{"tags": []string{"flaky"}, "complete": true}, &list)
	if len(list.Episodes) != 1 {
		t.Fatalf("list: %+v", list)
	}
	var hits server.SearchResult
	callTool(t, s, "search_memory", map[string]any{"query": "deadline"}, &hits)
	if len(hits.Hits) != 1 || *hits.Hits[0].EpisodeID != ep.ID {
		t.Fatalf("search: %+v", hits)
	}
	var p engram.Pattern
	callTool(t, s, "store_pattern", map[string]any{"kind": "tool_sequence", "tools": []string{"grep", "edit", "go test"}, "domain": "web-api"}, &p)
	var pl server.PatternList
	callTool(t, s, "list_patterns", map[string]any{"domain": "web-api"}, &pl)
	if len(pl.Patterns) != 1 || pl.Patterns[0].ID != p.ID {
		t.Fatalf("patterns: %+v", pl)
	}
	var h engram.Heuristic
	callTool(t, s, "store_heuristic", map[string]any{"condition": "a test is flaky", "action": "run it under -race 50 times", "confidence": 0.8}, &h)
	if h.ID.IsZero() {
		t.Fatal("heuristic without id")
	}
	var ms server.MemoryStatus
	callTool(t, s, "memory_status", map[string]any{}, &ms)
	if ms.Namespace != "agent-a" || ms.Counts.Episodes != 1 || ms.Counts.Steps != 1 || ms.Counts.Patterns != 1 || ms.Counts.Heuristics != 1 || ms.Status == nil {
		t.Fatalf("status: %+v", ms)
	}
	// The records went to the session's namespace and nowhere else.
	var other server.MemoryStatus
	callTool(t, s, "memory_status", map[string]any{"namespace": "agent-b"}, &other)
	if other.Counts.Episodes != 0 {
		t.Fatalf("agent-b sees %d episodes", other.Counts.Episodes)
	}

	t.Run("InputsValidatedLikeHTTP", func(t *testing.T) {
		for _, c := range []struct {
			tool  string
			args  map[string]any
			code  string
			field string
		}{
			{"create_episode", map[string]any{"task_description": " "}, engram.EINVALID, "task_description"},
			{"create_episode", map[string]any{"task_description": "x", "task_descripton": "typo"}, engram.EINVALID, "task_descripton"},
			{"create_episode", map[string]any{"task_description": 42}, engram.EINVALID, "task_description"},
			{"add_episode_step", map[string]any{"episode_id": "nope", "tool": "t", "action": "a"}, engram.EINVALID, "episode_id"},
			{"add_episode_step", map[string]any{"episode_id": ep.ID, "tool": "t", "action": "a"}, engram.ECONFLICT, "episode_id"},
			{"get_episode", map[string]any{"episode_id": engram.NewEpisodeID()}, engram.ENOTFOUND, ""},
			{"search_memory", map[string]any{"query": "?!"}, engram.EINVALID, "query"},
			{"list_episodes", map[string]any{"limit": 5000}, engram.EINVALID, "limit"},
			{"store_pattern", map[string]any{"kind": "error_recovery", "error_type": "e", "tools": []string{"x"}}, engram.EINVALID, "tools"},
			{"store_heuristic", map[string]any{"condition": "c", "action": "a", "confidence": 7}, engram.EINVALID, "confidence"},
			{"memory_status", map[string]any{"namespace": "Not Valid"}, engram.EINVALID, "namespace"},
		} {
			d := toolError(t, s, c.tool, c.args)
			if d.Code != c.code || d.Field != c.field {
				t.Errorf("%s %v: error %+v, want %s %q", c.tool, c.args, d, c.code, c.field)
			}
		}
	})
}

func TestMCPTokens(t *testing.T) {
	tokens, err := server.ParseTokens("alpha-token-0123456789abcdef=alpha")
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, openSQL(t), server.Options{Tokens: tokens})
	// Without a token the endpoint is closed.
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "0"}, nil)
	if _, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url + "/mcp", DisableStandaloneSSE: true, MaxRetries: -1}, nil); err == nil {
		t.Fatal("connected to /mcp without a token")
	}
	s := mcpSession(t, url+"/mcp?namespace=alpha", "alpha-token-0123456789abcdef")
	var ep engram.Episode
	callTool(t, s, "create_episode", map[string]any{"task_description": "in alpha"}, &ep)
	d := toolError(t, s, "get_episode", map[string]any{"episode_id": ep.ID, "namespace": "beta"})
	if d.Code != server.CodeForbidden {
		t.Fatalf("alpha token reading beta: %+v", d)
	}
	d = toolError(t, s, "create_episode", map[string]any{"task_description": "into beta", "namespace": "beta"})
	if d.Code != server.CodeForbidden {
		t.Fatalf("alpha token writing beta: %+v", d)
	}
}

// lockedBuffer is a log sink shared with the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMCPHostileArguments: filter values no record can have are errors
// naming the argument, not empty lists; an empty namespace is an error, not
// "default"; an explicit limit of 0 is refused; a step's fields are named as
// sent. Every failure is logged with a request id and counted in
// engram_errors_total; every tool declares an output schema.
func TestMCPHostileArguments(t *testing.T) {
	var logs lockedBuffer
	url := startServer(t, openSQL(t), server.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	s := mcpSession(t, url+"/mcp?namespace=agent-a", "")
	tools, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		if tool.OutputSchema == nil {
			t.Errorf("tool %s declares no outputSchema", tool.Name)
		}
	}
	var ep engram.Episode
	callTool(t, s, "create_episode", map[string]any{"task_description": "x"}, &ep)
	cases := []struct {
		tool  string
		args  map[string]any
		field string
	}{
		{"list_patterns", map[string]any{"kind": "telepathy"}, "kind"},
		{"list_patterns", map[string]any{"tag": "Not a tag!"}, "tag"},
		{"list_episodes", map[string]any{"task_type": "juggling"}, "task_type"},
		{"list_episodes", map[string]any{"tags": []string{"ok-tag", "no spaces allowed"}}, "tags[1]"},
		{"list_episodes", map[string]any{"limit": 0}, "limit"},
		{"search_memory", map[string]any{"query": "x", "kinds": []string{"episode", "telepathy"}}, "kinds[1]"},
		{"search_memory", map[string]any{"query": "x", "limit": 0}, "limit"},
		{"memory_status", map[string]any{"namespace": ""}, "namespace"},
		{"create_episode", map[string]any{"task_description": "x", "namespace": ""}, "namespace"},
		{"add_episode_step", map[string]any{"episode_id": ep.ID, "tool": "t"}, "action"},
		{"create_episode", map[string]any{"task_description": "x", "TASK_DESCRIPTION": "y"}, "TASK_DESCRIPTION"},
		{"create_episode", map[string]any{"task_description": "x", "steps": []any{map[string]any{"tool": 1}}}, "steps[0].tool"},
	}
	for _, c := range cases {
		d := toolError(t, s, c.tool, c.args)
		if d.Code != engram.EINVALID || d.Field != c.field {
			t.Errorf("%s %v: %+v, want invalid %q", c.tool, c.args, d, c.field)
		}
	}
	var counts server.MemoryStatus
	callTool(t, s, "memory_status", map[string]any{"namespace": "default"}, &counts)
	if counts.Counts.Episodes != 0 {
		t.Errorf("an empty namespace wrote to default: %+v", counts.Counts)
	}
	r := do(t, "GET", url+"/metrics", nil)
	if want := fmt.Sprintf(`engram_errors_total{code="invalid"} %d`, len(cases)); !strings.Contains(string(r.body), want) {
		t.Errorf("metrics lack %q", want)
	}
	failed := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "tool call failed" {
			continue
		}
		failed++
		if id, _ := rec["request_id"].(string); id == "" || rec["tool"] == "" || rec["code"] != "invalid" {
			t.Errorf("tool error logged without request id, tool or code: %s", line)
		}
	}
	if failed != len(cases) {
		t.Errorf("%d tool errors logged, want %d", failed, len(cases))
	}
}
