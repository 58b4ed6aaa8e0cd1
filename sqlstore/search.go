package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/engramhq/engram"
)

// Full-text search. Each searchable thing (an episode's text, one step, one
// pattern) is one row of its namespace's search table; the record keeps
// the rowid in fts_rowid.
//
// Every namespace has a search table of its own (an FTS5 table created
// with the namespace's first searchable record), so BM25's statistics (the
// number of rows, their average length, how many rows hold a term) are the
// namespace's own: one tenant's scores never move when another writes, and
// a search reads only its namespace's index.

// ftsPrefix starts every namespace's search table name; the rest is the
// namespace in hex, which has no '_', so no table name is another's FTS5
// shadow table (NAME_data, NAME_idx, ...).
const ftsPrefix = "search_fts_"

// ftsTable is the name of ns's search table.
func ftsTable(ns engram.Namespace) string { return ftsPrefix + hex.EncodeToString([]byte(ns)) }

// ftsNamespace is the namespace of a search table, ok == false for any
// other name.
func ftsNamespace(table string) (engram.Namespace, bool) {
	rest, found := strings.CutPrefix(table, ftsPrefix)
	b, err := hex.DecodeString(rest)
	if !found || err != nil || len(b) == 0 {
		return "", false
	}
	return engram.Namespace(b), true
}

// ensureFTS returns ns's search table, creating it in the transaction if
// the store does not know it exists.
func (t *tx) ensureFTS(ns engram.Namespace) (string, error) {
	table := ftsTable(ns)
	t.s.mu.Lock()
	known := t.s.mu.fts[table]
	t.s.mu.Unlock()
	if known || slices.Contains(t.madeFTS, table) {
		return table, nil
	}
	if err := t.started(); err != nil {
		return "", err
	}
	if _, err := t.tx.ExecContext(t.ctx, t.s.d.ftsCreate(table)); err != nil {
		return "", fmt.Errorf("create the search table of namespace %s: %w", ns, err)
	}
	t.madeFTS = append(t.madeFTS, table)
	return table, nil
}

// indexText adds one search row and returns its rowid.
func (t *tx) indexText(ns engram.Namespace, kind engram.SearchKind, ref []byte, step int, body string) (int64, error) {
	table, err := t.ensureFTS(ns)
	if err != nil {
		return 0, err
	}
	id, err := t.ftsRowid(table)
	if err != nil {
		return 0, err
	}
	t.insertSearch(table, id, body, string(kind), ref, step)
	return id, nil
}

// unindexText removes one search row of ns.
func (t *tx) unindexText(ns engram.Namespace, rowid int64) error {
	table, err := t.ensureFTS(ns)
	if err != nil {
		return err
	}
	_, err = t.exec(`DELETE FROM `+table+` WHERE rowid = ?`, rowid)
	return err
}

// searchTable returns ns's search table, "" when ns has none (nothing in it
// was ever searchable).
func (s *Store) searchTable(ctx context.Context, ns engram.Namespace) (string, error) {
	table := ftsTable(ns)
	s.mu.Lock()
	known := s.mu.fts[table]
	s.mu.Unlock()
	if known {
		return table, nil
	}
	st, err := s.stmt(ctx, s.r, s.d.tableExists)
	if err != nil {
		return "", err
	}
	var n int
	if err := st.QueryRowContext(ctx, table).Scan(&n); err != nil {
		return "", err
	}
	if n == 0 {
		return "", nil
	}
	s.mu.Lock()
	s.mu.fts[table] = true
	s.mu.Unlock()
	return table, nil
}

// searchTables lists every namespace's search table.
func searchTables(ctx context.Context, d *dialect, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[engram.Namespace]string, error) {
	rows, err := q.QueryContext(ctx, d.tableList)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[engram.Namespace]string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if ns, ok := ftsNamespace(name); ok {
			out[ns] = name
		}
	}
	return out, rows.Err()
}

type textBuilder struct{ strings.Builder }

func (b *textBuilder) add(parts ...string) {
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p)
	}
}

func episodeText(ep *engram.Episode) string {
	var b textBuilder
	b.add(ep.TaskDescription, string(ep.TaskType), ep.Context.Domain, ep.Context.Language, ep.Context.Framework)
	b.add(ep.AllTags()...)
	if o := ep.Outcome; o != nil {
		b.add(o.Verdict, o.Reason, o.ErrorDetails)
		b.add(o.Artifacts...)
		b.add(o.Completed...)
		b.add(o.Failed...)
	}
	if r := ep.Reflection; r != nil {
		b.add(r.Successes...)
		b.add(r.Improvements...)
		b.add(r.Insights...)
	}
	return b.String()
}

func stepText(st *engram.Step) string {
	var b textBuilder
	b.add(st.Tool, st.Action)
	if r := st.Result; r != nil {
		b.add(r.Output, r.Message)
	}
	return b.String()
}

