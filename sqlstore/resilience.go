package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/breaker"
)

// Resilience of a PostgreSQL store, as the durable tier's reference
// describes it. Three layers, from the bottom:
//
//   - Every round trip through the driver (connect, prepare, statement,
//     BEGIN, COMMIT, the pool's liveness ping) is bounded on the client by
//     StatementTimeout, as statement_timeout bounds it on the server: a
//     server that stops answering (a black hole) fails the call after the
//     timeout, never later. A query's bound lasts until its rows are closed;
//     a transaction's BEGIN and COMMIT are bounded each.
//   - A circuit breaker (internal/breaker) counts those round trips.
//     Only failures of the infrastructure count: a refused, reset or lost
//     connection, a timeout, a server shutting down or refusing new
//     connections (SQLSTATE classes 08 and 57P01-57P03, 53300). An answer,
//     even an error (a constraint, a wrong password, a missing database),
//     is a success; a caller's own cancellation counts nothing. At
//     BreakerFailures in a row it opens, and every call fails at once with
//     EUNAVAILABLE naming the breaker (ErrCircuitOpen) for BreakerOpenFor;
//     then up to BreakerHalfOpenCalls probes go through and
//     BreakerSuccesses successes close it (a failure opens it again).
//   - Retries with exponential backoff and full jitter (RetryAttempts,
//     RetryInitial, RetryMax, RetryMultiplier), for reads and for writes that
//     carry an idempotency key, and only after a quick infrastructure
//     failure: never after a timeout (the call's time is spent), never while
//     the breaker is open, and never a write without a key (it may have
//     committed). A read transaction and a keyed write are retried whole;
//     a single-statement read on a
//     reader connection that failed with a lost connection is retried by
//     database/sql on a fresh connection (reader connections are read-only,
//     so repeating a statement is harmless).

// ErrCircuitOpen is the cause (errors.Is) of an EUNAVAILABLE error from a
// PostgreSQL store whose circuit breaker is open: the call failed at once,
// without a round trip.
var ErrCircuitOpen = errors.New("sqlstore: circuit breaker open")

// errStoreTimeout is the cause of a context the store's own timeout ended.
var errStoreTimeout = errors.New("sqlstore: statement timeout")

// Defaults for the resilience settings of PostgresOptions.
const (
	DefaultBreakerFailures      = 5
	DefaultBreakerSuccesses     = 2
	DefaultBreakerOpenFor       = 30 * time.Second
	DefaultBreakerHalfOpenCalls = 3
	DefaultRetryAttempts        = 3
	DefaultRetryInitial         = 100 * time.Millisecond
	DefaultRetryMax             = 5 * time.Second
	DefaultRetryMultiplier      = 2.0
)

func (p *PostgresOptions) validateResilience() error {
	switch {
	case p.BreakerSuccesses < 0:
		return engram.Invalid("breaker_successes", "must not be negative")
	case p.BreakerOpenFor < 0:
		return engram.Invalid("breaker_open_for", "must not be negative")
	case p.BreakerHalfOpenCalls < 0:
		return engram.Invalid("breaker_half_open_calls", "must not be negative")
	case p.RetryAttempts < 0:
		return engram.Invalid("retry_attempts", "must not be negative")
	case p.RetryInitial < 0 || p.RetryMax < 0:
		return engram.Invalid("retry_initial", "backoff intervals must not be negative")
	case p.RetryMultiplier != 0 && p.RetryMultiplier < 1:
		return engram.Invalid("retry_multiplier", "is %g; must be at least 1", p.RetryMultiplier)
	case p.MinConns < 0:
		return engram.Invalid("min_conns", "must not be negative")
	}
	return nil
}

// pgResilience is one store's breaker, timeout and retry policy, shared by
// its writer and reader pools.
type pgResilience struct {
	where    string // the database, for messages (no credentials)
	password string // redacted from every message kept
	brk      *breaker.Breaker
	timeout  time.Duration // per round trip and per retried call; 0: none

	attempts          int
	initial, maxDelay time.Duration
	multiplier        float64

	retries  atomic.Int64 // attempts after the first, of retried calls
	timeouts atomic.Int64 // round trips the client-side timeout ended

	pool *pgPool // the reader pool's keeper; set once by open
}

