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

// encodedEpisode is an episode ready to write: its document (without steps)
// and each step's document.
type encodedEpisode struct {
	doc   []byte
	steps [][]byte
	size  int // len(doc) + every step document
}

func encodeEpisode(ep *engram.Episode) (*encodedEpisode, error) {
	cp := *ep
	cp.Steps = nil
	doc, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("encode episode %s: %w", ep.ID, err)
	}
	enc := &encodedEpisode{doc: doc, size: len(doc), steps: make([][]byte, len(ep.Steps))}
	for i := range ep.Steps {
		b, err := json.Marshal(&ep.Steps[i])
		if err != nil {
			return nil, fmt.Errorf("encode step %d of episode %s: %w", ep.Steps[i].StepNumber, ep.ID, err)
		}
		enc.steps[i] = b
		enc.size += len(b)
	}
	if enc.size > engram.MaxEpisodeBytes {
		return nil, engram.TooLarge("episode", enc.size, engram.MaxEpisodeBytes)
	}
	return enc, nil
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
		if err := t.refuseExisting(ns, []*engram.Episode{ep}); err != nil {
			return err
		}
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
			return fmt.Errorf("episodes[%d]: %w", i, err)
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
				return fmt.Errorf("episodes[%d]: %w", i, err)
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

// insertEpisode writes a new episode whose id refuseExisting has cleared.
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
		ep.Complete(), nanos(ep.CreatedAt), nanos(ep.UpdatedAt), len(ep.Steps), last, enc.size-len(enc.doc), ftsID, enc.doc, docDigest(enc.doc))
	t.indexEpisode(ns, ep, id)
	for i := range ep.Steps {
		if err := t.insertStep(ns, id, &ep.Steps[i], enc.steps[i]); err != nil {
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

func (t *tx) insertStep(ns engram.Namespace, id []byte, st *engram.Step, doc []byte) error {
	ftsID, err := t.indexText(ns, engram.SearchStep, id, st.StepNumber, stepText(st))
	if err != nil {
		return err
	}
	t.insert("steps", string(ns), id, st.StepNumber, st.Tool, ftsID, doc, docDigest(doc))
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

const getEpisodeSQL = `SELECT 0, doc, digest, created_at, updated_at FROM episodes WHERE namespace = ? AND episode_id = ?
	UNION ALL
	SELECT step_number, doc, digest, 0, 0 FROM steps WHERE namespace = ? AND episode_id = ?
	ORDER BY 1`

// queryEpisode reads an episode and its steps in one statement (one
// snapshot), inside t when it is not nil. ENOTFOUND when absent.
func (s *Store) queryEpisode(ctx context.Context, t *tx, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	key := idBytes(id.UUID)
	var rows *sql.Rows
	var err error
	if t != nil {
		rows, err = t.query(getEpisodeSQL, string(ns), key, string(ns), key)
	} else {
		var st *sql.Stmt
		if st, err = s.stmt(ctx, s.r, getEpisodeSQL); err == nil {
			rows, err = st.QueryContext(ctx, string(ns), key, string(ns), key)
		}
	}
	if err != nil {
		return nil, err
	}
	ep, err := s.scanEpisodeWithSteps(rows, id)
	if err != nil {
		return nil, err
	}
	if ep == nil {
		return nil, engram.NotFound("episode", id)
	}
	return ep, nil
}

// scanEpisodeWithSteps reads rows of (0, episode doc, digest, created,
// updated) followed by (step_number, step doc, digest, _, _), verifying
// every digest. It returns nil for no rows.
func (s *Store) scanEpisodeWithSteps(rows *sql.Rows, id engram.EpisodeID) (*engram.Episode, error) {
	defer rows.Close()
	var ep *engram.Episode
	var doc, digest []byte
	for rows.Next() {
		var n int
		var created, updated int64
		if err := rows.Scan(&n, &doc, &digest, &created, &updated); err != nil {
			return nil, err
		}
		if n == 0 {
			ep = new(engram.Episode)
			if err := s.decodeVerified("episode", id.String(), doc, digest, ep); err != nil {
				return nil, err
			}
			ep.CreatedAt, ep.UpdatedAt = fromNanos(created), fromNanos(updated)
			ep.Steps = []engram.Step{}
			continue
		}
		if ep == nil {
			return nil, &engram.Error{Code: engram.ECORRUPT, Message: "steps without their episode"}
		}
		ep.Steps = append(ep.Steps, engram.Step{})
		if err := s.decodeVerified("step", stepKey(id.UUID, n), doc, digest, &ep.Steps[len(ep.Steps)-1]); err != nil {
			return nil, err
		}
	}
	return ep, rows.Err()
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
		id := idBytes(cp.ID.UUID)
		var created, stepsBytes int64
		err := t.queryRow(`SELECT created_at, steps_bytes FROM episodes WHERE namespace = ? AND episode_id = ?`, string(ns), id).Scan(&created, &stepsBytes)
		if errors.Is(err, sql.ErrNoRows) {
			return engram.NotFound("episode", cp.ID)
		}
		if err != nil {
			return err
		}
		cp.CreatedAt, cp.UpdatedAt = fromNanos(created), t.now
		enc, err := encodeEpisode(&cp)
		if err != nil {
			return err
		}
		if size := len(enc.doc) + int(stepsBytes); size > engram.MaxEpisodeBytes {
			return engram.TooLarge("episode", size, engram.MaxEpisodeBytes)
		}
		if err := t.rewriteEpisode(ns, &cp, id, enc.doc); err != nil {
			return err
		}
		steps := ep.Steps
		*ep = cp
		ep.Steps = steps
		return nil
	})
}

// rewriteEpisode replaces an existing episode's row and index rows (not its
// steps) and records the update.
func (t *tx) rewriteEpisode(ns engram.Namespace, ep *engram.Episode, id []byte, doc []byte) error {
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
		complete = ?, updated_at = ?, fts_rowid = ?, doc = ?, digest = ? WHERE namespace = ? AND episode_id = ?`,
		string(ep.TaskType), ep.Context.Domain, ep.Context.Language, nanos(ep.StartTime), end,
		ep.Complete(), nanos(ep.UpdatedAt), ftsID, doc, docDigest(doc), string(ns), id); err != nil {
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

// episodeState is what a step append or completion needs to know.
type episodeState struct {
	doc        []byte
	digest     []byte
	created    int64
	complete   bool
	stepCount  int
	lastStep   int
	stepsBytes int64
}

func (t *tx) episodeState(ns engram.Namespace, id engram.EpisodeID) (*episodeState, error) {
	var st episodeState
	err := t.queryRow(`SELECT doc, digest, created_at, complete, step_count, last_step, steps_bytes FROM episodes WHERE namespace = ? AND episode_id = ?`,
		string(ns), idBytes(id.UUID)).Scan(&st.doc, &st.digest, &st.created, &st.complete, &st.stepCount, &st.lastStep, &st.stepsBytes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, engram.NotFound("episode", id)
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
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
		st, err := t.episodeState(ns, id)
		if err != nil {
			return err
		}
		if st.complete {
			return &engram.Error{Code: engram.ECONFLICT, Field: "episode_id", Message: fmt.Sprintf("episode %s is complete; steps can only be appended to open episodes", id)}
		}
		if st.stepCount >= engram.MaxSteps {
			return engram.TooMany("steps", st.stepCount+1, "steps in episode "+id.String(), engram.MaxSteps)
		}
		if step.StepNumber == 0 {
			step.StepNumber = st.lastStep + 1
		} else if step.StepNumber <= st.lastStep {
			return &engram.Error{Code: engram.ECONFLICT, Field: "step.step_number",
				Message: fmt.Sprintf("is %d; episode %s is at step %d and step numbers must strictly increase", step.StepNumber, id, st.lastStep)}
		}
		step.Normalize(t.now)
		if err := step.Validate(); err != nil {
			return err
		}
		doc, err := json.Marshal(step)
		if err != nil {
			return fmt.Errorf("encode step: %w", err)
		}
		if size := len(st.doc) + int(st.stepsBytes) + len(doc); size > engram.MaxEpisodeBytes {
			return engram.TooLarge("episode", size, engram.MaxEpisodeBytes)
		}
		key := idBytes(id.UUID)
		if err := t.insertStep(ns, key, step, doc); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE episodes SET step_count = step_count + 1, last_step = ?, steps_bytes = steps_bytes + ?, updated_at = ?
			WHERE namespace = ? AND episode_id = ?`, step.StepNumber, len(doc), nanos(t.now), string(ns), key); err != nil {
			return err
		}
		t.change(ns, engram.KindEpisode, id.String(), engram.OpUpdate)
		return nil
	})
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
		st, err := t.episodeState(ns, id)
		if err != nil {
			return err
		}
		if st.complete {
			return &engram.Error{Code: engram.ECONFLICT, Field: "episode_id", Message: fmt.Sprintf("episode %s is complete already", id)}
		}
		var ep engram.Episode
		if err := t.s.decodeVerified("episode", id.String(), st.doc, st.digest, &ep); err != nil {
			return err
		}
		if c.EndTime.Before(ep.StartTime) {
			return engram.Invalid("end_time", "%s is before the episode's start_time %s", c.EndTime.Format(time.RFC3339Nano), ep.StartTime.Format(time.RFC3339Nano))
		}
		outcome := c.Outcome
		ep.Outcome, ep.Reward, ep.Reflection, ep.EndTime = &outcome, c.Reward, c.Reflection, c.EndTime
		ep.CreatedAt, ep.UpdatedAt = fromNanos(st.created), t.now
		doc, err := json.Marshal(&ep)
		if err != nil {
			return fmt.Errorf("encode episode: %w", err)
		}
		if size := len(doc) + int(st.stepsBytes); size > engram.MaxEpisodeBytes {
			return engram.TooLarge("episode", size, engram.MaxEpisodeBytes)
		}
		if err := t.rewriteEpisode(ns, &ep, idBytes(id.UUID), doc); err != nil {
			return err
		}
		// Read back inside the transaction: the caller gets exactly what was committed.
		completed, err = t.s.queryEpisode(t.ctx, t, ns, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return completed, nil
}
