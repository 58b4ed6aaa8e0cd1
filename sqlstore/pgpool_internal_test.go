package sqlstore

import (
	"context"
	"testing"
)

// TestPostgresMinConnsToppedUp: the reader pool opens MinConns at startup,
// and the keeper opens them again after they were closed.
func TestPostgresMinConnsToppedUp(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: PostgresURL(t), MaxReaders: 4, Postgres: PostgresOptions{MinConns: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Resilience().Pool.Readers; st.Open != 2 || st.Idle != 2 {
		t.Fatalf("after Open the readers are %+v; want MinConns 2 open and idle", st)
	}
	s.r.SetMaxIdleConns(0) // closes the idle ones
	s.r.SetMaxIdleConns(4)
	if st := s.Resilience().Pool.Readers; st.Open != 0 {
		t.Fatalf("readers not closed: %+v", st)
	}
	s.opts.res.pool.topUp(ctx)
	if st := s.Resilience().Pool.Readers; st.Open != 2 || st.Idle != 2 {
		t.Fatalf("after a top-up the readers are %+v; want 2 open and idle", st)
	}
}