// close stops what the store's resilience runs (the pool's keeper).
func (r *pgResilience) close() {
	if r != nil {
		r.pool.close()
	}
}

func newPGResilience(where, password string, p PostgresOptions) *pgResilience {
	r := &pgResilience{where: where, password: password, attempts: p.RetryAttempts,
		initial: p.RetryInitial, maxDelay: p.RetryMax, multiplier: p.RetryMultiplier}
	switch {
	case p.StatementTimeout == 0:
		r.timeout = DefaultStatementTimeout
	case p.StatementTimeout > 0:
		r.timeout = p.StatementTimeout
	}
	if r.attempts == 0 {
		r.attempts = DefaultRetryAttempts
	}
	if r.initial == 0 {
		r.initial = DefaultRetryInitial
	}
	if r.maxDelay == 0 {
		r.maxDelay = DefaultRetryMax
	}
	if r.multiplier == 0 {
		r.multiplier = DefaultRetryMultiplier
	}
	if p.BreakerFailures >= 0 {
		o := breaker.Options{Name: "postgres " + where, FailureThreshold: p.BreakerFailures, SuccessThreshold: p.BreakerSuccesses,
			OpenTimeout: p.BreakerOpenFor, HalfOpenMaxCalls: p.BreakerHalfOpenCalls, Clock: p.Clock, Log: p.Logger}
		if o.FailureThreshold == 0 {
			o.FailureThreshold = DefaultBreakerFailures
		}
		if o.SuccessThreshold == 0 {
			o.SuccessThreshold = DefaultBreakerSuccesses
		}
		if o.OpenTimeout == 0 {
			o.OpenTimeout = DefaultBreakerOpenFor
		}
		if o.HalfOpenMaxCalls == 0 {
			o.HalfOpenMaxCalls = DefaultBreakerHalfOpenCalls
		}
		r.brk = breaker.New(o)
	}
	return r
}

// openErr is the error of a call the open breaker refused.
func (r *pgResilience) openErr() error {
	snap := r.brk.Snapshot()
	msg := fmt.Sprintf("circuit breaker %q is %s after repeated failures to reach PostgreSQL database %s; calls fail at once until it probes the server again",
		r.brk.Name(), snap.State, r.where)
	if snap.LastError != "" {
		msg += " (last failure: " + redact(snap.LastError, r.password, "") + ")"
	}
	return &engram.Error{Code: engram.EUNAVAILABLE, Message: msg, Err: ErrCircuitOpen}
}

// trip is one round trip under the breaker and the client-side timeout.
type trip struct {
	r      *pgResilience
	parent context.Context
	ctx    context.Context // parent bounded by the timeout
	cancel context.CancelFunc
	tok    breaker.Token
}

// start admits a round trip, or refuses it at once with the open breaker's
// error.
func (r *pgResilience) start(ctx context.Context) (*trip, error) {
	tok, ok := r.brk.Allow()
	if !ok {
		return nil, r.openErr()
	}
	t := &trip{r: r, parent: ctx, ctx: ctx, cancel: func() {}, tok: tok}
	if r.timeout > 0 {
		t.ctx, t.cancel = context.WithTimeoutCause(ctx, r.timeout, errStoreTimeout)
	}
	return t, nil
}

// end records the round trip's outcome and returns err, an expired
// timeout's turned into EUNAVAILABLE.
func (t *trip) end(err error) error {
	out, err := t.r.classify(t.parent, t.ctx, err)
	t.r.brk.Done(t.tok, out, err)
	return err
}

// classify says how a round trip that ended with err counts, and
// translates a client-side timeout (octx, derived from parent, ended by
// one of the store's own timeouts: the round trip's, or a retried call's
// above it) into EUNAVAILABLE.
func (r *pgResilience) classify(parent, octx context.Context, err error) (breaker.Outcome, error) {
	switch {
	case err == nil:
		return breaker.Success, nil
	case ourTimeout(octx):
		r.timeouts.Add(1)
		return breaker.Failure, r.timeoutErr(err)
	case parent.Err() != nil:
		return breaker.Neutral, err // the caller gave up
	case errors.Is(err, driver.ErrBadConn):
		return breaker.Neutral, err // a dead pooled connection, discarded; the pool tries another
	case infraFailure(err):
		return breaker.Failure, err
	}
	return breaker.Success, err
}

