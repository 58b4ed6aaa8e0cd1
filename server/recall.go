package server

import (
	"github.com/engramhq/engram"
)

// RecallBody documents POST /v1/recall's body (engram.RecallRequest).
type RecallBody = engram.RecallRequest

// RecallAnswer documents POST /v1/recall's answer: engram.RecallResult as
// it is sent, each hit's record under "record".
type RecallAnswer struct {
	Hits   []RecallHitDoc           `json:"hits"`
	Stale  bool                     `json:"stale"`
	Vector *engram.RecallVectorInfo `json:"vector,omitempty"`
}

// RecallHitDoc is one hit as sent (see engram.RecallHit).
type RecallHitDoc struct {
	ItemType engram.ItemType      `json:"item_type"`
	ItemID   engram.UUID          `json:"item_id"`
	Score    float64              `json:"score"`
	Signals  engram.RecallSignals `json:"signals"`
	Record   recallRecord         `json:"record"`
}

// recallRecord is the recalled episode, pattern or heuristic.
type recallRecord = map[string]any

// recall answers POST /v1/recall from a store that is an engram.Recaller;
// 501 otherwise.
func (s *Server) recall(c *call) (any, error) {
	var req engram.RecallRequest
	if err := s.decode(c, &req); err != nil {
		return nil, err
	}
	if err := s.checkVector(len(req.Vector), "vector"); err != nil {
		return nil, err
	}
	q, err := req.Query()
	if err != nil {
		return nil, err
	}
	rc, ok := s.store.(engram.Recaller)
	if !ok {
		return nil, httpError(CodeNotImplemented, "this store cannot recall (it has no vector indexes; serve a data directory)")
	}
	res, err := rc.Recall(c.ctx, c.ns, q)
	if err != nil {
		return nil, err
	}
	if res.Hits == nil {
		res.Hits = []engram.RecallHit{}
	}
	res.Stale = res.Stale || c.stale()
	return res, nil
}
