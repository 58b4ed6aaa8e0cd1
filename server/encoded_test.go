package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/server"
	"github.com/engramhq/engram/storetest"
)

// plainStore hides the optional methods of the store it holds (here
// memory's AppendEpisodeJSON), so a server over it takes the slow path:
// GetEpisode, then encoding the record.
type plainStore struct{ engram.Store }

// TestEncodedEpisodeMatchesSlowPath serves the same tiered memory through
// two servers: one using memory's kept encoding of a RAM hit (the fast
// path of engram serve) and one that decodes and encodes every read. Every
// answer must be byte for byte the same body with the same headers: on the
// first read of a record (encoded then) and later ones (the kept bytes),
// after an update replaced the record, for a record read from the cache
// file or the durable store (no RAM tier), and for episodes whose text
// needs escaping. Both servers must still refuse a request without a valid
// token or for a namespace the token does not grant.
func TestEncodedEpisodeMatchesSlowPath(t *testing.T) {
	const token, other = "fast-path-token-0123456789", "other-ns-token-0123456789"
	tokens, err := server.ParseTokens(token + "=default," + other + "=elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	for _, noRAM := range []bool{false, true} {
		name := "RAM"
		if noRAM {
			name = "NoRAM"
		}
		t.Run(name, func(t *testing.T) {
			m, err := memory.Open(context.Background(), memory.Config{DataDir: t.TempDir(), ShareRecords: true, NoRAM: noRAM,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			fast := startServer(t, m, server.Options{Tokens: tokens})
			slow := startServer(t, plainStore{m}, server.Options{Tokens: tokens})

			rng := rand.New(rand.NewPCG(13, 13))
			var eps []*engram.Episode
			for i := range 6 {
				ep := storetest.RandomEpisode(rng, i)
				if i == 2 {
					ep.TaskDescription = `<script>alert("x")</script> & ‘quotes’ \ ` + "\u2028"
					ep.Metadata = map[string]string{}
				}
				eps = append(eps, ep)
			}
			eps = append(eps, storetest.SampleEpisode(1))
			for _, ep := range eps {
				if err := m.CreateEpisode(context.Background(), "default", ep); err != nil {
					t.Fatal(err)
				}
			}
			auth := []string{"Authorization", "Bearer " + token}
			same := func(what, path string) []byte {
				t.Helper()
				f := do(t, "GET", fast+path, nil, auth...)
				s := do(t, "GET", slow+path, nil, auth...)
				if f.status != 200 || s.status != 200 {
					t.Fatalf("%s: status fast %d, slow %d: %s / %s", what, f.status, s.status, f.body, s.body)
				}
				if !bytes.Equal(f.body, s.body) {
					t.Fatalf("%s: bodies differ\nfast: %s\nslow: %s", what, f.body, s.body)
				}
				for _, h := range []string{"Content-Type", "Content-Length", "X-Content-Type-Options", "X-Engram-Tier", "X-Engram-Stale"} {
					if f.header.Get(h) != s.header.Get(h) {
						t.Fatalf("%s: header %s: fast %q, slow %q", what, h, f.header.Get(h), s.header.Get(h))
					}
				}
				if f.header.Get("X-Request-Id") == "" {
					t.Fatalf("%s: the fast path sent no request id", what)
				}
				return f.body
			}
			for round := range 2 {
				for i, ep := range eps {
					body := same(fmt.Sprintf("episode %d, read %d", i, round), "/v1/episodes/"+ep.ID.String())
					if !bytes.Contains(body, []byte(ep.ID.String())) {
						t.Fatalf("episode %d: the body does not name it: %s", i, body)
					}
				}
			}
			if !noRAM {
				r := do(t, "GET", fast+"/v1/episodes/"+eps[0].ID.String(), nil, auth...)
				if tier := r.header.Get("X-Engram-Tier"); tier != "ram" {
					t.Fatalf("a hot episode was answered by tier %q, want ram", tier)
				}
			}
			if !strings.Contains(string(same("escaped", "/v1/episodes/"+eps[2].ID.String())), `\u003cscript\u003e`) {
				t.Fatal("the episode's description was not HTML-escaped as encoding/json escapes it")
			}

			// An update replaces the record; the fast path must not serve
			// the encoding of the old one.
			up := eps[3]
			up.TaskDescription = "updated after it was encoded"
			js, err := json.Marshal(up)
			if err != nil {
				t.Fatal(err)
			}
			r := do(t, "PUT", fast+"/v1/episodes/"+up.ID.String(), bytes.NewReader(js),
				"Authorization", "Bearer "+token, "Content-Type", "application/json")
			if r.status != 200 {
				t.Fatalf("PUT: %d %s", r.status, r.body)
			}
			if body := same("after update", "/v1/episodes/"+up.ID.String()); !bytes.Contains(body, []byte("updated after it was encoded")) {
				t.Fatalf("the fast path served the record from before the update: %s", body)
			}

			path := "/v1/episodes/" + eps[0].ID.String()
			for _, srv := range []string{fast, slow} {
				for _, h := range [][]string{nil, {"Authorization", "Bearer not-a-token-0123456789"}, {"Authorization", token}} {
					r := do(t, "GET", srv+path, nil, h...)
					wantError(t, r, 401, "unauthorized", "")
					if bytes.Contains(r.body, []byte(eps[0].TaskDescription)) {
						t.Fatalf("an unauthenticated request got the episode: %s", r.body)
					}
				}
				r := do(t, "GET", srv+path, nil, "Authorization", "Bearer "+other)
				wantError(t, r, 403, "forbidden", "")
				r = do(t, "GET", srv+path+"?namespace=elsewhere", nil, "Authorization", "Bearer "+other)
				wantError(t, r, 404, engram.ENOTFOUND, "")
			}
		})
	}
}
