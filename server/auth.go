package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/engramhq/engram"
)

// MinTokenLen is the shortest bearer token ParseTokens accepts: short tokens
// can be guessed.
const MinTokenLen = 16

// Tokens is a set of bearer tokens, each granting some namespaces or all of
// them. Safe for concurrent use once built. The zero value (or nil) holds no
// tokens, which disables authentication.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte // SHA-256 of the token; the token itself is not kept
	p      *principal
}

// principal is who a request acts as: a token's grants. id names the token
// in logs and metrics without revealing it.
type principal struct {
	id         string
	all        bool // "*": every namespace
	namespaces map[engram.Namespace]bool
}

func (p *principal) allows(ns engram.Namespace) bool { return p.all || p.namespaces[ns] }

// anonymous is the principal of every request when authentication is off.
var anonymous = &principal{id: "anonymous", all: true}

// ParseTokens reads a token list: entries TOKEN=ns1|ns2 separated by commas
// or newlines, where "*" as a namespace grants every namespace. Blank entries
// and lines starting with # are skipped. A token is at least MinTokenLen
// printable ASCII characters other than space, '=', ',', '|' and '#'; the
// same token may not appear twice. Errors never repeat a token: they name
// entries by position.
func ParseTokens(s string) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]bool{}
	n := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			n++
			tok, grants, ok := strings.Cut(entry, "=")
			tok, grants = strings.TrimSpace(tok), strings.TrimSpace(grants)
			if !ok || grants == "" {
				return nil, engram.Invalid("tokens", "entry %d: want TOKEN=namespace|namespace|... or TOKEN=*", n)
			}
			if len(tok) < MinTokenLen {
				return nil, engram.Invalid("tokens", "entry %d: the token has %d characters; the minimum is %d", n, len(tok), MinTokenLen)
			}
			for i := 0; i < len(tok); i++ {
				if c := tok[i]; c <= ' ' || c >= 0x7f || c == '|' || c == '#' {
					return nil, engram.Invalid("tokens", "entry %d: the token has a character that is not allowed at offset %d", n, i)
				}
			}
			p := &principal{namespaces: map[engram.Namespace]bool{}}
			for _, g := range strings.Split(grants, "|") {
				g = strings.TrimSpace(g)
				if g == "*" {
					p.all = true
					continue
				}
				ns := engram.Namespace(g)
				if err := ns.Validate(); err != nil {
					return nil, engram.Invalid("tokens", "entry %d: %s", n, strings.TrimPrefix(err.Error(), "namespace: "))
				}
				p.namespaces[ns] = true
			}
			d := sha256.Sum256([]byte(tok))
			if seen[d] {
				return nil, engram.Invalid("tokens", "entry %d: the token appears twice", n)
			}
			seen[d] = true
			p.id = "token-" + hex.EncodeToString(d[:4])
			t.entries = append(t.entries, tokenEntry{digest: d, p: p})
		}
	}
	return t, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Describe lists each token's log id and grants, never the token.
func (t *Tokens) Describe() []string {
	var out []string
	for _, e := range t.entries {
		var ns []string
		if e.p.all {
			ns = append(ns, "*")
		}
		for n := range e.p.namespaces {
			ns = append(ns, string(n))
		}
		sort.Strings(ns)
		out = append(out, fmt.Sprintf("%s=%s", e.p.id, strings.Join(ns, "|")))
	}
	return out
}

// lookup returns the principal of token, or nil. It compares the token's
// digest with every entry's in constant time and never stops early, so its
// timing says nothing about which entry, or which prefix, matched.
func (t *Tokens) lookup(token string) *principal {
	d := sha256.Sum256([]byte(token))
	var found *principal
	for i := range t.entries {
		if subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:]) == 1 {
			found = t.entries[i].p
		}
	}
	return found
}

// authenticate returns the principal of a request: anonymous when no tokens
// are configured; otherwise the owner of its bearer token, or an
// unauthorized error.
func (t *Tokens) authenticate(h http.Header) (*principal, error) {
	if t.Len() == 0 {
		return anonymous, nil
	}
	auth := h.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if auth == "" {
		return nil, httpError(CodeUnauthorized, "this server requires a bearer token (Authorization: Bearer TOKEN)")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, httpError(CodeUnauthorized, "the Authorization header must be \"Bearer TOKEN\"")
	}
	p := t.lookup(strings.TrimSpace(tok))
	if p == nil {
		return nil, httpError(CodeUnauthorized, "the bearer token is not valid")
	}
	return p, nil
}
