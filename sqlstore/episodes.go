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

// encodedEpisode is an episode ready to write: its document, the whole
// episode as a read returns it (steps, created_at and updated_at included).
type encodedEpisode struct {
	doc    []byte
	digest []byte // docDigest(doc), computed by the caller's goroutine, not the committer
}

// encodeEpisode is the canonical encoding of an episode's document (the
// bytes its digest covers; see digest.go). An episode without steps is
// encoded with "steps": [], so it reads back with an empty, non-nil slice.
func encodeEpisode(ep *engram.Episode) (*encodedEpisode, error) {
	cp := ep
	if ep.Steps == nil {
		c := *ep
		c.Steps = []engram.Step{}
		cp = &c
	}
	doc, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("encode episode %s: %w", ep.ID, err)
	}
	if len(doc) > engram.MaxEpisodeBytes {
		return nil, engram.TooLarge("episode", len(doc), engram.MaxEpisodeBytes)
	}
	return &encodedEpisode{doc: doc, digest: docDigest(doc)}, nil
}

// prepareEpisode normalises, validates and encodes a new episode as of now.
func prepareEpisode(ep *engram.Episode, now time.Time) (*encodedEpisode, error) {
	if ep == nil {
		return nil, engram.Invalid("episode", "is required")
	}
	ep.Normalize(now)
	ep.CreatedAt, ep.UpdatedAt = now, now
	if err := ep.Validate(); err != nil {
		return nil, err
	}
	return encodeEpisode(ep)
}

func (s *Store) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	var k *idemKey
	if ep != nil {
		req := *ep
		req.ID = engram.EpisodeID{}
		var err error
		if k, err = s.idem(ctx, ns, "create_episode", &req, ep); err != nil {
			return err
		}
	}
	now := s.now()
	enc, err := prepareEpisode(ep, now)
	if err != nil {
		k.restore()
		return err
	}
	key := ep.ID.String()
	return s.writeKeyed(ctx, k, ns, "create episode "+key, engram.KindEpisode, &key, []any{ep}, func(t *tx) error {
		// No SELECT first: the episodes INSERT itself refuses a taken id
		// (its unique key), and the write then fails with this error. So a
		// create runs no statement of its own in its turn, and can join a
		// group's multi-row INSERTs (see groupcommit.go).
		t.onDuplicate = &engram.Error{Code: engram.ECONFLICT, Field: "episode_id", Message: fmt.Sprintf("episode %s exists already", ep.ID)}
		return t.insertEpisode(ns, ep, enc)
	})
}

func (s *Store) CreateEpisodes(ctx context.Context, ns engram.Namespace, eps []*engram.Episode) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if len(eps) > engram.MaxBatch {
		return engram.TooMany("episodes", len(eps), "episodes in one batch", engram.MaxBatch)
	}
	req := make([]*engram.Episode, len(eps))
	recs := make([]any, len(eps))
	for i, ep := range eps {
		if ep != nil {
			cp := *ep
			cp.ID = engram.EpisodeID{}
			req[i] = &cp
		}
		recs[i] = ep
	}
	k, err := s.idem(ctx, ns, "create_episodes", req, recs...)
	if err != nil {
		return err
	}
	now := s.now()
	encs := make([]*encodedEpisode, len(eps))
	seen := make(map[engram.EpisodeID]bool, len(eps))
	for i, ep := range eps {
		enc, err := prepareEpisode(ep, now)
		if err != nil {
			k.restore()
			return engram.Within("episodes", i, err)
		}
		if seen[ep.ID] {
			k.restore()
			return &engram.Error{Code: engram.ECONFLICT, Field: fmt.Sprintf("episodes[%d].episode_id", i), Message: fmt.Sprintf("%s appears twice in the batch", ep.ID)}
		}
		seen[ep.ID] = true
		encs[i] = enc
	}
	batch := fmt.Sprintf("%d episodes", len(eps))
	return s.writeKeyed(ctx, k, ns, "create "+batch, engram.KindEpisode, &batch, recs, func(t *tx) error {
		if err := t.refuseExisting(ns, eps); err != nil {
			return err
		}
		for i, ep := range eps {
			if err := t.insertEpisode(ns, ep, encs[i]); err != nil {
				return engram.Within("episodes", i, err)
			}
		}
		return nil
	})
}

