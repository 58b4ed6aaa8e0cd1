package memory

import (
	"context"
	"fmt"
	"sort"

	"github.com/engramhq/engram"
)

// replayIndexes brings the loaded vector indexes up to the change feed after
// a sync (Sync defers it). A failure marks recall results stale until a
// later replay succeeds; it never fails the sync.
func (m *Memory) replayIndexes(ctx context.Context, opts engram.SyncOptions) {
	if opts.DryRun || m.shut.Load() {
		return
	}
	if err := m.idx.replay(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("memory: vector index replay failed; recall is stale until the next sync", "err", err)
	}
}

// IndexGroup names the indexes of one (namespace, item type, model).
type IndexGroup struct {
	Namespace engram.Namespace `json:"namespace"`
	ItemType  engram.ItemType  `json:"item_type"`
	Model     string           `json:"model"`
}

// IndexGroups lists the (item type, model) pairs ns holds embeddings of, by
// reading every embedding of ns (an administrative call; its cost is the
// namespace's embeddings). ns "" lists every namespace's.
func (m *Memory) IndexGroups(ctx context.Context, ns engram.Namespace) ([]IndexGroup, error) {
	nss := []engram.Namespace{ns}
	if ns == "" {
		var err error
		if nss, err = m.Namespaces(ctx); err != nil {
			return nil, err
		}
	}
	seen := map[IndexGroup]bool{}
	var out []IndexGroup
	for _, n := range nss {
		err := eachPage(func(cur string) ([]*engram.Embedding, string, error) {
			p, err := m.ListEmbeddings(ctx, n, engram.EmbeddingFilter{Limit: engram.MaxQueryLimit, Cursor: cur})
			return p.Embeddings, p.NextCursor, err
		}, func(e *engram.Embedding) error {
			g := IndexGroup{Namespace: n, ItemType: e.ItemType, Model: e.Model}
			if !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.ItemType != b.ItemType {
			return a.ItemType < b.ItemType
		}
		return a.Model < b.Model
	})
	return out, nil
}

// LoadIndexes loads (from snapshots, or by rebuilding) the indexes of every
// group ns holds embeddings of, and returns their status.
func (m *Memory) LoadIndexes(ctx context.Context, ns engram.Namespace) ([]engram.IndexStatus, error) {
	gs, err := m.IndexGroups(ctx, ns)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if _, err := m.idx.get(ctx, groupKey{g.Namespace, g.ItemType, g.Model}); err != nil {
			return nil, err
		}
	}
	return m.indexStatus(ctx, ns)
}

func (m *Memory) indexStatus(ctx context.Context, ns engram.Namespace) ([]engram.IndexStatus, error) {
	last, err := m.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	var out []engram.IndexStatus
	for _, st := range m.idx.status(last) {
		if ns == "" || st.Namespace == ns {
			out = append(out, st)
		}
	}
	return out, nil
}

// RebuildIndexes rebuilds the indexes of every group ns ("" every
// namespace) holds embeddings of from the durable embeddings, replacing
// their snapshots.
func (m *Memory) RebuildIndexes(ctx context.Context, ns engram.Namespace) ([]engram.IndexStatus, error) {
	gs, err := m.IndexGroups(ctx, ns)
	if err != nil {
		return nil, err
	}
	m.idx.loadMu.Lock()
	if m.idx.closed.Load() {
		m.idx.loadMu.Unlock()
		return nil, errClosed
	}
	for _, g := range gs {
		if _, err = m.idx.rebuildLocked(ctx, groupKey{g.Namespace, g.ItemType, g.Model}, "rebuild asked for"); err != nil {
			break
		}
	}
	m.idx.loadMu.Unlock()
	if err != nil {
		return nil, err
	}
	return m.indexStatus(ctx, ns)
}

// IndexProblem is one disagreement VerifyIndexes found.
type IndexProblem struct {
	Group   IndexGroup `json:"group"`
	Problem string     `json:"problem"`
}

// VerifyIndexes loads the indexes of ns ("" every namespace), brings them
// up to the feed, verifies every vector a snapshot file holds (loading
// checks only the rest of the file) and checks them against the durable embeddings: every
// embedding is in the index of its dimension, and no index holds more
// vectors than there are embeddings. Problems are returned, not repaired
// (RebuildIndexes repairs).
func (m *Memory) VerifyIndexes(ctx context.Context, ns engram.Namespace) ([]IndexProblem, error) {
	if _, err := m.LoadIndexes(ctx, ns); err != nil {
		return nil, err
	}
	if err := m.idx.replay(ctx); err != nil {
		return nil, err
	}
	gs, err := m.IndexGroups(ctx, ns)
	if err != nil {
		return nil, err
	}
	problems := []IndexProblem{}
	for _, gk := range gs {
		g := m.idx.lookup(groupKey{gk.Namespace, gk.ItemType, gk.Model})
		if g == nil {
			problems = append(problems, IndexProblem{gk, "not loaded"})
			continue
		}
		counts := map[int]int{}
		err := eachPage(func(cur string) ([]*engram.Embedding, string, error) {
			p, err := m.ListEmbeddings(ctx, gk.Namespace, engram.EmbeddingFilter{ItemType: gk.ItemType, Model: gk.Model, Limit: engram.MaxQueryLimit, Cursor: cur})
			return p.Embeddings, p.NextCursor, err
		}, func(e *engram.Embedding) error {
			d := len(e.Vector)
			counts[d]++
			g.mu.Lock()
			di := g.dims[d]
			g.mu.Unlock()
			// Under use and only while g is loaded: the tiering loop may
			// demote it (closing its indexes) meanwhile.
			m.idx.use.RLock()
			in := di != nil && (m.idx.lookup(gk2(gk)) != g || di.ix.Contains(e.ItemID))
			m.idx.use.RUnlock()
			if !in {
				problems = append(problems, IndexProblem{gk, fmt.Sprintf("embedding %s (dim %d) is missing from the index", e.Key(), d)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, di := range g.dimsList() {
			m.idx.use.RLock()
			if m.idx.lookup(gk2(gk)) != g {
				m.idx.use.RUnlock()
				continue // demoted meanwhile; its snapshot is checked when it loads
			}
			err := di.ix.Verify()
			m.idx.use.RUnlock()
			if err != nil {
				problems = append(problems, IndexProblem{gk, fmt.Sprintf("index of dim %d is damaged: %v", di.dim, err)})
			}
			if n := di.ix.Len(); n > counts[di.dim] {
				problems = append(problems, IndexProblem{gk, fmt.Sprintf("index of dim %d holds %d vectors for %d embeddings", di.dim, n, counts[di.dim])})
			}
		}
	}
	return problems, nil
}

func gk2(g IndexGroup) groupKey { return groupKey{g.Namespace, g.ItemType, g.Model} }
