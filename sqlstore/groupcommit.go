package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/engramhq/engram"
)

// Group commit. Every durable write is queued to the store's committer, one
// goroutine that owns the writer connection. It takes the first queued
// write, opens a transaction, runs it, and, before committing, takes every
// further write that queued meanwhile into the same transaction, each inside
// a SAVEPOINT of its own (up to maxGroupWrites writes, or until they
// appended maxGroupChanges feed entries). Then it commits once: one fsync
// for all of them. So:
//
//   - A lone write commits at once, as before: nothing waits for company.
//     Writes join a group only by arriving while the one before them runs
//     or commits.
//   - Every caller is answered only after the commit that holds its write
//     returned, i.e. is durable (synchronous=FULL on SQLite; the server's
//     own setting on PostgreSQL). A write whose fn fails is rolled back to
//     its savepoint and answered with its own error at once; the others go
//     on.
//   - A failed commit fails exactly the writes it held, each with the
//     commit's error (EUNKNOWN when the fsync outcome is unknown).
//   - The change feed: each write appends its entries in its own turn, so
//     seqs follow the order writes ran in, and all of a group becomes
//     visible at its one commit. On PostgreSQL the group holds the write
//     lock (dialect.lockWrites) once, so the feed stays gap-free as before.
//   - A caller whose context ends while its write is still queued is
//     removed from the queue and gets the context's error; once its write
//     has started, the caller waits for its outcome (the context no longer
//     cancels it: that would abort the writes of the whole group).

// Bounds of one group commit.
const (
	// maxGroupWrites is the most writes one commit holds.
	maxGroupWrites = 1000
	// maxGroupChanges stops adding writes to a group once they appended
	// this many change-feed entries (a bound on the transaction's size).
	maxGroupChanges = 20_000
)

// The states of a queued write.
const (
	writeQueued    int32 = iota
	writeTaken           // the committer took it: it will be answered
	writeAbandoned       // its caller left before it was taken
)

// pendingWrite is one caller's write in the committer's queue.
type pendingWrite struct {
	ctx   context.Context
	what  string
	fn    func(t *tx) error
	state atomic.Int32
	done  chan writeOutcome // buffered: the committer never blocks on it
}

// writeOutcome is what a caller gets back.
type writeOutcome struct {
	err error
	// panicked holds what fn panicked with; the caller panics with it again
	// on its own goroutine.
	panicked any
	hasPanic bool
}

// committer runs every write of a Store (see the comment above).
type committer struct {
	s      *Store
	wake   chan struct{} // capacity 1: a write is queued
	quit   chan struct{} // closed by stop
	exited chan struct{} // closed when run returns
	once   sync.Once

	mu struct {
		sync.Mutex
		queue  []*pendingWrite
		closed bool
	}

	// queued, if set (by tests), is called after a write joined the queue.
	queued func()
}

// startCommitter starts s's committer goroutine; stop ends it.
func startCommitter(s *Store) *committer {
	c := &committer{s: s, wake: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{})}
	go c.run()
	return c
}

// stop refuses new writes, lets the committer finish the writes already
// queued, and waits for it to exit.
func (c *committer) stop() {
	c.once.Do(func() {
		c.mu.Lock()
		c.mu.closed = true
		c.mu.Unlock()
		close(c.quit)
	})
	<-c.exited
}

// submit queues a write and waits for its outcome.
func (c *committer) submit(ctx context.Context, what string, fn func(t *tx) error) error {
	if err := ctx.Err(); err != nil {
		return c.s.wrap(what, err)
	}
	p := &pendingWrite{ctx: ctx, what: what, fn: fn, done: make(chan writeOutcome, 1)}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return fmt.Errorf("sqlstore: %s: %w", what, &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("database %s is closed", c.s.opts.Path)})
	}
	c.mu.queue = append(c.mu.queue, p)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	if c.queued != nil {
		c.queued()
	}
	var out writeOutcome
	select {
	case out = <-p.done:
	case <-ctx.Done():
		if p.state.CompareAndSwap(writeQueued, writeAbandoned) {
			return c.s.wrap(what, ctx.Err())
		}
		out = <-p.done // it has started: its outcome is coming
	}
	if out.hasPanic {
		panic(out.panicked)
	}
	return out.err
}

// next takes the first write still wanted off the queue; nil when none.
func (c *committer) next() *pendingWrite {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.mu.queue) > 0 {
		p := c.mu.queue[0]
		c.mu.queue[0] = nil
		c.mu.queue = c.mu.queue[1:]
		if p.state.CompareAndSwap(writeQueued, writeTaken) {
			return p
		}
	}
	c.mu.queue = nil // let the emptied array go
	return nil
}

