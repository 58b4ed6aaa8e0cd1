package sqlstore_test

import (
	"context"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// openPostgres opens a store on a new schema of the test PostgreSQL server.
func openPostgres(t testing.TB, opts sqlstore.Options) *sqlstore.Store {
	t.Helper()
	if opts.URL == "" {
		opts.URL = sqlstore.PostgresURL(t)
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

func TestPostgres(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) engram.Store { return openPostgres(t, sqlstore.Options{}) })
}
