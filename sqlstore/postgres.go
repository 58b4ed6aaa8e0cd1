package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
)

// PostgreSQL. The same queries as on SQLite run through database/sql with
// pgx's driver; this file holds what differs:
//
//   - Writers: every write transaction starts by taking one transaction-level
//     advisory lock (pgWriteLock and the schema) and holds it until its
//     commit, on every node. Writes are serialised across all engram processes sharing the
//     database, as SQLite's write lock serialises them on one file; that is
//     what keeps the change feed gap-free (a seq is handed out only while
//     every lower seq has committed or rolled back; PostgreSQL makes a commit
//     visible before it releases the transaction's locks) and what makes the
//     read-then-write steps of a transaction (step counters, search rowids)
//     safe under READ COMMITTED.
//   - Readers run REPEATABLE READ read-only transactions: one snapshot per
//     read, as on SQLite.
//   - Search: each namespace's search table holds a generated tsvector
//     column with a GIN index; ranking is ts_rank, which scores a row from
//     that row and the query alone (no corpus statistics), so one
//     namespace's scores cannot depend on another's data.

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// pgWriteLock is the first half of the advisory lock every write
// transaction holds ("engr" as a big-endian integer); the second is the hash
// of the schema engram's tables are in, so stores in different schemas of
// one database do not wait for each other (a hash collision only makes them
// wait, it never lets two writers of one schema run at once).
const pgWriteLock = 0x656e6772

// pgTSConfig is the text search configuration of every search table: English
// stemming, as SQLite's porter tokenizer does.
const pgTSConfig = "english"

// PostgresOptions are the settings only a PostgreSQL store uses. The zero
// value of every field means its default.
type PostgresOptions struct {
	// MaxIdleReaders bounds the idle reader connections kept; 0: MaxReaders.
	MaxIdleReaders int
	// ConnMaxLifetime closes connections older than it (so a pool follows a
	// fail-over or a DNS change); 0: DefaultConnMaxLifetime; negative: never.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes reader connections idle longer than it; 0:
	// DefaultConnMaxIdleTime; negative: never.
	ConnMaxIdleTime time.Duration
	// StatementTimeout bounds every statement on the server
	// (statement_timeout); 0: DefaultStatementTimeout; negative: none.
	StatementTimeout time.Duration
	// InsecurePlaintext allows a connection without verified TLS to a host
	// that is not a loopback address. Without it such a URL is refused.
	InsecurePlaintext bool

	// MinConns reader connections are opened at startup and kept open
	// (topped up every MinConnsCheck); 0: none (connections open on
	// demand). At most MaxReaders.
	MinConns int
	// MinConnsCheck is how often the pool is topped up to MinConns; 0:
	// DefaultMinConnsCheck.
	MinConnsCheck time.Duration

	// The circuit breaker and retries (see resilience.go). StatementTimeout
	// bounds every round trip on the client too.
	//
	// BreakerFailures consecutive failed round trips open the breaker; 0:
	// DefaultBreakerFailures; negative: no breaker.
	BreakerFailures int
	// BreakerSuccesses successful probes close it; 0: DefaultBreakerSuccesses.
	BreakerSuccesses int
	// BreakerOpenFor is how long it stays open before probing; 0:
	// DefaultBreakerOpenFor.
	BreakerOpenFor time.Duration
	// BreakerHalfOpenCalls is how many probes may be in flight at once; 0:
	// DefaultBreakerHalfOpenCalls.
	BreakerHalfOpenCalls int
	// RetryAttempts is how many times a read or a keyed write is tried in
	// all; 0: DefaultRetryAttempts; 1: no retries.
	RetryAttempts int
	// RetryInitial is the first backoff, RetryMax the largest, and each is
	// RetryMultiplier times the one before; 0: DefaultRetryInitial,
	// DefaultRetryMax, DefaultRetryMultiplier.
	RetryInitial, RetryMax time.Duration
	RetryMultiplier        float64
	// Clock drives the breaker's open period; nil: the wall clock.
	Clock clock.Clock
	// Logger receives the breaker's state changes; nil: none.
	Logger *slog.Logger
}

