package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/engramhq/engram"
)

var _ engram.Insighter = (*Store)(nil)

// maxRecoveries bounds the error_recovery patterns listed under one error.
const maxRecoveries = 10

// insightSQL is what the insights queries need that SQLite and PostgreSQL
// spell differently. Paths are constants of this file, never user input.
type insightSQL struct {
	text func(col, path string) string // a JSON member as text; NULL when absent
	num  func(col, path string) string // ... as a double
	int  func(col, path string) string // ... as a bigint
	// contains(a, b) is > 0 when text b occurs in text a.
	contains string
	// binary makes text order byte order (the tie-breakers of ranked lists).
	binary string
}

var sqliteInsights = &insightSQL{
	text: func(col, path string) string { return `json_extract(` + col + `, '$.` + path + `')` },
	num: func(col, path string) string {
		return `CAST(json_extract(` + col + `, '$.` + path + `') AS DOUBLE PRECISION)`
	},
	int:      func(col, path string) string { return `CAST(json_extract(` + col + `, '$.` + path + `') AS BIGINT)` },
	contains: "instr",
}

// pgPath turns a.b into PostgreSQL's '{a,b}'. A document holding \u0000
// cannot be read as json text (PostgreSQL refuses that escape), so it is
// replaced with U+FFFD first; JSON from encoding/json holds no other form
// of NUL.
func pgPath(col, path string) string {
	return `(replace(` + col + `, '\u0000', '\ufffd')::json #>> '{` + strings.ReplaceAll(path, ".", ",") + `}')`
}

var postgresInsights = &insightSQL{
	text:     pgPath,
	num:      func(col, path string) string { return `CAST(` + pgPath(col, path) + ` AS DOUBLE PRECISION)` },
	int:      func(col, path string) string { return `CAST(` + pgPath(col, path) + ` AS BIGINT)` },
	contains: "strpos",
	binary:   ` COLLATE "C"`,
}

func (s *Store) insightSQL() *insightSQL {
	if s.d.name == postgresDialect.name {
		return postgresInsights
	}
	return sqliteInsights
}

// insightWindow is a normalised InsightsQuery.
type insightWindow struct {
	q       engram.InsightsQuery
	width   time.Duration
	first   time.Time // the start of the first bucket (Since, aligned down)
	buckets int
}

// Times engram stores are Unix nanoseconds: the years 1678-2261.
var (
	minInsightTime = time.Unix(0, -1<<63+1).UTC()
	maxInsightTime = time.Unix(0, 1<<63-1).UTC()
)

