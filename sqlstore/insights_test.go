package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
)

// The insights tests seed a namespace with episodes, steps, patterns and
// heuristics drawn from a seeded random source, then compare what the store
// computes in SQL with figures computed here by plain loops over the seeded
// records. The same body runs on SQLite and on PostgreSQL.

func TestInsightsSQLite(t *testing.T) {
	testInsights(t, func(t *testing.T) *sqlstore.Store { return openTemp(t, sqlstore.Options{}) })
}

func TestInsightsPostgres(t *testing.T) {
	testInsights(t, func(t *testing.T) *sqlstore.Store { return openPostgres(t, sqlstore.Options{}) })
}

// insightsSeed is what was stored, as the test knows it.
type insightsSeed struct {
	eps        []*engram.Episode // namespace "a", complete ones with their outcome
	patterns   []*engram.Pattern
	heuristics []*engram.Heuristic
}

// Monday 2 March 2026, 00:00 UTC: weeks and days align to it.
var insightsBase = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func seedInsights(t *testing.T, s *sqlstore.Store, seed uint64) *insightsSeed {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 7))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	tools := []string{"bash", "grep", "http_get", "edit", "pytest"}
	messages := []string{"connection refused", "dial tcp: connection refused by peer", "permission denied: /etc/hosts", "syntax error near line 3", ""}
	reasons := []string{"tests failed", "connection refused by the registry", "build broke"}
	seedData := &insightsSeed{}
	var eps []*engram.Episode
	for i := 0; i < 90; i++ {
		// Starts from two days before the window to two after it, at
		// millisecond precision.
		start := insightsBase.Add(-2*24*time.Hour + time.Duration(r.Int64N(int64(13*24*time.Hour/time.Millisecond)))*time.Millisecond)
		switch i {
		case 0:
			start = insightsWindow.Since // the window includes its start...
		case 1:
			start = insightsWindow.Until // ... and not its end
		}
		ep := &engram.Episode{
			TaskType:        []engram.TaskType{engram.TaskDebugging, engram.TaskTesting, engram.TaskRefactoring, engram.TaskAnalysis}[r.IntN(4)],
			TaskDescription: fmt.Sprintf("task %d", i),
			Context:         engram.TaskContext{Domain: pick("web", "data", "infra", "general")},
			StartTime:       start,
		}
		for _, tag := range []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta"} {
			switch r.IntN(5) {
			case 0:
				ep.Tags = append(ep.Tags, tag)
			case 1:
				ep.Context.Tags = append(ep.Context.Tags, tag)
			case 2:
				ep.Tags, ep.Context.Tags = append(ep.Tags, tag), append(ep.Context.Tags, tag) // in both: counted once
			}
		}
		for j, n := 0, r.IntN(6); j < n; j++ {
			st := engram.Step{Tool: pick(tools...), Action: "act", Timestamp: start.Add(time.Duration(j+1) * 1500 * time.Millisecond),
				LatencyMS: r.Int64N(3000), TokensUsed: r.Int64N(4) * 100}
			switch r.IntN(4) {
			case 0:
				st.Result = &engram.StepResult{Type: engram.ResultSuccess, Output: "ok"}
			case 1:
				st.Result = &engram.StepResult{Type: engram.ResultError, Message: pick(messages...)}
			case 2:
				st.Result = &engram.StepResult{Type: engram.ResultTimeout, Message: pick("", "connection refused")}
			}
			ep.Steps = append(ep.Steps, st)
		}
		eps = append(eps, ep)
	}
	if err := s.CreateEpisodes(ctx, "a", eps); err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		if r.IntN(4) == 0 {
			continue // left open
		}
		end := ep.StartTime.Add(time.Duration(r.Int64N(600_000)) * time.Millisecond)
		c := &engram.Completion{EndTime: &end}
		switch r.IntN(4) {
		case 0:
			c.Outcome = engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "done"}
		case 1:
			c.Outcome = engram.Outcome{Type: engram.OutcomePartialSuccess, Verdict: "half"}
		case 2:
			c.Outcome = engram.Outcome{Type: engram.OutcomeFailure, Reason: pick(reasons...)}
		case 3:
			c.Outcome = engram.Outcome{Type: engram.OutcomeAbstained, Reason: "unsure"}
		}
		if r.IntN(3) > 0 {
			c.Reward = &engram.Reward{Total: float64(r.IntN(2000))/1000 - 0.5, QualityMultiplier: 1}
		}
		done, err := s.CompleteEpisode(ctx, "a", ep.ID, c)
		if err != nil {
			t.Fatal(err)
		}
		*ep = *done
	}
	seedData.eps = eps

	// Patterns: error recoveries for some messages (two for one of them,
	// ranked by effectiveness), and others with ties in effectiveness.
	pats := []*engram.Pattern{
		{Kind: engram.PatternErrorRecovery, ErrorType: "connection refused", RecoverySteps: []string{"retry"}, SuccessRate: 0.5,
			Effectiveness: engram.Effectiveness{TimesApplied: 4, SuccessWhenApplied: 3}},
		{Kind: engram.PatternErrorRecovery, ErrorType: "refused", RecoverySteps: []string{"check the port"}, SuccessRate: 0.9,
			Effectiveness: engram.Effectiveness{TimesApplied: 4, SuccessWhenApplied: 1}},
		{Kind: engram.PatternErrorRecovery, ErrorType: "permission denied", SuccessRate: 0.7},
		{Kind: engram.PatternErrorRecovery, ErrorType: "never seen", SuccessRate: 0.7},
		{Kind: engram.PatternToolSequence, Tools: []string{"grep", "edit", "pytest"}, SuccessRate: 0.8,
			Effectiveness: engram.Effectiveness{TimesApplied: 10, SuccessWhenApplied: 9, AvgRewardDelta: 0.25}},
		{Kind: engram.PatternDecisionPoint, Condition: "tests fail", Action: "read the log", SuccessRate: 0.8},
		{Kind: engram.PatternContextPattern, ContextFeatures: []string{"go", "cli"}, RecommendedApproach: "table tests", SuccessRate: 0.8,
			OccurrenceCount: 5, Domain: "web"},
	}
	for _, p := range pats {
		if err := s.PutPattern(ctx, "a", p); err != nil {
			t.Fatal(err)
		}
	}
	seedData.patterns = pats
	for i, c := range []float64{0.4, 0.95, 0.6, 0.95, 0.1} {
		h := &engram.Heuristic{Condition: fmt.Sprintf("condition %d", i), Action: "act", Confidence: c}
		if err := s.PutHeuristic(ctx, "a", h); err != nil {
			t.Fatal(err)
		}
		seedData.heuristics = append(seedData.heuristics, h)
	}
	// Another namespace: none of it may show in "a".
	other := &engram.Episode{TaskType: engram.TaskDebugging, TaskDescription: "elsewhere", StartTime: insightsWindow.Since.Add(time.Hour),
		Tags: []string{"alpha"}, Steps: []engram.Step{{Tool: "bash", Action: "x", Result: &engram.StepResult{Type: engram.ResultError, Message: "connection refused"}}}}
	if err := s.CreateEpisode(ctx, "b", other); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPattern(ctx, "b", &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "connection", Effectiveness: engram.Effectiveness{TimesApplied: 1, SuccessWhenApplied: 1}}); err != nil {
		t.Fatal(err)
	}
	return seedData
}

