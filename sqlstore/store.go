// Package sqlstore is engram's durable tier: the source of truth, over
// database/sql. The embedded default is a SQLite file (modernc.org/sqlite:
// pure Go, no cgo, no server) in WAL mode with synchronous=FULL, so an
// acknowledged write survives a crash or power loss.
//
// Every write runs in one transaction on the single writer connection and
// appends its change-feed entries in that transaction; readers use a separate
// pool and never block the writer. All SQL is parameterised. What differs
// between SQL dialects (placeholders, full-text search, error codes) is kept
// in dialect.go so that a PostgreSQL dialect can follow without rewriting the
// queries.
//
// Besides engram.Store it implements engram.VectorStore (embeddings.go):
// embeddings may carry metadata and an expiry, expired rows are absent to
// every read by the store's clock, and SweepExpiredEmbeddings deletes them
// in bounded batches with their change-feed entries.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/engramhq/engram"
)

var _ engram.Store = (*Store)(nil)

// Synchronous is SQLite's durability setting for commits.
type Synchronous string

const (
	// SyncFull fsyncs the WAL on every commit: an acknowledged write survives
	// power loss. The default.
	SyncFull Synchronous = "full"
	// SyncNormal fsyncs only at checkpoints: an acknowledged write survives a
	// process crash but the last commits may be lost on power loss.
	SyncNormal Synchronous = "normal"
	// SyncOff never fsyncs. For throwaway data and benchmarks only.
	SyncOff Synchronous = "off"
)

// Defaults for Options.
const (
	DefaultBusyTimeout = 5 * time.Second
	DefaultMaxReaders  = 4
	// DefaultFeedRetention is how long change-feed entries and idempotency
	// keys are kept at least.
	DefaultFeedRetention = 7 * 24 * time.Hour
	// DefaultFeedMaxEntries bounds the change feed: older entries beyond it
	// are dropped even inside the retention time.
	DefaultFeedMaxEntries = 1_000_000
	// DefaultFileName is the SQLite file inside a data directory.
	DefaultFileName = "engram.db"
)

