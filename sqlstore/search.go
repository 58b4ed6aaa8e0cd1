package sqlstore

import (
	"context"
	"strings"
	"unicode"

	"github.com/engramhq/engram"
)

// Full-text search. Each searchable thing (an episode's text, one step, one
// pattern) is one search_fts row; the record keeps its rowid in fts_rowid.

// indexText adds one search row and returns its rowid.
func (t *tx) indexText(ns engram.Namespace, kind engram.SearchKind, ref []byte, step int, body string) (int64, error) {
	id, err := t.ftsRowid()
	if err != nil {
		return 0, err
	}
	t.insert("search_fts", id, body, string(ns), string(kind), ref, step)
	return id, nil
}

// unindexText removes one search row.
func (t *tx) unindexText(rowid int64) error {
	_, err := t.exec(`DELETE FROM search_fts WHERE rowid = ?`, rowid)
	return err
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
	kindFilter := ""
	args := []any{s.d.ftsQuery(words, q.Any), string(ns)}
	if len(q.Kinds) > 0 {
		marks := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			switch k {
			case engram.SearchEpisode, engram.SearchStep, engram.SearchPattern:
			default:
				return nil, engram.Invalid("kinds", "%q is not one of episode, step, pattern", k)
			}
			marks[i] = "?"
			args = append(args, string(k))
		}
		kindFilter = ` AND kind IN (` + strings.Join(marks, ", ") + `)`
	}
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(s.d.ftsSearch(kindFilter)), args...)
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
		h.Snippet = strings.ReplaceAll(h.Snippet, "\n", " · ")
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("search", err)
	}
	return hits, nil
}
