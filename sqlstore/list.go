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
		// One document per episode, steps included: the page's reads are
		// its rows. Decoding them (verify the digest, decode the document)
		// is spread over the CPUs and overlaps the scan: a worker decodes
		// row i as soon as the scan has read it.
		type raw struct{ id, doc, digest []byte }
		raws := make([]raw, 0, min(limit, 1024)+1)
		eps := make([]*engram.Episode, 0, min(limit, 1024))
		decode := func(r *raw) (*engram.Episode, error) {
			u, err := uuidFrom(r.id)
			if err != nil {
				return nil, err
			}
			ep := new(engram.Episode)
			if err := s.decodeVerified("episode", u.String(), r.doc, r.digest, ep); err != nil {
				return nil, err
			}
			return ep, nil
		}
		// The workers see the buffers whole (never the variables the scan
		// appends through): raws and eps never grow past their capacity
		// while the workers run (limit+1 rows at most; see newDecodePipe),
		// so a worker reads row i and writes episode i in place.
		rawBuf, epBuf := raws[:cap(raws)], eps[:cap(eps)]
		pipe := newDecodePipe(limit, func(i int) error {
			ep, err := decode(&rawBuf[i])
			epBuf[i] = ep
			return err
		})
		for rows.Next() {
			var r raw
			if err := rows.Scan(&r.id, &r.doc, &r.digest); err != nil {
				pipe.stop()
				return err
			}
			raws = append(raws, r)
			if len(raws) <= limit {
				eps = append(eps, nil)
				if pipe != nil {
					pipe.send(len(raws) - 1)
				}
			}
		}
		if err := rows.Err(); err != nil {
			pipe.stop()
			return err
		}
		rows.Close()
		more := len(raws) > limit
		if pipe != nil {
			if err := pipe.stop(); err != nil {
				return err
			}
		} else {
			for i := range eps {
				var err error
				if eps[i], err = decode(&raws[i]); err != nil {
					return err
				}
			}
		}
		page.Episodes = eps
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

// decodePipe runs fn(i) for each i sent, on up to GOMAXPROCS workers,
// while the sender goes on reading rows.
type decodePipe struct {
	todo chan int
	g    errgroup.Group
}

// newDecodePipe starts the workers of a page of up to limit rows, or
// returns nil when the page is too small for them to pay (or the pipe
// would need more room than the page's buffers hold without growing:
// pages of more than 1,024 rows decode after the scan).
func newDecodePipe(limit int, fn func(i int) error) *decodePipe {
	const minRows = 128
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || limit < minRows || limit > 1024 {
		return nil
	}
	p := &decodePipe{todo: make(chan int, limit)}
	var failed atomic.Bool
	for w := 0; w < workers; w++ {
		p.g.Go(func() error {
			var first error
			for i := range p.todo {
				if failed.Load() {
					continue // drain: the page has failed
				}
				if err := fn(i); err != nil {
					failed.Store(true)
					first = err
				}
			}
			return first
		})
	}
	return p
}

// send queues row i; the channel holds a whole page, so it never blocks
// the scan for long.
func (p *decodePipe) send(i int) { p.todo <- i }

// stop waits for the workers and returns the first decode error. Safe on
// a nil pipe.
func (p *decodePipe) stop() error {
	if p == nil {
		return nil
	}
	close(p.todo)
	return p.g.Wait()
}
