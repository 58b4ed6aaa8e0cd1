package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
)

func (a *app) insightsCmd() *cobra.Command {
	var (
		since, until string
		q            engram.InsightsQuery
		jsonOut      bool
	)
	cmd := &cobra.Command{
		Use:   "insights",
		Short: "Summarise a namespace: outcomes, rewards, durations, tools, errors, patterns, heuristics",
		Long: `Summarise the episodes of the namespace that started in a window: how many
completed, their success, partial, failure and abstention rates and mean reward,
duration and steps (p50/p95) and tokens, overall and by task type, domain and tag;
a timeline by hour, day or week; each tool's uses, error rate, latency (p50/p95)
and tokens; the most frequent errors (failed steps by tool and message, failed
episodes by reason) with the error_recovery patterns that match them; and the
namespace's patterns by effectiveness and heuristics by confidence. The durable
store computes it all (see docs/insights.md). Works with --server too.

--since and --until take an RFC 3339 time, a date, or a duration from now
(-7d, -36h). The default window is the 30 days before now.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var err error
			if q.Since, err = parseWhenFlag("--since", since, now); err != nil {
				return err
			}
			if q.Until, err = parseWhenFlag("--until", until, now); err != nil {
				return err
			}
			if q.Top < 1 || q.Top > engram.MaxInsightsTop {
				return usagef("--top %d: want 1-%d", q.Top, engram.MaxInsightsTop)
			}
			if jsonOut {
				a.output = "json"
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			in, ok := s.(engram.Insighter)
			if !ok {
				return fmt.Errorf("engram: this store cannot compute insights")
			}
			res, err := in.Insights(cmd.Context(), a.ns, q)
			if err != nil {
				return err
			}
			return a.print(res, func(w io.Writer) { writeInsights(w, res) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "start of the window: RFC 3339, a date, or a duration from now (-7d); default: 30 days before --until")
	fl.StringVar(&until, "until", "", "end of the window (exclusive), in the same forms; default: now")
	fl.StringVar(&q.Bucket, "bucket", engram.BucketDay, "timeline bucket: hour, day or week (Monday, UTC)")
	fl.IntVar(&q.Top, "top", engram.DefaultInsightsTop, fmt.Sprintf("rows of each ranked list (1-%d)", engram.MaxInsightsTop))
	fl.BoolVar(&jsonOut, "json", false, "print JSON (same as -o json)")
	return cmd
}

// parseWhenFlag reads an RFC 3339 time, a date, or a duration from now
// (a Go duration, or whole days: -7d).
func parseWhenFlag(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > -1e5 && n < 1e5 {
			return now.AddDate(0, 0, n), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, usagef("%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration from now (-7d, -36h)", flag, s)
}

func insightPct(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }

func insightReward(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r, 'f', 3, 64)
}

func insightMS(n int64) string { return (time.Duration(n) * time.Millisecond).String() }

func writeInsights(w io.Writer, in *engram.Insights) {
	fmt.Fprintf(w, "namespace %s, episodes started %s to %s, by %s\n", in.Namespace, fmtTime(in.Since), fmtTime(in.Until), in.Bucket)
	groups := func(title string, gs []engram.InsightGroup) {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tEPISODES\tCOMPLETED\tSUCCESS\tPARTIAL\tFAILURE\tABSTAINED\tREWARD\tDURATION P50\tP95\tSTEPS P50\tP95\tTOKENS\n", title)
		for _, g := range gs {
			key := g.Key
			if key == "" {
				key = "(all)"
			}
			d50, d95 := "-", "-" // no completed episode, no duration
			if g.Completed > 0 {
				d50, d95 = insightMS(g.DurationMSP50), insightMS(g.DurationMSP95)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", clip(key, 40), g.Episodes, g.Completed,
				insightPct(g.SuccessRate), insightPct(g.PartialRate), insightPct(g.FailureRate), insightPct(g.AbstainedRate), insightReward(g.MeanReward),
				d50, d95, g.StepsP50, g.StepsP95, g.Tokens)
		}
		tw.Flush()
	}
	groups("TOTAL", []engram.InsightGroup{in.Totals})
	groups("TASK TYPE", in.ByTaskType)
	groups("DOMAIN", in.ByDomain)
	groups("TAG", in.ByTag)

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "BUCKET\tEPISODES\tCOMPLETED\tSUCCESS\tREWARD\n")
	empty := 0
	for _, b := range in.Timeline {
		if b.Episodes == 0 {
			empty++
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", fmtTime(b.BucketStart), b.Episodes, b.Completed, insightPct(b.SuccessRate), insightReward(b.MeanReward))
	}
	tw.Flush()
	if empty > 0 {
		fmt.Fprintf(w, "(%d of %d buckets empty, not shown)\n", empty, len(in.Timeline))
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TOOL\tUSES\tERRORS\tERROR RATE\tLATENCY P50\tP95\tTOKENS\n")
	for _, t := range in.ByTool {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%d\n", clip(t.Tool, 40), t.Uses, t.Errors, insightPct(t.ErrorRate), insightMS(t.LatencyMSP50), insightMS(t.LatencyMSP95), t.Tokens)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ERROR\tSOURCE\tTOOL\tCOUNT\tLAST SEEN\tRECOVERIES\n")
	for _, e := range in.Errors {
		tool := e.Tool
		if tool == "" {
			tool = "-"
		}
		rec := make([]string, len(e.Recoveries))
		for i, id := range e.Recoveries {
			rec[i] = id.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", clip(e.ErrorType, 60), e.Source, clip(tool, 30), e.Count, fmtTime(e.LastSeen), strings.Join(rec, ","))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "PATTERN\tKIND\tEFFECTIVENESS\tAPPLIED\tSUCCESS RATE\tSUMMARY\n")
	for _, p := range in.Patterns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.PatternID, p.Kind, insightPct(p.Effectiveness), p.TimesApplied, insightPct(p.SuccessRate), clip(p.Summary, 60))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "HEURISTIC\tCONFIDENCE\tWHEN\tDO\n")
	for _, h := range in.Heuristics {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.HeuristicID, insightPct(h.Confidence), clip(h.Condition, 50), clip(h.Action, 50))
	}
	tw.Flush()
}
