package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/engramhq/engram"
)

// ImportBatch is a batch of records copied from another store, as that
// store returned them.
type ImportBatch struct {
	Episodes      []*engram.Episode // with their steps
	Patterns      []*engram.Pattern
	Heuristics    []*engram.Heuristic
	Embeddings    []*engram.Embedding
	Relationships []*engram.Relationship // between episodes committed before this batch
}

// Len is the number of records in b.
func (b *ImportBatch) Len() int {
	return len(b.Episodes) + len(b.Patterns) + len(b.Heuristics) + len(b.Embeddings) + len(b.Relationships)
}

// Import writes b's records into namespace ns exactly as given: ids,
// timestamps and every field kept, so a record read back equals the one
// read from the source store (engram db migrate). It only inserts: a key
// already taken is ECONFLICT naming the record, and nothing of b is
// written. Records are validated as writes validate them. Every record
// appends to the change feed, so caches and other nodes see the import.
// One transaction: all of b or none of it.
func (s *Store) Import(ctx context.Context, ns engram.Namespace, b *ImportBatch) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if n := b.Len(); n > engram.MaxBatch {
		return engram.TooMany("records", n, "records in one import batch", engram.MaxBatch)
	}
	encs := make([]*encodedEpisode, len(b.Episodes))
	for i, ep := range b.Episodes {
		if ep == nil {
			return engram.Invalid(fmt.Sprintf("episodes[%d]", i), "is required")
		}
		if err := ep.Validate(); err != nil {
			return engram.Within("episodes", i, err)
		}
		enc, err := encodeEpisode(ep)
		if err != nil {
			return engram.Within("episodes", i, err)
		}
		encs[i] = enc
	}
	for i, p := range b.Patterns {
		if p == nil {
			return engram.Invalid(fmt.Sprintf("patterns[%d]", i), "is required")
		}
		if err := p.Validate(); err != nil {
			return engram.Within("patterns", i, err)
		}
	}
	for i, h := range b.Heuristics {
		if h == nil {
			return engram.Invalid(fmt.Sprintf("heuristics[%d]", i), "is required")
		}
		if err := h.Validate(); err != nil {
			return engram.Within("heuristics", i, err)
		}
	}
	for i, e := range b.Embeddings {
		if e == nil {
			return engram.Invalid(fmt.Sprintf("embeddings[%d]", i), "is required")
		}
		if err := e.Validate(); err != nil {
			return engram.Within("embeddings", i, err)
		}
	}
	for i, r := range b.Relationships {
		if r == nil {
			return engram.Invalid(fmt.Sprintf("relationships[%d]", i), "is required")
		}
		if err := r.Validate(); err != nil {
			return engram.Within("relationships", i, err)
		}
	}
	return s.write(ctx, fmt.Sprintf("import %d records", b.Len()), func(t *tx) error {
		if err := t.refuseExisting(ns, b.Episodes); err != nil {
			return err
		}
		for i, ep := range b.Episodes {
			if err := t.insertEpisode(ns, ep, encs[i]); err != nil {
				return engram.Within("episodes", i, err)
			}
		}
		for _, p := range b.Patterns {
			if err := t.importPattern(ns, p); err != nil {
				return err
			}
		}
		for _, h := range b.Heuristics {
			if err := t.importHeuristic(ns, h); err != nil {
				return err
			}
		}
		for _, e := range b.Embeddings {
			if err := t.importEmbedding(ns, e); err != nil {
				return err
			}
		}
		for _, r := range b.Relationships {
			if err := t.importRelationship(ns, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// taken is the ECONFLICT of an import whose key exists already.
func taken(what string) error {
	return &engram.Error{Code: engram.ECONFLICT, Field: "import", Message: what + " exists already"}
}

// present reports whether query (with args) finds a row.
func (t *tx) present(query string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (t *tx) importPattern(ns engram.Namespace, p *engram.Pattern) error {
	id := idBytes(p.ID.UUID)
	if ok, err := t.present(`SELECT 1 FROM patterns WHERE namespace = ? AND pattern_id = ?`, string(ns), id); err != nil || ok {
		if ok {
			return taken("pattern " + p.ID.String())
		}
		return err
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode pattern %s: %w", p.ID, err)
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
	t.change(ns, engram.KindPattern, p.ID.String(), engram.OpInsert)
	return nil
}

func (t *tx) importHeuristic(ns engram.Namespace, h *engram.Heuristic) error {
	id := idBytes(h.ID.UUID)
	if ok, err := t.present(`SELECT 1 FROM heuristics WHERE namespace = ? AND heuristic_id = ?`, string(ns), id); err != nil || ok {
		if ok {
			return taken("heuristic " + h.ID.String())
		}
		return err
	}
	doc, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode heuristic %s: %w", h.ID, err)
	}
	if _, err := t.exec(`INSERT INTO heuristics (namespace, heuristic_id, domain, confidence, created_at, updated_at, doc, digest)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, string(ns), id, h.Domain, h.Confidence, nanos(h.CreatedAt), nanos(h.UpdatedAt), doc, docDigest(doc)); err != nil {
		return err
	}
	t.change(ns, engram.KindHeuristic, h.ID.String(), engram.OpInsert)
	return nil
}

func (t *tx) importEmbedding(ns engram.Namespace, e *engram.Embedding) error {
	key := e.Key()
	id := idBytes(key.ItemID)
	if ok, err := t.present(`SELECT 1 FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ? AND model = ?`,
		string(ns), string(key.ItemType), id, key.Model); err != nil || ok {
		if ok {
			return taken("embedding " + key.String())
		}
		return err
	}
	vec := encodeVector(e.Vector)
	created := nanos(e.CreatedAt)
	metaArg, metaBytes := metadataArg(e.Metadata)
	if _, err := t.exec(`INSERT INTO embeddings (namespace, item_type, item_id, model, dimension, vector, created_at, digest, expires_at, metadata)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(ns), string(key.ItemType), id, key.Model, len(e.Vector), vec, created,
		embeddingDigest(string(key.ItemType), id, key.Model, created, len(e.Vector), vec, nanos0(e.ExpiresAt), metaBytes),
		expiresArg(e.ExpiresAt), metaArg); err != nil {
		return err
	}
	t.change(ns, engram.KindEmbedding, key.String(), engram.OpInsert)
	return nil
}

func (t *tx) importRelationship(ns engram.Namespace, r *engram.Relationship) error {
	from, to := idBytes(r.From.UUID), idBytes(r.To.UUID)
	if ok, err := t.present(`SELECT 1 FROM relationships WHERE namespace = ? AND from_id = ? AND to_id = ? AND type = ?`,
		string(ns), from, to, string(r.Type)); err != nil || ok {
		if ok {
			return taken("relationship " + r.String())
		}
		return err
	}
	if _, err := t.exec(`INSERT INTO relationships (namespace, from_id, to_id, type, weight, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		string(ns), from, to, string(r.Type), r.Weight, nanos(r.CreatedAt)); err != nil {
		return err
	}
	t.change(ns, engram.KindRelationship, relKey(r.From, r.To, r.Type), engram.OpInsert)
	return nil
}