func (c *committer) run() {
	defer close(c.exited)
	for {
		select {
		case <-c.wake:
		case <-c.quit:
			// No write can join any more; serve those queued before stop.
			for p := c.next(); p != nil; p = c.next() {
				c.s.commitGroup(p, c.next)
			}
			return
		}
		for p := c.next(); p != nil; p = c.next() {
			c.s.commitGroup(p, c.next)
		}
	}
}

// writeDirect runs one write on the calling goroutine, as a group of one
// (before the committer runs: the schema migrations of Open).
func (s *Store) writeDirect(ctx context.Context, what string, fn func(t *tx) error) error {
	p := &pendingWrite{ctx: ctx, what: what, fn: fn, done: make(chan writeOutcome, 1)}
	p.state.Store(writeTaken)
	s.commitGroup(p, func() *pendingWrite { return nil })
	out := <-p.done
	if out.hasPanic {
		panic(out.panicked)
	}
	return out.err
}

// group is the state one group commit's writes share.
type group struct {
	tx      *sql.Tx
	stmts   map[string]*sql.Stmt
	members []*pendingWrite // run and kept: answered at the commit
	// madeFTS: the search tables the kept writes created; changes: the
	// feed entries they appended.
	madeFTS    []string
	changes    int
	migrating  bool
	unprepared []string
	// search holds the kept writes' search rows by table (in order of
	// first use), written once at the group's end: FTS5 writes a segment
	// at every savepoint it has pending rows at, so rows written per write
	// would cost a segment (and its merges) per write. nextFTS is the
	// group's rowid allocator, so no write needs MAX(rowid) of a table with
	// rows still pending.
	search      map[string]*rowBuffer
	searchOrder []string
	nextFTS     map[string]int64
}

// pendingSearch says whether query may touch a search table that has rows
// still pending (an over-approximation: it only costs an early flush).
func (g *group) pendingSearch(query string) bool {
	if len(g.searchOrder) == 0 || !strings.Contains(query, ftsPrefix) {
		return false
	}
	for _, table := range g.searchOrder {
		if strings.Contains(query, table) {
			return true
		}
	}
	return false
}

// flushGroupSearch writes the group's pending search rows inside the
// running write (before it reads or deletes search rows). They stay
// pending in the group until that write is kept: if it fails, its savepoint
// takes them back, and they are written later.
func (t *tx) flushGroupSearch() error {
	g := t.group
	ft := &tx{s: t.s, ctx: t.ctx, tx: t.tx, stmts: t.stmts, search: map[string]*rowBuffer{}, searchOrder: slices.Clone(g.searchOrder)}
	for _, table := range g.searchOrder {
		b := *g.search[table]
		ft.search[table] = &b // flush consumes its copy's args, not the group's
	}
	err := ft.flush()
	t.unprepared = append(t.unprepared, ft.unprepared...)
	if err == nil {
		t.flushedGroupSearch = true
		t.group = nil // nothing is pending for this write any more
	}
	return err
}

// keepSearch moves a kept write's search rows into the group.
func (g *group) keepSearch(t *tx) {
	if t.flushedGroupSearch {
		g.search, g.searchOrder = nil, nil
	}
	for _, table := range t.searchOrder {
		if g.search == nil {
			g.search = map[string]*rowBuffer{}
		}
		b := g.search[table]
		if b == nil {
			b = &rowBuffer{table: table, cols: ftsColumns}
			g.search[table] = b
			g.searchOrder = append(g.searchOrder, table)
		}
		b.args = append(b.args, t.search[table].args...)
	}
	t.search, t.searchOrder = nil, nil
}