// refuseExisting returns ECONFLICT naming the first of eps whose id is taken.
func (t *tx) refuseExisting(ns engram.Namespace, eps []*engram.Episode) error {
	const chunk = 256
	for start := 0; start < len(eps); start += chunk {
		part := eps[start:min(start+chunk, len(eps))]
		args := []any{string(ns)}
		for _, ep := range part {
			args = append(args, idBytes(ep.ID.UUID))
		}
		rows, err := t.query(`SELECT episode_id FROM episodes WHERE namespace = ? AND episode_id IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")+`)`, args...)
		if err != nil {
			return err
		}
		taken := map[engram.UUID]bool{}
		for rows.Next() {
			var ref []byte
			if err := rows.Scan(&ref); err != nil {
				rows.Close()
				return err
			}
			u, err := uuidFrom(ref)
			if err != nil {
				rows.Close()
				return err
			}
			taken[u] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, ep := range part {
			if taken[ep.ID.UUID] {
				return &engram.Error{Code: engram.ECONFLICT, Field: "episode_id", Message: fmt.Sprintf("episode %s exists already", ep.ID)}
			}
		}
	}
	return nil
}

// insertEpisode writes a new episode whose id refuseExisting has cleared
// (or whose taken id the INSERT refuses: see tx.onDuplicate).
func (t *tx) insertEpisode(ns engram.Namespace, ep *engram.Episode, enc *encodedEpisode) error {
	id := idBytes(ep.ID.UUID)
	ftsID, err := t.indexText(ns, engram.SearchEpisode, id, 0, episodeText(ep))
	if err != nil {
		return err
	}
	var end sql.NullInt64
	if ep.EndTime != nil {
		end = sql.NullInt64{Int64: nanos(*ep.EndTime), Valid: true}
	}
	last := 0
	if n := len(ep.Steps); n > 0 {
		last = ep.Steps[n-1].StepNumber
	}
	t.insert("episodes", string(ns), id, string(ep.TaskType), ep.Context.Domain, ep.Context.Language, nanos(ep.StartTime), end,
		ep.Complete(), nanos(ep.CreatedAt), nanos(ep.UpdatedAt), len(ep.Steps), last, 0, ftsID, enc.doc, enc.digest)
	t.indexEpisode(ns, ep, id)
	for i := range ep.Steps {
		if err := t.insertStep(ns, id, &ep.Steps[i]); err != nil {
			return err
		}
	}
	t.change(ns, engram.KindEpisode, ep.ID.String(), engram.OpInsert)
	return nil
}

// indexEpisode writes the episode's tag, metadata and spatiotemporal rows.
// Callers replacing an episode call unindexEpisode first.
func (t *tx) indexEpisode(ns engram.Namespace, ep *engram.Episode, id []byte) {
	for _, tag := range ep.AllTags() {
		t.insert("episode_tags", string(ns), id, tag)
	}
	for k, v := range ep.Metadata {
		t.insert("episode_metadata", string(ns), id, k, v)
	}
	if l := ep.Location; l != nil {
		x, y, z := unitVector(l.Lat, l.Lon)
		t.insert("spatiotemporal_index", string(ns), id, nanos(ep.StartTime), l.Lat, l.Lon, x, y, z)
	}
}

func (t *tx) unindexEpisode(ns engram.Namespace, id []byte) error {
	for _, q := range []string{
		`DELETE FROM episode_tags WHERE namespace = ? AND episode_id = ?`,
		`DELETE FROM episode_metadata WHERE namespace = ? AND episode_id = ?`,
		`DELETE FROM spatiotemporal_index WHERE namespace = ? AND episode_id = ?`,
	} {
		if _, err := t.exec(q, string(ns), id); err != nil {
			return err
		}
	}
	return nil
}

// insertStep writes a step's row: what insights aggregate and search
// finds it by. The step itself is in its episode's document.
func (t *tx) insertStep(ns engram.Namespace, id []byte, st *engram.Step) error {
	ftsID, err := t.indexText(ns, engram.SearchStep, id, st.StepNumber, stepText(st))
	if err != nil {
		return err
	}
	if !writeTuning.stepRows {
		return nil
	}
	var typ, msg string
	if r := st.Result; r != nil {
		typ, msg = string(r.Type), r.Message
	}
	t.insert("steps", string(ns), id, st.StepNumber, st.Tool, nanos(st.Timestamp), st.LatencyMS, st.TokensUsed, typ, msg, ftsID)
	return nil
}

func (s *Store) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	ep, err := s.queryEpisode(ctx, nil, ns, id)
	if err != nil {
		return nil, s.wrap("get episode "+id.String(), err)
	}
	return ep, nil
}

const getEpisodeSQL = `SELECT doc, digest FROM episodes WHERE namespace = ? AND episode_id = ?`

// queryEpisode reads an episode (one row, one document, its digest
// verified), inside t when it is not nil. ENOTFOUND when absent.
func (s *Store) queryEpisode(ctx context.Context, t *tx, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	key := idBytes(id.UUID)
	var row *sql.Row
	if t != nil {
		row = t.queryRow(getEpisodeSQL, string(ns), key)
	} else {
		st, err := s.stmt(ctx, s.r, getEpisodeSQL)
		if err != nil {
			return nil, err
		}
		row = st.QueryRowContext(ctx, string(ns), key)
	}
	var doc, digest []byte
	if err := row.Scan(&doc, &digest); errors.Is(err, sql.ErrNoRows) {
		return nil, engram.NotFound("episode", id)
	} else if err != nil {
		return nil, err
	}
	ep := new(engram.Episode)
	if err := s.decodeVerified("episode", id.String(), doc, digest, ep); err != nil {
		return nil, err
	}
	return ep, nil
}

func (s *Store) UpdateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if ep == nil || ep.ID.IsZero() {
		return engram.Invalid("episode_id", "is required to update an episode")
	}
	k, err := s.idem(ctx, ns, "update_episode", ep, ep)
	if err != nil {
		return err
	}
	now := s.now()
	cp := *ep
	cp.Steps = nil
	cp.Normalize(now)
	cp.Steps = nil
	if err := cp.Validate(); err != nil {
		return err
	}
	key := ep.ID.String()
	return s.writeKeyed(ctx, k, ns, "update episode "+key, engram.KindEpisode, &key, []any{ep}, func(t *tx) error {
		old, err := t.storedEpisode(ns, cp.ID)
		if err != nil {
			return err
		}
		// An update replaces what the episode says, never its steps.
		cp.Steps = old.Steps
		cp.CreatedAt, cp.UpdatedAt = old.CreatedAt, t.now
		enc, err := encodeEpisode(&cp)
		if err != nil {
			return err
		}
		if err := t.rewriteEpisode(ns, &cp, enc.doc, true); err != nil {
			return err
		}
		steps := ep.Steps
		*ep = cp
		ep.Steps = steps
		return nil
	})
}

// rewriteEpisode replaces an existing episode's row with ep, encoded as
// doc, and records the update. reindex: what the episode says changed (not
// only its steps), so its search, tag, metadata and location rows are
// rewritten too. Step rows are the caller's.
func (t *tx) rewriteEpisode(ns engram.Namespace, ep *engram.Episode, doc []byte, reindex bool) error {
	id := idBytes(ep.ID.UUID)
	last := 0
	if n := len(ep.Steps); n > 0 {
		last = ep.Steps[n-1].StepNumber
	}
	if !reindex {
		if _, err := t.exec(`UPDATE episodes SET step_count = ?, last_step = ?, updated_at = ?, doc = ?, digest = ? WHERE namespace = ? AND episode_id = ?`,
			len(ep.Steps), last, nanos(ep.UpdatedAt), doc, docDigest(doc), string(ns), id); err != nil {
			return err
		}
		t.change(ns, engram.KindEpisode, ep.ID.String(), engram.OpUpdate)
		return nil
	}
	var oldFTS int64
	if err := t.queryRow(`SELECT fts_rowid FROM episodes WHERE namespace = ? AND episode_id = ?`, string(ns), id).Scan(&oldFTS); err != nil {
		return err
	}
	if err := t.unindexText(ns, oldFTS); err != nil {
		return err
	}
	ftsID, err := t.indexText(ns, engram.SearchEpisode, id, 0, episodeText(ep))
	if err != nil {
		return err
	}
	var end sql.NullInt64
	if ep.EndTime != nil {
		end = sql.NullInt64{Int64: nanos(*ep.EndTime), Valid: true}
	}
	if _, err := t.exec(`UPDATE episodes SET task_type = ?, domain = ?, language = ?, start_time = ?, end_time = ?,
		complete = ?, updated_at = ?, step_count = ?, last_step = ?, fts_rowid = ?, doc = ?, digest = ? WHERE namespace = ? AND episode_id = ?`,
		string(ep.TaskType), ep.Context.Domain, ep.Context.Language, nanos(ep.StartTime), end,
		ep.Complete(), nanos(ep.UpdatedAt), len(ep.Steps), last, ftsID, doc, docDigest(doc), string(ns), id); err != nil {
		return err
	}
	if err := t.unindexEpisode(ns, id); err != nil {
		return err
	}
	t.indexEpisode(ns, ep, id)
	t.change(ns, engram.KindEpisode, ep.ID.String(), engram.OpUpdate)
	return nil
}

func (s *Store) DeleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	k, err := s.idem(ctx, ns, "delete_episode", id)
	if err != nil {
		return err
	}
	rk := id.String()
	return s.writeKeyed(ctx, k, ns, "delete episode "+rk, engram.KindEpisode, &rk, []any{}, func(t *tx) error {
		key := idBytes(id.UUID)
		// Relationships and embeddings go too; each gets its own change entry
		// so caches of them are invalidated.
		rels, err := t.relationshipKeys(ns, key)
		if err != nil {
			return err
		}
		models, err := t.embeddingModels(ns, engram.ItemEpisode, key)
		if err != nil {
			return err
		}
		table, err := t.ensureFTS(ns)
		if err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM `+table+` WHERE rowid IN (SELECT fts_rowid FROM steps WHERE namespace = ? AND episode_id = ?
			UNION ALL SELECT fts_rowid FROM episodes WHERE namespace = ? AND episode_id = ?)`, string(ns), key, string(ns), key); err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM embeddings WHERE namespace = ? AND item_type = ? AND item_id = ?`, string(ns), string(engram.ItemEpisode), key); err != nil {
			return err
		}
		res, err := t.exec(`DELETE FROM episodes WHERE namespace = ? AND episode_id = ?`, string(ns), key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return engram.NotFound("episode", id)
		}
		for _, r := range rels {
			t.change(ns, engram.KindRelationship, r, engram.OpDelete)
		}
		for _, m := range models {
			k := engram.EmbeddingKey{ItemType: engram.ItemEpisode, ItemID: id.UUID, Model: m}
			t.change(ns, engram.KindEmbedding, k.String(), engram.OpDelete)
		}
		t.change(ns, engram.KindEpisode, id.String(), engram.OpDelete)
		return nil
	})
}

// storedEpisode reads an episode inside the transaction, its digest
// verified: ENOTFOUND when absent, ECORRUPT when damaged.
func (t *tx) storedEpisode(ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	return t.s.queryEpisode(t.ctx, t, ns, id)
}

func (s *Store) AppendStep(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, step *engram.Step) error {
	if err := s.checkNS(ns); err != nil {
		return err
	}
	if step == nil {
		return engram.Invalid("step", "is required")
	}
	if step.StepNumber < 0 {
		return engram.Invalid("step.step_number", "is %d; step numbers start at 1 (0: the next number)", step.StepNumber)
	}
	k, err := s.idem(ctx, ns, "append_step", []any{id, step}, step)
	if err != nil {
		return err
	}
	rk := id.String()
	return s.writeKeyed(ctx, k, ns, "append step to episode "+rk, engram.KindEpisode, &rk, []any{step}, func(t *tx) error {
		return t.appendStep(ns, id, step)
	})
}

// appendStep appends step to the stored episode id. The stored document is
// verified and the step spliced into it (see splice.go); a document the
// splice does not recognise is decoded and re-encoded whole instead.
func (t *tx) appendStep(ns engram.Namespace, id engram.EpisodeID, step *engram.Step) error {
	key := idBytes(id.UUID)
	var doc, digest []byte
	if err := t.queryRow(getEpisodeSQL, string(ns), key).Scan(&doc, &digest); errors.Is(err, sql.ErrNoRows) {
		return engram.NotFound("episode", id)
	} else if err != nil {
		return err
	}
	if err := t.s.verify("episode", id.String(), doc, digest); err != nil {
		return err
	}
	sp, ok := scanEpisodeDoc(doc)
	last := 0
	if ok {
		last, ok = sp.lastStepNumber()
	}
	var ep *engram.Episode
	if !ok {
		ep = new(engram.Episode)
		if err := decodeDoc("episode", doc, ep); err != nil {
			return t.s.corrupt("episode", id.String(), "is not valid JSON", err)
		}
		sp = episodeSpans{steps: len(ep.Steps), complete: ep.Complete()}
		if n := len(ep.Steps); n > 0 {
			last = ep.Steps[n-1].StepNumber
		}
	}
	if sp.complete {
		return &engram.Error{Code: engram.ECONFLICT, Field: "episode_id", Message: fmt.Sprintf("episode %s is complete; steps can only be appended to open episodes", id)}
	}
	if sp.steps >= engram.MaxSteps {
		return engram.TooMany("steps", sp.steps+1, "steps in episode "+id.String(), engram.MaxSteps)
	}
	if step.StepNumber == 0 {
		step.StepNumber = last + 1
	} else if step.StepNumber <= last {
		return &engram.Error{Code: engram.ECONFLICT, Field: "step.step_number",
			Message: fmt.Sprintf("is %d; episode %s is at step %d and step numbers must strictly increase", step.StepNumber, id, last)}
	}
	step.Normalize(t.now)
	if err := step.Validate(); err != nil {
		return err
	}
	var newDoc []byte
	if ep != nil {
		ep.Steps = append(ep.Steps, *step)
		ep.UpdatedAt = t.now
		enc, err := encodeEpisode(ep)
		if err != nil {
			return err
		}
		newDoc = enc.doc
	} else {
		stepJSON, err := json.Marshal(step)
		if err != nil {
			return fmt.Errorf("encode step %d: %w", step.StepNumber, err)
		}
		updated, err := json.Marshal(t.now)
		if err != nil {
			return fmt.Errorf("encode updated_at: %w", err)
		}
		newDoc = spliceStep(doc, &sp, stepJSON, updated)
		if len(newDoc) > engram.MaxEpisodeBytes {
			return engram.TooLarge("episode", len(newDoc), engram.MaxEpisodeBytes)
		}
	}
	if err := t.insertStep(ns, key, step); err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE episodes SET step_count = ?, last_step = ?, updated_at = ?, doc = ?, digest = ? WHERE namespace = ? AND episode_id = ?`,
		sp.steps+1, step.StepNumber, nanos(t.now), newDoc, docDigest(newDoc), string(ns), key); err != nil {
		return err
	}
	t.change(ns, engram.KindEpisode, id.String(), engram.OpUpdate)
	return nil
}