// Options configure Open. The zero value of every field means its default.
type Options struct {
	// Path of the SQLite file; created (with its directory) if absent. Required.
	Path string
	// Synchronous is the commit durability; "": SyncFull.
	Synchronous Synchronous
	// BusyTimeout bounds how long a write waits for another process's write
	// lock before failing with EUNAVAILABLE; 0: DefaultBusyTimeout.
	BusyTimeout time.Duration
	// MaxReaders is the number of reader connections; 0: DefaultMaxReaders.
	MaxReaders int
	// Now is the clock for created_at, updated_at and change times; nil: time.Now.
	Now func() time.Time
	// FeedRetention is the change feed's time horizon: entries older than
	// it are dropped (a reader behind it gets EGONE and rebuilds), and so
	// are idempotency keys. 0: DefaultFeedRetention; negative: keep forever.
	FeedRetention time.Duration
	// FeedMaxEntries is the most change-feed entries kept; older ones are
	// dropped first. 0: DefaultFeedMaxEntries; negative: no limit.
	FeedMaxEntries int
	// ReadOnly opens an existing database for reading only: every write
	// fails with EUNAVAILABLE. A database whose file or directory this
	// process cannot write (a read-only mount, an immutable file) is opened
	// read-only whatever this says.
	ReadOnly bool

	// URL, when set, puts the store on a PostgreSQL database
	// (postgres://... or postgresql://...; see OpenURL) and Path is only
	// what messages name it (filled in from the URL, without credentials).
	URL string
	// Postgres holds the settings only PostgreSQL uses.
	Postgres PostgresOptions

	// immutable: set by Open for a read-only database that nobody can be
	// writing (see readOnlyReason).
	immutable bool
	// res: a PostgreSQL store's breaker, timeouts and retries (set by
	// openPostgres; see resilience.go).
	res *pgResilience
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Synchronous == "" {
		o.Synchronous = SyncFull
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.MaxReaders == 0 {
		o.MaxReaders = DefaultMaxReaders
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FeedRetention == 0 {
		o.FeedRetention = DefaultFeedRetention
	}
	if o.FeedMaxEntries == 0 {
		o.FeedMaxEntries = DefaultFeedMaxEntries
	}
}

// Validate reports the first unusable option.
func (o *Options) Validate() error {
	switch {
	case o.URL != "":
		return o.Postgres.validate(o)
	case o.Path == "":
		return engram.Invalid("path", "is required")
	case o.Synchronous != SyncFull && o.Synchronous != SyncNormal && o.Synchronous != SyncOff:
		return engram.Invalid("synchronous", "%q is not one of full, normal, off", o.Synchronous)
	case o.BusyTimeout < 0:
		return engram.Invalid("busy_timeout", "must not be negative")
	case o.MaxReaders < 1:
		return engram.Invalid("max_readers", "must be at least 1")
	}
	return nil
}

// Store is the durable store on one SQL database. Safe for concurrent use.
type Store struct {
	d    *dialect
	opts Options
	w    *sql.DB // exactly one connection: every write, serialised
	r    *sql.DB // read-only pool

	// readOnly says why writes are refused; "" for a writable store.
	readOnly string
	// beforeCommit, if set (by tests), runs in every write transaction
	// that is about to commit, its feed entries written.
	beforeCommit func()
	// pg is the connection configuration of a PostgreSQL store (Listen
	// opens its own connection); nil on SQLite.
	pg *pgx.ConnConfig
	// commits runs every write once Open is done (see groupcommit.go);
	// nil before, and for a read-only store.
	commits *committer

	mu struct {
		sync.Mutex
		wstmts map[string]*sql.Stmt // prepared on w, keyed by query text
		rstmts map[string]*sql.Stmt // prepared on r
		// fts holds the search tables known to exist (they are never
		// dropped), so writes skip the CREATE and searches the lookup.
		fts map[string]bool
	}
}

// Open opens (creating if needed) the SQLite store at opts.Path and brings
// its schema up to date. It refuses a database whose schema is newer than
// this binary knows.
//
// With opts.URL set, it opens the PostgreSQL database it names instead (see
// OpenURL).
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.URL != "" {
		return openPostgres(ctx, opts)
	}
	return open(ctx, opts, sqliteDialect)
}

// open opens the store with dialect d (tests use one with fewer migrations).
func open(ctx context.Context, opts Options, d *dialect) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	readOnly := ""
	if d.openDB == nil {
		var err error
		if readOnly, err = readOnlyReason(&opts); err != nil {
			return nil, err
		}
	} else if opts.ReadOnly {
		readOnly = fmt.Sprintf("database %s was opened read-only", opts.Path)
	}
	// Read-only: the "writer" is one more read-only connection, so that the
	// schema check and db check run as usual; write refuses to start.
	w, err := d.open(opts, readOnly != "")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", opts.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{d: d, opts: opts, w: w, readOnly: readOnly}
	s.mu.wstmts = map[string]*sql.Stmt{}
	s.mu.rstmts = map[string]*sql.Stmt{}
	s.mu.fts = map[string]bool{}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := d.open(opts, true)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlstore: open %s for reading: %w", opts.Path, err)
	}
	r.SetMaxOpenConns(opts.MaxReaders)
	r.SetMaxIdleConns(opts.MaxReaders)
	r.SetConnMaxIdleTime(0)
	if d.openDB != nil {
		opts.Postgres.applyPool(r)
	}
	s.r = r
	if opts.res != nil {
		s.startPool(ctx)
	}
	if readOnly == "" {
		s.commits = startCommitter(s)
	}
	return s, nil
}

// ReadOnly says why the store refuses writes ("" when it does not): it was
// opened with Options.ReadOnly, or its file or directory is not writable.
func (s *Store) ReadOnly() string { return s.readOnly }

