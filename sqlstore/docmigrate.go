package sqlstore

import (
	"encoding/json"
	"fmt"

	"github.com/engramhq/engram"
)

// episodeDocuments is the Go step of migration 0005 (SQLite) and 0002
// (PostgreSQL): it rewrites every episode's doc into the whole episode (its
// old doc, its steps' docs, created_at and updated_at from their columns)
// with the digest of that canonical encoding, fills the steps' new
// columns from their docs, and drops steps.doc and steps.digest.
//
// Each old document is verified first. An episode whose doc or any of whose
// steps is damaged keeps its old doc with an empty digest, so it reads as
// ECORRUPT after the migration as it did before (rather than a record with
// the damage blessed by a fresh digest); its steps' documents go with the
// dropped columns.
func episodeDocuments(t *tx) error {
	const batch = 256
	type row struct {
		ns               string
		id               []byte
		created, updated int64
		doc, digest      []byte
	}
	lastNS, lastID := "", []byte{}
	for {
		rows, err := t.query(`SELECT namespace, episode_id, created_at, updated_at, doc, digest FROM episodes
			WHERE namespace > ? OR (namespace = ? AND episode_id > ?) ORDER BY namespace, episode_id LIMIT ?`, lastNS, lastNS, lastID, batch)
		if err != nil {
			return fmt.Errorf("read episodes: %w", err)
		}
		var todo []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.ns, &r.id, &r.created, &r.updated, &r.doc, &r.digest); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, r := range todo {
			if err := t.migrateEpisode(r.ns, r.id, r.created, r.updated, r.doc, r.digest); err != nil {
				return fmt.Errorf("episode %s/%s: %w", r.ns, fmtID(r.id), err)
			}
		}
		if len(todo) < batch {
			break
		}
		lastNS, lastID = todo[len(todo)-1].ns, todo[len(todo)-1].id
	}
	for _, col := range []string{"doc", "digest"} {
		if _, err := t.tx.ExecContext(t.ctx, `ALTER TABLE steps DROP COLUMN `+col); err != nil {
			return fmt.Errorf("drop steps.%s: %w", col, err)
		}
	}
	return nil
}

// migrateEpisode rewrites one episode for episodeDocuments.
func (t *tx) migrateEpisode(ns string, id []byte, created, updated int64, doc, digest []byte) error {
	key := fmtID(id)
	rows, err := t.query(`SELECT step_number, doc, digest FROM steps WHERE namespace = ? AND episode_id = ? ORDER BY step_number`, ns, id)
	if err != nil {
		return err
	}
	type stepDoc struct {
		n           int
		doc, digest []byte
	}
	var steps []stepDoc
	for rows.Next() {
		var sd stepDoc
		if err := rows.Scan(&sd.n, &sd.doc, &sd.digest); err != nil {
			rows.Close()
			return err
		}
		steps = append(steps, sd)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return err
	}
	ep := new(engram.Episode)
	damaged := t.s.decodeVerified("episode", key, doc, digest, ep) != nil
	ep.Steps = make([]engram.Step, len(steps))
	for i, sd := range steps {
		damaged = damaged || t.s.decodeVerified("step", fmt.Sprintf("%d of episode %s", sd.n, key), sd.doc, sd.digest, &ep.Steps[i]) != nil
	}
	if damaged {
		_, err := t.exec(`UPDATE episodes SET digest = ? WHERE namespace = ? AND episode_id = ?`, []byte{}, ns, id)
		return err
	}
	ep.CreatedAt, ep.UpdatedAt = fromNanos(created), fromNanos(updated)
	// encodeEpisode's encoding, without its size limit: an episode stored
	// under the old limit (documents counted apart) is never refused here.
	enc, err := json.Marshal(ep)
	if err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE episodes SET doc = ?, digest = ?, steps_bytes = 0 WHERE namespace = ? AND episode_id = ?`, enc, docDigest(enc), ns, id); err != nil {
		return err
	}
	for i := range ep.Steps {
		st := &ep.Steps[i]
		var typ, msg string
		if r := st.Result; r != nil {
			typ, msg = string(r.Type), r.Message
		}
		if _, err := t.exec(`UPDATE steps SET at = ?, latency_ms = ?, tokens_used = ?, result_type = ?, result_message = ?
			WHERE namespace = ? AND episode_id = ? AND step_number = ?`,
			nanos(st.Timestamp), st.LatencyMS, st.TokensUsed, typ, msg, ns, id, steps[i].n); err != nil {
			return err
		}
	}
	return nil
}
