package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/engramhq/engram"
)

func (s *Store) PutHeuristic(ctx context.Context, ns engram.Namespace, h *engram.Heuristic) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if h == nil {
		return engram.Invalid("heuristic", "is required")
	}
	req := *h
	req.ID = engram.HeuristicID{} // may be assigned afresh by a retry (see idempotency.go)
	k, err := s.idem(ctx, ns, "put_heuristic", &req, h)
	if err != nil {
		return err
	}
	h.Normalize(s.now())
	if err := h.Validate(); err != nil {
		k.restore()
		return err
	}
	rk := h.ID.String()
	return s.writeKeyed(ctx, k, ns, "put heuristic "+rk, engram.KindHeuristic, &rk, []any{h}, func(t *tx) error {
		id := idBytes(h.ID.UUID)
		op, created, _, err := t.existing(`SELECT created_at FROM heuristics WHERE namespace = ? AND heuristic_id = ?`, ns, id)
		if err != nil {
			return err
		}
		h.CreatedAt, h.UpdatedAt = created, t.now
		doc, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("encode heuristic: %w", err)
		}
		if _, err := t.exec(`DELETE FROM heuristics WHERE namespace = ? AND heuristic_id = ?`, string(ns), id); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO heuristics (namespace, heuristic_id, domain, confidence, created_at, updated_at, doc, digest)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, string(ns), id, h.Domain, h.Confidence, nanos(h.CreatedAt), nanos(h.UpdatedAt), doc, docDigest(doc)); err != nil {
			return err
		}
		t.change(ns, engram.KindHeuristic, h.ID.String(), op)
		return nil
	})
}

func (s *Store) GetHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) (*engram.Heuristic, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	h := new(engram.Heuristic)
	if err := s.getDoc(ctx, "heuristic", `SELECT doc, digest FROM heuristics WHERE namespace = ? AND heuristic_id = ?`, ns, id.UUID, h); err != nil {
		return nil, err
	}
	return h, nil
}

func (s *Store) DeleteHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	k, err := s.idem(ctx, ns, "delete_heuristic", id)
	if err != nil {
		return err
	}
	rk := id.String()
	return s.writeKeyed(ctx, k, ns, "delete heuristic "+rk, engram.KindHeuristic, &rk, []any{}, func(t *tx) error {
		if err := t.deleteRow("heuristic", `DELETE FROM heuristics WHERE namespace = ? AND heuristic_id = ?`, ns, idBytes(id.UUID), id.UUID); err != nil {
			return err
		}
		t.change(ns, engram.KindHeuristic, id.String(), engram.OpDelete)
		return nil
	})
}

func (s *Store) ListHeuristics(ctx context.Context, ns engram.Namespace, f engram.HeuristicFilter) (engram.HeuristicPage, error) {
	page := engram.HeuristicPage{Heuristics: []*engram.Heuristic{}}
	if err := s.checkNS(ns); err != nil {
		return page, err
	}
	q := query{}
	q.add(`h.namespace = ?`, string(ns))
	if f.Domain != "" {
		q.add(`h.domain = ?`, f.Domain)
	}
	if f.MinConfidence != 0 {
		if math.IsNaN(f.MinConfidence) || f.MinConfidence < 0 || f.MinConfidence > 1 {
			return page, engram.Invalid("min_confidence", "is %v; must be between 0 and 1", f.MinConfidence)
		}
		q.add(`h.confidence >= ?`, f.MinConfidence)
	}
	next, err := s.listDocs(ctx, "heuristics", `SELECT h.doc, h.digest, h.updated_at, h.heuristic_id FROM heuristics h`, `h.updated_at`, `h.heuristic_id`,
		q, f.Limit, f.Cursor, func(key string, doc, digest []byte) error {
			h := new(engram.Heuristic)
			if err := s.decodeVerified("heuristic", key, doc, digest, h); err != nil {
				return err
			}
			page.Heuristics = append(page.Heuristics, h)
			return nil
		})
	page.NextCursor = next
	return page, err
}
