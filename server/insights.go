package server

import (
	"context"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/engramhq/engram"
)

// formatTimeOrAgo marks a parameter parseWhen reads: an RFC 3339 time, a
// date, or a duration from now (-7d, -36h, -90m; the OpenAPI document says
// so with anyOf).
const formatTimeOrAgo = "date-time|date|duration"

// agoPattern is the OpenAPI pattern of a duration from now.
const agoPattern = `^[-+]?([0-9]+d|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+)$`

var insightsParams = []param{
	{Name: "since", Type: "string", Format: formatTimeOrAgo, Desc: "summarise the episodes that started at or after this time: RFC 3339, a date, or a duration from now (-7d, -36h); default: 30 days before until"},
	{Name: "until", Type: "string", Format: formatTimeOrAgo, Desc: "... and before this time (RFC 3339, a date or a duration from now); default: now"},
	{Name: "bucket", Type: "string", Desc: "the timeline's bucket: hour, day (the default) or week (Monday to Monday, UTC); at most 2000 buckets"},
	{Name: "top", Type: "integer", Desc: "rows of each ranked list (by_domain, by_tag, by_tool, errors, patterns, heuristics): 1-200, default 20"},
}

// parseWhen reads an RFC 3339 time, a date, or a duration relative to now:
// a Go duration (-36h, -90m, 1h30m) or whole days (-7d).
func parseWhen(name, s string, now time.Time) (time.Time, error) {
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
	return time.Time{}, engram.Invalid(name, "%q is not an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration from now (-7d, -36h)", clip(s))
}

// parseInsights reads GET /v1/insights' parameters; the store checks the
// query they make (since before until, the bucket, the number of buckets, top).
func parseInsights(q url.Values, now time.Time) (engram.InsightsQuery, error) {
	var iq engram.InsightsQuery
	var err error
	if iq.Since, err = parseWhen("since", q.Get("since"), now); err != nil {
		return iq, err
	}
	if iq.Until, err = parseWhen("until", q.Get("until"), now); err != nil {
		return iq, err
	}
	iq.Bucket = q.Get("bucket")
	if s, ok := q["top"]; ok {
		n, err := strconv.Atoi(s[0])
		if err != nil || n < 1 || n > engram.MaxInsightsTop {
			return iq, engram.Invalid("top", "%q: want an integer 1-%d (omit it for the default of %d)", clip(s[0]), engram.MaxInsightsTop, engram.DefaultInsightsTop)
		}
		iq.Top = n
	}
	return iq, nil
}

// insights answers GET /v1/insights from a store that is an
// engram.Insighter; 501 otherwise.
func (s *Server) insights(c *call) (any, error) {
	q, err := parseInsights(c.r.URL.Query(), time.Now())
	if err != nil {
		return nil, err
	}
	return insightsOf(c.ctx, s.store, c.ns, q)
}

func insightsOf(ctx context.Context, store engram.Store, ns engram.Namespace, q engram.InsightsQuery) (*engram.Insights, error) {
	in, ok := store.(engram.Insighter)
	if !ok {
		return nil, httpError(CodeNotImplemented, "this store cannot compute insights")
	}
	return in.Insights(ctx, ns, q)
}

type insightsIn struct {
	Namespace string `json:"namespace,omitempty"`
	Since     string `json:"since,omitempty" jsonschema:"the episodes that started at or after this time: RFC 3339, a date, or a duration from now (-7d, -36h); default: 30 days before until"`
	Until     string `json:"until,omitempty" jsonschema:"... and before this time; default: now"`
	Bucket    string `json:"bucket,omitempty" jsonschema:"the timeline's bucket: hour, day (default) or week"`
	Top       *int   `json:"top,omitempty" jsonschema:"rows of each ranked list: 1-200, default 20"`
}

func (t *mcpTools) insightsTools() []mcpTool {
	return []mcpTool{
		{name: "memory_insights", in: reflect.TypeFor[insightsIn](), out: reflect.TypeFor[engram.Insights](), readOnly: true,
			desc: "Summarise the namespace over a time window: success, failure and abstention rates, mean reward, duration and steps (p50/p95) " +
				"by task type, domain and tag; a timeline; each tool's uses, error rate and latency; the most frequent errors with the " +
				"error-recovery patterns that match them; the most effective patterns and the most confident heuristics.",
			run: func(ctx context.Context, ns engram.Namespace, in any, _ *engram.ReadInfo) (any, error) {
				a := in.(*insightsIn)
				now := time.Now()
				var q engram.InsightsQuery
				var err error
				if q.Since, err = parseWhen("since", a.Since, now); err != nil {
					return nil, err
				}
				if q.Until, err = parseWhen("until", a.Until, now); err != nil {
					return nil, err
				}
				q.Bucket = a.Bucket
				if a.Top != nil {
					if *a.Top < 1 || *a.Top > engram.MaxInsightsTop {
						return nil, engram.Invalid("top", "is %d; must be 1-%d", *a.Top, engram.MaxInsightsTop)
					}
					q.Top = *a.Top
				}
				return insightsOf(ctx, t.store, ns, q)
			}},
	}
}