// normalizeInsights fills q's defaults and checks it (see engram.Insighter).
func normalizeInsights(q engram.InsightsQuery, now time.Time) (insightWindow, error) {
	var w insightWindow
	if q.Until.IsZero() {
		q.Until = now
	}
	if q.Since.IsZero() {
		q.Since = q.Until.Add(-engram.DefaultInsightsWindow)
	}
	q.Since, q.Until = q.Since.UTC(), q.Until.UTC()
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"until", q.Until}, {"since", q.Since}} {
		if f.t.Before(minInsightTime) || f.t.After(maxInsightTime) {
			return w, engram.Invalid(f.name, "%s is outside the times engram stores (%d-%d)", f.t.Format(time.RFC3339), minInsightTime.Year()+1, maxInsightTime.Year()-1)
		}
	}
	if !q.Since.Before(q.Until) {
		return w, engram.Invalid("since", "%s is not before until (%s)", q.Since.Format(time.RFC3339Nano), q.Until.Format(time.RFC3339Nano))
	}
	switch q.Bucket {
	case "", engram.BucketDay:
		q.Bucket, w.width = engram.BucketDay, 24*time.Hour
		w.first = q.Since.Truncate(24 * time.Hour)
	case engram.BucketHour:
		w.width = time.Hour
		w.first = q.Since.Truncate(time.Hour)
	case engram.BucketWeek:
		w.width = 7 * 24 * time.Hour
		day := q.Since.Truncate(24 * time.Hour)
		w.first = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // back to Monday
	default:
		return w, engram.Invalid("bucket", "is %q; want hour, day or week", clipText(q.Bucket))
	}
	// Sub saturates at about 292 years, which is still far more than
	// MaxInsightsBuckets weeks, so an overflowed span is refused too.
	span := q.Until.Sub(w.first)
	n := int64(span / w.width)
	if span%w.width != 0 {
		n++
	}
	if n > engram.MaxInsightsBuckets {
		return w, engram.Invalid("bucket", "the window from %s to %s holds %d %s buckets; the limit is %d (use a larger bucket or a shorter window)",
			q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339), n, q.Bucket, engram.MaxInsightsBuckets)
	}
	w.buckets = int(n)
	switch {
	case q.Top == 0:
		q.Top = engram.DefaultInsightsTop
	case q.Top < 0 || q.Top > engram.MaxInsightsTop:
		return w, engram.Invalid("top", "is %d; must be 1-%d (omit it for the default of %d)", q.Top, engram.MaxInsightsTop, engram.DefaultInsightsTop)
	}
	w.q = q
	return w, nil
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Insights summarises the episodes of ns that started in the query's window,
// their steps, and the namespace's patterns and heuristics. Everything is
// aggregated by the database (GROUP BY, window functions for the
// percentiles) in one read transaction, so the figures agree with each
// other; what comes back to Go is bounded by the query: at most Top rows per
// ranked list, one row per task type, and one per timeline bucket. The cost
// is a sort of the window's episodes and steps; see docs/insights.md.
func (s *Store) Insights(ctx context.Context, ns engram.Namespace, q engram.InsightsQuery) (*engram.Insights, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	w, err := normalizeInsights(q, s.now())
	if err != nil {
		return nil, err
	}
	in := &engram.Insights{Namespace: ns, Since: w.q.Since, Until: w.q.Until, Bucket: w.q.Bucket}
	x := s.insightSQL()
	win := []any{string(ns), nanos(w.q.Since), nanos(w.q.Until)}
	err = s.read(ctx, "insights", func(rtx *sql.Tx) error {
		groups, err := s.insightGroups(ctx, rtx, x, w.q.Top, win)
		if err != nil {
			return err
		}
		if len(groups[0]) == 1 {
			in.Totals = groups[0][0]
		}
		in.ByTaskType, in.ByDomain, in.ByTag = groups[1], groups[2], groups[3]
		if in.Timeline, err = s.insightTimeline(ctx, rtx, x, w, win); err != nil {
			return err
		}
		if in.ByTool, err = s.insightTools(ctx, rtx, x, w.q.Top, win); err != nil {
			return err
		}
		if in.Errors, err = s.insightErrors(ctx, rtx, x, w.q.Top, win); err != nil {
			return err
		}
		if in.Patterns, err = s.insightPatterns(ctx, rtx, x, ns, w.q.Top); err != nil {
			return err
		}
		in.Heuristics, err = s.insightHeuristics(ctx, rtx, ns, w.q.Top)
		return err
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// insightQuery runs one query of Insights, turning a document the database
// cannot parse as JSON into ECORRUPT naming the file.
func (s *Store) insightQuery(ctx context.Context, rtx *sql.Tx, what, query string, args []any, row func(*sql.Rows) error) error {
	rows, err := rtx.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return s.insightErr(what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return s.insightErr(what, err)
		}
	}
	return s.insightErr(what, rows.Err())
}

func (s *Store) insightErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var ee *engram.Error
	if errors.As(err, &ee) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := err.Error()
	// SQLite: "malformed JSON"; PostgreSQL: invalid input syntax for type
	// json (22P02), or a timestamp that does not parse.
	if strings.Contains(msg, "malformed JSON") || strings.Contains(msg, "type json") || strings.Contains(msg, "22P02") || strings.Contains(msg, "22007") {
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf(
			"%s: a stored document in %s is damaged (run engram db check)", what, s.opts.Path), Err: err}
	}
	return fmt.Errorf("%s: %w", what, s.d.classify(err, s.opts.Path))
}

// percentiles is the SQL of a (keys..., p50, p95) table: the nearest-rank
// 50th and 95th percentiles of v per key over the rows of from, a (keys...,
// v) query. The rank of percentile p among n values is ceil(p*n/100).
func percentiles(keys, from string) string {
	return `SELECT ` + keys + `, MAX(CASE WHEN rn = (50 * c + 99) / 100 THEN v END) AS p50, MAX(CASE WHEN rn = (95 * c + 99) / 100 THEN v END) AS p95
	   FROM (SELECT ` + keys + `, v, ROW_NUMBER() OVER (PARTITION BY ` + keys + ` ORDER BY v) AS rn, COUNT(*) OVER (PARTITION BY ` + keys + `) AS c
	           FROM (` + from + `) pv) ranked
	  GROUP BY ` + keys
}

