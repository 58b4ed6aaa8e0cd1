package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/engramhq/engram"
)

func (s *Store) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	if limit <= 0 {
		return nil, engram.Invalid("limit", "is %d; must be positive", limit)
	}
	out := []engram.Change{}
	// One snapshot: the horizon and the entries agree.
	err := s.read(ctx, "read changes", func(q *sql.Tx) error {
		out = out[:0] // a retried read starts again
		var pruned uint64
		if err := q.QueryRowContext(ctx, `SELECT pruned_through FROM feed_state WHERE id = 1`).Scan(&pruned); err != nil {
			return err
		}
		if after < pruned {
			return &engram.Error{Code: engram.EGONE, Field: "after", Message: fmt.Sprintf(
				"the change feed no longer holds the entries after %d (it was pruned through %d); rebuild from the records", after, pruned)}
		}
		rows, err := q.QueryContext(ctx, s.d.rebind(`SELECT seq, namespace, kind, key, op, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`), int64(after), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c engram.Change
			var at int64
			if err := rows.Scan(&c.Seq, &c.Namespace, &c.Kind, &c.Key, &c.Op, &at); err != nil {
				return err
			}
			c.At = fromNanos(at)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LastSeq is the highest seq ever written, even when pruning dropped the
// entry itself.
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	st, err := s.stmt(ctx, s.r, `SELECT `+s.d.greatest+`((SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT pruned_through FROM feed_state WHERE id = 1))`)
	if err == nil {
		err = st.QueryRowContext(ctx).Scan(&seq)
	}
	return seq, s.wrap("read last change", err)
}

func (s *Store) Counts(ctx context.Context, ns engram.Namespace) (engram.Counts, error) {
	var c engram.Counts
	if err := s.checkNS(ns); err != nil {
		return c, err
	}
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT
		(SELECT COUNT(*) FROM episodes WHERE namespace = ?),
		(SELECT COUNT(*) FROM steps WHERE namespace = ?),
		(SELECT COUNT(*) FROM patterns WHERE namespace = ?),
		(SELECT COUNT(*) FROM heuristics WHERE namespace = ?),
		(SELECT COUNT(*) FROM embeddings WHERE namespace = ?),
		(SELECT COUNT(*) FROM relationships WHERE namespace = ?)`),
		string(ns), string(ns), string(ns), string(ns), string(ns), string(ns)).
		Scan(&c.Episodes, &c.Steps, &c.Patterns, &c.Heuristics, &c.Embeddings, &c.Relationships)
	return c, s.wrap("count records", err)
}

func (s *Store) Namespaces(ctx context.Context) ([]engram.Namespace, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT namespace FROM episodes UNION SELECT namespace FROM patterns
		UNION SELECT namespace FROM heuristics UNION SELECT namespace FROM embeddings ORDER BY 1`)
	if err != nil {
		return nil, s.wrap("list namespaces", err)
	}
	defer rows.Close()
	out := []engram.Namespace{}
	for rows.Next() {
		var ns engram.Namespace
		if err := rows.Scan(&ns); err != nil {
			return nil, s.wrap("list namespaces", err)
		}
		out = append(out, ns)
	}
	return out, s.wrap("list namespaces", rows.Err())
}

// Info describes the database as a whole, for `engram db stats`.
type Info struct {
	Dialect       string `json:"dialect"`
	Path          string `json:"path"`
	FileBytes     int64  `json:"file_bytes"` // the database file plus its WAL
	SchemaVersion int    `json:"schema_version"`
	// Synchronous is the commit durability in force on the writer
	// connection, as SQLite reports it (PRAGMA synchronous): off, normal,
	// full or extra.
	Synchronous string `json:"synchronous"`
	// ReadOnly says why writes are refused; absent for a writable store.
	ReadOnly string `json:"read_only,omitempty"`
	LastSeq  uint64 `json:"last_seq"`
	// Pool reports the connection pools (PostgreSQL only).
	Pool       *PoolInfo                  `json:"pool,omitempty"`
	Tables     map[string]int64           `json:"tables"`     // rows per table, all namespaces
	Namespaces map[engram.Namespace]int64 `json:"namespaces"` // episodes per namespace
}

// PoolInfo describes a store's connection pools: the writer's one
// connection and the readers'.
type PoolInfo struct {
	Writer  PoolStats `json:"writer"`
	Readers PoolStats `json:"readers"`
}

// PoolStats is one pool's state and counters since it opened.
type PoolStats struct {
	MaxOpen int `json:"max_open"`
	Open    int `json:"open"`
	InUse   int `json:"in_use"`
	Idle    int `json:"idle"`
	// Waits counts the times a caller waited for a free connection, for
	// WaitMillis in all.
	Waits      int64 `json:"waits"`
	WaitMillis int64 `json:"wait_ms"`
	// Closed counts connections closed for being idle too many, idle too
	// long, or too old.
	ClosedIdle     int64 `json:"closed_idle"`
	ClosedIdleTime int64 `json:"closed_idle_time"`
	ClosedLifetime int64 `json:"closed_lifetime"`
}

func poolStats(st sql.DBStats) PoolStats {
	return PoolStats{MaxOpen: st.MaxOpenConnections, Open: st.OpenConnections, InUse: st.InUse, Idle: st.Idle,
		Waits: st.WaitCount, WaitMillis: st.WaitDuration.Milliseconds(),
		ClosedIdle: st.MaxIdleClosed, ClosedIdleTime: st.MaxIdleTimeClosed, ClosedLifetime: st.MaxLifetimeClosed}
}

// Info counts rows in every table and measures the file.
func (s *Store) Info(ctx context.Context) (*Info, error) {
	info := &Info{Dialect: s.d.name, Path: s.opts.Path, Tables: map[string]int64{}, Namespaces: map[engram.Namespace]int64{}}
	info.FileBytes = s.d.size(ctx, s)
	v, err := s.appliedVersion(ctx)
	if err != nil {
		return nil, err
	}
	info.SchemaVersion = v
	if info.Synchronous, err = s.d.durability(ctx, s); err != nil {
		return nil, err
	}
	info.ReadOnly = s.readOnly
	if s.pg != nil {
		info.Pool = &PoolInfo{Writer: poolStats(s.w.Stats()), Readers: poolStats(s.r.Stats())}
	}
	if info.LastSeq, err = s.LastSeq(ctx); err != nil {
		return nil, err
	}
	for _, table := range []string{"episodes", "steps", "episode_tags", "episode_metadata", "spatiotemporal_index",
		"patterns", "pattern_tags", "heuristics", "embeddings", "relationships", "changes"} {
		var n int64
		// table names come from the list above, never from input
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			return nil, s.wrap("count "+table, err)
		}
		info.Tables[table] = n
	}
	// search_fts: the rows of every namespace's search table.
	tables, err := searchTables(ctx, s.d, s.r)
	if err != nil {
		return nil, s.wrap("count search rows", err)
	}
	info.Tables["search_fts"] = 0
	for _, table := range tables {
		var n int64
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			return nil, s.wrap("count "+table, err)
		}
		info.Tables["search_fts"] += n
	}
	rows, err := s.r.QueryContext(ctx, `SELECT namespace, COUNT(*) FROM episodes GROUP BY namespace ORDER BY namespace`)
	if err != nil {
		return nil, s.wrap("count namespaces", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ns engram.Namespace
		var n int64
		if err := rows.Scan(&ns, &n); err != nil {
			return nil, s.wrap("count namespaces", err)
		}
		info.Namespaces[ns] = n
	}
	return info, s.wrap("count namespaces", rows.Err())
}