// The window the tests ask about: it starts mid-morning, so its first day
// bucket starts before it.
var insightsWindow = engram.InsightsQuery{
	Since: insightsBase.Add(5*time.Hour + 30*time.Minute),
	Until: insightsBase.Add(9*24*time.Hour + 3*time.Hour),
}

func testInsights(t *testing.T, open func(t *testing.T) *sqlstore.Store) {
	s := open(t)
	const seed = 20260302
	t.Logf("seed %d", seed)
	data := seedInsights(t, s, seed)
	ctx := context.Background()
	for _, tc := range []struct {
		bucket string
		top    int
	}{{"", 0}, {engram.BucketHour, 3}, {engram.BucketWeek, 1}, {engram.BucketDay, engram.MaxInsightsTop}} {
		t.Run(fmt.Sprintf("bucket=%s,top=%d", tc.bucket, tc.top), func(t *testing.T) {
			q := insightsWindow
			q.Bucket, q.Top = tc.bucket, tc.top
			got, err := s.Insights(ctx, "a", q)
			if err != nil {
				t.Fatal(err)
			}
			want := expectInsights(data, q)
			compareInsights(t, got, want)
		})
	}
	// An empty namespace: zero totals, every bucket present and empty, no lists.
	t.Run("empty", func(t *testing.T) {
		got, err := s.Insights(ctx, "nobody", insightsWindow)
		if err != nil {
			t.Fatal(err)
		}
		compareInsights(t, got, expectInsights(&insightsSeed{}, insightsWindow))
		if len(got.Timeline) != 10 || got.ByTag == nil || got.Errors == nil {
			t.Fatalf("empty namespace: %d buckets, by_tag %v, errors %v", len(got.Timeline), got.ByTag, got.Errors)
		}
	})
}

