package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// openTemp opens a store on a new file in t's temporary directory.
func openTemp(t testing.TB, opts sqlstore.Options) *sqlstore.Store {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "engram.db")
	}
	s, err := sqlstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if problems, err := s.Check(context.Background()); err != nil || len(problems) > 0 {
			t.Errorf("consistency check after test: %v %v", problems, err)
		}
		s.Close()
	})
	return s
}

func TestSQLite(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) engram.Store { return openTemp(t, sqlstore.Options{}) })
}
