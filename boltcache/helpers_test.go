package boltcache

import (
	"io"
	"log/slog"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type boltTx = bolt.Tx

// openChecked opens the cache at path and, when the test ends, closes it
// (unless the test did) and runs CheckFile on the file (bbolt's
// internal/btesting pattern): every test leaves a sound file behind.
func openChecked(t testing.TB, path string, o Options) *Cache {
	t.Helper()
	c, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	registerCheck(t, c)
	return c
}

func registerCheck(t testing.TB, c *Cache) {
	t.Cleanup(func() {
		_ = c.Close()
		if err := CheckFile(c.Path()); err != nil {
			t.Errorf("file left by the test: %v", err)
		}
	})
}