// expectInsights computes the figures of q over the seeded records by plain loops.
func expectInsights(d *insightsSeed, q engram.InsightsQuery) *engram.Insights {
	if q.Bucket == "" {
		q.Bucket = engram.BucketDay
	}
	top := q.Top
	if top == 0 {
		top = engram.DefaultInsightsTop
	}
	width := map[string]time.Duration{engram.BucketHour: time.Hour, engram.BucketDay: 24 * time.Hour, engram.BucketWeek: 7 * 24 * time.Hour}[q.Bucket]
	// The first bucket: Since rounded down to its hour, day or Monday.
	first := time.Date(q.Since.Year(), q.Since.Month(), q.Since.Day(), 0, 0, 0, 0, time.UTC)
	switch q.Bucket {
	case engram.BucketHour:
		first = first.Add(time.Duration(q.Since.Hour()) * time.Hour)
	case engram.BucketWeek:
		for first.Weekday() != time.Monday {
			first = first.AddDate(0, 0, -1)
		}
	}
	in := &engram.Insights{Namespace: "a", Since: q.Since, Until: q.Until, Bucket: q.Bucket}
	if len(d.eps) == 0 {
		in.Namespace = "nobody"
	}
	for b := first; b.Before(q.Until); b = b.Add(width) {
		in.Timeline = append(in.Timeline, engram.InsightBucket{BucketStart: b})
	}

	var window []*engram.Episode
	for _, ep := range d.eps {
		if !ep.StartTime.Before(q.Since) && ep.StartTime.Before(q.Until) {
			window = append(window, ep)
		}
	}
	// Groups.
	group := func(key string, eps []*engram.Episode) engram.InsightGroup {
		g := engram.InsightGroup{Key: key, Episodes: int64(len(eps))}
		var rewards []float64
		var durs, steps []int64
		for _, ep := range eps {
			steps = append(steps, int64(len(ep.Steps)))
			for _, st := range ep.Steps {
				g.Tokens += st.TokensUsed
			}
			if ep.Reward != nil {
				rewards = append(rewards, ep.Reward.Total)
			}
			if !ep.Complete() {
				continue
			}
			g.Completed++
			durs = append(durs, ep.EndTime.Sub(ep.StartTime).Milliseconds())
			switch ep.Outcome.Type {
			case engram.OutcomeSuccess:
				g.Success++
			case engram.OutcomePartialSuccess:
				g.Partial++
			case engram.OutcomeFailure:
				g.Failure++
			case engram.OutcomeAbstained:
				g.Abstained++
			}
		}
		if g.Completed > 0 {
			c := float64(g.Completed)
			g.SuccessRate, g.PartialRate, g.FailureRate, g.AbstainedRate = float64(g.Success)/c, float64(g.Partial)/c, float64(g.Failure)/c, float64(g.Abstained)/c
		}
		g.MeanReward = mean(rewards)
		g.DurationMSP50, g.DurationMSP95 = nearestRank(durs, 50), nearestRank(durs, 95)
		g.StepsP50, g.StepsP95 = nearestRank(steps, 50), nearestRank(steps, 95)
		return g
	}
	groupsBy := func(keys func(*engram.Episode) []string, limit int) []engram.InsightGroup {
		members := map[string][]*engram.Episode{}
		for _, ep := range window {
			for _, k := range keys(ep) {
				members[k] = append(members[k], ep)
			}
		}
		out := []engram.InsightGroup{}
		for k, eps := range members {
			out = append(out, group(k, eps))
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Episodes != out[j].Episodes {
				return out[i].Episodes > out[j].Episodes
			}
			return out[i].Key < out[j].Key
		})
		if len(out) > limit {
			out = out[:limit]
		}
		return out
	}
	if len(window) > 0 {
		in.Totals = group("", window)
	}
	in.ByTaskType = groupsBy(func(ep *engram.Episode) []string { return []string{string(ep.TaskType)} }, engram.MaxInsightsTop)
	for i := range in.ByTaskType {
		in.ByTaskType[i].TaskType = engram.TaskType(in.ByTaskType[i].Key)
	}
	in.ByDomain = groupsBy(func(ep *engram.Episode) []string { return []string{ep.Context.Domain} }, top)
	in.ByTag = groupsBy(func(ep *engram.Episode) []string { return ep.AllTags() }, top)

	// Timeline.
	rewards := make([][]float64, len(in.Timeline))
	succ := make([]int64, len(in.Timeline))
	for _, ep := range window {
		i := int(ep.StartTime.Sub(first) / width)
		in.Timeline[i].Episodes++
		if ep.Reward != nil {
			rewards[i] = append(rewards[i], ep.Reward.Total)
		}
		if ep.Complete() {
			in.Timeline[i].Completed++
			if ep.Outcome.Type == engram.OutcomeSuccess {
				succ[i]++
			}
		}
	}
	for i := range in.Timeline {
		if in.Timeline[i].Completed > 0 {
			in.Timeline[i].SuccessRate = float64(succ[i]) / float64(in.Timeline[i].Completed)
		}
		in.Timeline[i].MeanReward = mean(rewards[i])
	}

	// Tools and errors.
	type errKey struct{ source, tool, msg string }
	tools := map[string]*engram.ToolInsight{}
	lat := map[string][]int64{}
	errs := map[errKey]*engram.ErrorInsight{}
	seen := func(k errKey, at time.Time) {
		e := errs[k]
		if e == nil {
			e = &engram.ErrorInsight{Source: k.source, Tool: k.tool, ErrorType: k.msg}
			errs[k] = e
		}
		e.Count++
		if at.After(e.LastSeen) {
			e.LastSeen = at
		}
	}
	for _, ep := range window {
		for _, st := range ep.Steps {
			ti := tools[st.Tool]
			if ti == nil {
				ti = &engram.ToolInsight{Tool: st.Tool}
				tools[st.Tool] = ti
			}
			ti.Uses++
			ti.Tokens += st.TokensUsed
			lat[st.Tool] = append(lat[st.Tool], st.LatencyMS)
			if st.Result != nil && (st.Result.Type == engram.ResultError || st.Result.Type == engram.ResultTimeout) {
				ti.Errors++
				msg := st.Result.Message
				if msg == "" {
					msg = string(st.Result.Type)
				}
				seen(errKey{"step", st.Tool, msg}, st.Timestamp.Truncate(time.Millisecond))
			}
		}
		if ep.Complete() && ep.Outcome.Type == engram.OutcomeFailure {
			seen(errKey{"episode", "", ep.Outcome.Reason}, ep.EndTime.Truncate(time.Millisecond))
		}
	}
	in.ByTool = []engram.ToolInsight{}
	for name, ti := range tools {
		ti.ErrorRate = float64(ti.Errors) / float64(ti.Uses)
		ti.LatencyMSP50, ti.LatencyMSP95 = nearestRank(lat[name], 50), nearestRank(lat[name], 95)
		in.ByTool = append(in.ByTool, *ti)
	}
	sort.Slice(in.ByTool, func(i, j int) bool {
		if in.ByTool[i].Uses != in.ByTool[j].Uses {
			return in.ByTool[i].Uses > in.ByTool[j].Uses
		}
		return in.ByTool[i].Tool < in.ByTool[j].Tool
	})
	in.ByTool = in.ByTool[:min(len(in.ByTool), top)]

	eff := func(p *engram.Pattern) float64 {
		if p.Effectiveness.TimesApplied == 0 {
			return 0
		}
		return float64(p.Effectiveness.SuccessWhenApplied) / float64(p.Effectiveness.TimesApplied)
	}
	byRank := func(ps []*engram.Pattern) {
		sort.Slice(ps, func(i, j int) bool {
			a, b := ps[i], ps[j]
			if eff(a) != eff(b) {
				return eff(a) > eff(b)
			}
			if a.SuccessRate != b.SuccessRate {
				return a.SuccessRate > b.SuccessRate
			}
			return bytes.Compare(a.ID.UUID[:], b.ID.UUID[:]) < 0
		})
	}
	in.Errors = []engram.ErrorInsight{}
	for _, e := range errs {
		var rec []*engram.Pattern
		for _, p := range d.patterns {
			if p.Kind == engram.PatternErrorRecovery && strings.Contains(e.ErrorType, p.ErrorType) {
				rec = append(rec, p)
			}
		}
		byRank(rec)
		for _, p := range rec[:min(len(rec), 10)] {
			e.Recoveries = append(e.Recoveries, p.ID)
		}
		in.Errors = append(in.Errors, *e)
	}
	sort.Slice(in.Errors, func(i, j int) bool {
		a, b := in.Errors[i], in.Errors[j]
		switch {
		case a.Count != b.Count:
			return a.Count > b.Count
		case !a.LastSeen.Equal(b.LastSeen):
			return a.LastSeen.After(b.LastSeen)
		case a.Source != b.Source:
			return a.Source < b.Source
		case a.Tool != b.Tool:
			return a.Tool < b.Tool
		}
		return a.ErrorType < b.ErrorType
	})
	in.Errors = in.Errors[:min(len(in.Errors), top)]

	// Patterns and heuristics (not windowed).
	ps := slices.Clone(d.patterns)
	byRank(ps)
	in.Patterns = []engram.PatternInsight{}
	for _, p := range ps[:min(len(ps), top)] {
		summary := map[engram.PatternKind]string{
			engram.PatternErrorRecovery:  p.ErrorType,
			engram.PatternToolSequence:   strings.Join(p.Tools, " -> "),
			engram.PatternDecisionPoint:  p.Condition + " => " + p.Action,
			engram.PatternContextPattern: strings.Join(p.ContextFeatures, ", "),
		}[p.Kind]
		in.Patterns = append(in.Patterns, engram.PatternInsight{PatternID: p.ID, Kind: p.Kind, Summary: summary, Domain: p.Domain,
			SuccessRate: p.SuccessRate, Effectiveness: eff(p), TimesApplied: p.Effectiveness.TimesApplied,
			AvgRewardDelta: p.Effectiveness.AvgRewardDelta, Occurrences: p.OccurrenceCount})
	}
	hs := slices.Clone(d.heuristics)
	sort.Slice(hs, func(i, j int) bool {
		if hs[i].Confidence != hs[j].Confidence {
			return hs[i].Confidence > hs[j].Confidence
		}
		return bytes.Compare(hs[i].ID.UUID[:], hs[j].ID.UUID[:]) < 0
	})
	in.Heuristics = []engram.HeuristicInsight{}
	for _, h := range hs[:min(len(hs), top)] {
		in.Heuristics = append(in.Heuristics, engram.HeuristicInsight{HeuristicID: h.ID, Condition: h.Condition, Action: h.Action, Domain: h.Domain, Confidence: h.Confidence})
	}
	return in
}

