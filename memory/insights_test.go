package memory_test

import (
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// TestInsightsForwardToDurable: Memory answers what its durable store
// computes (here a completed success and an open episode), passes bad
// queries' errors through, and says not_implemented over a durable store
// that cannot compute insights.
func TestInsightsForwardToDurable(t *testing.T) {
	dir := t.TempDir()
	m := open(t, memory.Config{DataDir: dir})
	start := time.Now().UTC().Add(-time.Hour)
	done := &engram.Episode{TaskType: engram.TaskTesting, TaskDescription: "a", StartTime: start,
		Steps: []engram.Step{{Tool: "pytest", Action: "run", LatencyMS: 40, Result: &engram.StepResult{Type: engram.ResultError, Message: "boom"}}}}
	must(t, m.CreateEpisode(ctx(), "default", done))
	end := start.Add(2 * time.Second)
	if _, err := m.CompleteEpisode(ctx(), "default", done.ID, &engram.Completion{EndTime: &end, Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}}); err != nil {
		t.Fatal(err)
	}
	must(t, m.CreateEpisode(ctx(), "default", &engram.Episode{TaskType: engram.TaskTesting, TaskDescription: "b", StartTime: start}))

	in, err := m.Insights(ctx(), "default", engram.InsightsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	tt := in.ByTaskType
	if in.Totals.Episodes != 2 || in.Totals.Completed != 1 || in.Totals.SuccessRate != 1 || in.Totals.DurationMSP50 != 2000 ||
		len(tt) != 1 || tt[0].TaskType != engram.TaskTesting || len(in.ByTool) != 1 || in.ByTool[0].ErrorRate != 1 ||
		len(in.Errors) != 1 || in.Errors[0].ErrorType != "boom" {
		t.Fatalf("insights: %+v", in)
	}
	if _, err := m.Insights(ctx(), "default", engram.InsightsQuery{Bucket: "year"}); engram.ErrorField(err) != "bucket" {
		t.Fatalf("bad bucket: %v", err)
	}

	plain := open(t, memory.Config{DataDir: t.TempDir(), Durable: storeOnly{openSQLite(t, t.TempDir())}})
	if _, err := plain.Insights(ctx(), "default", engram.InsightsQuery{}); engram.ErrorCode(err) != "not_implemented" {
		t.Fatalf("over a store without insights: %v", err)
	}
}

// storeOnly hides every optional interface of the store it holds.
type storeOnly struct{ engram.Store }