// ourTimeout says whether ctx was ended by one of the store's timeouts
// (rather than by its caller).
func ourTimeout(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), errStoreTimeout)
}

// timeoutErr is the error of a round trip the store's timeout ended. It
// never matches driver.ErrBadConn (pgx reports a failed liveness ping so),
// or database/sql would try the next connection, for another timeout.
func (r *pgResilience) timeoutErr(err error) error {
	if errors.Is(err, driver.ErrBadConn) {
		err = errors.New("the liveness ping of a pooled connection got no answer")
	}
	return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf(
		"PostgreSQL database %s did not answer within %v (statement timeout)", r.where, r.timeout), Err: fmt.Errorf("%w: %w", errStoreTimeout, err)}
}

// infraFailure says whether err is a failure of the way to the server or
// of the server itself, rather than its answer.
func infraFailure(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57P02", "57P03", "53300": // admin/crash shutdown, cannot connect now, too many connections
			return true
		}
		return len(pe.Code) == 5 && pe.Code[:2] == "08" // connection exception
	}
	return pgConnError(err)
}

// retryingKey marks a context inside a retried call (see retry).
type retryingKey struct{}

// retry runs fn, the whole of a read transaction or a keyed write, again
// after a quick infrastructure failure, with backoff. A timed-out round
// trip is never retried, so a call that fails by timeout fails after one
// timeout; the call as a whole has no deadline of its own (a long check or
// a large batch may take longer than one statement may). keyedWrite allows
// retrying an EUNKNOWN commit (the key makes the repeat apply once). fn's
// context is marked so that it does not retry again inside.
func (r *pgResilience) retry(ctx context.Context, keyedWrite bool, fn func(ctx context.Context) error) error {
	parent := ctx
	ctx = context.WithValue(ctx, retryingKey{}, true)
	delay := r.initial
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if attempt >= r.attempts || !retryable(parent, err, keyedWrite) {
			return err
		}
		// Full jitter: a random wait in [delay/2, delay], so that many
		// clients that failed together do not come back together.
		wait := delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
		delay = min(time.Duration(float64(delay)*r.multiplier), r.maxDelay)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err // no time left for another attempt
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return err
		}
		r.retries.Add(1)
	}
}

// retryable says whether a failed attempt may be repeated.
func retryable(parent context.Context, err error, keyedWrite bool) bool {
	if parent.Err() != nil || errors.Is(err, ErrCircuitOpen) || errors.Is(err, errStoreTimeout) {
		return false
	}
	switch engram.ErrorCode(err) {
	case engram.EUNAVAILABLE:
	case engram.EUNKNOWN:
		if !keyedWrite {
			return false
		}
	default:
		return false
	}
	return infraFailure(err)
}

// retrying says whether ctx is inside a retried call already.
func retrying(ctx context.Context) bool { return ctx.Value(retryingKey{}) != nil }

// retryRead runs a read transaction under the store's retry policy (a
// no-op on SQLite and inside a retried call).
func (s *Store) retryRead(ctx context.Context, fn func(ctx context.Context) error) (handled bool, err error) {
	r := s.opts.res
	if r == nil || retrying(ctx) {
		return false, nil
	}
	return true, r.retry(ctx, false, fn)
}

// retryKeyedWrite runs a write that carries an idempotency key under the
// store's retry policy (a no-op on SQLite and inside a retried call).
func (s *Store) retryKeyedWrite(ctx context.Context, fn func(ctx context.Context) error) (handled bool, err error) {
	r := s.opts.res
	if r == nil || retrying(ctx) {
		return false, nil
	}
	return true, r.retry(ctx, true, fn)
}

// --- The driver, wrapped: every round trip through the breaker and the timeout.

// bad is an infrastructure failure on a read-only connection outside a
// transaction: database/sql (which tests errors.Is(err, driver.ErrBadConn))
// repeats the statement on another connection. Its text and chain are the
// original error's.
type bad struct{ err error }

func (b *bad) Error() string        { return b.err.Error() }
func (b *bad) Unwrap() error        { return b.err }
func (b *bad) Is(target error) bool { return target == driver.ErrBadConn }

