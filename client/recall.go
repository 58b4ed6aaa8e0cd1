package client

import (
	"context"

	"github.com/engramhq/engram"
)

var _ engram.Recaller = (*Client)(nil)

// Recall asks the server's POST /v1/recall. The query is checked here first
// (a NaN cannot travel as JSON), so bad input fails as it would in process.
// A server whose store cannot recall answers 501 (not_implemented).
func (c *Client) Recall(ctx context.Context, ns engram.Namespace, q engram.RecallQuery) (*engram.RecallResult, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	n := q
	n.Normalize()
	if err := n.Validate(); err != nil {
		return nil, err
	}
	var res engram.RecallResult
	if err := c.do(ctx, req{method: "POST", path: "/v1/recall", ns: ns, body: q.Request(), out: &res}); err != nil {
		return nil, err
	}
	if res.Hits == nil {
		res.Hits = []engram.RecallHit{}
	}
	return &res, nil
}