// Defaults for PostgresOptions.
const (
	DefaultConnMaxLifetime  = 30 * time.Minute
	DefaultConnMaxIdleTime  = 5 * time.Minute
	DefaultStatementTimeout = 30 * time.Second
)

func (p *PostgresOptions) validate(o *Options) error {
	switch {
	case o.MaxReaders < 1:
		return engram.Invalid("max_readers", "must be at least 1")
	case p.MaxIdleReaders < 0:
		return engram.Invalid("max_idle_readers", "must not be negative")
	}
	if err := p.validateResilience(); err != nil {
		return err
	}
	_, err := pgConfig(o.URL, *p)
	return err
}

func (p *PostgresOptions) applyPool(db *sql.DB) {
	if p.MaxIdleReaders > 0 {
		db.SetMaxIdleConns(p.MaxIdleReaders)
	}
	lifetime, idle := p.ConnMaxLifetime, p.ConnMaxIdleTime
	if lifetime == 0 {
		lifetime = DefaultConnMaxLifetime
	}
	if idle == 0 {
		idle = DefaultConnMaxIdleTime
	}
	db.SetConnMaxLifetime(max(lifetime, 0))
	db.SetConnMaxIdleTime(max(idle, 0))
}

// IsPostgresURL says whether u names a PostgreSQL database.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// OpenURL opens the store a URL names: "sqlite:PATH" (or a plain path) for
// a SQLite file, "postgres://..." or "postgresql://..." for a PostgreSQL
// database. opts supplies every other setting; its Path and URL are
// replaced.
//
// A PostgreSQL host that is not a loopback address must use verified TLS:
// without an sslmode the URL gets sslmode=verify-full, and a mode that can
// fall back to plaintext (disable, allow, prefer) is refused unless
// opts.Postgres.InsecurePlaintext is set. Errors never show the password.
func OpenURL(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	switch {
	case IsPostgresURL(rawURL):
		opts.URL, opts.Path = rawURL, ""
	case strings.HasPrefix(rawURL, "sqlite:"):
		opts.URL, opts.Path = "", strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
	case strings.Contains(rawURL, "://"):
		scheme, _, _ := strings.Cut(rawURL, "://")
		return nil, engram.Invalid("durable", "scheme %q is not one of sqlite:PATH, postgres://", scheme)
	default:
		opts.URL, opts.Path = "", rawURL
	}
	return Open(ctx, opts)
}

