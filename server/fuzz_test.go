package server

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/engramhq/engram"
)

// FuzzParseTokens: ParseTokens never panics, fails only with EINVALID
// errors that do not repeat a token, and every token it accepts is found
// again by lookup (and nothing else is).
func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{
		tokenAll + "=*", tokenAlpha + "=alpha|beta," + tokenBeta + "=gamma", "# comment\n" + tokenAll + "=*\n",
		"x=y", "=", ",,,", tokenAll + "=*|a", tokenAll + "=" + tokenAll, "a=b=c", "\n\n", tokenAll + "= *\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseTokens(s)
		if err != nil {
			var e *engram.Error
			if !errors.As(err, &e) || e.Code != engram.EINVALID || e.Field != "tokens" {
				t.Fatalf("ParseTokens(%q): %v", s, err)
			}
			return
		}
		n := 0
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, entry := range strings.Split(line, ",") {
				k, _, ok := strings.Cut(strings.TrimSpace(entry), "=")
				if !ok {
					continue
				}
				n++
				if tok.lookup(strings.TrimSpace(k)) == nil {
					t.Fatalf("ParseTokens(%q) accepted token %q but lookup misses it", s, k)
				}
			}
		}
		if tok.Len() != n {
			t.Fatalf("ParseTokens(%q): %d tokens, %d entries", s, tok.Len(), n)
		}
		if tok.Len() > 0 && tok.lookup("") != nil {
			t.Fatal("the empty token matched")
		}
	})
}

// FuzzQuery: the query parsers never panic, and every failure is an
// EINVALID error naming a parameter.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"since=2026-01-02&until=2026-01-03T00:00:00Z&domain=web&task_type=testing&tag=a&tag=b&meta=k=v&complete=true&near=1,2,3&box=1,2,3,4&limit=5&cursor=x",
		"near=NaN,1,1", "box=1,2,3", "limit=-1", "limit=99999999999999999999", "meta==v", "complete=maybe", "since=yesterday",
		"q=hello&kind=episode&any=1", "min_confidence=Inf", "item_id=zz", "after=-1", "direction=sideways", "namespace=a&namespace=b",
		"%zz", "tag=%00", "a=1;b=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var e *engram.Error
			if !errors.As(err, &e) || e.Code != engram.EINVALID || e.Field == "" {
				t.Fatalf("%s(%q): %v (want EINVALID with a field)", what, raw, err)
			}
		}
		for _, rt := range routes() {
			check("checkQuery "+rt.Name, checkQuery(q, rt.Query))
		}
		_, err = namespaceOf(q, nil)
		check("namespaceOf", err)
		_, err = parseEpisodeFilter(q)
		check("parseEpisodeFilter", err)
		_, err = parsePatternFilter(q)
		check("parsePatternFilter", err)
		_, err = parseHeuristicFilter(q)
		check("parseHeuristicFilter", err)
		_, err = parseEmbeddingFilter(q)
		check("parseEmbeddingFilter", err)
		_, err = parseSearch(q)
		check("parseSearch", err)
		_, err = parseRelationshipFilter(engram.NewEpisodeID(), q)
		check("parseRelationshipFilter", err)
		_, _, err = parseChanges(q)
		check("parseChanges", err)
	})
}