// readOnlyReason decides how to open opts.Path. It creates the directory of
// a new database, and returns why the database must be opened read-only
// ("" if it need not), setting opts.ReadOnly and opts.immutable to match. A
// database that does not exist and cannot be created is an error naming the
// directory.
func readOnlyReason(opts *Options) (string, error) {
	dir := filepath.Dir(opts.Path)
	_, statErr := os.Stat(opts.Path)
	exists := statErr == nil
	if !exists && !errors.Is(statErr, os.ErrNotExist) {
		return "", engram.Unavailable("sqlstore: database "+opts.Path, statErr)
	}
	if !exists {
		if opts.ReadOnly {
			return "", &engram.Error{Code: engram.ENOTFOUND, Message: fmt.Sprintf("database %s does not exist (opening read-only)", opts.Path)}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			code := engram.EUNAVAILABLE
			if errors.Is(err, syscall.ENOSPC) {
				code = engram.ENOSPACE
			}
			return "", &engram.Error{Code: code, Message: fmt.Sprintf("cannot create database %s: cannot create its directory %s", opts.Path, dir), Err: err}
		}
		if err := writable(dir); err != nil {
			return "", &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("cannot create database %s: its directory %s is not writable (%s)", opts.Path, dir, errText(err)), Err: err}
		}
		return "", nil
	}
	reason := ""
	if err := writable(dir); err != nil {
		reason = fmt.Sprintf("its directory %s is not writable (%s)", dir, errText(err))
	} else if err := writable(opts.Path); err != nil {
		reason = fmt.Sprintf("the file is not writable (%s)", errText(err))
	}
	if reason == "" {
		if !opts.ReadOnly {
			return "", nil
		}
		return fmt.Sprintf("database %s was opened read-only", opts.Path), nil
	}
	opts.ReadOnly = true
	// Nobody can write the file, so SQLite may skip its WAL index (-shm),
	// which it could not create here, provided no WAL holds commits the
	// file lacks. With a non-empty WAL, SQLite reads it through the
	// existing -shm instead.
	if fi, err := os.Stat(opts.Path + "-wal"); err != nil || fi.Size() == 0 {
		opts.immutable = true
	}
	return fmt.Sprintf("database %s is read-only: %s", opts.Path, reason), nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.opts.Path }

// Close closes every connection. Calls after Close fail; writes queued
// before it are finished first.
func (s *Store) Close() error {
	if s.commits != nil {
		s.commits.stop()
	}
	s.opts.res.close()
	s.mu.Lock()
	for _, st := range s.mu.wstmts {
		st.Close()
	}
	for _, st := range s.mu.rstmts {
		st.Close()
	}
	s.mu.wstmts, s.mu.rstmts = map[string]*sql.Stmt{}, map[string]*sql.Stmt{}
	s.mu.Unlock()
	err := s.r.Close()
	if werr := s.w.Close(); err == nil {
		err = werr
	}
	return err
}

func (s *Store) now() time.Time { return s.opts.Now().UTC().Round(0) }

// stmt returns a prepared statement for query on db (s.w or s.r), preparing
// it once. It must not be called for s.w inside a write transaction (the
// writer's one connection is busy): use tx.stmt there.
func (s *Store) stmt(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	m := s.mu.rstmts
	if db == s.w {
		m = s.mu.wstmts
	}
	st := m[query]
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, s.d.rebind(query))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := m[query]; prev != nil {
		st.Close()
		return prev, nil
	}
	m[query] = st
	return st, nil
}

