// Package pgtest gives engram's tests a real PostgreSQL server:
// ENGRAM_TEST_POSTGRES when set (make test starts one with
// scripts/pg-run.sh), else one this test binary starts with
// scripts/pg-start.sh on first use and Stop (from TestMain) stops. Each test
// gets a schema of its own (Schema), dropped when it ends. Under CI=true a
// test that cannot get a server fails instead of skipping.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

var server struct {
	once    sync.Once
	url     string
	dir     string // set when this process started the server
	scripts string
	err     error
	schemas atomic.Int64
}

// Server returns the URL of the test server, starting it if needed.
func Server(t testing.TB) string {
	t.Helper()
	server.once.Do(start)
	if server.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL tests must run under CI: %v", server.err)
		}
		t.Skipf("PostgreSQL unavailable: %v", server.err)
	}
	return server.url
}

func start() {
	if u := os.Getenv("ENGRAM_TEST_POSTGRES"); u != "" {
		server.url = u
		return
	}
	if _, err := os.Stat("/usr/local/bin/initdb"); err != nil {
		if _, lerr := exec.LookPath("initdb"); lerr != nil {
			server.err = fmt.Errorf("no ENGRAM_TEST_POSTGRES and no initdb to start a server: %v", lerr)
			return
		}
	}
	root, err := moduleRoot()
	if err != nil {
		server.err = err
		return
	}
	server.scripts = filepath.Join(root, "scripts")
	dir, err := os.MkdirTemp("", "engram-pg-test-")
	if err != nil {
		server.err = err
		return
	}
	out, err := exec.Command(filepath.Join(server.scripts, "pg-start.sh"), dir).Output()
	if err != nil {
		exec.Command(filepath.Join(server.scripts, "pg-stop.sh"), dir).Run()
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		server.err = fmt.Errorf("start PostgreSQL: %w", err)
		return
	}
	server.dir = dir
	server.url = strings.TrimSpace(string(out))
}

// Stop stops the server Server started, if this process started one.
func Stop() {
	if server.dir != "" {
		exec.Command(filepath.Join(server.scripts, "pg-stop.sh"), server.dir).Run()
	}
}

// Schema creates a new, empty schema named after prefix on the test server,
// dropped when t ends, and returns the URL that uses it (search_path).
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	base := Server(t)
	schema := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), server.schemas.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/engramhq/engram\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no engram go.mod above the test's directory: %w", os.ErrNotExist)
		}
		dir = parent
	}
}
