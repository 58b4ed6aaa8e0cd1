package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// recallingStore is the OpenAPI tests' store: a Memory over the test's
// durable store (so recall answers), with syncingStore's fixed Sync.
type recallingStore struct {
	syncingStore
	vectorOps // the namespace contract over embeddings (vectors.go)
	m         *memory.Memory
}

type vectorOps interface {
	engram.VectorStore
	sameDimPutter
	sweeper
}

func (s recallingStore) Recall(ctx context.Context, ns engram.Namespace, q engram.RecallQuery) (*engram.RecallResult, error) {
	return s.m.Recall(ctx, ns, q)
}

func (s recallingStore) Insights(ctx context.Context, ns engram.Namespace, q engram.InsightsQuery) (*engram.Insights, error) {
	return s.m.Insights(ctx, ns, q)
}

func newRecallingStore(t *testing.T) recallingStore {
	t.Helper()
	m, err := memory.Open(context.Background(), memory.Config{DataDir: t.TempDir(), Durable: openTestStore(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return recallingStore{syncingStore{m}, m, m}
}
