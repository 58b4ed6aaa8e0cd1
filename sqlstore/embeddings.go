package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/engramhq/engram"
)

func (s *Store) PutEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if len(embs) > engram.MaxBatch {
		return engram.TooMany("embeddings", len(embs), "embeddings in one batch", engram.MaxBatch)
	}
	recs := make([]any, len(embs))
	for i, e := range embs {
		recs[i] = e
	}
	k, err := s.idem(ctx, ns, "put_embeddings", embs, recs...)
	if err != nil {
		return err
	}
	now := s.now()
	for i, e := range embs {
		if e == nil {
			k.restore()
			return engram.Invalid(fmt.Sprintf("embeddings[%d]", i), "is required")
		}
		e.Normalize(now)
		if err := e.Validate(); err != nil {
			k.restore()
			if len(embs) == 1 {
				return err
			}
			return fmt.Errorf("embeddings[%d]: %w", i, err)
		}
	}
	batch := fmt.Sprintf("%d embeddings", len(embs))
	return s.writeKeyed(ctx, k, ns, "put "+batch, engram.KindEmbedding, &batch, recs, func(t *tx) error {
		for _, e := range embs {
			key := e.Key()
			id := idBytes(key.ItemID)
			var created int64
			err := t.queryRow(`SELECT created_at FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ?`,
				string(ns), string(key.ItemType), id, key.Model).Scan(&created)
			op := engram.OpUpdate
			switch {
			case errors.Is(err, sql.ErrNoRows):
				op, created = engram.OpInsert, nanos(t.now)
			case err != nil:
				return err
			}
			e.CreatedAt = fromNanos(created)
			vec := encodeVector(e.Vector)
			if _, err := t.exec(`INSERT INTO embeddings (namespace, item_type, item_id, model, dimension, vector, created_at, digest)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (namespace, item_type, item_id, model) DO UPDATE SET dimension = excluded.dimension, vector = excluded.vector, digest = excluded.digest`,
				string(ns), string(key.ItemType), id, key.Model, len(e.Vector), vec, created,
				embeddingDigest(string(key.ItemType), id, key.Model, created, len(e.Vector), vec)); err != nil {
				return err
			}
			t.change(ns, engram.KindEmbedding, key.String(), op)
		}
		return nil
	})
}

func normalizeKey(k engram.EmbeddingKey) engram.EmbeddingKey {
	if k.Model == "" {
		k.Model = engram.DefaultModel
	}
	return k
}

func (s *Store) GetEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) (*engram.Embedding, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	key = normalizeKey(key)
	st, err := s.stmt(ctx, s.r, `SELECT dimension, vector, created_at, digest FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ?`)
	if err != nil {
		return nil, s.wrap("get embedding "+key.String(), err)
	}
	var dim int
	var vec, digest []byte
	var created int64
	err = st.QueryRowContext(ctx, string(ns), string(key.ItemType), idBytes(key.ItemID), key.Model).Scan(&dim, &vec, &created, &digest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, engram.NotFound("embedding", key)
	}
	if err != nil {
		return nil, s.wrap("get embedding "+key.String(), err)
	}
	if err := s.verifyEmbedding(key.String(), string(key.ItemType), idBytes(key.ItemID), key.Model, created, dim, vec, digest); err != nil {
		return nil, s.wrap("get embedding "+key.String(), err)
	}
	v, err := decodeVector(vec, dim)
	if err != nil {
		return nil, s.wrap("get embedding "+key.String(), err)
	}
	return &engram.Embedding{ItemID: key.ItemID, ItemType: key.ItemType, Model: key.Model, Vector: v, CreatedAt: fromNanos(created)}, nil
}

func (s *Store) DeleteEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	key = normalizeKey(key)
	k, err := s.idem(ctx, ns, "delete_embedding", key)
	if err != nil {
		return err
	}
	rk := key.String()
	return s.writeKeyed(ctx, k, ns, "delete embedding "+rk, engram.KindEmbedding, &rk, []any{}, func(t *tx) error {
		res, err := t.exec(`DELETE FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ?`,
			string(ns), string(key.ItemType), idBytes(key.ItemID), key.Model)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return engram.NotFound("embedding", key)
		}
		t.change(ns, engram.KindEmbedding, key.String(), engram.OpDelete)
		return nil
	})
}

func (s *Store) ListEmbeddings(ctx context.Context, ns engram.Namespace, f engram.EmbeddingFilter) (engram.EmbeddingPage, error) {
	page := engram.EmbeddingPage{Embeddings: []*engram.Embedding{}}
	if err := s.checkNS(ns); err != nil {
		return page, err
	}
	limit, err := engram.ClampLimit(f.Limit)
	if err != nil {
		return page, err
	}
	q := query{}
	q.add(`namespace = ?`, string(ns))
	if f.ItemType != "" {
		q.add(`item_type = ?`, string(f.ItemType))
	}
	if !f.ItemID.IsZero() {
		q.add(`item_id = ?`, idBytes(f.ItemID))
	}
	if f.Model != "" {
		q.add(`model = ?`, f.Model)
	}
	if f.Cursor != "" {
		var typ, model string
		var id engram.UUID
		if err := decodeCursor("embeddings", f.Cursor, &typ, &id, &model); err != nil {
			return page, err
		}
		q.add(`(item_type > ? OR (item_type = ? AND (item_id > ? OR (item_id = ? AND model > ?))))`, typ, typ, idBytes(id), idBytes(id), model)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT item_type, item_id, model, dimension, vector, created_at, digest FROM embeddings WHERE `+
		q.sql()+` ORDER BY item_type, item_id, model LIMIT ?`), append(q.args, limit+1)...)
	if err != nil {
		return page, s.wrap("list embeddings", err)
	}
	defer rows.Close()
	for rows.Next() {
		if len(page.Embeddings) == limit {
			last := page.Embeddings[limit-1]
			page.NextCursor = encodeCursor("embeddings", string(last.ItemType), last.ItemID, last.Model)
			break
		}
		var e engram.Embedding
		var ref, vec, digest []byte
		var dim int
		var created int64
		if err := rows.Scan(&e.ItemType, &ref, &e.Model, &dim, &vec, &created, &digest); err != nil {
			return page, s.wrap("list embeddings", err)
		}
		if e.ItemID, err = uuidFrom(ref); err != nil {
			return page, s.wrap("list embeddings", err)
		}
		k := engram.EmbeddingKey{ItemType: e.ItemType, ItemID: e.ItemID, Model: e.Model}
		if err := s.verifyEmbedding(k.String(), string(e.ItemType), ref, e.Model, created, dim, vec, digest); err != nil {
			return page, s.wrap("list embeddings", err)
		}
		if e.Vector, err = decodeVector(vec, dim); err != nil {
			return page, s.wrap("list embeddings", err)
		}
		e.CreatedAt = fromNanos(created)
		page.Embeddings = append(page.Embeddings, &e)
	}
	return page, s.wrap("list embeddings", rows.Err())
}

// embeddingModels lists the models of one item's embeddings.
func (t *tx) embeddingModels(ns engram.Namespace, typ engram.ItemType, id []byte) ([]string, error) {
	rows, err := t.query(`SELECT model FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? ORDER BY model`, string(ns), string(typ), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var models []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		models = append(models, m)
	}
	return models, rows.Err()
}