// retryOnAnother marks err for database/sql to retry elsewhere when that is
// safe: the connection is a reader's (read-only), not in a transaction, and
// err was a quick infrastructure failure (not a timeout nor the breaker).
func (c *pgConn) retryOnAnother(err error) error {
	if err == nil || !c.reader || c.inTx || errors.Is(err, errStoreTimeout) || errors.Is(err, ErrCircuitOpen) ||
		errors.Is(err, driver.ErrBadConn) || !infraFailure(err) {
		return err
	}
	return &bad{err}
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	t, err := c.r.start(ctx)
	if err != nil {
		return nil, err
	}
	st, err := c.Conn.PrepareContext(t.ctx, query)
	t.cancel()
	if err = t.end(err); err != nil {
		return nil, c.retryOnAnother(err)
	}
	return &pgStmt{Stmt: st, c: c}, nil
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.exec(ctx, func(ctx context.Context) (driver.Result, error) { return c.Conn.ExecContext(ctx, query, args) })
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.query(ctx, func(ctx context.Context) (driver.Rows, error) { return c.Conn.QueryContext(ctx, query, args) })
}

func (c *pgConn) exec(ctx context.Context, fn func(ctx context.Context) (driver.Result, error)) (driver.Result, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	t, err := c.r.start(ctx)
	if err != nil {
		return nil, err
	}
	res, err := fn(t.ctx)
	t.cancel()
	if err = t.end(err); err != nil {
		return nil, c.retryOnAnother(err)
	}
	return res, nil
}

func (c *pgConn) query(ctx context.Context, fn func(ctx context.Context) (driver.Rows, error)) (driver.Rows, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	t, err := c.r.start(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := fn(t.ctx)
	if err = t.end(err); err != nil {
		t.cancel()
		return nil, c.retryOnAnother(err)
	}
	return &pgRows{Rows: rows, t: t}, nil
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	t, err := c.r.start(ctx)
	if err != nil {
		return nil, err
	}
	t.cancel() // the transaction's context is its own, below
	// pgx keeps BEGIN's context for COMMIT and ROLLBACK: a context only
	// the store's timers end, armed around those three round trips.
	txCtx, txCancel := context.WithCancelCause(ctx)
	t.ctx = txCtx
	timer := time.AfterFunc(c.r.timeoutOr(), func() { txCancel(errStoreTimeout) })
	tx, err := c.Conn.BeginTx(txCtx, opts)
	if !timer.Stop() && err == nil {
		// The timeout fired as BEGIN returned: the transaction's context
		// is gone, so COMMIT could not be sent. Drop the connection.
		err = errStoreTimeout
		c.broken = c.r.timeoutErr(err)
	}
	if err = t.end(err); err != nil {
		txCancel(nil)
		return nil, c.retryOnAnother(err)
	}
	c.inTx = true
	return &pgTx{Tx: tx, c: c, parent: ctx, ctx: txCtx, cancel: txCancel}, nil
}

// timeoutOr is the round-trip timeout, or (none configured) a timer that
// never fires in practice.
func (r *pgResilience) timeoutOr() time.Duration {
	if r.timeout > 0 {
		return r.timeout
	}
	return 1<<63 - 1
}

func (c *pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *pgConn) Ping(ctx context.Context) error {
	if c.broken != nil {
		return driver.ErrBadConn
	}
	t, err := c.r.start(ctx)
	if err != nil {
		return err
	}
	err = c.Conn.Ping(t.ctx)
	t.cancel()
	return t.end(err)
}

// ResetSession runs when database/sql takes the connection from the pool:
// pgx pings a connection idle for over a second. A ping the timeout ended
// leaves the connection marked broken and the call fails with that
// timeout, instead of database/sql trying the next pooled connection, and
// the next, each for a whole timeout. A ping that failed at once (a dead
// connection, e.g. after a server restart) discards it as usual.
func (c *pgConn) ResetSession(ctx context.Context) error {
	if c.broken != nil {
		return driver.ErrBadConn
	}
	t, ok := c.r.brk.Allow()
	if !ok {
		return nil // the statement that follows fails at once
	}
	tr := &trip{r: c.r, parent: ctx, ctx: ctx, cancel: func() {}, tok: t}
	if c.r.timeout > 0 {
		tr.ctx, tr.cancel = context.WithTimeoutCause(ctx, c.r.timeout, errStoreTimeout)
	}
	err := c.Conn.ResetSession(tr.ctx)
	tr.cancel()
	if err != nil && ourTimeout(tr.ctx) {
		c.r.timeouts.Add(1)
		c.broken = c.r.timeoutErr(err)
		c.r.brk.Done(t, breaker.Failure, c.broken)
		return nil
	}
	return tr.end(err)
}

// IsValid reports a connection marked broken as unusable, so database/sql
// closes it instead of pooling it.
func (c *pgConn) IsValid() bool { return c.broken == nil && !c.Conn.Conn().IsClosed() }

// pgStmt is a prepared statement whose executions go through the breaker
// and the timeout.
type pgStmt struct {
	driver.Stmt
	c *pgConn
}

func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.exec(ctx, func(ctx context.Context) (driver.Result, error) {
		return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	})
}

