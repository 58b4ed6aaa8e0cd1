package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/memory"
)

// seedInsightsStore stores, in "default": three debugging episodes (two
// successes with rewards 1 and 0.5, one failure "gave up"), one open
// testing episode, one step per episode on tool "http_get" (the failure's
// erring with "connection refused"), an error_recovery pattern for
// "refused" and a heuristic.
func seedInsightsStore(t *testing.T, s engram.Store, start time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		tt := engram.TaskDebugging
		if i == 3 {
			tt = engram.TaskTesting
		}
		st := engram.Step{Tool: "http_get", Action: "fetch", LatencyMS: int64(100 * (i + 1)), TokensUsed: 10}
		if i == 2 {
			st.Result = &engram.StepResult{Type: engram.ResultError, Message: "connection refused"}
		}
		ep := &engram.Episode{TaskType: tt, TaskDescription: "task", StartTime: start.Add(time.Duration(i) * time.Hour), Steps: []engram.Step{st}}
		if err := s.CreateEpisode(ctx, "default", ep); err != nil {
			t.Fatal(err)
		}
		end := ep.StartTime.Add(time.Duration(i+1) * time.Second)
		c := &engram.Completion{EndTime: &end, Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}}
		switch i {
		case 0:
			c.Reward = &engram.Reward{Total: 1}
		case 1:
			c.Reward = &engram.Reward{Total: 0.5}
		case 2:
			c.Outcome = engram.Outcome{Type: engram.OutcomeFailure, Reason: "gave up"}
		case 3:
			continue
		}
		if _, err := s.CompleteEpisode(ctx, "default", ep.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutPattern(ctx, "default", &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "refused", SuccessRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHeuristic(ctx, "default", &engram.Heuristic{Condition: "a refused connection", Action: "check the port", Confidence: 0.8}); err != nil {
		t.Fatal(err)
	}
}

func checkSeededInsights(t *testing.T, in *engram.Insights) {
	t.Helper()
	tot := in.Totals
	if tot.Episodes != 4 || tot.Completed != 3 || tot.Success != 2 || tot.Failure != 1 || tot.MeanReward == nil || *tot.MeanReward != 0.75 ||
		tot.DurationMSP50 != 2000 || tot.DurationMSP95 != 3000 || tot.Tokens != 40 {
		t.Fatalf("totals: %+v", tot)
	}
	if len(in.ByTaskType) != 2 || in.ByTaskType[0].TaskType != engram.TaskDebugging || in.ByTaskType[0].Episodes != 3 {
		t.Fatalf("by task type: %+v", in.ByTaskType)
	}
	if len(in.ByTool) != 1 || in.ByTool[0].Uses != 4 || in.ByTool[0].Errors != 1 || in.ByTool[0].LatencyMSP50 != 200 || in.ByTool[0].LatencyMSP95 != 400 {
		t.Fatalf("by tool: %+v", in.ByTool)
	}
	if len(in.Errors) != 2 || len(in.Patterns) != 1 || len(in.Heuristics) != 1 {
		t.Fatalf("errors %+v patterns %+v heuristics %+v", in.Errors, in.Patterns, in.Heuristics)
	}
}

func TestInsightsCommand(t *testing.T) {
	c := newCLI(t)
	m, err := memory.Open(context.Background(), memory.Config{DataDir: c.dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	seedInsightsStore(t, m, start)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	window := []string{"insights", "--since", "2026-03-02", "--until", "2026-03-03T00:00:00Z", "--bucket", "hour"}

	var in engram.Insights
	c.json(&in, "", window...)
	checkSeededInsights(t, &in)
	if len(in.Timeline) != 24 || in.Timeline[10].Episodes != 1 || in.Timeline[9].Episodes != 0 {
		t.Fatalf("timeline: %+v", in.Timeline)
	}
	// --json is -o json.
	var again engram.Insights
	out := c.ok("", append(window, "--json")...)
	if err := jsonUnmarshal(out, &again); err != nil || again.Totals.Episodes != 4 {
		t.Fatalf("--json: %v %s", err, out)
	}

	text := c.ok("", window...)
	for _, want := range []string{
		"namespace default, episodes started 2026-03-02T00:00:00Z to 2026-03-03T00:00:00Z, by hour",
		"(all)", "debugging", "66.7%", "0.750", // 2 of 3 debugging episodes succeeded; rewards 1 and 0.5
		"2026-03-02T10:00:00Z", "(20 of 24 buckets empty, not shown)",
		"http_get", "25.0%", // 1 error in 4 uses
		"connection refused", "gave up",
		"error_recovery", "refused",
		"a refused connection", "80.0%",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	// The store's checks, and the flags' own.
	c.fails(exitError, "bucket", "", "insights", "--bucket", "month")
	c.fails(exitUsage, "--top 0", "", "insights", "--top", "0")
	c.fails(exitError, "since", "", "insights", "--since", "-1d", "--until", "-2d")
	c.fails(exitUsage, "--since", "", "insights", "--since", "last tuesday")
	c.fails(exitUsage, "", "", "insights", "extra")
}

func TestInsightsCommandWithServer(t *testing.T) {
	c := newCLI(t)
	url := c.startServe()
	cl, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seedInsightsStore(t, cl, time.Now().UTC().Add(-5*time.Hour))
	var in engram.Insights
	c.json(&in, "", "--server", url, "insights", "--since", "-1d")
	checkSeededInsights(t, &in)
	if len(in.Timeline) != 2 && len(in.Timeline) != 1 {
		t.Fatalf("a day by day from -1d: %d buckets", len(in.Timeline))
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
