package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

type openAPIDoc struct {
	OpenAPI    string                                          `json:"openapi"`
	Paths      map[string]map[string]openAPIOp                 `json:"paths"`
	Components struct{ Schemas map[string]*jsonschema.Schema } `json:"components"`
}

type openAPIOp struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func fetchDoc(t *testing.T, url string) *openAPIDoc {
	t.Helper()
	status, _, body := send(t, "GET", url+"/v1/openapi.json", "")
	if status != 200 {
		t.Fatalf("openapi.json: %d %s", status, body)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// TestOpenAPIMatchesRoutes checks the document against the route table both
// ways: every route is documented with its parameters, body and statuses,
// and everything documented is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	url, srv := serve(t, nil, Options{})
	doc := fetchDoc(t, url)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	seen := map[string]bool{}
	for _, rt := range srv.routes {
		if rt.NoDoc {
			continue
		}
		op, ok := doc.Paths[docPath(rt.Path)][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s is not documented", rt.Method, rt.Path)
			continue
		}
		seen[rt.Method+" "+docPath(rt.Path)] = true
		if op.OperationID != rt.Name {
			t.Errorf("%s: operationId %q", rt.Name, op.OperationID)
		}
		var query, path []string
		refs := 0
		for _, p := range op.Parameters {
			switch {
			case strings.HasPrefix(p.Ref, "#/components/parameters/namespace"):
				refs++
			case p.Ref != "":
			case p.In == "query":
				query = append(query, p.Name)
			case p.In == "path":
				path = append(path, p.Name)
			}
		}
		var want []string
		for _, p := range rt.Query {
			want = append(want, p.Name)
		}
		if !slices.Equal(query, want) {
			t.Errorf("%s: documented query %v, handler reads %v", rt.Name, query, want)
		}
		if !slices.Equal(path, rt.pathParams()) {
			t.Errorf("%s: documented path params %v, route has %v", rt.Name, path, rt.pathParams())
		}
		if (refs > 0) != (rt.Scope == scopeNamespace) {
			t.Errorf("%s: namespace parameters documented: %v, route scope %v", rt.Name, refs > 0, rt.Scope)
		}
		if (op.RequestBody != nil) != (rt.Body != nil) {
			t.Errorf("%s: request body documented: %v", rt.Name, op.RequestBody != nil)
		} else if rt.Body != nil {
			if ref := op.RequestBody.Content["application/json"].Schema.Ref; ref != "#/components/schemas/"+schemaName(rt.Body)+"Input" {
				t.Errorf("%s: body schema %q", rt.Name, ref)
			}
		}
		if _, ok := op.Responses[strconv.Itoa(rt.Status)]; !ok {
			t.Errorf("%s: success status %d not documented", rt.Name, rt.Status)
		}
		for code := range op.Responses {
			if code != strconv.Itoa(rt.Status) && op.Responses[code].Content["application/json"].Schema.Ref != "#/components/schemas/ErrorBody" {
				t.Errorf("%s: response %s is neither the success nor the error shape", rt.Name, code)
			}
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !seen[strings.ToUpper(m)+" "+p] {
				t.Errorf("%s %s is documented but not routed", m, p)
			}
		}
	}
}

// TestOpenAPIDescribesResponses calls every documented route that answers
// JSON and validates the answer against the schema the document gives it:
// the schemas describe what the handlers really send.
func TestOpenAPIDescribesResponses(t *testing.T) {
	url, srv := serve(t, newRecallingStore(t), Options{})
	doc := fetchDoc(t, url)
	covered := map[string]bool{}
	validate := func(name, ref string, body []byte) {
		t.Helper()
		sc := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		if sc == nil {
			t.Fatalf("%s: no schema %q", name, ref)
		}
		rs, err := sc.Resolve(nil)
		if err != nil {
			t.Fatalf("%s: resolve %s: %v", name, ref, err)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := rs.Validate(v); err != nil {
			t.Errorf("%s: the answer does not match %s: %v\n%s", name, ref, err, body)
		}
	}
	requests := map[string]bool{}
	call := func(name, method, path string, body any) []byte {
		t.Helper()
		var r io.Reader
		var sent []byte
		if body != nil {
			sent, _ = json.Marshal(body)
			r = strings.NewReader(string(sent))
		}
		req, _ := http.NewRequest(method, url+path, r)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var rt *route
		for _, x := range srv.routes {
			if x.Name == name {
				rt = x
			}
		}
		if rt == nil || resp.StatusCode != rt.Status {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		op := doc.Paths[docPath(rt.Path)][strings.ToLower(rt.Method)]
		if sent != nil {
			// The request the server accepted is one the document allows.
			validate(name+" request", op.RequestBody.Content["application/json"].Schema.Ref, sent)
			requests[name] = true
		}
		if ref := op.Responses[strconv.Itoa(rt.Status)].Content["application/json"].Schema.Ref; ref != "" {
			validate(name, ref, data)
			covered[name] = true
		}
		return data
	}
	ep, other := storetest.SampleEpisode(1), storetest.SampleEpisode(2)
	var created engram.Episode
	json.Unmarshal(call("createEpisode", "POST", "/v1/episodes", ep), &created)
	var batch EpisodeBatch
	json.Unmarshal(call("createEpisodes", "POST", "/v1/episodes:batch", EpisodeBatch{Episodes: []*engram.Episode{other}}), &batch)
	id, id2 := created.ID.String(), batch.Episodes[0].ID.String()
	call("getEpisode", "GET", "/v1/episodes/"+id, nil)
	call("listEpisodes", "GET", "/v1/episodes?limit=1", nil)
	created.TaskDescription = "updated"
	call("updateEpisode", "PUT", "/v1/episodes/"+id, created)
	call("appendStep", "POST", "/v1/episodes/"+id+"/steps", engram.Step{Tool: "t", Action: "a", Parameters: json.RawMessage(`{"x":1}`)})
	call("completeEpisode", "POST", "/v1/episodes/"+id+"/complete", storetest.SampleCompletion(ep.StartTime.Add(1e9)))
	call("addRelationship", "POST", "/v1/relationships", map[string]any{"from": id, "to": id2, "type": "follows"})
	call("listRelationships", "GET", "/v1/episodes/"+id+"/relationships", nil)
	var p engram.Pattern
	for _, sp := range storetest.SamplePatterns() {
		json.Unmarshal(call("putPattern", "POST", "/v1/patterns", sp), &p)
	}
	call("getPattern", "GET", "/v1/patterns/"+p.ID.String(), nil)
	call("listPatterns", "GET", "/v1/patterns", nil)
	var h engram.Heuristic
	json.Unmarshal(call("putHeuristic", "POST", "/v1/heuristics", map[string]any{"condition": "c", "action": "a", "confidence": 0.5,
		"evidence": map[string]any{"episode_ids": []string{id}, "success_rate": 1, "sample_size": 1}}), &h)
	call("getHeuristic", "GET", "/v1/heuristics/"+h.ID.String(), nil)
	call("listHeuristics", "GET", "/v1/heuristics", nil)
	call("putEmbedding", "POST", "/v1/embeddings", map[string]any{"item_id": id, "item_type": "episode", "vector": []float32{1, 2}})
	call("putEmbeddings", "POST", "/v1/embeddings:batch", map[string]any{"embeddings": []any{map[string]any{"item_id": id, "item_type": "episode", "model": "m/v2", "vector": []float32{3}}}})
	call("getEmbedding", "GET", "/v1/embeddings/episode/"+id+"/m%2Fv2", nil)
	call("listEmbeddings", "GET", "/v1/embeddings", nil)
	call("putVectors", "POST", "/v1/vectors:put?namespace=vec", map[string]any{"embeddings": []any{
		map[string]any{"item_id": id, "item_type": "pattern", "vector": []float32{1, 2}, "ttl_ns": int64(3600e9), "metadata": map[string]string{"src": "a"}},
		map[string]any{"item_id": id2, "item_type": "pattern", "vector": []float32{3, 4}}}})
	call("getVectors", "POST", "/v1/vectors:get?namespace=vec", map[string]any{"keys": []string{"pattern/" + id + "/default", "pattern/" + id + "/nope"}})
	call("vectorNamespace", "GET", "/v1/vectors?namespace=vec", nil)
	call("vectorNamespaces", "GET", "/v1/vectors/namespaces", nil)
	call("flushVectors", "POST", "/v1/vectors:flush", nil)
	call("sweepVectors", "POST", "/v1/vectors:sweep", nil)
	call("deleteVectors", "POST", "/v1/vectors:delete?namespace=vec", map[string]any{"keys": []string{"pattern/" + id2 + "/default", "pattern/" + id2 + "/nope"}})
	call("clearVectors", "DELETE", "/v1/vectors?namespace=vec&confirm=vec", nil)
	call("search", "GET", "/v1/search?q=retry", nil)
	call("recall", "POST", "/v1/recall", map[string]any{"vector": []float32{1, 2}, "text": "retry", "half_life": "1h"})
	call("counts", "GET", "/v1/counts", nil)
	call("insights", "GET", "/v1/insights?since=-1d&bucket=hour&top=5", nil)
	call("changes", "GET", "/v1/changes?after=1&limit=5", nil)
	call("lastSeq", "GET", "/v1/changes/seq", nil)
	call("namespaces", "GET", "/v1/namespaces", nil)
	call("status", "GET", "/v1/status", nil)
	call("sync", "POST", "/v1/sync", map[string]any{"full": true, "validate": true})
	call("healthz", "GET", "/healthz", nil)
	call("readyz", "GET", "/readyz", nil)
	call("removeRelationship", "DELETE", "/v1/relationships/"+id+"/"+id2+"/follows", nil)
	call("deleteEmbedding", "DELETE", "/v1/embeddings/episode/"+id+"/default", nil)
	call("deletePattern", "DELETE", "/v1/patterns/"+p.ID.String(), nil)
	call("deleteHeuristic", "DELETE", "/v1/heuristics/"+h.ID.String(), nil)
	call("deleteEpisode", "DELETE", "/v1/episodes/"+id, nil)
	// The error shape too.
	status, _, body := send(t, "GET", url+"/v1/episodes/"+id, "")
	if status != 404 {
		t.Fatalf("deleted episode: %d", status)
	}
	validate("error", "#/components/schemas/ErrorBody", body)
	for _, rt := range srv.routes {
		if rt.Resp != nil && !rt.NoDoc && !covered[rt.Name] {
			t.Errorf("route %s answers JSON but no request here checked it", rt.Name)
		}
		if rt.Body != nil && !requests[rt.Name] {
			t.Errorf("route %s takes a body but no request here checked it against the document", rt.Name)
		}
	}
}

// TestOpenAPITellsTheTruth: the document lists what a request must carry,
// describes since/until as the server parses them (a time or a date), says
// whether this server needs a token, has a servers entry, and says how to
// address an embedding model whose name has a /.
func TestOpenAPITellsTheTruth(t *testing.T) {
	raw := func(url, token string) map[string]any {
		_, _, body := send(t, "GET", url+"/v1/openapi.json", token)
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	open, _ := serve(t, nil, Options{})
	doc := raw(open, "")
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, want := range map[string][]string{
		"EpisodeInput": {"task_description"}, "StepInput": {"tool", "action"}, "CompletionInput": {"outcome"},
		"PatternInput": {"kind"}, "HeuristicInput": {"condition", "action"}, "EmbeddingInput": {"item_id", "item_type", "vector"},
		"RelationshipInput": {"from", "to", "type"}, "EpisodeBatchInput": {"episodes"},
	} {
		sc, _ := schemas[name].(map[string]any)
		got, _ := json.Marshal(sc["required"])
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Errorf("%s: required %s, want %s", name, got, wantJSON)
		}
	}
	if req, _ := schemas["Episode"].(map[string]any)["required"].([]any); !slices.Contains(req, any("episode_id")) {
		t.Errorf("the Episode answer does not require episode_id: %v", req)
	}
	if sec, _ := json.Marshal(doc["security"]); string(sec) != `[{}]` {
		t.Errorf("a server without tokens documents security %s", sec)
	}
	if servers, _ := doc["servers"].([]any); len(servers) == 0 {
		t.Error("no servers entry")
	}
	paths := doc["paths"].(map[string]any)
	params := paths["/v1/episodes"].(map[string]any)["get"].(map[string]any)["parameters"].([]any)
	for _, p := range params {
		p := p.(map[string]any)
		if p["name"] == "since" || p["name"] == "until" {
			b, _ := json.Marshal(p["schema"])
			if !strings.Contains(string(b), `"date"`) || !strings.Contains(string(b), `"date-time"`) {
				t.Errorf("%s documented as %s; the server takes a time or a date", p["name"], b)
			}
		}
	}
	for _, p := range params {
		p := p.(map[string]any)
		b, _ := json.Marshal(p["schema"])
		if p["name"] == "limit" && !strings.Contains(string(b), `"minimum":1`) {
			t.Errorf("limit documented as %s; the server takes 1-1000", b)
		}
		if p["name"] == "tag" && !strings.Contains(string(b), `"maxItems":32`) {
			t.Errorf("tag documented as %s; the server takes at most 32", b)
		}
	}
	emb := paths["/v1/embeddings/{item_type}/{item_id}/{model}"].(map[string]any)["get"].(map[string]any)["parameters"].([]any)
	found := false
	for _, p := range emb {
		if p := p.(map[string]any); p["name"] == "model" && strings.Contains(fmt.Sprint(p["description"]), "%2F") {
			found = true
		}
	}
	if !found {
		t.Error("the model path parameter does not say how to send a model with /")
	}
	withTokens, _ := serve(t, nil, Options{Tokens: mustTokens(t, tokenAll+"=*")})
	if sec, _ := json.Marshal(raw(withTokens, tokenAll)["security"]); string(sec) != `[{"bearer":[]}]` {
		t.Errorf("a server with tokens documents security %s", sec)
	}
}

// syncingStore adds a Syncer to a store, as a tiered store has.
type syncingStore struct{ engram.Store }

func (s syncingStore) Sync(ctx context.Context, opts engram.SyncOptions) (*engram.SyncReport, error) {
	return &engram.SyncReport{Full: opts.Full, Validation: &engram.ValidationReport{OK: true}}, nil
}

func openTestStore(t *testing.T) engram.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "engram.db"), Synchronous: sqlstore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