func mean(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	m := sum / float64(len(xs))
	return &m
}

// nearestRank is the p-th percentile: the value at rank ceil(p/100 * n).
func nearestRank(xs []int64, p int) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(float64(p*len(s)) / 100))
	return s[rank-1]
}

// compareInsights fails t unless got equals want, means to 1e-9.
func compareInsights(t *testing.T, got, want *engram.Insights) {
	t.Helper()
	norm := func(in *engram.Insights) *engram.Insights {
		c := *in
		round := func(p *float64) *float64 {
			if p == nil {
				return nil
			}
			r := math.Round(*p*1e9) / 1e9
			return &r
		}
		fix := func(gs []engram.InsightGroup) []engram.InsightGroup {
			out := slices.Clone(gs)
			for i := range out {
				out[i].MeanReward = round(out[i].MeanReward)
			}
			return out
		}
		c.Totals.MeanReward = round(c.Totals.MeanReward)
		c.ByTaskType, c.ByDomain, c.ByTag = fix(c.ByTaskType), fix(c.ByDomain), fix(c.ByTag)
		c.Timeline = slices.Clone(c.Timeline)
		for i := range c.Timeline {
			c.Timeline[i].MeanReward = round(c.Timeline[i].MeanReward)
		}
		return &c
	}
	g, w := norm(got), norm(want)
	if reflect.DeepEqual(g, w) {
		return
	}
	gj, _ := json.MarshalIndent(g, "", " ")
	wj, _ := json.MarshalIndent(w, "", " ")
	gl, wl := strings.Split(string(gj), "\n"), strings.Split(string(wj), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			lo := max(0, i-8)
			t.Fatalf("insights differ at line %d:\n got: %s\nwant: %s\ncontext (got):\n%s", i+1, a, b, strings.Join(gl[lo:min(len(gl), i+3)], "\n"))
		}
	}
	t.Fatalf("insights differ (not in their JSON): got %+v, want %+v", g, w)
}

