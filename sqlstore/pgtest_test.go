package sqlstore

import (
	"os"
	"testing"

	"github.com/engramhq/engram/internal/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL for tests: internal/pgtest (ENGRAM_TEST_POSTGRES, or a server
// this test binary starts and TestMain stops).

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// PostgresServer returns the URL of the test server, starting it if needed.
func PostgresServer(t testing.TB) string { t.Helper(); return pgtest.Server(t) }

// PostgresURL returns the URL of a new, empty schema on the test server,
// dropped when t ends: every test gets a database of its own.
func PostgresURL(t testing.TB) string { t.Helper(); return pgtest.Schema(t, "engram_test") }

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

// AlwaysPing makes stores opened after it ping a pooled connection each
// time it is taken (see pgAlwaysPing), until t ends.
func AlwaysPing(t testing.TB) {
	pgAlwaysPing = true
	t.Cleanup(func() { pgAlwaysPing = false })
}