// Check runs the database's own integrity checks and engram's consistency
// checks (every search row points at a record; episodes' step counters match
// their steps), then reads every record: each document must match its
// digest and decode, each embedding must match its digest. It returns the
// problems found (one per damaged record), none when the database is sound.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	var problems []string
	for _, q := range s.d.integrity {
		// On the writer: SQLite's FTS5 integrity check on a connection other
		// than the one that last wrote the table reports a false checksum
		// mismatch (a stale cached index structure; searches are unaffected).
		rows, err := s.w.QueryContext(ctx, q)
		if err != nil {
			return nil, s.wrap("check", err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, s.wrap("check", err)
			}
			if len(vals) == 1 && asString(vals[0]) == "ok" {
				continue
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = asString(v)
			}
			problems = append(problems, q+": "+joinNonEmpty(parts))
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.wrap("check", err)
		}
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM episodes e WHERE e.step_count != (SELECT COUNT(*) FROM steps s WHERE s.namespace = e.namespace AND s.episode_id = e.episode_id)`).Scan(&n); err != nil {
		return nil, s.wrap("check", err)
	}
	if n > 0 {
		problems = append(problems, fmtCount(n, "episodes whose step counters disagree with their steps"))
	}
	searchProblems, err := s.checkSearch(ctx)
	if err != nil {
		return nil, err
	}
	problems = append(problems, searchProblems...)
	damaged, err := s.checkRecords(ctx)
	if err != nil {
		return nil, err
	}
	return append(problems, damaged...), nil
}

func asString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

func joinNonEmpty(parts []string) string {
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func fmtCount(n int64, what string) string { return fmt.Sprintf("%d %s", n, what) }

// sqliteSynchronous reads the writer connection's PRAGMA synchronous.
func sqliteSynchronous(ctx context.Context, s *Store) (string, error) {
	var level int
	if err := s.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
		return "", s.wrap("read synchronous", err)
	}
	switch level {
	case 0:
		return "off", nil
	case 1:
		return "normal", nil
	case 2:
		return "full", nil
	case 3:
		return "extra", nil
	}
	return fmt.Sprintf("unknown (%d)", level), nil
}

// prunePerCommit is the least number of feed entries (and of idempotency
// keys) a commit may drop; it drops up to that plus twice what it appended,
// so pruning outpaces appending and no commit does unbounded work.
const prunePerCommit = 256

// prune drops the change-feed entries past the retention horizon (by age
// and by count) and the idempotency keys older than the retention time, a
// bounded number per commit, in the committing transaction. When nothing is
// due it costs one indexed lookup.
func (t *tx) prune() error {
	o := t.s.opts
	ageCut := int64(math.MinInt64) // entries at or after it are young enough
	if o.FeedRetention > 0 {
		ageCut = t.now.Add(-o.FeedRetention).UnixNano()
	}
	var seqCut int64 // entries with seq <= seqCut are beyond the count limit
	var oldestSeq, oldestAt sql.NullInt64
	var oldestKey sql.NullInt64
	if err := t.queryRow(`SELECT (SELECT seq FROM changes ORDER BY seq LIMIT 1), (SELECT at FROM changes ORDER BY seq LIMIT 1),
		(SELECT MIN(created_at) FROM idempotency_keys), `+t.s.d.seqHigh).
		Scan(&oldestSeq, &oldestAt, &oldestKey, &seqCut); err != nil {
		return fmt.Errorf("prune the change feed: %w", err)
	}
	if o.FeedMaxEntries > 0 {
		seqCut -= int64(o.FeedMaxEntries)
	} else {
		seqCut = 0
	}
	limit := prunePerCommit + 2*t.changes
	if oldestSeq.Valid && (oldestAt.Int64 < ageCut || oldestSeq.Int64 <= seqCut) {
		var through sql.NullInt64
		if err := t.queryRow(`SELECT MAX(seq) FROM (SELECT seq, at FROM changes ORDER BY seq LIMIT ?) AS oldest WHERE at < ? OR seq <= ?`,
			limit, ageCut, seqCut).Scan(&through); err != nil {
			return fmt.Errorf("prune the change feed: %w", err)
		}
		if through.Valid {
			if _, err := t.exec(`DELETE FROM changes WHERE seq <= ?`, through.Int64); err != nil {
				return fmt.Errorf("prune the change feed: %w", err)
			}
			if _, err := t.exec(`UPDATE feed_state SET pruned_through = `+t.s.d.greatest+`(pruned_through, ?) WHERE id = 1`, through.Int64); err != nil {
				return fmt.Errorf("prune the change feed: %w", err)
			}
		}
	}
	if oldestKey.Valid && oldestKey.Int64 < ageCut {
		if _, err := t.exec(`DELETE FROM idempotency_keys WHERE (namespace, key) IN
			(SELECT namespace, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`, ageCut, limit); err != nil {
			return fmt.Errorf("prune idempotency keys: %w", err)
		}
	}
	return nil
}

// checkSearch checks every namespace's search table against its records:
// each episode, step and pattern has its row, and no row lacks its record.
func (s *Store) checkSearch(ctx context.Context) ([]string, error) {
	tables, err := searchTables(ctx, s.d, s.r)
	if err != nil {
		return nil, s.wrap("check", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT namespace FROM episodes UNION SELECT namespace FROM patterns ORDER BY 1`)
	if err != nil {
		return nil, s.wrap("check", err)
	}
	var nss []engram.Namespace
	for rows.Next() {
		var ns engram.Namespace
		if err := rows.Scan(&ns); err != nil {
			rows.Close()
			return nil, s.wrap("check", err)
		}
		nss = append(nss, ns)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("check", err)
	}
	for ns := range tables {
		if !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	var problems []string
	for _, ns := range nss {
		table, ok := tables[ns]
		if !ok {
			problems = append(problems, fmt.Sprintf("namespace %s has searchable records but no search table", ns))
			continue
		}
		for _, c := range []struct{ what, q string }{
			{"episodes whose search row is missing", `SELECT COUNT(*) FROM episodes e WHERE e.namespace = ? AND NOT EXISTS (SELECT 1 FROM ` + table + ` f WHERE f.rowid = e.fts_rowid)`},
			{"steps whose search row is missing", `SELECT COUNT(*) FROM steps s WHERE s.namespace = ? AND NOT EXISTS (SELECT 1 FROM ` + table + ` f WHERE f.rowid = s.fts_rowid)`},
			{"patterns whose search row is missing", `SELECT COUNT(*) FROM patterns p WHERE p.namespace = ? AND NOT EXISTS (SELECT 1 FROM ` + table + ` f WHERE f.rowid = p.fts_rowid)`},
			{"search rows without their record", `SELECT (SELECT COUNT(*) FROM ` + table + `) - (SELECT COUNT(*) FROM episodes WHERE namespace = ?1) - (SELECT COUNT(*) FROM steps WHERE namespace = ?1) - (SELECT COUNT(*) FROM patterns WHERE namespace = ?1)`},
		} {
			var n int64
			if err := s.r.QueryRowContext(ctx, s.d.rebind(c.q), string(ns)).Scan(&n); err != nil {
				return nil, s.wrap("check", err)
			}
			if n > 0 {
				problems = append(problems, fmt.Sprintf("namespace %s: %s", ns, fmtCount(n, c.what)))
			}
		}
	}
	return problems, nil
}
