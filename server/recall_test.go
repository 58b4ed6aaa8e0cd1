package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/server"
)

func openRecallMemory(t *testing.T) *memory.Memory {
	t.Helper()
	m, err := memory.Open(context.Background(), memory.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// seedRecall stores three episodes with 3-d embeddings along the axes.
func seedRecall(t *testing.T, s engram.Store) []*engram.Episode {
	t.Helper()
	ctx := context.Background()
	var eps []*engram.Episode
	for i, d := range []string{"retry the flaky network call", "parse the config file", "render the dashboard"} {
		ep := &engram.Episode{TaskType: engram.TaskDebugging, TaskDescription: d, Tags: []string{[]string{"net", "cfg", "ui"}[i]}}
		if err := s.CreateEpisode(ctx, "default", ep); err != nil {
			t.Fatal(err)
		}
		v := make([]float32, 3)
		v[i] = 1
		if err := s.PutEmbeddings(ctx, "default", []*engram.Embedding{{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: v}}); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	return eps
}

func TestRecallOverHTTP(t *testing.T) {
	m := openRecallMemory(t)
	url := startServer(t, m, server.Options{})
	eps := seedRecall(t, m)

	body := `{"vector":[0.1,0.9,0],"text":"config","limit":2,"item_types":["episode"],"filter":{"task_type":"debugging"},"half_life":"72h","fusion":"rrf"}`
	r := do(t, "POST", url+"/v1/recall?namespace=default", bytes.NewReader([]byte(body)))
	if r.status != 200 {
		t.Fatalf("recall: %d %s", r.status, r.body)
	}
	var raw struct {
		Hits []struct {
			ItemType string                    `json:"item_type"`
			ItemID   string                    `json:"item_id"`
			Score    float64                   `json:"score"`
			Signals  map[string]map[string]any `json:"signals"`
			Record   map[string]any            `json:"record"`
		} `json:"hits"`
		Stale *bool `json:"stale"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Hits) != 2 || raw.Stale == nil || *raw.Stale {
		t.Fatalf("answer: %s", r.body)
	}
	top := raw.Hits[0]
	if top.ItemType != "episode" || top.ItemID != eps[1].ID.String() || top.Record["task_description"] != eps[1].TaskDescription ||
		top.Signals["vector"]["rank"] != 1.0 || top.Signals["text"]["rank"] != 1.0 || top.Signals["recency"] == nil {
		t.Fatalf("top hit: %+v", top)
	}

	// The Go client speaks the same API and gets the same answer.
	c := newClient(t, url, "")
	res, err := c.Recall(context.Background(), "default", engram.RecallQuery{Vector: []float32{0.1, 0.9, 0}, Text: "config", Limit: 2,
		Filter: engram.EpisodeFilter{TaskType: engram.TaskDebugging}, HalfLife: 72 * 3600e9})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 2 || res.Hits[0].Episode == nil || res.Hits[0].Episode.ID != eps[1].ID || res.Hits[0].Score != top.Score {
		t.Fatalf("client: %+v", res)
	}
	// Filters hold over HTTP: only the "ui" tag.
	res, err = c.Recall(context.Background(), "default", engram.RecallQuery{Vector: []float32{1, 0, 0}, Filter: engram.EpisodeFilter{Tags: []string{"ui"}}})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].ItemID != eps[2].ID.UUID {
		t.Fatalf("tag filter: %+v %v", res, err)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"limit":3}`, "vector"},
		{`{"vector":[1,0]}`, "vector"},
		{`{"text":"x","limit":1000}`, "limit"},
		{`{"text":"x","fusion":"max"}`, "fusion"},
		{`{"text":"x","half_life":"soon"}`, "half_life"},
		{`{"text":"x","filter":{"tags":["a b"]}}`, "filter.tags[0]"},
		{`{"text":"x","filter":{"near":{"lat":1,"lon":2}}}`, "filter.near.km"},
		{`{"text":"x","Text":"y"}`, "Text"},
	} {
		wantError(t, do(t, "POST", url+"/v1/recall?namespace=default", bytes.NewReader([]byte(tc.body))), 400, engram.EINVALID, tc.field)
	}
}

func TestRecallNotImplementedWithoutRecaller(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	wantError(t, do(t, "POST", url+"/v1/recall?namespace=default", bytes.NewReader([]byte(`{"text":"x"}`))), 501, server.CodeNotImplemented, "")
}

func TestRecallOverMCP(t *testing.T) {
	m := openRecallMemory(t)
	url := startServer(t, m, server.Options{})
	eps := seedRecall(t, m)
	s := mcpSession(t, url+"/mcp", "")

	var hybrid struct {
		Hits     []json.RawMessage  `json:"hits"`
		Recalled []engram.RecallHit `json:"recalled"`
	}
	callTool(t, s, "search_memory", map[string]any{"query": "config", "vector": []float32{0, 0.2, 1}, "mode": "hybrid", "limit": 3}, &hybrid)
	if len(hybrid.Recalled) != 3 || len(hybrid.Hits) != 0 {
		t.Fatalf("hybrid: %+v", hybrid)
	}
	for _, h := range hybrid.Recalled {
		// "config" matches eps[1] only; the vector is nearest eps[2].
		if h.ItemID == eps[1].ID.UUID && (h.Signals.Text == nil || h.Signals.Text.Rank != 1) {
			t.Fatalf("eps[1] lacks its text signal: %+v", h.Signals)
		}
		if h.ItemID == eps[2].ID.UUID && (h.Signals.Vector == nil || h.Signals.Vector.Rank != 1 || h.Signals.Text != nil) {
			t.Fatalf("eps[2]: %+v", h.Signals)
		}
	}
	var vec struct {
		Recalled []engram.RecallHit `json:"recalled"`
	}
	callTool(t, s, "search_memory", map[string]any{"vector": []float32{1, 0, 0}, "mode": "vector", "limit": 1, "filter": map[string]any{"tags": []string{"net"}}}, &vec)
	if len(vec.Recalled) != 1 || vec.Recalled[0].ItemID != eps[0].ID.UUID || vec.Recalled[0].Episode == nil {
		t.Fatalf("vector mode: %+v", vec)
	}

	// Nearest to eps[0]'s own embedding, leaving eps[0] out.
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	far := &engram.Episode{TaskType: engram.TaskTesting, TaskDescription: "near the first"}
	must(m.CreateEpisode(context.Background(), "default", far))
	must(m.PutEmbeddings(context.Background(), "default", []*engram.Embedding{{ItemID: far.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{0.9, 0.1, 0}}}))
	var sim struct {
		Hits []engram.RecallHit `json:"hits"`
	}
	callTool(t, s, "recall_similar_episodes", map[string]any{"episode_id": eps[0].ID.String(), "limit": 2}, &sim)
	if len(sim.Hits) != 2 || sim.Hits[0].ItemID != far.ID.UUID {
		t.Fatalf("similar: %+v", sim)
	}
	for _, h := range sim.Hits {
		if h.ItemID == eps[0].ID.UUID {
			t.Fatal("recall_similar_episodes returned the episode asked about")
		}
	}
	for _, tc := range []struct {
		tool  string
		args  map[string]any
		field string
	}{
		{"search_memory", map[string]any{"query": "x", "mode": "fuzzy"}, "mode"},
		{"search_memory", map[string]any{"query": "x", "mode": "vector"}, "vector"},
		{"search_memory", map[string]any{"vector": []float32{1, 0}, "mode": "vector"}, "vector"},
		{"recall_similar_episodes", map[string]any{"episode_id": far.ID.String(), "model": "other"}, "episode_id"},
	} {
		if e := toolError(t, s, tc.tool, tc.args); e.Field != tc.field {
			t.Errorf("%s %v: error %+v, want one naming %s", tc.tool, tc.args, e, tc.field)
		}
	}
}