// The groupings of insightGroups, in its answer's order.
const (
	groupTotals = iota
	groupTaskType
	groupDomain
	groupTag
	numGroups
)

// insightGroups summarises the window's episodes four ways in one
// statement: all of them, by task type, by domain (the top largest) and by
// tag (likewise). Each episode's document and steps are read once, into ep.
func (s *Store) insightGroups(ctx context.Context, rtx *sql.Tx, x *insightSQL, top int, win []any) ([numGroups][]engram.InsightGroup, error) {
	cols := `done, dur, step_count, outcome, reward, tokens`
	query := `WITH ep AS MATERIALIZED (
		SELECT e.episode_id AS id, e.task_type, e.domain, CASE WHEN e.complete THEN 1 ELSE 0 END AS done,
		       CASE WHEN e.complete AND e.end_time IS NOT NULL THEN (e.end_time - e.start_time) / 1000000 END AS dur, e.step_count,
		       ` + x.text("e.doc", "outcome.type") + ` AS outcome, ` + x.num("e.doc", "reward.total") + ` AS reward,
		       (SELECT SUM(s.tokens_used) FROM steps s
		         WHERE s.namespace = e.namespace AND s.episode_id = e.episode_id) AS tokens
		  FROM episodes e
		 WHERE e.namespace = ? AND e.start_time >= ? AND e.start_time < ?),
	r AS MATERIALIZED (
		SELECT 0 AS grp, '' AS k, ` + cols + ` FROM ep
		UNION ALL SELECT 1, task_type, ` + cols + ` FROM ep
		UNION ALL SELECT 2, domain, ` + cols + ` FROM ep
		UNION ALL SELECT 3, t.tag, ` + cols + ` FROM ep JOIN episode_tags t ON t.namespace = ? AND t.episode_id = ep.id),
	g AS (
		SELECT grp, k, COUNT(*) AS n, CAST(SUM(done) AS BIGINT) AS done,
		       CAST(SUM(CASE WHEN done = 1 AND outcome = 'success' THEN 1 ELSE 0 END) AS BIGINT) AS succ,
		       CAST(SUM(CASE WHEN done = 1 AND outcome = 'partial_success' THEN 1 ELSE 0 END) AS BIGINT) AS part,
		       CAST(SUM(CASE WHEN done = 1 AND outcome = 'failure' THEN 1 ELSE 0 END) AS BIGINT) AS fail,
		       CAST(SUM(CASE WHEN done = 1 AND outcome = 'abstained' THEN 1 ELSE 0 END) AS BIGINT) AS abst,
		       AVG(reward) AS reward, CAST(SUM(tokens) AS BIGINT) AS tokens,
		       ROW_NUMBER() OVER (PARTITION BY grp ORDER BY COUNT(*) DESC, k` + x.binary + `) AS rank
		  FROM r GROUP BY grp, k),
	gt AS (SELECT * FROM g WHERE rank <= CASE WHEN grp <= 1 THEN CAST(? AS BIGINT) ELSE CAST(? AS BIGINT) END),
	dur AS (` + percentiles("grp, k", `SELECT grp, k, dur AS v FROM r WHERE dur IS NOT NULL`) + `),
	stp AS (` + percentiles("grp, k", `SELECT grp, k, step_count AS v FROM r`) + `)
	SELECT gt.grp, gt.k, gt.n, gt.done, gt.succ, gt.part, gt.fail, gt.abst, gt.reward, dur.p50, dur.p95, stp.p50, stp.p95, gt.tokens
	  FROM gt LEFT JOIN dur ON dur.grp = gt.grp AND dur.k = gt.k LEFT JOIN stp ON stp.grp = gt.grp AND stp.k = gt.k
	 ORDER BY gt.grp, gt.rank`
	args := append(append([]any{}, win...), win[0], engram.MaxInsightsTop, top)
	var out [numGroups][]engram.InsightGroup
	for i := range out {
		out[i] = []engram.InsightGroup{}
	}
	err := s.insightQuery(ctx, rtx, "insights groups", query, args, func(rows *sql.Rows) error {
		var grp int
		var g engram.InsightGroup
		var reward sql.NullFloat64
		var d50, d95, s50, s95, tokens sql.NullInt64
		if err := rows.Scan(&grp, &g.Key, &g.Episodes, &g.Completed, &g.Success, &g.Partial, &g.Failure, &g.Abstained, &reward,
			&d50, &d95, &s50, &s95, &tokens); err != nil {
			return err
		}
		if grp < 0 || grp >= numGroups {
			return fmt.Errorf("grouping %d", grp) // cannot happen: the query makes 0-3
		}
		g.Key = s.unescape(g.Key)
		if grp == groupTaskType {
			g.TaskType = engram.TaskType(g.Key)
		}
		if reward.Valid {
			g.MeanReward = &reward.Float64
		}
		g.DurationMSP50, g.DurationMSP95, g.StepsP50, g.StepsP95, g.Tokens = d50.Int64, d95.Int64, s50.Int64, s95.Int64, tokens.Int64
		g.SuccessRate = rate(g.Success, g.Completed)
		g.PartialRate = rate(g.Partial, g.Completed)
		g.FailureRate = rate(g.Failure, g.Completed)
		g.AbstainedRate = rate(g.Abstained, g.Completed)
		out[grp] = append(out[grp], g)
		return nil
	})
	return out, err
}

