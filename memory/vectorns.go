package memory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
)

// The namespace contract over embeddings (engram.VectorStore): batch
// get/delete beside PutEmbeddings, a streaming read of a namespace,
// namespace listing and stats, clear, and flush (FlushVectors, vtier.go).
// Batch reads and stats read the durable store (like every listing);
// writes go durable first and then reach the cache tiers and the loaded
// indexes, as the single-record writes do.

var _ engram.VectorStore = (*Memory)(nil)

// PutEmbeddingsSameDim is PutEmbeddings that refuses (EINVALID naming
// embeddings[i].vector) a vector whose dimension differs from the others
// of its item type and model, in the batch or stored in the namespace. It
// is the namespace contract's batch put (POST /v1/vectors/put).
func (m *Memory) PutEmbeddingsSameDim(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	dv, err := m.vectors()
	if err != nil {
		return err
	}
	return m.putEmbeddings(ctx, ns, embs, dv.PutEmbeddingsSameDim)
}

// GetEmbeddings reads the durable store; expired embeddings are nil.
func (m *Memory) GetEmbeddings(ctx context.Context, ns engram.Namespace, keys []engram.EmbeddingKey) ([]*engram.Embedding, error) {
	dv, err := m.vectors()
	if err != nil {
		return nil, err
	}
	out, err := durableRead(m, ctx, func() ([]*engram.Embedding, error) { return dv.GetEmbeddings(ctx, ns, keys) })
	if err != nil {
		return nil, err
	}
	now := m.clock.Now()
	for i, e := range out {
		if e != nil && e.Expired(now) {
			out[i] = nil
		}
	}
	return out, nil
}

// DeleteEmbeddings deletes durably in one transaction, then from the
// cache tiers and the loaded indexes.
func (m *Memory) DeleteEmbeddings(ctx context.Context, ns engram.Namespace, keys []engram.EmbeddingKey) ([]bool, error) {
	dv, err := m.vectors()
	if err != nil {
		return nil, err
	}
	norm := make([]engram.EmbeddingKey, len(keys))
	cks := make([]engram.CacheKey, len(keys))
	for i, k := range keys {
		if k.Model == "" {
			k.Model = engram.DefaultModel
		}
		norm[i], cks[i] = k, engram.EmbeddingCacheKey(ns, k)
	}
	var existed []bool
	err = m.write(ctx, cks,
		func() (err error) {
			existed, err = dv.DeleteEmbeddings(ctx, ns, norm)
			return err
		},
		func(b *engram.CacheBatch) {
			for _, ck := range cks {
				b.Delete(ck)
			}
		})
	if err != nil {
		return nil, err
	}
	for _, k := range norm {
		m.idx.noteEmbeddingDeleted(ns, k)
	}
	return existed, nil
}

// EachEmbedding streams the durable pages; expired embeddings are skipped.
func (m *Memory) EachEmbedding(ctx context.Context, ns engram.Namespace, f engram.EmbeddingFilter, fn func(*engram.Embedding) error) error {
	return sqlstore.EachEmbeddingOf(ctx, m, ns, f, func(e *engram.Embedding) error {
		if e.Expired(m.clock.Now()) {
			return nil
		}
		return fn(e)
	})
}

func (m *Memory) VectorNamespaces(ctx context.Context) ([]engram.VectorNamespaceStats, error) {
	dv, err := m.vectors()
	if err != nil {
		return nil, err
	}
	return durableRead(m, ctx, func() ([]engram.VectorNamespaceStats, error) { return dv.VectorNamespaces(ctx) })
}

func (m *Memory) VectorNamespace(ctx context.Context, ns engram.Namespace) (*engram.VectorNamespaceStats, error) {
	dv, err := m.vectors()
	if err != nil {
		return nil, err
	}
	return durableRead(m, ctx, func() (*engram.VectorNamespaceStats, error) { return dv.VectorNamespace(ctx, ns) })
}

// ClearEmbeddings deletes ns's embeddings durably, batch by batch (each
// batch then leaves the cache tiers and the loaded indexes), and then
// forgets ns's index groups in every tier: the loaded indexes are closed,
// the local snapshots removed and the object tier's manifests of ns
// deleted (the content-addressed objects they named stay: another group's
// manifest may name the same bytes). A later query rebuilds an empty group
// from the durable store.
func (m *Memory) ClearEmbeddings(ctx context.Context, ns engram.Namespace) (int64, error) {
	if m.shut.Load() {
		return 0, errClosed
	}
	if err := ns.Validate(); err != nil {
		return 0, err
	}
	dv, err := m.vectors()
	if err != nil {
		return 0, err
	}
	var n int64
	err = m.call(func() (err error) {
		n, err = dv.ClearEmbeddingsEach(ctx, ns, func(keys []engram.EmbeddingKey) { m.dropEmbeddings(ctx, ns, keys) })
		return err
	})
	m.noteWrite(err)
	if err != nil {
		return n, err
	}
	return n, m.vt.forgetNamespace(ctx, ns)
}

// forgetNamespace removes ns's index groups from every tier.
func (vt *vtier) forgetNamespace(ctx context.Context, ns engram.Namespace) error {
	s := vt.m.idx
	s.loadMu.Lock()
	var closing []*group
	for k, g := range *s.groups.Load() {
		if k.ns == ns {
			s.unpublish(k)
			closing = append(closing, g)
		}
	}
	if len(closing) > 0 {
		s.use.Lock() // waits for searches and direct updates holding it
		for _, g := range closing {
			for _, d := range g.dimsList() {
				d.ix.Close()
			}
		}
		s.use.Unlock()
	}
	var errs []error
	if err := os.RemoveAll(filepath.Join(s.dir, escapePath(string(ns)))); err != nil {
		errs = append(errs, fmt.Errorf("memory: remove the index snapshots of namespace %q: %w", ns, err))
	}
	vt.mu.Lock()
	for k := range vt.entries {
		if k.ns == ns {
			delete(vt.entries, k)
		}
	}
	vt.mu.Unlock()
	s.loadMu.Unlock()
	if vt.obj == nil {
		return errors.Join(errs...)
	}
	// The object tier's manifests of ns; uploads of ns that began before
	// the clear could land after it, so uploads wait (upMu) meanwhile.
	vt.upMu.Lock()
	defer vt.upMu.Unlock()
	prefix := vtGroupPrefix + escapePath(string(ns)) + "/"
	after := ""
	for {
		p, err := vt.obj.List(ctx, engram.BlobListOptions{Prefix: prefix, After: after})
		if err != nil {
			vt.noteObjErr(err)
			return errors.Join(append(errs, fmt.Errorf("memory: list the object tier's indexes of namespace %q: %w", ns, err))...)
		}
		for _, it := range p.Items {
			if !strings.HasSuffix(it.Key, vtManifestSuffix) {
				continue
			}
			if err := vt.obj.Delete(ctx, it.Key); err != nil {
				vt.noteObjErr(err)
				errs = append(errs, fmt.Errorf("memory: delete %s from the object tier: %w", it.Key, err))
			}
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	return errors.Join(errs...)
}
