package console_test

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/engramhq/engram/internal/console"
	"github.com/engramhq/engram/server"
	"github.com/engramhq/engram/sqlstore"
)

// serve runs engram's server over a SQLite file with opts until the test
// ends and returns its base URL.
func serve(t *testing.T, opts server.Options) string {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(t.TempDir(), "engram.db"), Synchronous: sqlstore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(st, opts)
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
	return "http://" + ln.Addr().String()
}

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, method, url string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// TestServedWithPolicy checks what engram serve answers for the console:
// the page at / and /console/, its files with their types, each with the
// strict policy headers, and nothing else.
func TestServedWithPolicy(t *testing.T) {
	url := serve(t, server.Options{})
	for path, ctype := range map[string]string{
		"/":                    "text/html; charset=utf-8",
		"/console/":            "text/html; charset=utf-8",
		"/console/js/main.js":  "text/javascript; charset=utf-8",
		"/console/console.css": "text/css; charset=utf-8",
		"/console/vendor/uplot/uPlot.iife.min.js": "text/javascript; charset=utf-8",
		"/console/vendor/uplot/uPlot.min.css":     "text/css; charset=utf-8",
	} {
		a := get(t, "GET", url+path)
		if a.status != 200 || a.header.Get("Content-Type") != ctype {
			t.Errorf("GET %s: %d %q", path, a.status, a.header.Get("Content-Type"))
		}
		for k, v := range map[string]string{"Content-Security-Policy": console.CSP, "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := a.header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", path, k, got, v)
			}
		}
		if a.header.Get("Set-Cookie") != "" {
			t.Errorf("GET %s sets a cookie", path)
		}
		// Revalidated by the content's hash.
		if etag := a.header.Get("ETag"); etag == "" {
			t.Errorf("GET %s: no ETag", path)
		} else if b := get(t, "GET", url+path, "If-None-Match", etag); b.status != 304 {
			t.Errorf("GET %s with its ETag: %d, want 304", path, b.status)
		}
	}
	for _, csp := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'"} {
		if !strings.Contains(console.CSP, csp) {
			t.Errorf("the CSP lacks %q", csp)
		}
	}
	if strings.Contains(console.CSP, "unsafe") {
		t.Errorf("the CSP allows something unsafe: %s", console.CSP)
	}
	// Not served: unknown files, directories, files of other types, other methods.
	for _, path := range []string{"/console/nope.js", "/console/js/", "/console/vendor/README.md", "/console/.hidden.js", "/index.html"} {
		if a := get(t, "GET", url+path); a.status != 404 && a.status != 401 {
			t.Errorf("GET %s: %d, want 404", path, a.status)
		}
	}
	if a := get(t, "POST", url+"/"); a.status != 405 {
		t.Errorf("POST /: %d, want 405", a.status)
	}
	// The server's Host check covers the console: a server without tokens
	// answers only loopback names (DNS rebinding).
	if a := get(t, "GET", url+"/", "Host", "attacker.example"); a.status != 403 {
		t.Errorf("GET / with Host attacker.example: %d, want 403", a.status)
	}
	if a := get(t, "GET", url+"/console/js/main.js", "Host", "attacker.example:7437"); a.status != 403 {
		t.Errorf("GET main.js with Host attacker.example: %d, want 403", a.status)
	}
	if a := get(t, "GET", url+"/", "Host", "localhost:7437"); a.status != 200 {
		t.Errorf("GET / with Host localhost: %d, want 200", a.status)
	}
}

// With tokens, the page itself is public (it asks for the token); the API
// it reads is not.
func TestPageIsPublicAPIIsNot(t *testing.T) {
	tokens, err := server.ParseTokens("console-test-token-0123456789=*")
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, server.Options{Tokens: tokens})
	if a := get(t, "GET", url+"/"); a.status != 200 || !strings.Contains(a.body, `src="/console/js/main.js"`) {
		t.Errorf("GET / without a token: %d", a.status)
	}
	if a := get(t, "GET", url+"/v1/status"); a.status != 401 {
		t.Errorf("GET /v1/status without a token: %d, want 401", a.status)
	}
}

// TestAssetsAreSelfContained reads the embedded files: no inline script or
// style, no inline event handler, nothing loaded from another origin (so
// the console works offline and under the CSP), and the console's own
// scripts never turn strings into markup or code.
func TestAssetsAreSelfContained(t *testing.T) {
	dir := "assets"
	inlineScript := regexp.MustCompile(`(?is)<script(?:\s[^>]*)?>\s*[^<\s]`)
	scriptTag := regexp.MustCompile(`(?i)<script\b[^>]*>`)
	handlerAttr := regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	remote := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//|url\(\s*['"]?(https?:)?//|@import`)
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*'(style|on)|\.src\s*=`)
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := string(b)
		n++
		switch filepath.Ext(path) {
		case ".html":
			if inlineScript.MatchString(s) {
				t.Errorf("%s has an inline script", path)
			}
			for _, tag := range scriptTag.FindAllString(s, -1) {
				if !strings.Contains(tag, `src="/console/`) {
					t.Errorf("%s: script %s is not one of the console's files", path, tag)
				}
			}
			if strings.Contains(strings.ToLower(s), "<style") || regexp.MustCompile(`(?i)\sstyle\s*=`).MatchString(s) {
				t.Errorf("%s has an inline style", path)
			}
			if handlerAttr.MatchString(s) {
				t.Errorf("%s has an inline event handler", path)
			}
			if remote.MatchString(s) {
				t.Errorf("%s loads from another origin", path)
			}
		case ".css":
			if remote.MatchString(s) {
				t.Errorf("%s loads from another origin", path)
			}
		case ".js":
			if strings.Contains(path, "vendor") {
				return nil
			}
			for _, m := range sinks.FindAllString(s, -1) {
				t.Errorf("%s uses %s", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d asset files found", n)
	}
}
