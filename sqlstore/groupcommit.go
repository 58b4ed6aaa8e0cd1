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
	// deferred holds the writes run without a statement, rows unwritten
	// (see commitGroup); gt runs the group's own statements; broken is
	// why the transaction cannot go on.
	deferred []deferredWrite
	gt       *tx
	broken   error
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
//
// A write that runs no statement of its own (a create only buffers rows:
// see tx.onDuplicate) is deferred: its rows wait in the group and are
// written together with the other deferred writes' rows, in multi-row
// INSERTs, just before the next write that runs a statement (it may read
// them) or at the group's end (see flushDeferred). A write that does run
// statements gets a savepoint before its first one (tx.begin), unless the
// transaction holds nothing yet.
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
	g.gt = gt
	for n, p := 0, first; p != nil; p = more() {
		r := s.runMember(g, p)
		switch {
		case g.broken != nil:
			// The transaction cannot go on (a savepoint or a deferred
			// batch failed hard): everything of the group fails.
			s.failGroup(g, p, r.out, g.broken)
			return
		case r.kept:
		case !r.began:
			p.answer(r.out) // it ran nothing: nothing to undo
		case !r.savepoint:
			// It failed with nothing else in the transaction: roll back
			// whole; the writes not taken yet go to the next group.
			sqlTx.Rollback()
			p.answer(r.out)
			return
		default:
			// Undo this write only. Some failures (SQLite's I/O errors, a
			// full disk) roll back the whole transaction; then the
			// savepoint is gone and so are the earlier writes of the group.
			if _, err := gt.exec(`ROLLBACK TO SAVEPOINT engram_write`); err != nil {
				cause := r.out.err
				if cause == nil {
					cause = err
				}
				s.failGroup(g, p, r.out, cause)
				return
			}
			if _, err := gt.exec(`RELEASE SAVEPOINT engram_write`); err != nil {
				s.failGroup(g, p, r.out, err)
				return
			}
			p.answer(r.out)
		}
		if n++; n >= maxGroupWrites || g.changes >= maxGroupChanges {
			break
		}
	}
	if err := s.flushDeferred(g, false); err != nil {
		s.failGroup(g, nil, writeOutcome{}, err)
		return
	}
	if len(g.members) == 0 {
		sqlTx.Rollback() // every write failed (or the lone deferred one did)
		return
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

// memberResult is how one write of a group went.
type memberResult struct {
	out writeOutcome // its answer, when it failed
	// kept: it is a member (or deferred), answered at the commit; began:
	// it ran a statement; savepoint: under a savepoint of its own.
	kept, began, savepoint bool
}

// deferredWrite is a write run without statements, its rows still buffered.
type deferredWrite struct {
	p *pendingWrite
	t *tx
}

// runMember runs one write's fn. A write that ran statements has its rows
// written now (later writes of the group may read them), its search rows
// at the group's end; one that ran none is deferred.
func (s *Store) runMember(g *group, p *pendingWrite) (r memberResult) {
	t := &tx{s: s, ctx: context.WithoutCancel(p.ctx), tx: g.tx, now: s.now(), stmts: g.stmts, madeFTS: slices.Clone(g.madeFTS),
		nextFTS: g.nextFTS, group: g}
	t.begin = func() error {
		r.began = true
		if err := s.flushDeferred(g, true); err != nil {
			g.broken = err
			return err
		}
		if len(g.members) == 0 {
			return nil // nothing to protect: a failure rolls back the whole transaction
		}
		if _, err := g.gt.exec(`SAVEPOINT engram_write`); err != nil {
			g.broken = err
			return err
		}
		r.savepoint = true
		return nil
	}
	defer func() {
		g.unprepared = append(g.unprepared, t.unprepared...)
		if v := recover(); v != nil {
			r.out, r.kept = writeOutcome{panicked: v, hasPanic: true}, false
		}
	}()
	err := p.fn(t)
	if err == nil && !r.began {
		// Its rows are written by flushDeferred, with nothing pending
		// in front of them and no savepoint of its own to take.
		t.begin, t.group = nil, nil
		g.deferred = append(g.deferred, deferredWrite{p: p, t: t})
		g.changes += t.changes
		return memberResult{kept: true}
	}
	if err == nil {
		// The record tables now; the search rows at the group's end.
		err = t.flushRecords()
	}
	if err == nil && r.savepoint {
		_, err = g.gt.exec(`RELEASE SAVEPOINT engram_write`)
		if err != nil {
			g.broken = err
		}
	}
	if err != nil {
		r.out = writeOutcome{err: s.wrap(p.what, err)}
		return r
	}
	s.keep(g, p, t)
	r.kept = true
	return r
}

// flushRecords writes t's buffered record rows, keeping its search rows.
func (t *tx) flushRecords() error {
	search, order := t.search, t.searchOrder
	t.search, t.searchOrder = nil, nil
	err := t.flush()
	t.search, t.searchOrder = search, order
	return err
}

// keep makes a write whose rows are written a member of g.
func (s *Store) keep(g *group, p *pendingWrite, t *tx) {
	g.keepSearch(t)
	g.members = append(g.members, p)
	for _, table := range t.madeFTS {
		if !slices.Contains(g.madeFTS, table) {
			g.madeFTS = append(g.madeFTS, table)
		}
	}
	g.changes += t.changes
	g.migrating = g.migrating || t.migrating
}

// flushDeferred writes the rows of g's deferred writes, all in one go.
// If that fails (a create of a taken id, or of one created earlier in the
// group), it is undone and the writes are written one at a time, each under
// a savepoint, so that exactly the failing ones fail (answered at once).
// The error is for a transaction that cannot go on. guarded: the caller
// needs the transaction usable whatever happens (another write runs next).
func (s *Store) flushDeferred(g *group, guarded bool) error {
	ds := g.deferred
	if len(ds) == 0 {
		return nil
	}
	g.deferred = nil
	for _, d := range ds {
		g.changes -= d.t.changes // counted again by keep
	}
	bt := &tx{s: s, ctx: g.gt.ctx, tx: g.tx, stmts: g.stmts}
	for _, d := range ds {
		for i := range d.t.buffers {
			if bt.buffers == nil {
				bt.buffers = make([]rowBuffer, len(d.t.buffers))
				for j := range bt.buffers {
					bt.buffers[j] = rowBuffer{table: d.t.buffers[j].table, cols: d.t.buffers[j].cols}
				}
			}
			bt.buffers[i].args = append(bt.buffers[i].args, d.t.buffers[i].args...)
		}
	}
	lone := len(ds) == 1 && len(g.members) == 0 && !guarded
	if lone {
		// The transaction holds this write only: a failure rolls it back.
		d := ds[0]
		d.t.stmts = g.stmts
		err := d.t.flushRecords()
		g.unprepared = append(g.unprepared, d.t.unprepared...)
		if err != nil {
			d.p.answer(writeOutcome{err: s.wrap(d.p.what, err)})
			return nil // no members: the caller rolls back
		}
		s.keep(g, d.p, d.t)
		return nil
	}
	if _, err := g.gt.exec(`SAVEPOINT engram_batch`); err != nil {
		return s.failDeferred(ds, err)
	}
	err := bt.flush()
	g.unprepared = append(g.unprepared, bt.unprepared...)
	if err == nil {
		if _, err := g.gt.exec(`RELEASE SAVEPOINT engram_batch`); err != nil {
			return s.failDeferred(ds, err)
		}
		for _, d := range ds {
			s.keep(g, d.p, d.t)
		}
		return nil
	}
	if _, err := g.gt.exec(`ROLLBACK TO SAVEPOINT engram_batch`); err != nil {
		return s.failDeferred(ds, err)
	}
	if _, err := g.gt.exec(`RELEASE SAVEPOINT engram_batch`); err != nil {
		return s.failDeferred(ds, err)
	}
	for i, d := range ds {
		if _, err := g.gt.exec(`SAVEPOINT engram_write`); err != nil {
			return s.failDeferred(ds[i:], err)
		}
		d.t.stmts = g.stmts
		ferr := d.t.flushRecords()
		g.unprepared = append(g.unprepared, d.t.unprepared...)
		if ferr == nil {
			if _, err := g.gt.exec(`RELEASE SAVEPOINT engram_write`); err != nil {
				return s.failDeferred(ds[i:], err)
			}
			s.keep(g, d.p, d.t)
			continue
		}
		if _, err := g.gt.exec(`ROLLBACK TO SAVEPOINT engram_write`); err != nil {
			return s.failDeferred(ds[i:], err)
		}
		if _, err := g.gt.exec(`RELEASE SAVEPOINT engram_write`); err != nil {
			return s.failDeferred(ds[i:], err)
		}
		d.p.answer(writeOutcome{err: s.wrap(d.p.what, ferr)})
	}
	return nil
}

// failDeferred answers deferred writes whose rows could not be written
// because the transaction failed, and returns the cause for the group.
func (s *Store) failDeferred(ds []deferredWrite, cause error) error {
	for _, d := range ds {
		d.p.answer(writeOutcome{err: s.wrap(d.p.what, fmt.Errorf("rolled back with a failed write of the same commit: %w", cause))})
	}
	return cause
}

// failGroup answers a group whose transaction cannot go on: p (which was
// not kept; nil: none) gets out, every kept or deferred write gets cause,
// and the transaction is rolled back.
func (s *Store) failGroup(g *group, p *pendingWrite, out writeOutcome, cause error) {
	g.tx.Rollback()
	if p != nil {
		if out.err == nil && !out.hasPanic {
			out.err = s.wrap(p.what, cause)
		}
		p.answer(out)
	}
	for _, m := range g.members {
		m.answer(writeOutcome{err: s.wrap(m.what, fmt.Errorf("rolled back with a failed write of the same commit: %w", cause))})
	}
	s.failDeferred(g.deferred, cause)
	g.members, g.madeFTS, g.deferred = nil, nil, nil
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
