// Package console is engram's web console: a page of plain HTML, CSS and
// JavaScript modules, embedded in the binary, that browses a namespace's
// episodes, patterns and heuristics, searches and recalls, charts the
// insights and shows the tiers' status, all through the public HTTP API.
//
// The package only serves the files; the server mounts Handler at "/" and
// under Prefix, behind its own Host check. Every answer carries a strict
// Content-Security-Policy (only this origin's scripts and styles, no inline
// script, no eval, no framing), so data the console renders can never run
// as code even if a rendering bug let markup through; and the scripts
// render every value with textContent and DOM calls, never as markup.
//
// The console authenticates like any other client: the user pastes a bearer
// token once, the page keeps it in sessionStorage (gone when the tab
// closes) and sends it in the Authorization header. It never sets a cookie
// and never puts the token in a URL.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the assets are served under.
const Prefix = "/console/"

// CSP is the Content-Security-Policy of every console answer.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// files is the asset tree, rooted at assets/.
var files = func() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}()

// types maps the extensions the console ships to their Content-Type; any
// other file is not served.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
}

// Handler serves the console: the page at "/" and at Prefix, the files
// under Prefix (Prefix + "js/main.js", ...). Only GET and HEAD are
// answered; unknown files are 404 in plain text.
func Handler() http.Handler { return handler{} }

type handler struct{}

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := assetName(r.URL.Path)
	ctype := types[path.Ext(name)]
	var data []byte
	if ok && ctype != "" {
		var err error
		data, err = fs.ReadFile(files, name)
		ok = err == nil
	}
	if !ok || ctype == "" {
		http.Error(w, "no such console file", http.StatusNotFound)
		return
	}
	h.Set("Content-Type", ctype)
	// Small files, revalidated every time by their content's hash, so a new
	// binary's console is never mixed with an old one's cached modules.
	sum := sha256.Sum256(data)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

// assetName maps a request path to a file of the tree: "/" and Prefix to
// index.html, Prefix+"x/y.js" to "x/y.js". It refuses directories, dot
// files and anything that is not a clean path.
func assetName(p string) (string, bool) {
	if p == "/" || p == Prefix {
		return "index.html", true
	}
	rest, ok := strings.CutPrefix(p, Prefix)
	if !ok || rest == "" || strings.HasSuffix(rest, "/") || path.Clean("/"+rest) != "/"+rest {
		return "", false
	}
	for _, seg := range strings.Split(rest, "/") {
		if strings.HasPrefix(seg, ".") {
			return "", false
		}
	}
	return rest, fs.ValidPath(rest)
}