var postgresDialect = &dialect{
	name:       "postgres",
	driver:     "pgx",
	migrations: mustSub(postgresMigrations, "migrations/postgres"),
	migrationSteps: map[string]func(t *tx) error{
		"0002_episode_documents": episodeDocuments,
	},
	rebind:   pgRebind,
	classify: pgClassify,
	ftsSearch: func(table, innerKinds, _ string) string {
		// kind is a plain column here, so the filter goes before ranking
		// (ftsKindLookup is false: arguments are the query, inner's kinds
		// and the limit). ts_headline, which reparses the body, runs on the
		// top rows only.
		return `SELECT top.kind, top.ref_id, top.step_number, top.score,
			ts_headline('` + pgTSConfig + `', top.body, top.q, 'StartSel=[, StopSel=], MaxWords=16, MinWords=4, MaxFragments=1, FragmentDelimiter=...')
		   FROM (SELECT f.kind, f.ref_id, f.step_number, f.body, f.rowid, tq.q, ts_rank(f.tsv, tq.q) AS score
		           FROM (SELECT to_tsquery('` + pgTSConfig + `', ?) AS q) AS tq, ` + table + ` AS f
		          WHERE f.tsv @@ tq.q` + innerKinds + `
		          ORDER BY score DESC, f.rowid LIMIT ?) AS top
		  ORDER BY top.score DESC, top.rowid`
	},
	ftsCreate: func(table string) string {
		return `CREATE TABLE IF NOT EXISTS ` + table + ` (
			rowid BIGINT PRIMARY KEY, body TEXT NOT NULL, kind TEXT NOT NULL, ref_id BYTEA NOT NULL, step_number INTEGER NOT NULL,
			tsv tsvector GENERATED ALWAYS AS (to_tsvector('` + pgTSConfig + `', body)) STORED);
			CREATE INDEX IF NOT EXISTS ` + table + `_tsv ON ` + table + ` USING GIN (tsv)`
	},
	ftsQuery: func(words []string, any bool) string {
		// Words are letters and digits only (searchWords), so quoting them
		// as lexemes leaves no query syntax; to_tsquery stems each.
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = `'` + strings.ReplaceAll(w, `'`, `''`) + `'`
		}
		if any {
			return strings.Join(quoted, " | ")
		}
		return strings.Join(quoted, " & ")
	},
	openDB:      pgOpenDB,
	readTx:      &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
	lockWrites:  `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(pgWriteLock, 10) + `, hashtext(current_schema()))`,
	greatest:    "GREATEST",
	seqHigh:     `GREATEST((SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT pruned_through FROM feed_state WHERE id = 1))`,
	tableExists: `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?`,
	tableList:   `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'search\_fts\_%'`,
	durability: func(ctx context.Context, s *Store) (string, error) {
		var fsync, commit string
		if err := s.w.QueryRowContext(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &commit); err != nil {
			return "", s.wrap("read durability settings", err)
		}
		return "fsync=" + fsync + " synchronous_commit=" + commit, nil
	},
	size: func(ctx context.Context, s *Store) int64 {
		var n int64
		if err := s.r.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
			return 0
		}
		return n
	},
	commitFailed: pgCommitFailed,
	textOut:      pgUnescape,
	notify:       `SELECT pg_notify('` + NotifyChannel + `', '')`,
	duplicateKey: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505"
	},
}

// NotifyChannel is the PostgreSQL notification channel every commit that
// appended to the change feed notifies (delivered only if it commits).
const NotifyChannel = "engram_changes"

// Listen wakes other nodes: it returns a channel that receives a value
// soon after any process commits a write to the database, so a reader can
// call Changes at once instead of at its next poll. Wake-ups are
// coalesced (the channel holds at most one) and carry no data: Changes says
// what changed. The channel is closed when ctx ends or the listening
// connection fails; polling stays the fallback, and Listen may be called
// again. On SQLite it returns a nil channel (nothing to listen to; poll).
func (s *Store) Listen(ctx context.Context) (<-chan struct{}, error) {
	if s.pg == nil {
		return nil, nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.pg.Copy())
	if err != nil {
		return nil, s.wrap("listen for changes", redactErr(err, s.pg.Password))
	}
	if _, err := conn.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, s.wrap("listen for changes", err)
	}
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		defer conn.Close(context.Background())
		for {
			if _, err := conn.WaitForNotification(ctx); err != nil {
				return // ctx ended or the connection failed
			}
			select {
			case ch <- struct{}{}:
			default: // a wake-up is pending already
			}
		}
	}()
	return ch, nil
}

// openPostgres opens the store on opts.URL.
func openPostgres(ctx context.Context, opts Options) (*Store, error) {
	cfg, err := pgConfig(opts.URL, opts.Postgres)
	if err != nil {
		return nil, err
	}
	opts.Path = pgName(cfg)
	opts.res = newPGResilience(opts.Path, cfg.Password, opts.Postgres)
	s, err := open(ctx, opts, postgresDialect)
	if err != nil {
		return nil, redactErr(err, cfg.Password)
	}
	s.pg = cfg
	return s, nil
}

// pgName names a database in messages: host:port/database, never the
// credentials.
func pgName(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		host = "unix:" + host
	}
	return fmt.Sprintf("postgres://%s/%s", net.JoinHostPort(host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

var urlPassword = regexp.MustCompile(`://[^/@]*?:([^@/]*)@`)