func TestInsightsQueryChecked(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s := openTemp(t, sqlstore.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	for _, tc := range []struct {
		q     engram.InsightsQuery
		field string
	}{
		{engram.InsightsQuery{Since: now, Until: now}, "since"},
		{engram.InsightsQuery{Since: now.Add(time.Hour), Until: now}, "since"},
		{engram.InsightsQuery{Bucket: "month"}, "bucket"},
		{engram.InsightsQuery{Bucket: engram.BucketHour, Since: now.Add(-2001 * time.Hour)}, "bucket"},
		{engram.InsightsQuery{Top: -1}, "top"},
		{engram.InsightsQuery{Top: engram.MaxInsightsTop + 1}, "top"},
		{engram.InsightsQuery{Since: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}, "since"},
		{engram.InsightsQuery{Until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, "until"},
	} {
		_, err := s.Insights(ctx, "default", tc.q)
		if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != tc.field {
			t.Errorf("%+v: got %v (field %q), want EINVALID on %s", tc.q, err, engram.ErrorField(err), tc.field)
		}
	}
	if _, err := s.Insights(ctx, "Not Valid", engram.InsightsQuery{}); engram.ErrorField(err) != "namespace" {
		t.Errorf("bad namespace: %v", err)
	}
	// 2000 hour buckets exactly is allowed.
	if in, err := s.Insights(ctx, "default", engram.InsightsQuery{Bucket: engram.BucketHour, Since: now.Add(-2000 * time.Hour).Truncate(time.Hour), Until: now.Truncate(time.Hour)}); err != nil || len(in.Timeline) != 2000 {
		t.Errorf("2000 buckets: %v", err)
	}
	// The defaults: the 30 days before now, by day, 31 buckets (the first
	// starts at midnight before since).
	in, err := s.Insights(ctx, "default", engram.InsightsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	since := now.Add(-30 * 24 * time.Hour)
	if !in.Since.Equal(since) || !in.Until.Equal(now) || in.Bucket != engram.BucketDay || len(in.Timeline) != 31 ||
		!in.Timeline[0].BucketStart.Equal(time.Date(2026, 4, 6, 0, 0, 0, 0, time.UTC)) || !in.Timeline[30].BucketStart.Equal(time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("defaults: since %v until %v bucket %q, %d buckets from %v", in.Since, in.Until, in.Bucket, len(in.Timeline), in.Timeline[0].BucketStart)
	}
}

// TestInsightsDamagedDocument: an episode document the database cannot parse,
// or a heuristic that fails its digest, is ECORRUPT naming the file.
func TestInsightsDamagedDocument(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, damage string }{
		{"episode", `UPDATE episodes SET doc = '{"task_type": "other", "outcome": {"type": "fail'`},
		{"heuristic", `UPDATE heuristics SET doc = replace(doc, 'act', 'ACT')`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "engram.db")
			s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			must(t, s.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "x", Steps: []engram.Step{{Tool: "bash", Action: "ls"}}}))
			must(t, s.PutHeuristic(ctx, "default", &engram.Heuristic{Condition: "c", Action: "act", Confidence: 0.5}))
			if _, err := s.Insights(ctx, "default", engram.InsightsQuery{}); err != nil {
				t.Fatalf("before the damage: %v", err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(tc.damage); err != nil {
				t.Fatal(err)
			}
			_, err = s.Insights(ctx, "default", engram.InsightsQuery{})
			if engram.ErrorCode(err) != engram.ECORRUPT || !strings.Contains(err.Error(), path) {
				t.Fatalf("damaged %s: %v, want ECORRUPT naming %s", tc.name, err, path)
			}
		})
	}
}

