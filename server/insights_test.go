package server_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/server"
)

// seedInsights stores, in "default", two debugging episodes an hour apart
// (one failed after a refused connection) and an open testing one.
func seedInsights(t *testing.T, s engram.Store, start time.Time) {
	t.Helper()
	ctx := context.Background()
	for i, tt := range []engram.TaskType{engram.TaskDebugging, engram.TaskDebugging, engram.TaskTesting} {
		ep := &engram.Episode{TaskType: tt, TaskDescription: "task", StartTime: start.Add(time.Duration(i) * time.Hour), Tags: []string{"net"},
			Steps: []engram.Step{{Tool: "http_get", Action: "fetch", LatencyMS: int64(100 * (i + 1)), Result: &engram.StepResult{Type: engram.ResultError, Message: "connection refused"}}}}
		if err := s.CreateEpisode(ctx, "default", ep); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			continue
		}
		end := ep.StartTime.Add(time.Minute)
		out := engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}
		if i == 1 {
			out = engram.Outcome{Type: engram.OutcomeFailure, Reason: "gave up"}
		}
		if _, err := s.CompleteEpisode(ctx, "default", ep.ID, &engram.Completion{EndTime: &end, Outcome: out}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutPattern(ctx, "default", &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "refused", SuccessRate: 0.5}); err != nil {
		t.Fatal(err)
	}
}

