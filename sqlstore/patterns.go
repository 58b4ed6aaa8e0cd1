package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/engramhq/engram"
)

func (s *Store) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if p == nil {
		return engram.Invalid("pattern", "is required")
	}
	req := *p
	req.ID = engram.PatternID{} // may be assigned afresh by a retry (see idempotency.go)
	k, err := s.idem(ctx, ns, "put_pattern", &req, p)
	if err != nil {
		return err
	}
	now := s.now()
	p.Normalize(now)
	if err := p.Validate(); err != nil {
		k.restore()
		return err
	}
	rk := p.ID.String()
	return s.writeKeyed(ctx, k, ns, "put pattern "+rk, engram.KindPattern, &rk, []any{p}, func(t *tx) error {
		id := idBytes(p.ID.UUID)
		op, created, oldFTS, err := t.existing(`SELECT created_at, fts_rowid FROM patterns WHERE namespace = ? AND pattern_id = ?`, ns, id)
		if err != nil {
			return err
		}
		p.CreatedAt, p.UpdatedAt = created, t.now
		doc, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode pattern: %w", err)
		}
		if op == engram.OpUpdate {
			// Its tags go with it (ON DELETE CASCADE).
			if _, err := t.exec(`DELETE FROM patterns WHERE namespace = ? AND pattern_id = ?`, string(ns), id); err != nil {
				return err
			}
			if err := t.unindexText(ns, oldFTS); err != nil {
				return err
			}
		}
		ftsID, err := t.indexText(ns, engram.SearchPattern, id, 0, patternText(p))
		if err != nil {
			return err
		}
		t.insert("patterns", string(ns), id, string(p.Kind), p.Domain, p.Language, p.SuccessRate,
			nanos(p.CreatedAt), nanos(p.UpdatedAt), ftsID, doc, docDigest(doc))
		for _, tag := range p.Tags {
			t.insert("pattern_tags", string(ns), id, tag)
		}
		t.change(ns, engram.KindPattern, p.ID.String(), op)
		return nil
	})
}

// existing looks up a row's created_at (and, when the query selects a
// second column, its fts_rowid): OpInsert and t.now when there is none,
// OpUpdate and the stored time when there is.
func (t *tx) existing(query string, ns engram.Namespace, id []byte) (op engram.ChangeOp, created time.Time, fts int64, err error) {
	var at int64
	dest := []any{&at}
	if strings.Contains(query, "fts_rowid") {
		dest = append(dest, &fts)
	}
	err = t.queryRow(query, string(ns), id).Scan(dest...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return engram.OpInsert, t.now, 0, nil
	case err != nil:
		return "", created, 0, err
	}
	return engram.OpUpdate, fromNanos(at), fts, nil
}

func (s *Store) GetPattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) (*engram.Pattern, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	p := new(engram.Pattern)
	if err := s.getDoc(ctx, "pattern", `SELECT doc, digest FROM patterns WHERE namespace = ? AND pattern_id = ?`, ns, id.UUID, p); err != nil {
		return nil, err
	}
	return p, nil
}

// getDoc reads one JSON document and its digest by (namespace, id) into v.
func (s *Store) getDoc(ctx context.Context, what, query string, ns engram.Namespace, id engram.UUID, v any) error {
	st, err := s.stmt(ctx, s.r, query)
	if err != nil {
		return s.wrap("get "+what+" "+id.String(), err)
	}
	var doc, digest []byte
	err = st.QueryRowContext(ctx, string(ns), idBytes(id)).Scan(&doc, &digest)
	if errors.Is(err, sql.ErrNoRows) {
		return engram.NotFound(what, id)
	}
	if err == nil {
		err = s.decodeVerified(what, id.String(), doc, digest, v)
	}
	return s.wrap("get "+what+" "+id.String(), err)
}

