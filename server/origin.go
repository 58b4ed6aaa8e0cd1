package server

import (
	"net"
	"net/http"
	"strings"
)

// A server without tokens trusts whoever can connect, which Serve limits to
// local processes by listening only on loopback. A browser is a local
// process too: a page on attacker.example whose name the attacker rebinds
// to 127.0.0.1 (DNS rebinding) would have the browser send engram requests
// that are same-origin to the page, Origin and Host both attacker.example.
// So a token-less server answers only requests addressed to a loopback
// name: the Host header must be localhost, a loopback IP address (127.0.0.1,
// [::1]) or a name under .localhost, with any port. Unix sockets are exempt:
// no browser reaches them.

// hostAllowed reports whether r may be served by a server without tokens.
func hostAllowed(r *http.Request) bool {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, unix := a.(*net.UnixAddr); unix {
			return true
		}
	}
	return loopbackHost(r.Host)
}

// loopbackHost reports whether a Host header names the loopback interface.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withHostCheck refuses, on a server without tokens, every request whose
// Host is not a loopback name (see above).
func (s *Server) withHostCheck(next http.Handler) http.Handler {
	if s.opts.Tokens.Len() > 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r) {
			s.writeError(w, r, httpError(CodeForbidden,
				"Host %q is not a loopback name; a server without tokens answers only requests to localhost, 127.0.0.1 or [::1] (this blocks DNS rebinding)", clip(r.Host)))
			return
		}
		next.ServeHTTP(w, r)
	})
}
