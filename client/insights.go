package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/engramhq/engram"
)

var _ engram.Insighter = (*Client)(nil)

// Insights asks the server's GET /v1/insights. The server (its store)
// checks the query, so bad input fails as it would in process, with the
// same field; a server whose store cannot summarise answers 501
// (not_implemented).
func (c *Client) Insights(ctx context.Context, ns engram.Namespace, q engram.InsightsQuery) (*engram.Insights, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	if q.Top < 0 || q.Top > engram.MaxInsightsTop {
		return nil, engram.Invalid("top", "is %d; must be 1-%d (omit it for the default of %d)", q.Top, engram.MaxInsightsTop, engram.DefaultInsightsTop)
	}
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Bucket != "" {
		v.Set("bucket", q.Bucket)
	}
	if q.Top != 0 {
		v.Set("top", strconv.Itoa(q.Top))
	}
	var in engram.Insights
	if err := c.do(ctx, req{method: "GET", path: "/v1/insights", ns: ns, query: v, out: &in}); err != nil {
		return nil, err
	}
	return &in, nil
}