func (s *Store) DeletePattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	k, err := s.idem(ctx, ns, "delete_pattern", id)
	if err != nil {
		return err
	}
	rk := id.String()
	return s.writeKeyed(ctx, k, ns, "delete pattern "+rk, engram.KindPattern, &rk, []any{}, func(t *tx) error {
		key := idBytes(id.UUID)
		table, err := t.ensureFTS(ns)
		if err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM `+table+` WHERE rowid IN (SELECT fts_rowid FROM patterns WHERE namespace = ? AND pattern_id = ?)`, string(ns), key); err != nil {
			return err
		}
		if err := t.deleteRow("pattern", `DELETE FROM patterns WHERE namespace = ? AND pattern_id = ?`, ns, key, id.UUID); err != nil {
			return err
		}
		t.change(ns, engram.KindPattern, id.String(), engram.OpDelete)
		return nil
	})
}

// deleteRow runs a delete by (namespace, id) and returns ENOTFOUND when it
// removed nothing.
func (t *tx) deleteRow(what, query string, ns engram.Namespace, key []byte, id engram.UUID) error {
	res, err := t.exec(query, string(ns), key)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return engram.NotFound(what, id)
	}
	return nil
}

func (s *Store) ListPatterns(ctx context.Context, ns engram.Namespace, f engram.PatternFilter) (engram.PatternPage, error) {
	page := engram.PatternPage{Patterns: []*engram.Pattern{}}
	if err := s.checkNS(ns); err != nil {
		return page, err
	}
	q := query{}
	q.add(`p.namespace = ?`, string(ns))
	if f.Domain != "" {
		q.add(`p.domain = ?`, f.Domain)
	}
	if f.Kind != "" {
		q.add(`p.kind = ?`, string(f.Kind))
	}
	if f.Tag != "" {
		q.add(`EXISTS (SELECT 1 FROM pattern_tags t WHERE t.namespace = p.namespace AND t.pattern_id = p.pattern_id AND t.tag = ?)`, engram.NormalizeTag(f.Tag))
	}
	next, err := s.listDocs(ctx, "patterns", `SELECT p.doc, p.digest, p.updated_at, p.pattern_id FROM patterns p`, `p.updated_at`, `p.pattern_id`,
		q, f.Limit, f.Cursor, func(key string, doc, digest []byte) error {
			p := new(engram.Pattern)
			if err := s.decodeVerified("pattern", key, doc, digest, p); err != nil {
				return err
			}
			page.Patterns = append(page.Patterns, p)
			return nil
		})
	page.NextCursor = next
	return page, err
}

// listDocs pages through a document table newest-updated first. selectSQL
// must select (doc, digest, updated_at, id); each document is passed to add
// with its id and digest. It returns the cursor of the next page, "" after
// the last.
func (s *Store) listDocs(ctx context.Context, what, selectSQL, timeCol, idCol string, q query, limit int, cursor string, add func(key string, doc, digest []byte) error) (string, error) {
	limit, err := engram.ClampLimit(limit)
	if err != nil {
		return "", err
	}
	if cursor != "" {
		var at int64
		var id engram.UUID
		if err := decodeCursor(what, cursor, &at, &id); err != nil {
			return "", err
		}
		q.add(fmt.Sprintf(`(%[1]s < ? OR (%[1]s = ? AND %[2]s < ?))`, timeCol, idCol), at, at, idBytes(id))
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(selectSQL+` WHERE `+q.sql()+
		fmt.Sprintf(` ORDER BY %s DESC, %s DESC LIMIT ?`, timeCol, idCol)), append(q.args, limit+1)...)
	if err != nil {
		return "", s.wrap("list "+what, err)
	}
	defer rows.Close()
	var n int
	var lastAt int64
	var lastID []byte
	for rows.Next() {
		var doc, digest, ref []byte
		var at int64
		if err := rows.Scan(&doc, &digest, &at, &ref); err != nil {
			return "", s.wrap("list "+what, err)
		}
		if n == limit {
			u, err := uuidFrom(lastID)
			if err != nil {
				return "", s.wrap("list "+what, err)
			}
			return encodeCursor(what, lastAt, u), nil
		}
		u, err := uuidFrom(ref)
		if err != nil {
			return "", s.wrap("list "+what, err)
		}
		if err := add(u.String(), doc, digest); err != nil {
			return "", s.wrap("list "+what, err)
		}
		n, lastAt, lastID = n+1, at, ref
	}
	return "", s.wrap("list "+what, rows.Err())
}