func patternText(p *engram.Pattern) string {
	var b textBuilder
	b.add(string(p.Kind), p.Domain, p.Language)
	b.add(p.Tools...)
	b.add(p.Condition, p.Action, p.ErrorType)
	b.add(p.RecoverySteps...)
	b.add(p.ContextFeatures...)
	b.add(p.RecommendedApproach)
	b.add(p.Tags...)
	return b.String()
}

// searchWords splits query text into words of letters and digits, so no
// character of the query is ever read as query syntax.
func searchWords(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func (s *Store) Search(ctx context.Context, ns engram.Namespace, q engram.SearchQuery) ([]engram.SearchHit, error) {
	if err := s.checkNS(ns); err != nil {
		return nil, err
	}
	limit, err := engram.ClampLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if len(q.Text) > engram.MaxSearchQueryBytes {
		return nil, engram.TooLarge("query", len(q.Text), engram.MaxSearchQueryBytes)
	}
	words := searchWords(q.Text)
	if len(words) == 0 {
		return nil, engram.Invalid("query", "has no words to search for")
	}
	match := s.d.ftsQuery(words, q.Any)
	kindFilter := ""
	var kinds []any
	if len(q.Kinds) > 0 {
		marks := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			switch k {
			case engram.SearchEpisode, engram.SearchStep, engram.SearchPattern:
			default:
				return nil, engram.Invalid("kinds", "%q is not one of episode, step, pattern", k)
			}
			marks[i] = "?"
			kinds = append(kinds, string(k))
		}
		kindFilter = ` AND kind IN (` + strings.Join(marks, ", ") + `)`
	}
	table, err := s.searchTable(ctx, ns)
	if err != nil {
		return nil, s.wrap("search", err)
	}
	if table == "" {
		return []engram.SearchHit{}, nil
	}
	if !s.d.ftsKindLookup {
		args := append(append([]any{match}, kinds...), limit)
		return s.searchRows(ctx, s.d.ftsSearch(table, kindFilter, ""), args)
	}
	if kindFilter == "" {
		return s.searchRows(ctx, s.d.ftsSearch(table, "", ""), []any{match, limit, limit, match})
	}
	// Rank a window of matches of every kind (reading no row's kind), then
	// keep the window's rows of the kinds asked for. The window is a prefix
	// of the matches in rank order, so when limit of its rows are of those
	// kinds they are the first limit of them; when fewer are, rank again
	// with the filter first.
	window := limit * searchWindow
	args := append(append([]any{match, window}, kinds...), limit, match)
	hits, err := s.searchRows(ctx, s.d.ftsSearch(table, "", kindFilter), args)
	if err != nil || len(hits) == limit {
		return hits, err
	}
	args = append(append([]any{match}, kinds...), limit, limit, match)
	return s.searchRows(ctx, s.d.ftsSearch(table, kindFilter, ""), args)
}

// searchWindow is how many matches of every kind Search ranks per hit asked
// for before it filters by kind (SQLite); more makes a filter that drops
// many rows rank twice less often, and costs a kind lookup per row.
const searchWindow = 4

// searchRows runs a search statement and reads its hits.
func (s *Store) searchRows(ctx context.Context, query string, args []any) ([]engram.SearchHit, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return nil, s.wrap("search", err)
	}
	defer rows.Close()
	hits := []engram.SearchHit{}
	for rows.Next() {
		var h engram.SearchHit
		var ref []byte
		if err := rows.Scan(&h.Kind, &ref, &h.StepNumber, &h.Score, &h.Snippet); err != nil {
			return nil, s.wrap("search", err)
		}
		u, err := uuidFrom(ref)
		if err != nil {
			return nil, s.wrap("search", err)
		}
		if h.Kind == engram.SearchPattern {
			id := engram.PatternID{UUID: u}
			h.PatternID = &id
		} else {
			id := engram.EpisodeID{UUID: u}
			h.EpisodeID = &id
		}
		// The indexed text is the record's fields one per line; a snippet
		// reads better with them on one.
		if s.d.textOut != nil {
			h.Snippet = s.d.textOut(h.Snippet)
		}
		h.Snippet = strings.ReplaceAll(h.Snippet, "\n", " · ")
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("search", err)
	}
	return hits, nil
}

// splitSearch is migration 0004's Go step: it moves every namespace's rows
// of the shared search_fts table into the namespace's own table, keeping
// their rowids, and drops search_fts.
func splitSearch(t *tx) error {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT DISTINCT namespace FROM search_fts`)
	if err != nil {
		return err
	}
	var nss []engram.Namespace
	for rows.Next() {
		var ns engram.Namespace
		if err := rows.Scan(&ns); err != nil {
			rows.Close()
			return err
		}
		nss = append(nss, ns)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ns := range nss {
		table, err := t.ensureFTS(ns)
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO `+table+` (rowid, body, kind, ref_id, step_number)
			SELECT rowid, body, kind, ref_id, step_number FROM search_fts WHERE namespace = ? ORDER BY rowid`, string(ns)); err != nil {
			return fmt.Errorf("move the search rows of namespace %s: %w", ns, err)
		}
	}
	_, err = t.tx.ExecContext(t.ctx, `DROP TABLE search_fts`)
	return err
}
