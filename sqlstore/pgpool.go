package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// The PostgreSQL reader pool: database/sql's pool over pgx connections,
// sized by Options.MaxReaders (max open), PostgresOptions.MaxIdleReaders
// (max idle), ConnMaxLifetime and ConnMaxIdleTime, and kept at no fewer
// than PostgresOptions.MinConns open connections by a loop the store owns.

// DefaultMinConnsCheck is how often a store with MinConns tops its reader
// pool up.
const DefaultMinConnsCheck = time.Minute

// pgPool is the reader pool's keeper: the loop that tops it up to
// MinConns. A nil *pgPool keeps nothing.
type pgPool struct {
	db   *sql.DB
	min  int
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startPool warms the reader pool up to MinConns and starts the loop that
// keeps it there. A failure to warm up is not an error here: the
// credentials and the server were checked by the writer's connection, and
// readers open on demand.
func (s *Store) startPool(ctx context.Context) {
	p := s.opts.Postgres
	n := min(p.MinConns, s.opts.MaxReaders)
	if n <= 0 {
		return
	}
	if s.r.Stats().MaxOpenConnections > 0 && p.MaxIdleReaders > 0 && p.MaxIdleReaders < n {
		s.r.SetMaxIdleConns(n) // idle ones above MaxIdleReaders would be closed at once
	}
	pool := &pgPool{db: s.r, min: n}
	pool.topUp(ctx)
	every := p.MinConnsCheck
	if every <= 0 {
		every = DefaultMinConnsCheck
	}
	lctx, cancel := context.WithCancel(context.Background())
	pool.stop = cancel
	pool.wg.Add(1)
	go func() {
		defer pool.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				pool.topUp(lctx)
			}
		}
	}()
	s.opts.res.pool = pool
}

// topUp opens reader connections until min of them are open (in use or
// idle). It holds the connections it takes only to make the pool open new
// ones, then gives them all back as idle.
func (p *pgPool) topUp(ctx context.Context) {
	st := p.db.Stats()
	want := p.min - st.InUse
	if p.min-st.OpenConnections <= 0 || want <= 0 {
		return
	}
	held := make([]*sql.Conn, 0, want)
	for range want {
		c, err := p.db.Conn(ctx)
		if err != nil {
			break // the breaker or the server said no; next time
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Close()
	}
}

// close stops the loop and waits for it.
func (p *pgPool) close() {
	if p == nil || p.stop == nil {
		return
	}
	p.stop()
	p.wg.Wait()
}
