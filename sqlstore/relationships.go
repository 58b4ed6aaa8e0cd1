package sqlstore

import (
	"context"
	"fmt"

	"github.com/engramhq/engram"
)

func relKey(from, to engram.EpisodeID, typ engram.RelationshipType) string {
	return fmt.Sprintf("%s/%s/%s", from, to, typ)
}

func (s *Store) AddRelationship(ctx context.Context, ns engram.Namespace, r *engram.Relationship) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if r == nil {
		return engram.Invalid("relationship", "is required")
	}
	k, err := s.idem(ctx, ns, "add_relationship", r, r)
	if err != nil {
		return err
	}
	r.Normalize(s.now())
	if err := r.Validate(); err != nil {
		k.restore()
		return err
	}
	rk := r.String()
	return s.writeKeyed(ctx, k, ns, "add relationship "+rk, engram.KindRelationship, &rk, []any{r}, func(t *tx) error {
		for _, end := range []struct {
			field string
			id    engram.EpisodeID
		}{{"from", r.From}, {"to", r.To}} {
			var one int
			if err := t.queryRow(`SELECT COUNT(*) FROM episodes WHERE namespace = ? AND episode_id = ?`, string(ns), idBytes(end.id.UUID)).Scan(&one); err != nil {
				return err
			}
			if one == 0 {
				return &engram.Error{Code: engram.ENOTFOUND, Field: end.field, Message: fmt.Sprintf("episode %s not found", end.id)}
			}
		}
		from, to := idBytes(r.From.UUID), idBytes(r.To.UUID)
		op, created, err := t.existingRel(ns, from, to, r.Type)
		if err != nil {
			return err
		}
		r.CreatedAt = fromNanos(created)
		if _, err := t.exec(`INSERT INTO relationships (namespace, from_id, to_id, type, weight, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (namespace, from_id, to_id, type) DO UPDATE SET weight = excluded.weight`,
			string(ns), from, to, string(r.Type), r.Weight, created); err != nil {
			return err
		}
		t.change(ns, engram.KindRelationship, relKey(r.From, r.To, r.Type), op)
		return nil
	})
}

func (t *tx) existingRel(ns engram.Namespace, from, to []byte, typ engram.RelationshipType) (engram.ChangeOp, int64, error) {
	var created int64
	var n int
	if err := t.queryRow(`SELECT COUNT(*), COALESCE(MAX(created_at), 0) FROM relationships WHERE namespace = ? AND from_id = ? AND to_id = ? AND type = ?`,
		string(ns), from, to, string(typ)).Scan(&n, &created); err != nil {
		return "", 0, err
	}
	if n == 0 {
		return engram.OpInsert, nanos(t.now), nil
	}
	return engram.OpUpdate, created, nil
}

func (s *Store) RemoveRelationship(ctx context.Context, ns engram.Namespace, from, to engram.EpisodeID, typ engram.RelationshipType) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	key := relKey(from, to, typ)
	k, err := s.idem(ctx, ns, "remove_relationship", key)
	if err != nil {
		return err
	}
	return s.writeKeyed(ctx, k, ns, "remove relationship "+key, engram.KindRelationship, &key, []any{}, func(t *tx) error {
		res, err := t.exec(`DELETE FROM relationships WHERE namespace = ? AND from_id = ? AND to_id = ? AND type = ?`,
			string(ns), idBytes(from.UUID), idBytes(to.UUID), string(typ))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return engram.NotFound("relationship", key)
		}
		t.change(ns, engram.KindRelationship, key, engram.OpDelete)
		return nil
	})
}

func (s *Store) ListRelationships(ctx context.Context, ns engram.Namespace, f engram.RelationshipFilter) ([]engram.Relationship, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	if f.Episode.IsZero() {
		return nil, engram.Invalid("episode_id", "is required to list relationships")
	}
	id := idBytes(f.Episode.UUID)
	q := query{}
	q.add(`namespace = ?`, string(ns))
	switch f.Direction {
	case engram.Outgoing:
		q.add(`from_id = ?`, id)
	case engram.Incoming:
		q.add(`to_id = ?`, id)
	case engram.Both, "":
		q.add(`(from_id = ? OR to_id = ?)`, id, id)
	default:
		return nil, engram.Invalid("direction", "%q is not one of out, in, both", f.Direction)
	}
	if f.Type != "" {
		q.add(`type = ?`, string(f.Type))
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT from_id, to_id, type, weight, created_at FROM relationships WHERE `+
		q.sql()+` ORDER BY created_at, from_id, to_id, type`), q.args...)
	if err != nil {
		return nil, s.wrap("list relationships", err)
	}
	defer rows.Close()
	out := []engram.Relationship{}
	for rows.Next() {
		var r engram.Relationship
		var from, to []byte
		var created int64
		if err := rows.Scan(&from, &to, &r.Type, &r.Weight, &created); err != nil {
			return nil, s.wrap("list relationships", err)
		}
		if r.From.UUID, err = uuidFrom(from); err != nil {
			return nil, s.wrap("list relationships", err)
		}
		if r.To.UUID, err = uuidFrom(to); err != nil {
			return nil, s.wrap("list relationships", err)
		}
		r.CreatedAt = fromNanos(created)
		out = append(out, r)
	}
	return out, s.wrap("list relationships", rows.Err())
}

// relationshipKeys lists the change-feed keys of every relationship touching an episode.
func (t *tx) relationshipKeys(ns engram.Namespace, id []byte) ([]string, error) {
	rows, err := t.query(`SELECT from_id, to_id, type FROM relationships WHERE namespace = ? AND (from_id = ? OR to_id = ?)`, string(ns), id, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var from, to []byte
		var typ string
		if err := rows.Scan(&from, &to, &typ); err != nil {
			return nil, err
		}
		f, err := uuidFrom(from)
		if err != nil {
			return nil, err
		}
		tt, err := uuidFrom(to)
		if err != nil {
			return nil, err
		}
		keys = append(keys, relKey(engram.EpisodeID{UUID: f}, engram.EpisodeID{UUID: tt}, engram.RelationshipType(typ)))
	}
	return keys, rows.Err()
}