// unescape undoes what the driver did to a text column going in.
func (s *Store) unescape(v string) string {
	if s.d.textOut != nil {
		return s.d.textOut(v)
	}
	return v
}

func rate(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// insightTimeline counts the window's episodes per bucket; every bucket of
// the window is in the answer, empty ones too.
func (s *Store) insightTimeline(ctx context.Context, rtx *sql.Tx, x *insightSQL, w insightWindow, win []any) ([]engram.InsightBucket, error) {
	out := make([]engram.InsightBucket, w.buckets)
	for i := range out {
		out[i].BucketStart = w.first.Add(time.Duration(i) * w.width)
	}
	query := `SELECT b, COUNT(*), CAST(SUM(done) AS BIGINT), CAST(SUM(CASE WHEN done = 1 AND outcome = 'success' THEN 1 ELSE 0 END) AS BIGINT), AVG(reward)
	  FROM (SELECT (e.start_time - ?) / ? AS b, CASE WHEN e.complete THEN 1 ELSE 0 END AS done,
	               ` + x.text("e.doc", "outcome.type") + ` AS outcome, ` + x.num("e.doc", "reward.total") + ` AS reward
	          FROM episodes e WHERE e.namespace = ? AND e.start_time >= ? AND e.start_time < ?) eb
	 GROUP BY b`
	args := append([]any{nanos(w.first), int64(w.width)}, win...)
	err := s.insightQuery(ctx, rtx, "insights timeline", query, args, func(rows *sql.Rows) error {
		var b, n, done, succ int64
		var reward sql.NullFloat64
		if err := rows.Scan(&b, &n, &done, &succ, &reward); err != nil {
			return err
		}
		if b < 0 || b >= int64(len(out)) {
			return fmt.Errorf("bucket %d of %d", b, len(out)) // cannot happen: the window is inside the buckets
		}
		out[b].Episodes, out[b].Completed, out[b].SuccessRate = n, done, rate(succ, done)
		if reward.Valid {
			out[b].MeanReward = &reward.Float64
		}
		return nil
	})
	return out, err
}

// stepsOfWindow is the FROM clause of the steps of the window's episodes.
const stepsOfWindow = ` FROM episodes e JOIN steps s ON s.namespace = e.namespace AND s.episode_id = e.episode_id
		 WHERE e.namespace = ? AND e.start_time >= ? AND e.start_time < ?`

// insightTools summarises the steps of the window's episodes per tool.
func (s *Store) insightTools(ctx context.Context, rtx *sql.Tx, x *insightSQL, top int, win []any) ([]engram.ToolInsight, error) {
	query := `WITH st AS MATERIALIZED (
		SELECT s.tool AS k, s.result_type AS rtype,
		       s.latency_ms AS lat, s.tokens_used AS tok` + stepsOfWindow + `),
	g AS (
		SELECT k, COUNT(*) AS n, CAST(SUM(CASE WHEN rtype IN ('error', 'timeout') THEN 1 ELSE 0 END) AS BIGINT) AS errs, CAST(SUM(tok) AS BIGINT) AS tok
		  FROM st GROUP BY k ORDER BY n DESC, k` + x.binary + ` LIMIT ?),
	lat AS (` + percentiles("k", `SELECT k, lat AS v FROM st WHERE k IN (SELECT k FROM g)`) + `)
	SELECT g.k, g.n, g.errs, g.tok, lat.p50, lat.p95 FROM g LEFT JOIN lat ON lat.k = g.k ORDER BY g.n DESC, g.k` + x.binary
	out := []engram.ToolInsight{}
	err := s.insightQuery(ctx, rtx, "insights by tool", query, append(append([]any{}, win...), top), func(rows *sql.Rows) error {
		var t engram.ToolInsight
		var p50, p95 sql.NullInt64
		if err := rows.Scan(&t.Tool, &t.Uses, &t.Errors, &t.Tokens, &p50, &p95); err != nil {
			return err
		}
		t.Tool = s.unescape(t.Tool)
		t.LatencyMSP50, t.LatencyMSP95, t.ErrorRate = p50.Int64, p95.Int64, rate(t.Errors, t.Uses)
		out = append(out, t)
		return nil
	})
	return out, err
}

// effectiveness is success_when_applied / times_applied of a pattern row p.
func effectiveness(x *insightSQL) string {
	applied := x.int("p.doc", "effectiveness.times_applied")
	return `CASE WHEN COALESCE(` + applied + `, 0) > 0 THEN CAST(COALESCE(` + x.int("p.doc", "effectiveness.success_when_applied") + `, 0) AS DOUBLE PRECISION) / ` + applied + ` ELSE 0 END`
}

// insightErrors ranks the window's failures: erring steps by (tool,
// message) and failed episodes by reason, each with the error_recovery
// patterns whose error_type occurs in its message (most effective first).
func (s *Store) insightErrors(ctx context.Context, rtx *sql.Tx, x *insightSQL, top int, win []any) ([]engram.ErrorInsight, error) {
	rtype := "s.result_type"
	query := `WITH errs AS (
		SELECT 'step' AS source, s.tool AS tool, COALESCE(NULLIF(s.result_message, ''), ` + rtype + `) AS msg,
		       COUNT(*) AS n, MAX(s.at / 1000000) AS last` + stepsOfWindow + ` AND ` + rtype + ` IN ('error', 'timeout')
		 GROUP BY s.tool, COALESCE(NULLIF(s.result_message, ''), ` + rtype + `)
		UNION ALL
		SELECT 'episode' AS source, '' AS tool, COALESCE(NULLIF(` + x.text("e.doc", "outcome.reason") + `, ''), 'failure') AS msg,
		       COUNT(*) AS n, MAX(COALESCE(e.end_time, e.start_time) / 1000000) AS last
		  FROM episodes e WHERE e.namespace = ? AND e.start_time >= ? AND e.start_time < ? AND e.complete AND ` + x.text("e.doc", "outcome.type") + ` = 'failure'
		 GROUP BY COALESCE(NULLIF(` + x.text("e.doc", "outcome.reason") + `, ''), 'failure')),
	top AS (SELECT source, tool, msg, n, last FROM errs ORDER BY n DESC, last DESC, source, tool` + x.binary + `, msg` + x.binary + ` LIMIT ?),
	rec AS (
		SELECT top.source, top.tool, top.msg, p.pattern_id,
		       ROW_NUMBER() OVER (PARTITION BY top.source, top.tool, top.msg ORDER BY ` + effectiveness(x) + ` DESC, p.success_rate DESC, p.pattern_id) AS rn
		  FROM top JOIN patterns p ON p.namespace = ? AND p.kind = 'error_recovery'
		   AND ` + x.text("p.doc", "error_type") + ` <> '' AND ` + x.contains + `(top.msg, ` + x.text("p.doc", "error_type") + `) > 0)
	SELECT top.source, top.tool, top.msg, top.n, top.last, rec.pattern_id
	  FROM top LEFT JOIN rec ON rec.source = top.source AND rec.tool = top.tool AND rec.msg = top.msg AND rec.rn <= ?
	 ORDER BY top.n DESC, top.last DESC, top.source, top.tool` + x.binary + `, top.msg` + x.binary + `, rec.rn`
	args := append(append(append(append([]any{}, win...), win...), top, win[0]), maxRecoveries)
	out := []engram.ErrorInsight{}
	err := s.insightQuery(ctx, rtx, "insights errors", query, args, func(rows *sql.Rows) error {
		var e engram.ErrorInsight
		var last sql.NullInt64
		var pid []byte
		if err := rows.Scan(&e.Source, &e.Tool, &e.ErrorType, &e.Count, &last, &pid); err != nil {
			return err
		}
		e.Tool = s.unescape(e.Tool)
		var rec []engram.PatternID
		if pid != nil {
			u, err := uuidFrom(pid)
			if err != nil {
				return err
			}
			rec = []engram.PatternID{{UUID: u}}
		}
		if n := len(out); n > 0 && out[n-1].Source == e.Source && out[n-1].Tool == e.Tool && out[n-1].ErrorType == e.ErrorType {
			out[n-1].Recoveries = append(out[n-1].Recoveries, rec...) // another recovery of the same error
			return nil
		}
		if last.Valid {
			e.LastSeen = time.UnixMilli(last.Int64).UTC()
		}
		e.Recoveries = rec
		out = append(out, e)
		return nil
	})
	return out, err
}

// insightPatterns ranks the namespace's patterns by effectiveness, then
// success rate; the top rows' documents are read (and verified) for their
// summaries.
func (s *Store) insightPatterns(ctx context.Context, rtx *sql.Tx, x *insightSQL, ns engram.Namespace, top int) ([]engram.PatternInsight, error) {
	query := `SELECT p.pattern_id, p.doc, p.digest FROM patterns p WHERE p.namespace = ?
	 ORDER BY ` + effectiveness(x) + ` DESC, p.success_rate DESC, p.pattern_id LIMIT ?`
	out := []engram.PatternInsight{}
	err := s.insightQuery(ctx, rtx, "insights patterns", query, []any{string(ns), top}, func(rows *sql.Rows) error {
		var ref, doc, digest []byte
		if err := rows.Scan(&ref, &doc, &digest); err != nil {
			return err
		}
		u, err := uuidFrom(ref)
		if err != nil {
			return err
		}
		var p engram.Pattern
		if err := s.decodeVerified("pattern", u.String(), doc, digest, &p); err != nil {
			return err
		}
		pi := engram.PatternInsight{PatternID: engram.PatternID{UUID: u}, Kind: p.Kind, Summary: patternSummary(&p), Domain: p.Domain,
			SuccessRate: p.SuccessRate, TimesApplied: p.Effectiveness.TimesApplied, AvgRewardDelta: p.Effectiveness.AvgRewardDelta,
			Occurrences: p.OccurrenceCount}
		if p.Effectiveness.TimesApplied > 0 {
			pi.Effectiveness = float64(p.Effectiveness.SuccessWhenApplied) / float64(p.Effectiveness.TimesApplied)
		}
		out = append(out, pi)
		return nil
	})
	return out, err
}

// patternSummary is the one line that says what a pattern is.
func patternSummary(p *engram.Pattern) string {
	switch p.Kind {
	case engram.PatternToolSequence:
		return strings.Join(p.Tools, " -> ")
	case engram.PatternDecisionPoint:
		return p.Condition + " => " + p.Action
	case engram.PatternErrorRecovery:
		return p.ErrorType
	case engram.PatternContextPattern:
		return strings.Join(p.ContextFeatures, ", ")
	}
	return ""
}

// insightHeuristics lists the namespace's most confident heuristics.
func (s *Store) insightHeuristics(ctx context.Context, rtx *sql.Tx, ns engram.Namespace, top int) ([]engram.HeuristicInsight, error) {
	query := `SELECT heuristic_id, doc, digest FROM heuristics WHERE namespace = ? ORDER BY confidence DESC, heuristic_id LIMIT ?`
	out := []engram.HeuristicInsight{}
	err := s.insightQuery(ctx, rtx, "insights heuristics", query, []any{string(ns), top}, func(rows *sql.Rows) error {
		var ref, doc, digest []byte
		if err := rows.Scan(&ref, &doc, &digest); err != nil {
			return err
		}
		u, err := uuidFrom(ref)
		if err != nil {
			return err
		}
		var h engram.Heuristic
		if err := s.decodeVerified("heuristic", u.String(), doc, digest, &h); err != nil {
			return err
		}
		out = append(out, engram.HeuristicInsight{HeuristicID: engram.HeuristicID{UUID: u}, Condition: h.Condition, Action: h.Action,
			Domain: h.Domain, Confidence: h.Confidence})
		return nil
	})
	return out, err
}
