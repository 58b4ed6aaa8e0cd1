package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

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
	if len(f.Tags) > engram.MaxFilterTags {
		return page, engram.Invalid("tags", "has %d tag filters; the limit is %d in one query", len(f.Tags), engram.MaxFilterTags)
	}
	if len(f.Metadata) > engram.MaxFilterMetadata {
		return page, engram.Invalid("metadata", "has %d metadata filters; the limit is %d in one query", len(f.Metadata), engram.MaxFilterMetadata)
	}
	q := query{}
	q.add(`e.namespace = ?`, string(ns))
	if !f.Since.IsZero() {
		if err := engram.CheckTime("since", f.Since); err != nil {
			return page, err
		}
		q.add(`e.start_time >= ?`, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		if err := engram.CheckTime("until", f.Until); err != nil {
			return page, err
		}
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
		rows, err := rtx.QueryContext(ctx, s.d.rebind(`SELECT e.episode_id, e.doc, e.digest FROM episodes e WHERE `+
			q.sql()+` ORDER BY e.start_time DESC, e.episode_id DESC LIMIT ?`), append(q.args, limit+1)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		type raw struct{ id, doc, digest []byte }
		var raws []raw
		for rows.Next() {
			var r raw
			if err := rows.Scan(&r.id, &r.doc, &r.digest); err != nil {
				return err
			}
			raws = append(raws, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		more := len(raws) > limit
		raws = raws[:min(len(raws), limit)]
		// One document per episode, steps included: the page's reads are
		// its rows, and decoding them is spread over the CPUs.
		page.Episodes = make([]*engram.Episode, len(raws))
		if err := decodeEach(len(raws), func(i int) error {
			ep := new(engram.Episode)
			u, err := uuidFrom(raws[i].id)
			if err != nil {
				return err
			}
			if err := s.decodeVerified("episode", u.String(), raws[i].doc, raws[i].digest, ep); err != nil {
				return err
			}
			page.Episodes[i] = ep
			return nil
		}); err != nil {
			return err
		}
		if more {
			last := page.Episodes[limit-1]
			page.NextCursor = encodeCursor("episodes", nanos(last.StartTime), last.ID.UUID)
		}
		return nil
	})
	if page.Episodes == nil {
		page.Episodes = []*engram.Episode{}
	}
	return page, err
}

// decodeEach runs fn(0..n-1), spread over the CPUs when n is large enough
// for that to pay: decoding documents is most of the cost of a big page.
func decodeEach(n int, fn func(i int) error) error {
	const perWorker = 64
	workers := min(runtime.GOMAXPROCS(0), n/perWorker)
	if workers < 2 {
		for i := 0; i < n; i++ {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	var g errgroup.Group
	var next atomic.Int64
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return nil
				}
				if err := fn(i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}
