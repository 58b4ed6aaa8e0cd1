package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/engramhq/engram"
)

var _ engram.VectorStore = (*Store)(nil)

// Embeddings. A row's expires_at (Unix nanoseconds, NULL: never) is judged
// against the store's clock on every read: a row at or past it is absent
// to GetEmbedding, GetEmbeddings, ListEmbeddings, EachEmbedding and the
// namespace stats whether or not SweepExpiredEmbeddings has deleted it.

// liveCond is the condition of an unexpired row; its one argument is now.
const liveCond = `(expires_at IS NULL OR expires_at > ?)`

// embeddingCols are the columns scanEmbedding reads, in its order.
const embeddingCols = `item_type, item_id, model, dimension, vector, created_at, digest, expires_at, metadata`

func expiresArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return nanos(t)
}

func metadataArg(m map[string]string) (any, []byte) {
	if len(m) == 0 {
		return nil, nil
	}
	b, _ := json.Marshal(m) // keys sorted: one encoding per map
	return string(b), b
}

type rowScanner interface{ Scan(...any) error }

// scanEmbedding reads one row of embeddingCols, checks it against its
// digest and decodes it.
func (s *Store) scanEmbedding(ns engram.Namespace, r rowScanner) (*engram.Embedding, error) {
	var e engram.Embedding
	var ref, vec, digest []byte
	var dim int
	var created int64
	var expires sql.NullInt64
	var meta sql.NullString
	if err := r.Scan(&e.ItemType, &ref, &e.Model, &dim, &vec, &created, &digest, &expires, &meta); err != nil {
		return nil, err
	}
	var err error
	if e.ItemID, err = uuidFrom(ref); err != nil {
		return nil, err
	}
	k := engram.EmbeddingKey{ItemType: e.ItemType, ItemID: e.ItemID, Model: e.Model}
	var metaBytes []byte
	if meta.Valid {
		metaBytes = []byte(s.unescape(meta.String))
	}
	if err := s.verifyEmbedding(string(ns)+"/"+k.String(), string(e.ItemType), ref, e.Model, created, dim, vec, digest, expires.Int64, metaBytes); err != nil {
		return nil, err
	}
	if e.Vector, err = decodeVector(vec, dim); err != nil {
		return nil, err
	}
	if metaBytes != nil {
		if err := json.Unmarshal(metaBytes, &e.Metadata); err != nil {
			return nil, s.corrupt("embedding", string(ns)+"/"+k.String(), "has metadata that is not a JSON object", err)
		}
	}
	if expires.Valid {
		e.ExpiresAt = fromNanos(expires.Int64)
	}
	e.CreatedAt = fromNanos(created)
	return &e, nil
}

func (s *Store) PutEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	return s.putEmbeddings(ctx, ns, embs, false)
}

// PutEmbeddingsSameDim is PutEmbeddings that also refuses (EINVALID naming
// embeddings[i].vector) an embedding whose dimension differs from the
// others of its item type and model: in the batch, or already stored in
// the namespace (unexpired). It is the batch put of the namespace contract.
func (s *Store) PutEmbeddingsSameDim(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error {
	return s.putEmbeddings(ctx, ns, embs, true)
}

func (s *Store) putEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding, sameDim bool) error {
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
		err := e.SetExpiry(now)
		if err == nil {
			e.Normalize(now)
			err = e.Validate()
		}
		if err != nil {
			k.restore()
			if len(embs) == 1 {
				return err
			}
			return engram.Within("embeddings", i, err)
		}
	}
	batch := fmt.Sprintf("%d embeddings", len(embs))
	return s.writeKeyed(ctx, k, ns, "put "+batch, engram.KindEmbedding, &batch, recs, func(t *tx) error {
		if sameDim {
			if err := t.checkSameDim(ns, embs); err != nil {
				return err
			}
		}
		for _, e := range embs {
			key := e.Key()
			id := idBytes(key.ItemID)
			var created int64
			var expires sql.NullInt64
			err := t.queryRow(`SELECT created_at, expires_at FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ?`,
				string(ns), string(key.ItemType), id, key.Model).Scan(&created, &expires)
			op := engram.OpUpdate
			switch {
			case errors.Is(err, sql.ErrNoRows):
				op, created = engram.OpInsert, nanos(t.now)
			case err != nil:
				return err
			case expires.Valid && expires.Int64 <= nanos(t.now):
				// An expired row the sweep has not reached: replaced as new.
				op, created = engram.OpInsert, nanos(t.now)
			}
			e.CreatedAt = fromNanos(created)
			vec := encodeVector(e.Vector)
			metaArg, metaBytes := metadataArg(e.Metadata)
			exp := nanos0(e.ExpiresAt)
			if _, err := t.exec(`INSERT INTO embeddings (namespace, item_type, item_id, model, dimension, vector, created_at, digest, expires_at, metadata)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (namespace, item_type, item_id, model) DO UPDATE SET dimension = excluded.dimension, vector = excluded.vector,
				created_at = excluded.created_at, digest = excluded.digest, expires_at = excluded.expires_at, metadata = excluded.metadata`,
				string(ns), string(key.ItemType), id, key.Model, len(e.Vector), vec, created,
				embeddingDigest(string(key.ItemType), id, key.Model, created, len(e.Vector), vec, exp, metaBytes),
				expiresArg(e.ExpiresAt), metaArg); err != nil {
				return err
			}
			t.change(ns, engram.KindEmbedding, key.String(), op)
		}
		return nil
	})
}