// commitGroup runs first, and the writes more hands out while there is
// room, in one transaction, commits it, and answers each of them. Writes
// more did not hand out stay queued for the next group.
func (s *Store) commitGroup(first *pendingWrite, more func() *pendingWrite) {
	// The transaction outlives every caller's context: one caller giving up
	// must not roll back the others' writes.
	ctx := context.WithoutCancel(first.ctx)
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		first.answer(writeOutcome{err: s.wrap(first.what, err)})
		return
	}
	if s.d.lockWrites != "" {
		if _, err := sqlTx.ExecContext(ctx, s.d.lockWrites); err != nil {
			sqlTx.Rollback()
			first.answer(writeOutcome{err: s.wrap(first.what, err)})
			return
		}
	}
	g := &group{tx: sqlTx, stmts: map[string]*sql.Stmt{}, nextFTS: map[string]int64{}}
	defer s.prepareLater(ctx, g)
	// gt runs the group's own statements, prepared once per store.
	gt := &tx{s: s, ctx: ctx, tx: sqlTx, stmts: g.stmts}
	// The first write needs no savepoint: if it fails, the transaction
	// holds nothing else and is rolled back whole.
	if out, ok := s.runMember(g, first); !ok {
		sqlTx.Rollback()
		first.answer(out)
		return
	}
	for n := 1; n < maxGroupWrites && g.changes < maxGroupChanges; n++ {
		p := more()
		if p == nil {
			break
		}
		if _, err := gt.exec(`SAVEPOINT engram_write`); err != nil {
			s.failGroup(g, p, writeOutcome{err: s.wrap(p.what, err)}, err)
			return
		}
		out, ok := s.runMember(g, p)
		if ok {
			if _, err := gt.exec(`RELEASE SAVEPOINT engram_write`); err != nil {
				g.members = g.members[:len(g.members)-1]
				s.failGroup(g, p, writeOutcome{err: s.wrap(p.what, err)}, err)
				return
			}
			continue
		}
		// Undo this write only. Some failures (SQLite's I/O errors, a full
		// disk) roll back the whole transaction; then the savepoint is gone
		// and so are the earlier writes of the group.
		if _, err := gt.exec(`ROLLBACK TO SAVEPOINT engram_write`); err != nil {
			cause := out.err
			if cause == nil {
				cause = err
			}
			s.failGroup(g, p, out, cause)
			return
		}
		if _, err := gt.exec(`RELEASE SAVEPOINT engram_write`); err != nil {
			s.failGroup(g, p, out, err)
			return
		}
		p.answer(out)
	}
	g.unprepared = append(g.unprepared, gt.unprepared...)
	err = s.finishGroup(ctx, g)
	if err == nil && len(g.madeFTS) > 0 {
		s.mu.Lock()
		for _, table := range g.madeFTS {
			s.mu.fts[table] = true
		}
		s.mu.Unlock()
	}
	for _, p := range g.members {
		p.answer(writeOutcome{err: s.wrap(p.what, err)})
	}
}

// runMember runs one write's fn and writes its buffered rows. ok reports
// success; the write is then a member of g, answered at the commit.
// Otherwise out is its answer (the caller undoes its changes first).
func (s *Store) runMember(g *group, p *pendingWrite) (out writeOutcome, ok bool) {
	t := &tx{s: s, ctx: context.WithoutCancel(p.ctx), tx: g.tx, now: s.now(), stmts: g.stmts, madeFTS: slices.Clone(g.madeFTS),
		nextFTS: g.nextFTS, group: g}
	defer func() {
		g.unprepared = append(g.unprepared, t.unprepared...)
		if v := recover(); v != nil {
			out, ok = writeOutcome{panicked: v, hasPanic: true}, false
		}
	}()
	err := p.fn(t)
	if err == nil {
		// The record tables now (later writes of the group may read
		// them); the search rows at the group's end.
		search, order := t.search, t.searchOrder
		t.search, t.searchOrder = nil, nil
		err = t.flush()
		t.search, t.searchOrder = search, order
	}
	if err != nil {
		return writeOutcome{err: s.wrap(p.what, err)}, false
	}
	g.keepSearch(t)
	g.members = append(g.members, p)
	g.madeFTS = t.madeFTS
	g.changes += t.changes
	g.migrating = g.migrating || t.migrating
	return writeOutcome{}, true
}

// failGroup answers a group whose transaction cannot go on: p (which was
// not kept) gets out, every kept write gets cause, and the transaction is
// rolled back.
func (s *Store) failGroup(g *group, p *pendingWrite, out writeOutcome, cause error) {
	g.tx.Rollback()
	p.answer(out)
	for _, m := range g.members {
		m.answer(writeOutcome{err: s.wrap(m.what, fmt.Errorf("rolled back with a failed write of the same commit: %w", cause))})
	}
	g.members, g.madeFTS = nil, nil
}

// finishGroup prunes the feed, notifies listeners and commits g.
func (s *Store) finishGroup(ctx context.Context, g *group) error {
	t := &tx{s: s, ctx: ctx, tx: g.tx, now: s.now(), stmts: g.stmts, changes: g.changes, migrating: g.migrating,
		search: g.search, searchOrder: g.searchOrder}
	err := t.flush() // the group's search rows, in one go
	if err == nil && !t.migrating {
		err = t.prune()
	}
	g.unprepared = append(g.unprepared, t.unprepared...)
	if err == nil && t.changes > 0 && s.d.notify != "" {
		_, err = g.tx.ExecContext(ctx, s.d.notify)
	}
	if err == nil && s.beforeCommit != nil {
		s.beforeCommit()
	}
	if err != nil {
		g.tx.Rollback()
		return err
	}
	if err = g.tx.Commit(); err != nil && s.d.commitFailed != nil {
		err = s.d.commitFailed(err, s.opts.Path)
	}
	return err
}

// prepareLater prepares store-wide the statements g's writes prepared for
// themselves (the writer's one connection was theirs until now).
func (s *Store) prepareLater(ctx context.Context, g *group) {
	for _, q := range g.unprepared {
		if _, err := s.stmt(ctx, s.w, q); err != nil {
			break // prepared again next time; the writes are unaffected
		}
	}
}

func (p *pendingWrite) answer(out writeOutcome) { p.done <- out }