// pgConfig parses and checks a PostgreSQL URL. Errors name the host and
// database but never the password.
func pgConfig(rawURL string, p PostgresOptions) (*pgx.ConnConfig, error) {
	password := ""
	if m := urlPassword.FindStringSubmatch(rawURL); m != nil {
		password = m[1]
		if dec, err := url.PathUnescape(password); err == nil {
			password = dec
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &engram.Error{Code: engram.EINVALID, Field: "durable", Message: redact("not a valid PostgreSQL URL: "+errText(err), password, rawURL)}
	}
	if pw, ok := u.User.Password(); ok {
		password = pw
	}
	q := u.Query()
	if q.Get("sslmode") == "" && os.Getenv("PGSSLMODE") == "" && !loopback(u.Hostname()) {
		q.Set("sslmode", "verify-full")
		u.RawQuery = q.Encode()
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, &engram.Error{Code: engram.EINVALID, Field: "durable", Message: redact("not a usable PostgreSQL URL: "+errText(err), password, rawURL)}
	}
	if !p.InsecurePlaintext {
		hosts := []*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}
		hosts = append(hosts, cfg.Fallbacks...)
		for _, h := range hosts {
			if loopback(h.Host) {
				continue
			}
			if h.TLSConfig == nil || h.TLSConfig.InsecureSkipVerify && h.TLSConfig.VerifyPeerCertificate == nil {
				return nil, &engram.Error{Code: engram.EINVALID, Field: "durable", Message: fmt.Sprintf(
					"PostgreSQL host %s is not a loopback address, so its connection must use TLS with a verified certificate "+
						"(sslmode=verify-full, the default, or verify-ca); this URL allows plaintext or an unverified server. "+
						"Set PostgresOptions.InsecurePlaintext (engram: --postgres-insecure-plaintext) to allow it anyway", h.Host)}
			}
		}
	}
	if p.StatementTimeout >= 0 {
		timeout := p.StatementTimeout
		if timeout == 0 {
			timeout = DefaultStatementTimeout
		}
		if _, set := cfg.RuntimeParams["statement_timeout"]; !set {
			cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
		}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "engram"
	}
	return cfg, nil
}

// loopback says whether host is this machine: a loopback address,
// "localhost" or a Unix socket directory.
func loopback(host string) bool {
	if host == "" || host == "localhost" || strings.HasPrefix(host, "/") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// redact removes the password and the URL itself from a message.
func redact(msg, password, rawURL string) string {
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, "<url>")
	}
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
		if esc := url.QueryEscape(password); esc != password {
			msg = strings.ReplaceAll(msg, esc, "xxxxx")
		}
		if esc := url.PathEscape(password); esc != password {
			msg = strings.ReplaceAll(msg, esc, "xxxxx")
		}
	}
	return msg
}

// redactedError is an error whose text has the password removed; errors.Is
// and errors.As still see the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with password removed from its text.
func redactErr(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redactedError{msg: redact(err.Error(), password, ""), err: err}
}

// pgOpenDB opens a pool on opts.URL through pgx's database/sql driver.
func pgOpenDB(o Options, reader bool) (*sql.DB, error) {
	cfg, err := pgConfig(o.URL, o.Postgres)
	if err != nil {
		return nil, err
	}
	if reader || o.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	r := o.res
	if r == nil { // opened without openPostgres (tests of the dialect)
		r = newPGResilience(pgName(cfg), cfg.Password, o.Postgres)
	}
	var copts []stdlib.OptionOpenDB
	if pgAlwaysPing {
		copts = append(copts, stdlib.OptionShouldPing(func(context.Context, stdlib.ShouldPingParams) bool { return true }))
	}
	return sql.OpenDB(&pgConnector{Connector: stdlib.GetConnector(*cfg, copts...), r: r, reader: reader || o.ReadOnly}), nil
}

// pgAlwaysPing, set by tests before opening stores, makes the pool ping a
// connection each time it is taken (pgx pings one idle for over a second),
// so that the ping's failures can be tested without waiting.
var pgAlwaysPing bool

// pgConnector hands out connections that escape text arguments (see
// pgEscape) and make every round trip through the store's breaker and
// timeout (see resilience.go).
type pgConnector struct {
	driver.Connector
	r      *pgResilience
	reader bool // its connections are read-only
}

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	t, err := c.r.start(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := c.Connector.Connect(t.ctx)
	t.cancel()
	if err = t.end(err); err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlstore: pgx returned a %T connection", conn)
	}
	return &pgConn{Conn: sc, r: c.r, reader: c.reader}, nil
}

// pgConn is pgx's connection with text arguments escaped and its round
// trips guarded. database/sql uses a connection from one goroutine at a
// time, so its fields need no lock.
type pgConn struct {
	*stdlib.Conn
	r      *pgResilience
	reader bool  // read-only: a statement outside a transaction may be repeated
	inTx   bool  // a transaction is open
	broken error // set when a liveness ping timed out: every later use fails with it
}