// nanos0 is nanos with the zero time as 0.
func nanos0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return nanos(t)
}

// checkSameDim refuses an embedding whose dimension differs from another of
// its item type and model, in embs or stored (unexpired) in ns.
func (t *tx) checkSameDim(ns engram.Namespace, embs []*engram.Embedding) error {
	type tm struct {
		typ   engram.ItemType
		model string
	}
	first := map[tm]int{} // index in embs of the first of each
	for i, e := range embs {
		g := tm{e.ItemType, e.Model}
		j, seen := first[g]
		if !seen {
			first[g] = i
			var dim int
			err := t.queryRow(`SELECT dimension FROM embeddings WHERE namespace = ? AND item_type = ? AND model = ? AND `+liveCond+` LIMIT 1`,
				string(ns), string(e.ItemType), e.Model, nanos(t.now)).Scan(&dim)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if dim != len(e.Vector) {
				return engram.Invalid(fmt.Sprintf("embeddings[%d].vector", i), "has %d dimensions; the %s embeddings of model %q in namespace %q have %d",
					len(e.Vector), e.ItemType, e.Model, ns, dim)
			}
			continue
		}
		if d := len(embs[j].Vector); d != len(e.Vector) {
			return engram.Invalid(fmt.Sprintf("embeddings[%d].vector", i), "has %d dimensions; embeddings[%d] of the same item type and model has %d",
				len(e.Vector), j, d)
		}
	}
	return nil
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
	st, err := s.stmt(ctx, s.r, `SELECT `+embeddingCols+` FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ? AND `+liveCond)
	if err != nil {
		return nil, s.wrap("get embedding "+key.String(), err)
	}
	e, err := s.scanEmbedding(ns, st.QueryRowContext(ctx, string(ns), string(key.ItemType), idBytes(key.ItemID), key.Model, nanos(s.now())))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, engram.NotFound("embedding", key)
	}
	if err != nil {
		return nil, s.wrap("get embedding "+key.String(), err)
	}
	return e, nil
}

// checkKeys validates a batch of keys, naming keys[i].
func checkKeys(keys []engram.EmbeddingKey) error {
	if len(keys) > engram.MaxBatch {
		return engram.TooMany("keys", len(keys), "keys in one batch", engram.MaxBatch)
	}
	for i := range keys {
		keys[i] = normalizeKey(keys[i])
		probe := engram.Embedding{ItemType: keys[i].ItemType, ItemID: keys[i].ItemID, Model: keys[i].Model, Vector: []float32{0}}
		if err := probe.Validate(); err != nil {
			return engram.Within("keys", i, err)
		}
	}
	return nil
}

// getEmbeddingsChunk bounds the ids of one IN list.
const getEmbeddingsChunk = 200

