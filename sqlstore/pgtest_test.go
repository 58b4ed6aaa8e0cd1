package sqlstore

import (
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

	_ "github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL for tests. ENGRAM_TEST_POSTGRES names a server (make test
// starts one with scripts/pg-run.sh); without it, the first test that needs
// one starts its own with scripts/pg-start.sh and TestMain stops it. Under
// CI=true a test that cannot get a server fails instead of skipping.

var pgServer struct {
	once sync.Once
	url  string
	dir  string // set when this process started the server
	err  error
	n    atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer.dir != "" {
		exec.Command("../scripts/pg-stop.sh", pgServer.dir).Run()
	}
	os.Exit(code)
}

// PostgresServer returns the URL of the test server, starting it if needed.
func PostgresServer(t testing.TB) string {
	t.Helper()
	pgServer.once.Do(func() {
		if u := os.Getenv("ENGRAM_TEST_POSTGRES"); u != "" {
			pgServer.url = u
			return
		}
		if _, err := os.Stat("/usr/local/bin/initdb"); err != nil {
			if _, lerr := exec.LookPath("initdb"); lerr != nil {
				pgServer.err = fmt.Errorf("no ENGRAM_TEST_POSTGRES and no initdb to start a server: %v", lerr)
				return
			}
		}
		dir, err := os.MkdirTemp("", "engram-pg-test-")
		if err != nil {
			pgServer.err = err
			return
		}
		out, err := exec.Command("../scripts/pg-start.sh", dir).Output()
		if err != nil {
			exec.Command("../scripts/pg-stop.sh", dir).Run()
			if ee, ok := err.(*exec.ExitError); ok {
				err = fmt.Errorf("%v: %s", err, ee.Stderr)
			}
			pgServer.err = fmt.Errorf("start PostgreSQL: %w", err)
			return
		}
		pgServer.dir = dir
		pgServer.url = strings.TrimSpace(string(out))
	})
	if pgServer.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL tests must run under CI: %v", pgServer.err)
		}
		t.Skipf("PostgreSQL unavailable: %v", pgServer.err)
	}
	return pgServer.url
}

// PostgresURL returns the URL of a new, empty schema on the test server,
// dropped when t ends: every test gets a database of its own.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := PostgresServer(t)
	schema := fmt.Sprintf("engram_test_%d_%d", os.Getpid(), pgServer.n.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema on %s: %v", filepath.Base(schema), err)
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

// SetBeforeCommit makes every write of s call f just before it commits.
// Set it before the store is shared.
func SetBeforeCommit(s *Store, f func()) { s.beforeCommit = f }

// PostgresTLSMode describes the TLS a URL's connection gets: "plaintext",
// or "verify-full SERVERNAME", or "unverified".
func PostgresTLSMode(rawURL string, p PostgresOptions) (string, error) {
	cfg, err := pgConfig(rawURL, p)
	if err != nil {
		return "", err
	}
	switch c := cfg.TLSConfig; {
	case c == nil:
		return "plaintext", nil
	case !c.InsecureSkipVerify:
		return "verify-full " + c.ServerName, nil
	}
	return "unverified", nil
}