func getInsights(t *testing.T, base, query string) engram.Insights {
	t.Helper()
	r := do(t, "GET", base+"/v1/insights?"+query, nil)
	if r.status != 200 {
		t.Fatalf("insights?%s: %d %s", query, r.status, r.body)
	}
	var in engram.Insights
	if err := json.Unmarshal(r.body, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestInsightsOverHTTP(t *testing.T) {
	s := openSQL(t)
	base := startServer(t, s, server.Options{})
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	seedInsights(t, s, start)

	q := url.Values{"namespace": {"default"}, "since": {"2026-03-02T09:30:00Z"}, "until": {"2026-03-02"}, "bucket": {"hour"}, "top": {"1"}}
	// until before since: the store's check, naming since.
	wantError(t, do(t, "GET", base+"/v1/insights?"+q.Encode(), nil), 400, engram.EINVALID, "since")
	q.Set("until", "2026-03-03")
	in := getInsights(t, base, q.Encode())
	if in.Namespace != "default" || in.Bucket != "hour" || !in.Since.Equal(start.Add(-30*time.Minute)) || len(in.Timeline) != 15 {
		t.Fatalf("window: %s %s %v, %d buckets", in.Namespace, in.Bucket, in.Since, len(in.Timeline))
	}
	if in.Totals.Episodes != 3 || in.Totals.Completed != 2 || in.Totals.SuccessRate != 0.5 || in.Totals.FailureRate != 0.5 {
		t.Fatalf("totals: %+v", in.Totals)
	}
	// top=1 keeps one row of each ranked list: the debugging type is not
	// ranked (every task type is listed).
	if len(in.ByTaskType) != 2 || in.ByTaskType[0].TaskType != engram.TaskDebugging || len(in.Errors) != 1 || len(in.ByTool) != 1 {
		t.Fatalf("lists: %+v %+v %+v", in.ByTaskType, in.Errors, in.ByTool)
	}
	if e := in.Errors[0]; e.Source != "step" || e.Tool != "http_get" || e.Count != 3 || len(e.Recoveries) != 1 {
		t.Fatalf("errors: %+v", in.Errors)
	}
	if tl := in.Timeline; tl[0].Episodes != 0 || !tl[0].BucketStart.Equal(start.Add(-time.Hour)) || tl[1].Episodes != 1 || tl[1].SuccessRate != 1 ||
		tl[2].Episodes != 1 || tl[2].SuccessRate != 0 || tl[3].Episodes != 1 || tl[3].Completed != 0 || tl[4].Episodes != 0 {
		t.Fatalf("timeline: %+v", tl)
	}
	if tool := in.ByTool[0]; tool.LatencyMSP50 != 200 || tool.LatencyMSP95 != 300 || tool.ErrorRate != 1 {
		t.Fatalf("by tool: %+v", tool)
	}

	// Durations from now: the window ends now and starts 400 days ago.
	before := time.Now()
	in = getInsights(t, base, "since=-400d&until=-0s")
	after := time.Now()
	if in.Until.Before(before) || in.Until.After(after) || in.Since.Before(before.AddDate(0, 0, -400)) || in.Since.After(after.AddDate(0, 0, -400)) {
		t.Fatalf("since -400d until -0s at %v..%v: %v to %v", before, after, in.Since, in.Until)
	}
	in = getInsights(t, base, "since=-36h")
	if in.Since.Before(before.Add(-36*time.Hour)) || in.Since.After(time.Now().Add(-36*time.Hour)) {
		t.Fatalf("since -36h: %v", in.Since)
	}

	for _, c := range []struct{ query, field string }{
		{"bucket=month", "bucket"},
		{"top=0", "top"},
		{"top=201", "top"},
		{"top=x", "top"},
		{"since=yesterday", "since"},
		{"until=7", "until"},
		{"since=-3000h&bucket=hour", "bucket"},
		{"limit=5", "limit"},
	} {
		wantError(t, do(t, "GET", base+"/v1/insights?"+c.query, nil), 400, engram.EINVALID, c.field)
	}
}

// insightlessStore is a store without the optional interfaces.
type insightlessStore struct{ engram.Store }

func TestInsightsNotImplemented(t *testing.T) {
	base := startServer(t, insightlessStore{openSQL(t)}, server.Options{})
	wantError(t, do(t, "GET", base+"/v1/insights", nil), 501, server.CodeNotImplemented, "")
	s := mcpSession(t, base+"/mcp", "")
	if d := toolError(t, s, "memory_insights", map[string]any{}); d.Code != server.CodeNotImplemented {
		t.Fatalf("memory_insights without an Insighter: %+v", d)
	}
}

func TestInsightsOverMCP(t *testing.T) {
	st := openSQL(t)
	base := startServer(t, st, server.Options{})
	seedInsights(t, st, time.Now().UTC().Add(-3*time.Hour))
	s := mcpSession(t, base+"/mcp?namespace=default", "")
	var in engram.Insights
	callTool(t, s, "memory_insights", map[string]any{"since": "-1d", "bucket": "hour", "top": 5}, &in)
	if in.Totals.Episodes != 3 || in.Bucket != "hour" || len(in.Timeline) < 24 || len(in.Patterns) != 1 || in.Patterns[0].Summary != "refused" {
		t.Fatalf("memory_insights: totals %+v, bucket %s, %d buckets, patterns %+v", in.Totals, in.Bucket, len(in.Timeline), in.Patterns)
	}
	for _, c := range []struct {
		args  map[string]any
		field string
	}{
		{map[string]any{"top": 0}, "top"},
		{map[string]any{"since": "soon"}, "since"},
		{map[string]any{"bucket": "year"}, "bucket"},
		{map[string]any{"since": "-1d", "until": "-2d"}, "since"},
	} {
		if d := toolError(t, s, "memory_insights", c.args); d.Code != engram.EINVALID || d.Field != c.field {
			t.Errorf("%v: %+v, want invalid %s", c.args, d, c.field)
		}
	}
}

// TestInsightsDocumented: the OpenAPI document gives since and until as a
// time, a date or a duration (whose pattern takes what the server takes),
// bucket's values, top's range and the 501.
func TestInsightsDocumented(t *testing.T) {
	base := startServer(t, openSQL(t), server.Options{})
	r := do(t, "GET", base+"/v1/openapi.json", nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string         `json:"name"`
				Schema map[string]any `json:"schema"`
			} `json:"parameters"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	op, ok := doc.Paths["/v1/insights"]["get"]
	if !ok {
		t.Fatal("GET /v1/insights is not documented")
	}
	if _, ok := op.Responses["501"]; !ok {
		t.Error("501 is not documented")
	}
	found := 0
	for _, p := range op.Parameters {
		b, _ := json.Marshal(p.Schema)
		switch p.Name {
		case "since", "until":
			found++
			var pattern string
			for _, alt := range p.Schema["anyOf"].([]any) {
				if s, ok := alt.(map[string]any)["pattern"].(string); ok {
					pattern = s
				}
			}
			re, err := regexp.Compile(pattern)
			if err != nil || !strings.Contains(string(b), `"date-time"`) || !strings.Contains(string(b), `"date"`) {
				t.Fatalf("%s documented as %s", p.Name, b)
			}
			for _, s := range []string{"-7d", "-36h", "1h30m", "-0s"} {
				if !re.MatchString(s) {
					t.Errorf("%s's pattern refuses %q, which the server takes", p.Name, s)
				}
			}
			if re.MatchString("yesterday") {
				t.Errorf("%s's pattern takes yesterday", p.Name)
			}
		case "bucket":
			found++
			if !strings.Contains(string(b), `"enum":["hour","day","week"]`) {
				t.Errorf("bucket documented as %s", b)
			}
		case "top":
			found++
			if !strings.Contains(string(b), `"maximum":200`) || !strings.Contains(string(b), `"minimum":1`) {
				t.Errorf("top documented as %s", b)
			}
		}
	}
	if found != 4 {
		t.Errorf("%d of since, until, bucket, top documented", found)
	}
}

// TestClientInsights: client.Insights answers what the store computes, and
// the store's errors arrive with their code and field.
func TestClientInsights(t *testing.T) {
	st := openSQL(t)
	base := startServer(t, st, server.Options{})
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	seedInsights(t, st, start)
	c, err := client.New(base, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	q := engram.InsightsQuery{Since: start.Add(-time.Hour), Until: start.Add(5 * time.Hour), Bucket: engram.BucketHour, Top: 2}
	got, err := c.Insights(ctx, "default", q)
	if err != nil {
		t.Fatal(err)
	}
	want, err := st.Insights(ctx, "default", q)
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) || got.Totals.Episodes != 3 {
		t.Fatalf("over the client:\n%s\nin process:\n%s", gj, wj)
	}
	for _, c2 := range []struct {
		q     engram.InsightsQuery
		field string
	}{
		{engram.InsightsQuery{Bucket: "year"}, "bucket"},
		{engram.InsightsQuery{Since: start, Until: start}, "since"},
		{engram.InsightsQuery{Top: 500}, "top"},
	} {
		if _, err := c.Insights(ctx, "default", c2.q); engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != c2.field {
			t.Errorf("%+v: %v, want invalid %s", c2.q, err, c2.field)
		}
	}
	plain, err := client.New(startServer(t, insightlessStore{openSQL(t)}, server.Options{}), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Insights(ctx, "default", engram.InsightsQuery{}); engram.ErrorCode(err) != server.CodeNotImplemented {
		t.Fatalf("a server without insights: %v", err)
	}
}