func (s *Store) GetEmbeddings(ctx context.Context, ns engram.Namespace, keys []engram.EmbeddingKey) ([]*engram.Embedding, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	keys = append([]engram.EmbeddingKey(nil), keys...)
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	out := make([]*engram.Embedding, len(keys))
	type tm struct {
		typ   engram.ItemType
		model string
	}
	groups := map[tm][]int{}
	var order []tm
	for i, k := range keys {
		g := tm{k.ItemType, k.Model}
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	now := nanos(s.now())
	err := s.read(ctx, fmt.Sprintf("get %d embeddings", len(keys)), func(q *sql.Tx) error {
		clear(out)
		for _, g := range order {
			idx := groups[g]
			for len(idx) > 0 {
				n := min(len(idx), getEmbeddingsChunk)
				chunk := idx[:n]
				idx = idx[n:]
				args := []any{string(ns), string(g.typ), g.model, now}
				byID := map[engram.UUID][]int{}
				for _, i := range chunk {
					if byID[keys[i].ItemID] == nil {
						args = append(args, idBytes(keys[i].ItemID))
					}
					byID[keys[i].ItemID] = append(byID[keys[i].ItemID], i)
				}
				marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)-4), ", ")
				rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT `+embeddingCols+` FROM embeddings WHERE namespace = ? AND item_type = ? AND model = ? AND `+
					liveCond+` AND item_id IN (`+marks+`)`), args...)
				if err != nil {
					return err
				}
				for rows.Next() {
					e, err := s.scanEmbedding(ns, rows)
					if err != nil {
						rows.Close()
						return err
					}
					for j, i := range byID[e.ItemID] {
						if j == 0 {
							out[i] = e
						} else {
							out[i] = e.Clone()
						}
					}
				}
				err = rows.Err()
				rows.Close()
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
		// An expired row is absent to reads, so deleting it is ENOTFOUND;
		// it is removed all the same.
		var expires sql.NullInt64
		err := t.queryRow(`DELETE FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ? RETURNING expires_at`,
			string(ns), string(key.ItemType), idBytes(key.ItemID), key.Model).Scan(&expires)
		if errors.Is(err, sql.ErrNoRows) {
			return engram.NotFound("embedding", key)
		}
		if err != nil {
			return err
		}
		t.change(ns, engram.KindEmbedding, key.String(), engram.OpDelete)
		if expires.Valid && expires.Int64 <= nanos(t.now) {
			return engram.NotFound("embedding", key)
		}
		return nil
	})
}

func (s *Store) DeleteEmbeddings(ctx context.Context, ns engram.Namespace, keys []engram.EmbeddingKey) ([]bool, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	keys = append([]engram.EmbeddingKey(nil), keys...)
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	existed := make([]bool, len(keys))
	if len(keys) == 0 {
		return existed, nil
	}
	err := s.write(ctx, fmt.Sprintf("delete %d embeddings", len(keys)), func(t *tx) error {
		clear(existed)
		for i, key := range keys {
			var expires sql.NullInt64
			err := t.queryRow(`DELETE FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ? RETURNING expires_at`,
				string(ns), string(key.ItemType), idBytes(key.ItemID), key.Model).Scan(&expires)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			t.change(ns, engram.KindEmbedding, key.String(), engram.OpDelete)
			existed[i] = !expires.Valid || expires.Int64 > nanos(t.now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return existed, nil
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
		// A row-value comparison: the primary key's index seeks to it (the
		// OR form it replaces made every page scan from the namespace's
		// first row, so streaming a namespace was quadratic).
		q.add(`(item_type, item_id, model) > (?, ?, ?)`, typ, idBytes(id), model)
	}
	q.add(liveCond, nanos(s.now()))
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT `+embeddingCols+` FROM embeddings WHERE `+
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
		e, err := s.scanEmbedding(ns, rows)
		if err != nil {
			return page, s.wrap("list embeddings", err)
		}
		page.Embeddings = append(page.Embeddings, e)
	}
	return page, s.wrap("list embeddings", rows.Err())
}

// EachEmbedding streams ListEmbeddings' pages.
func (s *Store) EachEmbedding(ctx context.Context, ns engram.Namespace, f engram.EmbeddingFilter, fn func(*engram.Embedding) error) error {
	return EachEmbeddingOf(ctx, s, ns, f, fn)
}

// EachEmbeddingOf implements VectorStore.EachEmbedding over any Store's
// ListEmbeddings: one page in memory at a time.
func EachEmbeddingOf(ctx context.Context, st engram.Store, ns engram.Namespace, f engram.EmbeddingFilter, fn func(*engram.Embedding) error) error {
	for {
		p, err := st.ListEmbeddings(ctx, ns, f)
		if err != nil {
			return err
		}
		for _, e := range p.Embeddings {
			if err := fn(e); err != nil {
				return err
			}
		}
		if p.NextCursor == "" {
			return nil
		}
		f.Cursor = p.NextCursor
	}
}

func (s *Store) VectorNamespaces(ctx context.Context) ([]engram.VectorNamespaceStats, error) {
	return s.vectorStats(ctx, "")
}

func (s *Store) VectorNamespace(ctx context.Context, ns engram.Namespace) (*engram.VectorNamespaceStats, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	st, err := s.vectorStats(ctx, ns)
	if err != nil {
		return nil, err
	}
	if len(st) == 0 {
		return nil, engram.NotFound("vector namespace", ns)
	}
	return &st[0], nil
}

// vectorStats aggregates the unexpired embeddings of ns ("": of every
// namespace) per (namespace, item type, model, dimension).
func (s *Store) vectorStats(ctx context.Context, ns engram.Namespace) ([]engram.VectorNamespaceStats, error) {
	where, args := liveCond, []any{nanos(s.now())}
	if ns != "" {
		where, args = `namespace = ? AND `+where, append([]any{string(ns)}, args...)
	}
	byNS := map[engram.Namespace]*engram.VectorNamespaceStats{}
	var names []engram.Namespace
	err := s.read(ctx, "vector namespace stats", func(q *sql.Tx) error {
		clear(byNS)
		names = names[:0]
		rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT namespace, item_type, model, dimension, COUNT(*), COUNT(expires_at),
			COALESCE(SUM(LENGTH(vector)), 0), COALESCE(SUM(LENGTH(metadata)), 0)
			FROM embeddings WHERE `+where+` GROUP BY namespace, item_type, model, dimension ORDER BY namespace, item_type, model, dimension`), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n engram.Namespace
			var typ, model string
			var dim int
			var count, expiring, vbytes, mbytes int64
			if err := rows.Scan(&n, &typ, &model, &dim, &count, &expiring, &vbytes, &mbytes); err != nil {
				return err
			}
			st := byNS[n]
			if st == nil {
				st = &engram.VectorNamespaceStats{Namespace: n, Dimensions: []int{}, Models: []string{}}
				byNS[n] = st
				names = append(names, n)
			}
			st.Count += count
			st.Expiring += expiring
			st.Bytes += vbytes + mbytes + count*engram.EmbeddingRowOverhead
			if !containsInt(st.Dimensions, dim) {
				st.Dimensions = append(st.Dimensions, dim)
			}
			if m := typ + "/" + model; len(st.Models) == 0 || st.Models[len(st.Models)-1] != m {
				st.Models = append(st.Models, m)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]engram.VectorNamespaceStats, 0, len(names))
	for _, n := range names {
		st := byNS[n]
		sort.Ints(st.Dimensions)
		if len(st.Dimensions) == 1 {
			st.Dimension = st.Dimensions[0]
		}
		out = append(out, *st)
	}
	return out, nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ClearEmbeddings deletes ns's embeddings MaxBatch per transaction.
func (s *Store) ClearEmbeddings(ctx context.Context, ns engram.Namespace) (int64, error) {
	return s.ClearEmbeddingsEach(ctx, ns, nil)
}

// ClearEmbeddingsEach is ClearEmbeddings that calls each, when set, with
// the keys of every committed batch (memory drops them from its tiers).
// It counts the unexpired embeddings it deleted.
func (s *Store) ClearEmbeddingsEach(ctx context.Context, ns engram.Namespace, each func([]engram.EmbeddingKey)) (int64, error) {
	if err := s.checkNS(ns); err != nil {
		return 0, err
	}
	var total int64
	for {
		var keys []engram.EmbeddingKey
		var live int64
		err := s.write(ctx, "clear embeddings of namespace "+string(ns), func(t *tx) error {
			keys, live = keys[:0], 0
			rows, err := t.query(`DELETE FROM embeddings WHERE (namespace, item_type, item_id, model) IN
				(SELECT namespace, item_type, item_id, model FROM embeddings WHERE namespace = ? ORDER BY item_type, item_id, model LIMIT ?)
				RETURNING item_type, item_id, model, expires_at`, string(ns), engram.MaxBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k engram.EmbeddingKey
				var ref []byte
				var expires sql.NullInt64
				if err := rows.Scan(&k.ItemType, &ref, &k.Model, &expires); err != nil {
					return err
				}
				if k.ItemID, err = uuidFrom(ref); err != nil {
					return err
				}
				if !expires.Valid || expires.Int64 > nanos(t.now) {
					live++
				}
				keys = append(keys, k)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, k := range keys {
				t.change(ns, engram.KindEmbedding, k.String(), engram.OpDelete)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += live
		if len(keys) > 0 && each != nil {
			each(keys)
		}
		if len(keys) < engram.MaxBatch {
			return total, nil
		}
	}
}

// ExpiredEmbedding names one embedding a sweep deleted.
type ExpiredEmbedding struct {
	Namespace engram.Namespace
	Key       engram.EmbeddingKey
}

// SweepExpiredEmbeddings deletes, in one transaction, up to limit (at most
// MaxBatch) embeddings of any namespace whose expiry is at or before now,
// soonest first, each with its change-feed entry, and returns them.
func (s *Store) SweepExpiredEmbeddings(ctx context.Context, now time.Time, limit int) ([]ExpiredEmbedding, error) {
	if limit < 1 || limit > engram.MaxBatch {
		return nil, engram.Invalid("limit", "is %d; must be 1-%d", limit, engram.MaxBatch)
	}
	var out []ExpiredEmbedding
	err := s.write(ctx, "sweep expired embeddings", func(t *tx) error {
		out = out[:0]
		rows, err := t.query(`DELETE FROM embeddings WHERE (namespace, item_type, item_id, model) IN
			(SELECT namespace, item_type, item_id, model FROM embeddings WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?)
			RETURNING namespace, item_type, item_id, model`, nanos(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var x ExpiredEmbedding
			var ref []byte
			if err := rows.Scan(&x.Namespace, &x.Key.ItemType, &ref, &x.Key.Model); err != nil {
				return err
			}
			if x.Key.ItemID, err = uuidFrom(ref); err != nil {
				return err
			}
			out = append(out, x)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, x := range out {
			t.change(x.Namespace, engram.KindEmbedding, x.Key.String(), engram.OpDelete)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EmbeddingExpiries calls fn with the id and expiry of every embedding of
// (ns, typ, model) that carries one, expired or not (memory's indexes
// filter their hits by them).
func (s *Store) EmbeddingExpiries(ctx context.Context, ns engram.Namespace, typ engram.ItemType, model string, fn func(engram.UUID, time.Time)) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	return s.read(ctx, "embedding expiries", func(q *sql.Tx) error {
		rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT item_id, expires_at FROM embeddings
			WHERE namespace = ? AND item_type = ? AND model = ? AND expires_at IS NOT NULL`), string(ns), string(typ), model)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ref []byte
			var at int64
			if err := rows.Scan(&ref, &at); err != nil {
				return err
			}
			id, err := uuidFrom(ref)
			if err != nil {
				return err
			}
			fn(id, fromNanos(at))
		}
		return rows.Err()
	})
}

// FlushVectors: every acknowledged write is durable already.
func (s *Store) FlushVectors(context.Context) error { return nil }

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

// SweepExpired deletes the embeddings expired by the store's clock,
// MaxBatch per transaction, at most 100 transactions per call, and
// returns how many (what memory's sweep does, for a server run on the
// durable store alone).
func (s *Store) SweepExpired(ctx context.Context) (int, error) {
	total := 0
	for range 100 {
		gone, err := s.SweepExpiredEmbeddings(ctx, s.now(), engram.MaxBatch)
		total += len(gone)
		if err != nil || len(gone) < engram.MaxBatch {
			return total, err
		}
	}
	return total, nil
}
