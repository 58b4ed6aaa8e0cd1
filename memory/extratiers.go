package memory

import (
	"context"

	"github.com/engramhq/engram"
)

// AddTierStatus makes Status report one more tier, described by f on each
// call: something the process runs beside the Memory and wants in
// /v1/status and the metrics (engram serve's blocks replication). f must
// be quick and safe for concurrent use; it is called without locks held.
func (m *Memory) AddTierStatus(f func(ctx context.Context) engram.TierStatus) {
	m.extra.Lock()
	m.extra.fs = append(m.extra.fs, f)
	m.extra.Unlock()
}

func (m *Memory) extraTiers(ctx context.Context) []engram.TierStatus {
	m.extra.Lock()
	fs := append([]func(context.Context) engram.TierStatus(nil), m.extra.fs...)
	m.extra.Unlock()
	out := make([]engram.TierStatus, 0, len(fs))
	for _, f := range fs {
		out = append(out, f(ctx))
	}
	return out
}
