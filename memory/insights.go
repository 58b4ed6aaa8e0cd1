package memory

import (
	"context"

	"github.com/engramhq/engram"
)

var _ engram.Insighter = (*Memory)(nil)

// codeNotImplemented is the code of an answer the store cannot give (the
// server answers it with 501).
const codeNotImplemented = "not_implemented"

// Insights forwards to the durable store, through the circuit breaker like
// every durable read: insights are aggregates over the source of truth, so
// no cache tier can answer them, and while the durable store is down they
// fail with EUNAVAILABLE. A durable store that is not an engram.Insighter
// answers not_implemented.
func (m *Memory) Insights(ctx context.Context, ns engram.Namespace, q engram.InsightsQuery) (*engram.Insights, error) {
	in, ok := m.durable.(engram.Insighter)
	if !ok {
		return nil, &engram.Error{Code: codeNotImplemented, Message: "the durable store cannot compute insights"}
	}
	return durableRead(m, ctx, func() (*engram.Insights, error) { return in.Insights(ctx, ns, q) })
}
