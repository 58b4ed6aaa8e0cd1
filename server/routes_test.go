package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
)

const (
	tokenAll   = "all-namespaces-token-0123456789"
	tokenAlpha = "alpha-only-token-0123456789abcd"
	tokenBeta  = "beta-and-gamma-token-0123456789"
)

// serve runs a server with opts on 127.0.0.1:0 for the test's duration.
func serve(t *testing.T, store engram.Store, opts Options) (string, *Server) {
	t.Helper()
	if store == nil {
		s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "engram.db"), Synchronous: sqlstore.SyncOff})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		store = s
	}
	srv, err := New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), srv
}

func mustTokens(t testing.TB, s string) *Tokens {
	t.Helper()
	tok, err := ParseTokens(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// samplePath fills a route's path wildcards with well-formed values.
func samplePath(rt *route) string {
	id := engram.NewUUID().String()
	r := strings.NewReplacer("{id}", id, "{from}", id, "{to}", engram.NewUUID().String(),
		"{item_type}", "episode", "{item_id}", id, "{model...}", "default", "{type}", "follows", "{$}", "")
	return r.Replace(rt.Path)
}

func send(t *testing.T, method, url, token string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	var body io.Reader
	if method == "POST" || method == "PUT" {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

func errCode(t *testing.T, data []byte) string {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("not the error shape: %s", data)
	}
	return b.Error.Code
}

// TestEveryRouteRequiresAToken walks the route table: with tokens
// configured, every route but /healthz refuses a request without a token or
// with a wrong one, and every namespace-scoped route refuses a token that
// does not grant the namespace.
func TestEveryRouteRequiresAToken(t *testing.T) {
	tokens := mustTokens(t, tokenAll+"=*, "+tokenAlpha+"=alpha\n"+tokenBeta+"=beta|gamma")
	url, srv := serve(t, nil, Options{Tokens: tokens})
	if len(srv.routes) < 30 {
		t.Fatalf("only %d routes", len(srv.routes))
	}
	for _, rt := range srv.routes {
		method := rt.Method
		if method == "" {
			method = "POST"
		}
		t.Run(rt.Name, func(t *testing.T) {
			target := url + samplePath(rt)
			status, h, body := send(t, method, target, "")
			if rt.Scope == scopePublic {
				if status != 200 {
					t.Fatalf("public route without a token: %d %s", status, body)
				}
				return
			}
			if status != 401 || errCode(t, body) != CodeUnauthorized || h.Get("WWW-Authenticate") == "" {
				t.Fatalf("no token: %d %s", status, body)
			}
			if status, _, body := send(t, method, target, "wrong-token-but-long-enough"); status != 401 {
				t.Fatalf("wrong token: %d %s", status, body)
			}
			if status, _, body := send(t, method, target, tokenAll, "Authorization", "Basic "+tokenAll); status != 401 {
				t.Fatalf("not a bearer token: %d %s", status, body)
			}
			// A token for alpha, asking for beta.
			status, _, body = send(t, method, target+"?namespace=beta", tokenAlpha)
			switch rt.Scope {
			case scopeNamespace, scopeAll:
				if status != 403 || errCode(t, body) != CodeForbidden {
					t.Fatalf("alpha token on namespace beta: %d %s", status, body)
				}
			case scopeAny:
				if status == 401 || status == 403 {
					t.Fatalf("alpha token on a route of no namespace: %d %s", status, body)
				}
			}
			// The same through the header.
			if rt.Scope == scopeNamespace {
				if status, _, body := send(t, method, url+samplePath(rt), tokenAlpha, headerNamespace, "beta"); status != 403 {
					t.Fatalf("alpha token, namespace beta in the header: %d %s", status, body)
				}
				// And the default namespace is not alpha's either.
				if status, _, body := send(t, method, url+samplePath(rt), tokenAlpha); status != 403 {
					t.Fatalf("alpha token, default namespace: %d %s", status, body)
				}
			}
			// Granted: neither 401 nor 403.
			ok := tokenAlpha
			if rt.Scope == scopeAll {
				ok = tokenAll
			}
			q := "?namespace=alpha"
			if rt.Scope != scopeNamespace {
				q = ""
			}
			if status, _, body := send(t, method, target+q, ok); status == 401 || status == 403 {
				t.Fatalf("granted token refused: %d %s", status, body)
			}
		})
	}
	// Unknown paths need a token too: they say nothing to strangers.
	if status, _, _ := send(t, "GET", url+"/v1/secret", ""); status != 401 {
		t.Fatalf("unknown path without a token: %d", status)
	}
}

func TestServeRefusesNonLoopbackWithoutTokens(t *testing.T) {
	srv, err := New(nullStore{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Serve(context.Background(), fakeListener{addr: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 7437}})
	if err == nil || !strings.Contains(err.Error(), "without tokens") {
		t.Fatalf("serve on 10.1.2.3 without tokens: %v", err)
	}
	err = srv.Serve(context.Background(), fakeListener{addr: &net.TCPAddr{IP: net.IPv6unspecified, Port: 7437}})
	if err == nil {
		t.Fatal("serve on [::] without tokens did not fail")
	}
	for _, a := range []net.Addr{&net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, &net.TCPAddr{IP: net.ParseIP("127.9.9.9")}, &net.TCPAddr{IP: net.IPv6loopback}, &net.UnixAddr{Name: "/tmp/s", Net: "unix"}} {
		if !IsLoopback(a) {
			t.Fatalf("%v is loopback", a)
		}
	}
}

type fakeListener struct{ addr net.Addr }

func (l fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr            { return l.addr }

// nullStore is an engram.Store that holds nothing; for tests that never
// reach the store.
type nullStore struct{ engram.Store }

func TestParseTokens(t *testing.T) {
	tok := mustTokens(t, "# engram tokens\n"+tokenAll+" = * ,\n\n"+tokenAlpha+"=alpha|beta\n")
	if tok.Len() != 2 {
		t.Fatalf("%d tokens", tok.Len())
	}
	if p := tok.lookup(tokenAll); p == nil || !p.all {
		t.Fatal("* token")
	}
	if p := tok.lookup(tokenAlpha); p == nil || p.all || !p.allows("alpha") || !p.allows("beta") || p.allows("gamma") {
		t.Fatalf("alpha token: %+v", p)
	}
	if tok.lookup(tokenAlpha[:len(tokenAlpha)-1]) != nil || tok.lookup("") != nil {
		t.Fatal("a prefix of a token matched")
	}
	for _, d := range tok.Describe() {
		if strings.Contains(d, tokenAll) || strings.Contains(d, tokenAlpha) {
			t.Fatalf("Describe leaks a token: %s", d)
		}
	}
	for _, bad := range []string{
		"short=*", tokenAll, tokenAll + "=", tokenAll + "=Upper", tokenAll + "=*," + tokenAll + "=a",
		"token with space 0123456789=*", tokenAll + "=a|b c",
	} {
		_, err := ParseTokens(bad)
		if engram.ErrorCode(err) != engram.EINVALID {
			t.Errorf("ParseTokens(%q): %v, want EINVALID", bad, err)
			continue
		}
		if strings.Contains(err.Error(), tokenAll) {
			t.Errorf("error repeats the token: %v", err)
		}
	}
	empty, err := ParseTokens("  \n# nothing\n")
	if err != nil || empty.Len() != 0 {
		t.Fatalf("empty list: %v %d", err, empty.Len())
	}
}

func TestClientMessage(t *testing.T) {
	inner := engram.Invalid("task_description", "is required")
	for _, c := range []struct {
		err  error
		want string
	}{
		{inner, "is required"},
		{fmt.Errorf("sqlstore: create episode: %w", inner), "is required"},
		{fmt.Errorf("episodes[3]: %w", inner), "episodes[3]: is required"},
		{fmt.Errorf("sqlstore: get episode x: %w", engram.NotFound("episode", "x")), "episode x not found"},
		{&engram.Error{Code: engram.ECONFLICT, Message: "episode x is complete"}, "episode x is complete"},
	} {
		if got := clientMessage(c.err, engram.ErrorField(c.err)); got != c.want {
			t.Errorf("clientMessage(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
