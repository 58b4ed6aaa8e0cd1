package main

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/pgtest"
	"github.com/engramhq/engram/storetest"
)

// TestDurablePostgres: --durable and ENGRAM_DURABLE put the records in
// PostgreSQL (no SQLite file appears in the data directory), and db stats
// names the database without its password.
func TestDurablePostgres(t *testing.T) {
	pg := pgtest.Schema(t, "engram_cli")
	c := newCLI(t)
	in, _ := json.Marshal(storetest.SampleEpisode(1))
	var ep engram.Episode
	c.json(&ep, string(in), "--durable", pg, "episode", "add")
	var info struct {
		Dialect string `json:"dialect"`
		Path    string `json:"path"`
		Tables  map[string]int64
	}
	c.json(&info, "", "--durable", pg, "db", "stats")
	if info.Dialect != "postgres" || info.Tables["episodes"] != 1 {
		t.Fatalf("db stats with --durable postgres: dialect %q, %d episodes; want postgres, 1", info.Dialect, info.Tables["episodes"])
	}
	u, _ := url.Parse(pg)
	pw, _ := u.User.Password()
	if pw == "" || strings.Contains(info.Path, pw) {
		t.Fatalf("db stats path %q (the test server's password %q must be set and never shown)", info.Path, pw)
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, "engram.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a SQLite file was made in the data directory although --durable names PostgreSQL: %v", err)
	}

	t.Setenv("ENGRAM_DURABLE", pg)
	var got engram.Episode
	c.json(&got, "", "episode", "get", ep.ID.String())
	if got.ID != ep.ID || got.TaskDescription != ep.TaskDescription {
		t.Fatalf("ENGRAM_DURABLE: got %+v, want the episode added with --durable", got)
	}
	c.ok("", "db", "check")
}

// TestDurableErrUsage: an unknown scheme is a usage error, and it does not
// echo the value (which may hold a password).
func TestDurableErrUsage(t *testing.T) {
	c := newCLI(t)
	r := c.run("", "--durable", "mysql://root:canary-pw-7731@db/x", "episode", "list")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--durable") || strings.Contains(r.stderr, "canary-pw-7731") {
		t.Fatalf("--durable mysql://: exit %d, stderr %q; want a usage error naming the flag, not the password", r.code, r.stderr)
	}
	c.fails(exitUsage, "sqlite:PATH", "", "--durable", "sqlite:", "episode", "list")
}

// TestDurablePasswordNeverShown: a canary password in --durable appears in
// no output of a failing command: wrong password, missing database, nothing
// listening, plaintext to a remote host, a malformed URL.
func TestDurablePasswordNeverShown(t *testing.T) {
	const canary = "Canary-Pw-5196"
	u, err := url.Parse(pgtest.Server(t))
	if err != nil {
		t.Fatal(err)
	}
	withPW := func(host, db string) string {
		v := *u
		v.User = url.UserPassword(v.User.Username(), canary)
		if host != "" {
			v.Host = host
		}
		v.Path = "/" + db
		return v.String()
	}
	c := newCLI(t)
	for _, tc := range []struct{ name, url, want string }{
		{"wrong password", withPW("", "postgres"), "refused the credentials"},
		{"nothing listening", withPW("127.0.0.1:1", "postgres"), "cannot reach"},
		{"plaintext remote", "postgres://u:" + canary + "@db.example.com/x?sslmode=disable", "TLS"},
		{"malformed", "postgres://u:" + canary + "@db.example.com:port/x", "not a valid PostgreSQL URL"},
	} {
		r := c.run("", "--durable", tc.url, "episode", "list")
		if r.code == 0 || strings.Contains(r.stdout+r.stderr, canary) || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure saying %q without the password", tc.name, r.code, r.stderr, tc.want)
		}
	}
	// The right password and a database that does not exist.
	pw, _ := u.User.Password()
	v := *u
	v.Path = "/no_such_db"
	r := c.run("", "--durable", v.String(), "episode", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "no_such_db does not exist") || strings.Contains(r.stderr, pw) {
		t.Errorf("missing database: exit %d, stderr %q; want it named as missing, without the password", r.code, r.stderr)
	}
}
