package server

import (
	"net"
	"strings"
	"testing"
)

// TestDNSRebindingRefused: a token-less server answers only requests to a
// loopback name. A page on attacker.example rebound to 127.0.0.1 sends
// Host: attacker.example (and a same-origin Origin), and gets 403 on every
// route, reads included; requests to localhost, 127.0.0.1 and [::1] pass.
func TestDNSRebindingRefused(t *testing.T) {
	url, srv := serve(t, nil, Options{})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	for _, rt := range srv.routes {
		method := rt.Method
		if method == "" {
			method = "POST"
		}
		for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1.attacker.example:" + port, "localhost.attacker.example"} {
			status, _, body := send(t, method, url+samplePath(rt), "", "Host", host, "Origin", "http://"+host)
			if status != 403 || errCode(t, body) != CodeForbidden || !strings.Contains(string(body), "DNS rebinding") {
				t.Errorf("%s %s with Host %s: %d %s", method, rt.Path, host, status, body)
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST", "127.0.0.1:" + port, "127.0.0.1", "[::1]:" + port, "[::1]", "engram.localhost:" + port} {
		if status, _, body := send(t, "GET", url+"/v1/episodes", "", "Host", host); status != 200 {
			t.Errorf("Host %s: %d %s", host, status, body)
		}
	}
	// With tokens the Host does not matter: a rebound page has no token.
	url, _ = serve(t, nil, Options{Tokens: mustTokens(t, tokenAll+"=*")})
	if status, _, body := send(t, "GET", url+"/v1/episodes", tokenAll, "Host", "engram.example.com"); status != 200 {
		t.Errorf("with tokens, Host engram.example.com: %d %s", status, body)
	}
}

// TestCrossSiteWritesRefused: a write a browser marks cross-site (by
// Sec-Fetch-Site or by an Origin other than the Host) is refused with or
// without tokens; reads, and writes from non-browsers, pass.
func TestCrossSiteWritesRefused(t *testing.T) {
	for _, opts := range []Options{{}, {Tokens: mustTokens(t, tokenAll+"=*")}} {
		url, _ := serve(t, nil, opts)
		tok := ""
		if opts.Tokens != nil {
			tok = tokenAll
		}
		for _, h := range [][]string{
			{"Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "same-site"},
			{"Origin", "http://evil.example"},
			{"Origin", "null"},
		} {
			for _, path := range []string{"/v1/episodes", "/mcp"} {
				status, _, body := send(t, "POST", url+path, tok, h...)
				if status != 403 || errCode(t, body) != CodeForbidden {
					t.Errorf("tokens %v: POST %s with %v: %d %s", tok != "", path, h, status, body)
				}
			}
			if status, _, body := send(t, "GET", url+"/v1/episodes", tok, h...); status != 200 {
				t.Errorf("tokens %v: GET with %v: %d %s", tok != "", h, status, body)
			}
		}
		status, _, body := send(t, "POST", url+"/v1/episodes", tok, "Sec-Fetch-Site", "same-origin")
		if status != 400 { // reached the handler: {} has no task_description
			t.Errorf("same-origin write: %d %s", status, body)
		}
	}
}