func (s *Store) CompleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, c *engram.Completion) (*engram.Episode, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, engram.Invalid("outcome", "is required to complete an episode")
	}
	k, err := s.idem(ctx, ns, "complete_episode", []any{id, c}, c)
	if err != nil {
		return nil, err
	}
	c.Normalize(s.now())
	if err := c.Validate(); err != nil {
		k.restore()
		return nil, err
	}
	var completed *engram.Episode
	rk := id.String()
	err = s.writeKeyed(ctx, k, ns, "complete episode "+rk, engram.KindEpisode, &rk, []any{c, &completed}, func(t *tx) error {
		ep, err := t.storedEpisode(ns, id)
		if err != nil {
			return err
		}
		if ep.Complete() {
			return &engram.Error{Code: engram.ECONFLICT, Field: "episode_id", Message: fmt.Sprintf("episode %s is complete already", id)}
		}
		if c.EndTime.Before(ep.StartTime) {
			return engram.Invalid("end_time", "%s is before the episode's start_time %s", c.EndTime.Format(time.RFC3339Nano), ep.StartTime.Format(time.RFC3339Nano))
		}
		outcome := c.Outcome
		ep.Outcome, ep.Reward, ep.Reflection, ep.EndTime = &outcome, c.Reward, c.Reflection, c.EndTime
		ep.UpdatedAt = t.now
		enc, err := encodeEpisode(ep)
		if err != nil {
			return err
		}
		if err := t.rewriteEpisode(ns, ep, enc.doc, true); err != nil {
			return err
		}
		// The caller gets exactly what was committed: the document decoded.
		completed = new(engram.Episode)
		return decodeDoc("episode", enc.doc, completed)
	})
	if err != nil {
		return nil, err
	}
	return completed, nil
}
