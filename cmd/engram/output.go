package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/engramhq/engram"
)

// print writes v as one JSON document with -o json, or calls text otherwise.
func (a *app) print(v any, text func(w io.Writer)) error {
	if a.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(a.stdout)
	return nil
}

// readJSON decodes one JSON document from path ("-" or "": standard input)
// into v, strictly (unknown fields are errors).
func (a *app) readJSON(path string, v any) error {
	var r io.Reader = a.stdin
	name := "standard input"
	if path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r, name = f, path
	}
	if err := engram.DecodeJSON(r, v, 0); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func status(ep *engram.Episode) string {
	if !ep.Complete() {
		return "open"
	}
	return string(ep.Outcome.Type)
}

func writeEpisode(w io.Writer, ep *engram.Episode) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "episode\t%s\n", ep.ID)
	fmt.Fprintf(tw, "task\t%s: %s\n", ep.TaskType, clip(ep.TaskDescription, 200))
	c := ep.Context
	fmt.Fprintf(tw, "context\tdomain %s, complexity %s", c.Domain, c.Complexity)
	if c.Language != "" {
		fmt.Fprintf(tw, ", language %s", c.Language)
	}
	if c.Framework != "" {
		fmt.Fprintf(tw, ", framework %s", c.Framework)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "status\t%s\n", status(ep))
	fmt.Fprintf(tw, "started\t%s\n", fmtTime(ep.StartTime))
	if ep.EndTime != nil {
		fmt.Fprintf(tw, "ended\t%s (%s)\n", fmtTime(*ep.EndTime), ep.EndTime.Sub(ep.StartTime).Round(time.Millisecond))
	}
	if tags := ep.AllTags(); len(tags) > 0 {
		fmt.Fprintf(tw, "tags\t%s\n", strings.Join(tags, ", "))
	}
	for k, v := range ep.Metadata {
		fmt.Fprintf(tw, "meta\t%s=%s\n", k, clip(v, 80))
	}
	if l := ep.Location; l != nil {
		fmt.Fprintf(tw, "location\t%.5f, %.5f\n", l.Lat, l.Lon)
	}
	if o := ep.Outcome; o != nil {
		fmt.Fprintf(tw, "outcome\t%s: %s\n", o.Type, clip(o.Verdict+o.Reason, 200))
	}
	if r := ep.Reward; r != nil {
		fmt.Fprintf(tw, "reward\t%.3f\n", r.Total)
	}
	if r := ep.Reflection; r != nil {
		for _, s := range r.Insights {
			fmt.Fprintf(tw, "insight\t%s\n", clip(s, 200))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "steps (%d):\n", len(ep.Steps))
	for _, s := range ep.Steps {
		res := ""
		if s.Result != nil {
			res = fmt.Sprintf(" [%s]", s.Result.Type)
		}
		fmt.Fprintf(w, "  %3d. %s: %s%s %dms\n", s.StepNumber, clip(s.Tool, 40), clip(s.Action, 100), res, s.LatencyMS)
	}
}

func writeEpisodeList(w io.Writer, eps []*engram.Episode) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tTYPE\tSTATUS\tSTEPS\tTASK")
	for _, ep := range eps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", ep.ID, fmtTime(ep.StartTime), ep.TaskType, status(ep), len(ep.Steps), clip(ep.TaskDescription, 60))
	}
	tw.Flush()
}

func patternSummary(p *engram.Pattern) string {
	switch p.Kind {
	case engram.PatternToolSequence:
		return strings.Join(p.Tools, " -> ")
	case engram.PatternDecisionPoint:
		return "if " + p.Condition + " then " + p.Action
	case engram.PatternErrorRecovery:
		return p.ErrorType + ": " + strings.Join(p.RecoverySteps, "; ")
	case engram.PatternContextPattern:
		return strings.Join(p.ContextFeatures, ", ") + " => " + p.RecommendedApproach
	}
	return ""
}

func writePatterns(w io.Writer, ps []*engram.Pattern) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tDOMAIN\tSUCCESS\tSEEN\tPATTERN")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%d\t%s\n", p.ID, p.Kind, p.Domain, p.SuccessRate, p.OccurrenceCount, clip(patternSummary(p), 70))
	}
	tw.Flush()
}

func writeHeuristics(w io.Writer, hs []*engram.Heuristic) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDOMAIN\tCONFIDENCE\tSAMPLES\tRULE")
	for _, h := range hs {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d\t%s\n", h.ID, h.Domain, h.Confidence, h.Evidence.SampleSize, clip("if "+h.Condition+" then "+h.Action, 70))
	}
	tw.Flush()
}

func writeHits(w io.Writer, hits []engram.SearchHit) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCORE\tKIND\tID\tMATCH")
	for _, h := range hits {
		id := ""
		switch {
		case h.PatternID != nil:
			id = h.PatternID.String()
		case h.Kind == engram.SearchStep:
			id = fmt.Sprintf("%s#%d", h.EpisodeID, h.StepNumber)
		case h.EpisodeID != nil:
			id = h.EpisodeID.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", formatScore(h.Score), h.Kind, id, clip(h.Snippet, 80))
	}
	tw.Flush()
}

// formatScore prints a relevance score with three significant digits: BM25
// scores can be far below 0.01 (8.59e-07), where a fixed two decimals would
// print every hit as 0.00.
func formatScore(f float64) string { return strconv.FormatFloat(f, 'g', 3, 64) }
