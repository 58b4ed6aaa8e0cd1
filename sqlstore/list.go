package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/engramhq/engram"
)

// query accumulates a WHERE clause and its arguments.
type query struct {
	where []string
	args  []any
}

func (q *query) add(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

func (q *query) sql() string { return strings.Join(q.where, " AND ") }

func (s *Store) ListEpisodes(ctx context.Context, ns engram.Namespace, f engram.EpisodeFilter) (engram.EpisodePage, error) {
	var page engram.EpisodePage
	if err := s.checkNS(ns); err != nil {
		return page, err
	}
	limit, err := engram.ClampLimit(f.Limit)
	if err != nil {
		return page, err
	}
	q := query{}
	q.add(`e.namespace = ?`, string(ns))
	if !f.Since.IsZero() {
		q.add(`e.start_time >= ?`, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		if !f.Since.IsZero() && !f.Until.After(f.Since) {
			return page, engram.Invalid("until", "must be after since")
		}
		q.add(`e.start_time < ?`, nanos(f.Until))
	}
	if f.Domain != "" {
		q.add(`e.domain = ?`, f.Domain)
	}
	if f.TaskType != "" {
		q.add(`e.task_type = ?`, string(f.TaskType))
	}
	if f.Complete != nil {
		q.add(`e.complete = ?`, *f.Complete)
	}
	for i, tag := range f.Tags {
		tag = engram.NormalizeTag(tag)
		if err := engram.ValidateTag(tag); err != nil {
			return page, engram.Invalid(fmt.Sprintf("tags[%d]", i), "%s", err.(*engram.Error).Message)
		}
		q.add(`e.episode_id IN (SELECT t.episode_id FROM episode_tags t WHERE t.namespace = ? AND t.tag = ?)`, string(ns), tag)
	}
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.add(`e.episode_id IN (SELECT m.episode_id FROM episode_metadata m WHERE m.namespace = ? AND m.key = ? AND m.value = ?)`, string(ns), k, f.Metadata[k])
	}
	if r := f.Near; r != nil {
		if err := validateRadius(r); err != nil {
			return page, err
		}
		minLat, maxLat, chord2 := radiusBounds(r)
		x, y, z := unitVector(r.Lat, r.Lon)
		q.add(`e.episode_id IN (SELECT g.episode_id FROM spatiotemporal_index g WHERE g.namespace = ?
			AND g.lat BETWEEN ? AND ? AND (g.x - ?) * (g.x - ?) + (g.y - ?) * (g.y - ?) + (g.z - ?) * (g.z - ?) <= ?)`,
			string(ns), minLat, maxLat, x, x, y, y, z, z, chord2)
	}
	if b := f.Box; b != nil {
		if err := validateBox(b); err != nil {
			return page, err
		}
		lon := `g.lon BETWEEN ? AND ?`
		if b.MinLon > b.MaxLon { // across the antimeridian
			lon = `(g.lon >= ? OR g.lon <= ?)`
		}
		q.add(`e.episode_id IN (SELECT g.episode_id FROM spatiotemporal_index g WHERE g.namespace = ?
			AND g.lat BETWEEN ? AND ? AND `+lon+`)`, string(ns), b.MinLat, b.MaxLat, b.MinLon, b.MaxLon)
	}
	if f.Cursor != "" {
		var at int64
		var id engram.UUID
		if err := decodeCursor("episodes", f.Cursor, &at, &id); err != nil {
			return page, err
		}
		q.add(`(e.start_time < ? OR (e.start_time = ? AND e.episode_id < ?))`, at, at, idBytes(id))
	}
	err = s.read(ctx, "list episodes", func(rtx *sql.Tx) error {
		rows, err := rtx.QueryContext(ctx, s.d.rebind(`SELECT e.doc, e.created_at, e.updated_at FROM episodes e WHERE `+
			q.sql()+` ORDER BY e.start_time DESC, e.episode_id DESC LIMIT ?`), append(q.args, limit+1)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		byID := map[engram.UUID]*engram.Episode{}
		for rows.Next() {
			var doc []byte
			var created, updated int64
			if err := rows.Scan(&doc, &created, &updated); err != nil {
				return err
			}
			if len(page.Episodes) == limit {
				last := page.Episodes[limit-1]
				page.NextCursor = encodeCursor("episodes", nanos(last.StartTime), last.ID.UUID)
				break
			}
			ep := new(engram.Episode)
			if err := decodeDoc("episode", doc, ep); err != nil {
				return err
			}
			ep.CreatedAt, ep.UpdatedAt = fromNanos(created), fromNanos(updated)
			ep.Steps = []engram.Step{}
			page.Episodes = append(page.Episodes, ep)
			byID[ep.ID.UUID] = ep
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return s.loadSteps(ctx, rtx, ns, page.Episodes, byID)
	})
	if page.Episodes == nil {
		page.Episodes = []*engram.Episode{}
	}
	return page, err
}

// loadSteps fills in the steps of eps, in chunks to bound the statement size.
func (s *Store) loadSteps(ctx context.Context, rtx *sql.Tx, ns engram.Namespace, eps []*engram.Episode, byID map[engram.UUID]*engram.Episode) error {
	const chunk = 200
	for start := 0; start < len(eps); start += chunk {
		end := min(start+chunk, len(eps))
		args := []any{string(ns)}
		marks := make([]string, 0, end-start)
		for _, ep := range eps[start:end] {
			marks = append(marks, "?")
			args = append(args, idBytes(ep.ID.UUID))
		}
		rows, err := rtx.QueryContext(ctx, s.d.rebind(`SELECT episode_id, doc FROM steps WHERE namespace = ? AND episode_id IN (`+
			strings.Join(marks, ", ")+`) ORDER BY episode_id, step_number`), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ref, doc []byte
			if err := rows.Scan(&ref, &doc); err != nil {
				rows.Close()
				return err
			}
			u, err := uuidFrom(ref)
			if err != nil {
				rows.Close()
				return err
			}
			ep := byID[u]
			if ep == nil {
				continue
			}
			ep.Steps = append(ep.Steps, engram.Step{})
			if err := decodeDoc("step", doc, &ep.Steps[len(ep.Steps)-1]); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