// CheckNamedValue rewrites every string argument with pgEscape.
// database/sql calls it for each argument of every statement.
func (c *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if s, ok := nv.Value.(string); ok {
		nv.Value = pgEscape(s)
	}
	return nil
}

// pgEscape makes any Go string storable in a PostgreSQL text column, which
// cannot hold a NUL byte: \x01 becomes \x01\x01 and NUL becomes \x01\x02.
// The mapping is one-to-one, so equality filters keep working; documents
// are JSON, which escapes both bytes, and are unaffected. Strings without
// either byte are unchanged.
func pgEscape(s string) string {
	if !strings.ContainsAny(s, "\x00\x01") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\x01", "\x01\x01"), "\x00", "\x01\x02")
}

// pgUnescape reverses pgEscape.
func pgUnescape(s string) string {
	if !strings.Contains(s, "\x01") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 1 && i+1 < len(s) {
			i++
			if s[i] == 2 {
				b.WriteByte(0)
			} else {
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pgRebind turns ? into $1, $2, ... and ?N into $N. The package's queries
// hold no ? inside string literals.
func pgRebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		if j > i+1 {
			b.WriteString("$" + q[i+1:j])
			i = j - 1
			continue
		}
		n++
		b.WriteString("$" + strconv.Itoa(n))
	}
	return b.String()
}

// pgClassify maps PostgreSQL's SQLSTATEs and pgx's connection errors to
// engram's codes. where names the database (no credentials).
func pgClassify(err error, where string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		code := pe.Code
		switch {
		case strings.HasPrefix(code, "23"):
			return &engram.Error{Code: engram.ECONFLICT, Message: "constraint violated", Err: err}
		case code == "53100":
			return &engram.Error{Code: engram.ENOSPACE, Message: fmt.Sprintf(
				"the disk of PostgreSQL database %s is full; reads keep working, writes resume once space is freed", where), Err: err}
		case code == "28P01" || code == "28000":
			return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf(
				"PostgreSQL database %s refused the credentials (wrong user or password)", where), Err: err}
		case code == "3D000":
			return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("PostgreSQL database %s does not exist", where), Err: err}
		case code == "XX001" || code == "XX002":
			return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("PostgreSQL database %s reports damaged data", where), Err: err}
		case code == "54000" || code == "22001" || code == "54001":
			return &engram.Error{Code: engram.ETOOLARGE, Message: "value too large for the database", Err: err}
		case code == "25006":
			return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("PostgreSQL database %s is read-only here", where), Err: err}
		case code == "57014":
			return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("a statement on PostgreSQL database %s was cancelled (statement timeout)", where), Err: err}
		case strings.HasPrefix(code, "40"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "55"),
			strings.HasPrefix(code, "57"), strings.HasPrefix(code, "08"), strings.HasPrefix(code, "58"):
			return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("PostgreSQL database %s unavailable", where), Err: err}
		}
		return err
	}
	if pgConnError(err) {
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("cannot reach PostgreSQL database %s", where), Err: err}
	}
	return err
}

// pgConnError says whether err is a failure to connect or a lost connection
// rather than an answer from the server.
func pgConnError(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF") || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// pgCommitFailed classifies a failed COMMIT. An error the server gives as
// COMMIT's answer (a deferred constraint, a serialisation failure) means it
// rolled back. A connection lost while the commit was on its way, or the
// server shutting the session down (class 57: it may have committed locally
// first, e.g. while waiting for a synchronous standby), means nobody knows
// whether it committed.
func pgCommitFailed(err error, where string) error {
	var pe *pgconn.PgError
	if errors.Is(err, sql.ErrTxDone) {
		return err
	}
	if errors.As(err, &pe) && !strings.HasPrefix(pe.Code, "57") && !strings.HasPrefix(pe.Code, "08") {
		return err
	}
	return &engram.Error{Code: engram.EUNKNOWN, Message: fmt.Sprintf(
		"outcome unknown: the connection to PostgreSQL database %s failed during the commit; retry with the same idempotency key", where), Err: err}
}