// tx is a write transaction with the store's helpers.
type tx struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx
	now time.Time
	// unprepared holds queries this transaction prepared for itself because
	// the store had no statement for them yet. The writer pool has a single
	// connection, which this transaction holds, so they can only be prepared
	// store-wide after it ends (see Store.write).
	unprepared []string
	// stmts holds this transaction's statements by query text.
	stmts map[string]*sql.Stmt
	// buffers hold inserted rows until flush (see rows.go).
	buffers []rowBuffer
	nextFTS map[string]int64 // search table -> next rowid
	// search buffers rows of namespaces' search tables, flushed in
	// searchOrder after the record tables.
	search      map[string]*rowBuffer
	searchOrder []string
	// madeFTS lists the search tables this transaction created; the store
	// learns of them once it commits.
	madeFTS []string
	// changes counts the feed entries this transaction appends.
	changes int
	// migrating: a schema migration, which must not prune (the tables
	// prune uses may not exist yet).
	migrating bool
	// group is the group commit this write runs in; its search rows are
	// written at the group's end (see groupcommit.go). nil: none.
	group *group
	// flushedGroupSearch: this write wrote the group's pending search rows.
	flushedGroupSearch bool
	// onDuplicate, if set, is the error of an episodes INSERT refused for
	// a taken key (a create's "exists already").
	onDuplicate error
	// begin, if set, runs before the write's first statement (see
	// groupcommit.go: a write that runs none can be deferred).
	begin func() error
}

// started runs t.begin once, before t's first statement.
func (t *tx) started() error {
	if f := t.begin; f != nil {
		t.begin = nil
		return f()
	}
	return nil
}

// stmt returns a statement for query bound to the transaction.
func (t *tx) stmt(query string) (*sql.Stmt, error) {
	if err := t.started(); err != nil {
		return nil, err
	}
	if t.group != nil && t.group.pendingSearch(query) {
		if err := t.flushGroupSearch(); err != nil {
			return nil, err
		}
	}
	if st := t.stmts[query]; st != nil {
		return st, nil
	}
	t.s.mu.Lock()
	st := t.s.mu.wstmts[query]
	t.s.mu.Unlock()
	if st != nil {
		st = t.tx.StmtContext(t.ctx, st)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(t.ctx, t.s.d.rebind(query)); err != nil {
			return nil, err
		}
		t.unprepared = append(t.unprepared, query)
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[query] = st
	return st, nil
}

// exec runs a write statement inside the transaction.
func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *tx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.stmt(query)
	if err != nil {
		return t.tx.QueryRowContext(t.ctx, t.s.d.rebind(query), args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// change appends one change-feed entry (written at commit, in order).
func (t *tx) change(ns engram.Namespace, kind engram.RecordKind, key string, op engram.ChangeOp) {
	t.insert("changes", string(ns), string(kind), key, string(op), t.now.UnixNano())
	t.changes++
}

// write runs fn in one write transaction and commits it, possibly together
// with other writes (see groupcommit.go); it returns once that commit is
// durable or failed. Any error rolls fn's changes back and is returned
// classified (see dialect.classify), wrapped with what.
func (s *Store) write(ctx context.Context, what string, fn func(t *tx) error) error {
	if s.readOnly != "" {
		return fmt.Errorf("sqlstore: %s: %w", what, &engram.Error{Code: engram.EUNAVAILABLE, Message: s.readOnly + "; writes are refused"})
	}
	if s.commits == nil {
		return s.writeDirect(ctx, what, fn)
	}
	return s.commits.submit(ctx, what, fn)
}

// read runs fn in one read-only transaction, so every query sees one snapshot.
func (s *Store) read(ctx context.Context, what string, fn func(q *sql.Tx) error) error {
	if ok, err := s.retryRead(ctx, func(ctx context.Context) error { return s.read(ctx, what, fn) }); ok {
		return err
	}
	sqlTx, err := s.r.BeginTx(ctx, s.d.readTx)
	if err != nil {
		return s.wrap(what, err)
	}
	defer sqlTx.Rollback()
	if err := fn(sqlTx); err != nil {
		return s.wrap(what, err)
	}
	return nil
}

// wrap classifies a database error into an *engram.Error and prefixes what.
// Errors that are already *engram.Error keep their code.
func (s *Store) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var ee *engram.Error
	if errors.As(err, &ee) {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", what, s.d.classify(err, s.opts.Path))
}

func (s *Store) checkNS(ns engram.Namespace) error { return ns.Validate() }