// TestInsightsNULInText: a message holding a NUL byte (which PostgreSQL's
// json text cannot express) is summarised, not an error.
func TestInsightsNULInText(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *sqlstore.Store{
		"sqlite":   func(t *testing.T) *sqlstore.Store { return openTemp(t, sqlstore.Options{}) },
		"postgres": func(t *testing.T) *sqlstore.Store { return openPostgres(t, sqlstore.Options{}) },
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			must(t, s.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "x",
				Steps: []engram.Step{{Tool: "b\x00sh", Action: "ls", Result: &engram.StepResult{Type: engram.ResultError, Message: "bad\x00byte"}}}}))
			in, err := s.Insights(ctx, "default", engram.InsightsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(in.Errors) != 1 || in.Errors[0].Tool != "b\x00sh" || !strings.HasPrefix(in.Errors[0].ErrorType, "bad") || !strings.HasSuffix(in.Errors[0].ErrorType, "byte") {
				t.Fatalf("errors: %+v", in.Errors)
			}
			if len(in.ByTool) != 1 || in.ByTool[0].Tool != "b\x00sh" || in.ByTool[0].Errors != 1 {
				t.Fatalf("by tool %+v", in.ByTool)
			}
		})
	}
}

// BenchmarkInsights: one Insights call over a window holding n episodes of
// 5 steps each (plus as many outside it), by day, on SQLite and PostgreSQL.
//
//	go test ./sqlstore -run '^$' -bench Insights -benchtime 3x
func BenchmarkInsights(b *testing.B) {
	for _, c := range []struct {
		dialect string
		n       int
	}{{"sqlite", 1000}, {"sqlite", 10000}, {"postgres", 1000}, {"postgres", 10000}} {
		b.Run(fmt.Sprintf("%s/episodes=%d", c.dialect, c.n), func(b *testing.B) {
			n := c.n
			var s *sqlstore.Store
			if c.dialect == "sqlite" {
				s = openTemp(b, sqlstore.Options{Synchronous: sqlstore.SyncOff})
			} else {
				s = openPostgres(b, sqlstore.Options{})
			}
			ctx := context.Background()
			r := rand.New(rand.NewPCG(1, 2))
			since := insightsBase
			for done := 0; done < 2*n; done += 1000 {
				var eps []*engram.Episode
				for i := 0; i < 1000; i++ {
					start := since.Add(time.Duration(r.Int64N(int64(60 * 24 * time.Hour))))
					ep := &engram.Episode{TaskType: engram.TaskTypes[r.IntN(len(engram.TaskTypes))], TaskDescription: "bench",
						Context: engram.TaskContext{Domain: fmt.Sprintf("d%d", r.IntN(20))}, StartTime: start, Tags: []string{fmt.Sprintf("t%d", r.IntN(50))}}
					end := start.Add(time.Minute)
					ep.EndTime, ep.Outcome, ep.Reward = &end, &engram.Outcome{Type: engram.OutcomeFailure, Reason: fmt.Sprintf("reason %d", r.IntN(30))}, &engram.Reward{Total: r.Float64()}
					for j := 0; j < 5; j++ {
						st := engram.Step{Tool: fmt.Sprintf("tool%d", r.IntN(15)), Action: "a", Timestamp: start.Add(time.Duration(j) * time.Second), LatencyMS: r.Int64N(1000)}
						if r.IntN(5) == 0 {
							st.Result = &engram.StepResult{Type: engram.ResultError, Message: fmt.Sprintf("error %d", r.IntN(40))}
						}
						ep.Steps = append(ep.Steps, st)
					}
					eps = append(eps, ep)
				}
				must2(b, s.CreateEpisodes(ctx, "default", eps))
			}
			q := engram.InsightsQuery{Since: since, Until: since.Add(30 * 24 * time.Hour)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				in, err := s.Insights(ctx, "default", q)
				if err != nil || in.Totals.Episodes == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

func must2(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}