func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.query(ctx, func(ctx context.Context) (driver.Rows, error) {
		return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	})
}

// pgRows keeps its query's timeout until closed, and reports a read the
// timeout ended as EUNAVAILABLE.
type pgRows struct {
	driver.Rows
	t *trip
}

func (r *pgRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err != nil && err != io.EOF && ourTimeout(r.t.ctx) {
		r.t.r.timeouts.Add(1)
		return r.t.r.timeoutErr(err)
	}
	return err
}

func (r *pgRows) Close() error {
	err := r.Rows.Close()
	r.t.cancel()
	return err
}

// pgTx bounds COMMIT and ROLLBACK by the timeout.
type pgTx struct {
	driver.Tx
	c      *pgConn
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (t *pgTx) Commit() error   { return t.end(t.Tx.Commit, true) }
func (t *pgTx) Rollback() error { return t.end(t.Tx.Rollback, false) }

func (t *pgTx) end(fn func() error, commit bool) error {
	t.c.inTx = false
	defer t.cancel(nil)
	timer := time.AfterFunc(t.c.r.timeoutOr(), func() { t.cancel(errStoreTimeout) })
	err := fn()
	timer.Stop()
	out, err := t.c.r.classify(t.parent, t.ctx, err)
	if commit || out != breaker.Success {
		// A commit counts; a rollback only when it failed (it is cleanup).
		t.c.r.brk.Done(breaker.Token{}, out, err)
	}
	return err
}

// ResilienceStats is a PostgreSQL store's breaker, retry and pool state,
// for `engram status` and metrics.
type ResilienceStats struct {
	// Breaker is the circuit breaker's state: closed, open or half-open
	// ("disabled" without one).
	Breaker string `json:"breaker"`
	// BreakerName is what its errors and log lines call it.
	BreakerName string `json:"breaker_name,omitempty"`
	// BreakerFailures counts consecutive failed round trips while closed.
	BreakerFailures int `json:"breaker_failures"`
	// BreakerOpens counts the times it opened; BreakerRejected the calls it
	// failed at once.
	BreakerOpens    int64 `json:"breaker_opens"`
	BreakerRejected int64 `json:"breaker_rejected"`
	// LastFailure is when a round trip last failed and LastError its
	// error (no credentials).
	LastFailure time.Time `json:"last_failure,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Retries counts repeated attempts of reads and keyed writes;
	// Timeouts round trips the client-side statement timeout ended.
	Retries  int64 `json:"retries"`
	Timeouts int64 `json:"timeouts"`
	// Pool is the writer's and the readers' connection pools.
	Pool PoolInfo `json:"pool"`
}

// Resilience reports a PostgreSQL store's breaker, retries and pools; nil
// on SQLite.
func (s *Store) Resilience() *ResilienceStats {
	r := s.opts.res
	if r == nil {
		return nil
	}
	st := &ResilienceStats{Breaker: "disabled", Retries: r.retries.Load(), Timeouts: r.timeouts.Load(),
		Pool: PoolInfo{Writer: poolStats(s.w.Stats()), Readers: poolStats(s.r.Stats())}}
	if r.brk != nil {
		snap := r.brk.Snapshot()
		st.Breaker, st.BreakerName = snap.State.String(), r.brk.Name()
		st.BreakerFailures, st.BreakerOpens, st.BreakerRejected = snap.Failures, snap.Opens, snap.Rejected
		st.LastFailure, st.LastError = snap.LastFailure, redact(snap.LastError, r.password, "")
	}
	return st
}
