package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
)

func (a *app) demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Write sample episodes into the data directory, then read, list and search them",
		Long: `Show engram working on its embedded defaults: write a few sample episodes
(with steps, outcomes and a location), a pattern and a heuristic into the data
directory (./engram-data unless --data-dir says otherwise), then read one back,
list the namespace and search it, printing each step. Run it twice and the
second run adds to the first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			say := func(format string, args ...any) {
				if a.output == "text" {
					fmt.Fprintf(a.stdout, format, args...)
				}
			}
			say("engram demo: data in %s, namespace %s\n\n", a.dataDir, a.ns)
			eps := demoEpisodes(time.Now().UTC())
			if err := s.CreateEpisodes(ctx, a.ns, eps); err != nil {
				return err
			}
			say("1. stored %d episodes in one transaction:\n", len(eps))
			for _, ep := range eps {
				say("   %s  %-14s %s\n", ep.ID, ep.TaskType, clip(ep.TaskDescription, 60))
			}
			step := &engram.Step{Tool: "go test", Action: "run the retry tests again", Parameters: json.RawMessage(`{"count": 50, "race": true}`),
				Result: &engram.StepResult{Type: engram.ResultSuccess, Output: "ok  client  4.2s"}, LatencyMS: 4200}
			if err := s.AppendStep(ctx, a.ns, eps[0].ID, step); err != nil {
				return err
			}
			say("\n2. appended step %d to %s\n", step.StepNumber, eps[0].ID)
			done, err := s.CompleteEpisode(ctx, a.ns, eps[0].ID, &engram.Completion{
				Outcome:    engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "retry loop honours the context deadline", Artifacts: []string{"client/retry.go"}},
				Reward:     &engram.Reward{Total: 0.92, Base: 1, Efficiency: 0.85, QualityMultiplier: 1.1},
				Reflection: &engram.Reflection{Insights: []string{"a retry loop must check ctx.Done() before sleeping"}},
			})
			if err != nil {
				return err
			}
			say("\n3. completed it:\n")
			if a.output == "text" {
				writeEpisode(&indent{w: a.stdout}, done)
			}
			p := &engram.Pattern{Kind: engram.PatternToolSequence, Tools: []string{"grep", "edit", "go test -race"}, Domain: "web-api",
				Language: "go", Tags: []string{"debugging"}, SuccessRate: 0.8, OccurrenceCount: 5}
			if err := s.PutPattern(ctx, a.ns, p); err != nil {
				return err
			}
			h := &engram.Heuristic{Condition: "a test fails only sometimes", Action: "run it with -count=50 -race before changing code",
				Confidence: 0.8, Domain: "testing", Evidence: engram.Evidence{EpisodeIDs: []engram.EpisodeID{eps[0].ID}, SuccessRate: 1, SampleSize: 1}}
			if err := s.PutHeuristic(ctx, a.ns, h); err != nil {
				return err
			}
			say("\n4. stored pattern %s and heuristic %s\n", p.ID, h.ID)
			page, err := s.ListEpisodes(ctx, a.ns, engram.EpisodeFilter{Limit: 10})
			if err != nil {
				return err
			}
			say("\n5. the newest episodes in namespace %s:\n", a.ns)
			if a.output == "text" {
				writeEpisodeList(&indent{w: a.stdout}, page.Episodes)
			}
			near, err := s.ListEpisodes(ctx, a.ns, engram.EpisodeFilter{Near: &engram.GeoRadius{Lat: 52.52, Lon: 13.40, KM: 25}})
			if err != nil {
				return err
			}
			say("\n6. episodes within 25 km of Berlin: %d\n", len(near.Episodes))
			hits, err := s.Search(ctx, a.ns, engram.SearchQuery{Text: "retry deadline", Limit: 5})
			if err != nil {
				return err
			}
			say("\n7. search \"retry deadline\":\n")
			if a.output == "text" {
				writeHits(&indent{w: a.stdout}, hits)
			}
			counts, err := s.Counts(ctx, a.ns)
			if err != nil {
				return err
			}
			say("\nnamespace %s now holds %d episodes, %d steps, %d patterns, %d heuristics.\n", a.ns, counts.Episodes, counts.Steps, counts.Patterns, counts.Heuristics)
			say("Try: go run ./cmd/engram episode list    (or: search retry, status, db stats, --help)\n")
			if a.output == "json" {
				created := make([]engram.EpisodeID, len(eps))
				for i, ep := range eps {
					created[i] = ep.ID
				}
				return a.print(map[string]any{"created": created, "completed": done, "pattern": p, "heuristic": h,
					"listed": len(page.Episodes), "near_berlin": len(near.Episodes), "search_hits": hits, "counts": counts}, nil)
			}
			return nil
		},
	}
}

// indent prefixes every line written through it with three spaces.
type indent struct {
	w   io.Writer
	mid bool // inside a line: the last byte written was not a newline
}

func (in *indent) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+16)
	for _, c := range p {
		if !in.mid {
			out = append(out, "   "...)
		}
		out = append(out, c)
		in.mid = c != '\n'
	}
	if _, err := in.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func demoEpisodes(now time.Time) []*engram.Episode {
	start := now.Add(-2 * time.Hour)
	berlin := &engram.Location{Lat: 52.5200, Lon: 13.4050}
	return []*engram.Episode{
		{
			TaskType: engram.TaskDebugging, TaskDescription: "Fix the flaky retry loop in the HTTP client: it ignores the context deadline",
			Context:   engram.TaskContext{Language: "go", Framework: "net/http", Complexity: engram.ComplexityModerate, Domain: "web-api", Tags: []string{"flaky-test"}},
			StartTime: start, Location: berlin, Tags: []string{"http", "retry"}, Metadata: map[string]string{"repo": "acme/api"},
			Steps: []engram.Step{
				{Tool: "grep", Action: "find the retry loop", Parameters: json.RawMessage(`{"pattern": "for attempt"}`),
					Result: &engram.StepResult{Type: engram.ResultSuccess, Output: "client/retry.go:42"}, LatencyMS: 15},
				{Tool: "edit", Action: "select on ctx.Done() before each backoff sleep",
					Result: &engram.StepResult{Type: engram.ResultSuccess, Output: "1 file changed"}, LatencyMS: 900},
			},
		},
		{
			TaskType: engram.TaskCodeGeneration, TaskDescription: "Add a CSV export endpoint to the reports service",
			Context:   engram.TaskContext{Language: "python", Framework: "fastapi", Complexity: engram.ComplexitySimple, Domain: "web-api"},
			StartTime: start.Add(20 * time.Minute), Location: &engram.Location{Lat: 48.8566, Lon: 2.3522}, Tags: []string{"export"},
			Steps: []engram.Step{
				{Tool: "edit", Action: "write the /reports.csv handler", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: "handler added"}, LatencyMS: 1200},
				{Tool: "pytest", Action: "run the export tests", Result: &engram.StepResult{Type: engram.ResultError, Message: "UnicodeEncodeError in row 3"}, LatencyMS: 2100},
			},
		},
		{
			TaskType: engram.TaskAnalysis, TaskDescription: "Find why p99 latency of the search API doubled after the deploy",
			Context:   engram.TaskContext{Language: "go", Complexity: engram.ComplexityComplex, Domain: "performance"},
			StartTime: start.Add(40 * time.Minute), Location: &engram.Location{Lat: 52.50, Lon: 13.45}, Tags: []string{"latency"},
			Steps: []engram.Step{
				{Tool: "pprof", Action: "profile the search handler", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: "40% in regexp.Compile"}, LatencyMS: 30000},
			},
		},
	}
}
