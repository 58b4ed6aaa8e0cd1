package main

import (
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/engramhq/engram/sqlstore"
)

// durableFlags choose the durable store: by default the SQLite file in the
// data directory; --durable (ENGRAM_DURABLE) names another SQLite file
// (sqlite:PATH) or a PostgreSQL database (postgres://...).
type durableFlags struct {
	url              string
	insecure         bool
	maxConns         int
	connMaxLifetime  time.Duration
	connMaxIdleTime  time.Duration
	statementTimeout time.Duration
	minConns         int
	maxIdleConns     int
	// The PostgreSQL store's circuit breaker and retries.
	breakerFailures      int
	breakerSuccesses     int
	breakerOpenFor       time.Duration
	breakerHalfOpenCalls int
	retryAttempts        int
	retryInitial         time.Duration
	retryMax             time.Duration
	retryMultiplier      float64
}

func (d *durableFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.url, "durable", "", "durable store: sqlite:PATH or postgres://user:password@host:port/db (default: engram.db in the data directory)")
	fs.BoolVar(&d.insecure, "postgres-insecure-plaintext", false, "allow a PostgreSQL host that is not loopback without verified TLS")
	fs.IntVar(&d.maxConns, "postgres-max-conns", 0, "PostgreSQL reader connections (0: 4)")
	fs.DurationVar(&d.connMaxLifetime, "postgres-conn-max-lifetime", 0, "close PostgreSQL connections older than this (0: 30m; negative: never)")
	fs.DurationVar(&d.connMaxIdleTime, "postgres-conn-max-idle-time", 0, "close PostgreSQL reader connections idle longer than this (0: 5m; negative: never)")
	fs.DurationVar(&d.statementTimeout, "postgres-statement-timeout", 0, "bound on every PostgreSQL statement, on the server and on the client (0: 30s; negative: none)")
	fs.IntVar(&d.minConns, "postgres-min-conns", 0, "PostgreSQL reader connections opened at startup and kept open (0: none)")
	fs.IntVar(&d.maxIdleConns, "postgres-max-idle-conns", 0, "most idle PostgreSQL reader connections kept (0: --postgres-max-conns)")
	fs.IntVar(&d.breakerFailures, "postgres-breaker-failures", 0, "consecutive failed PostgreSQL round trips that open the circuit breaker (0: 5; negative: no breaker)")
	fs.IntVar(&d.breakerSuccesses, "postgres-breaker-successes", 0, "successful probes that close the breaker again (0: 2)")
	fs.DurationVar(&d.breakerOpenFor, "postgres-breaker-open-for", 0, "how long the open breaker fails calls at once before probing (0: 30s)")
	fs.IntVar(&d.breakerHalfOpenCalls, "postgres-breaker-half-open-calls", 0, "probes let through at once while half-open (0: 3)")
	fs.IntVar(&d.retryAttempts, "postgres-retry-attempts", 0, "attempts in all for a PostgreSQL read or a write with an idempotency key (0: 3; 1: no retries)")
	fs.DurationVar(&d.retryInitial, "postgres-retry-initial", 0, "first retry backoff, jittered (0: 100ms)")
	fs.DurationVar(&d.retryMax, "postgres-retry-max", 0, "largest retry backoff (0: 5s)")
	fs.Float64Var(&d.retryMultiplier, "postgres-retry-multiplier", 0, "growth of the backoff per retry (0: 2)")
}

// check rejects a --durable the store could not open, as a usage error.
// The value may hold a password, so the message never repeats it.
func (d *durableFlags) check() error {
	u := d.url
	switch {
	case u == "", strings.HasPrefix(u, "sqlite:"), sqlstore.IsPostgresURL(u):
	default:
		scheme, _, found := strings.Cut(u, ":")
		if !found {
			scheme = "(none)"
		}
		return usagef("--durable: scheme %q is not one of sqlite:PATH, postgres://, postgresql://", scheme)
	}
	if u == "sqlite:" {
		return usagef("--durable: sqlite: needs a path (sqlite:PATH)")
	}
	if d.maxConns < 0 {
		return usagef("--postgres-max-conns %d: must not be negative", d.maxConns)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"postgres-min-conns", d.minConns}, {"postgres-max-idle-conns", d.maxIdleConns}, {"postgres-breaker-successes", d.breakerSuccesses},
		{"postgres-breaker-half-open-calls", d.breakerHalfOpenCalls}, {"postgres-retry-attempts", d.retryAttempts}} {
		if f.v < 0 {
			return usagef("--%s %d: must not be negative", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"postgres-breaker-open-for", d.breakerOpenFor}, {"postgres-retry-initial", d.retryInitial}, {"postgres-retry-max", d.retryMax}} {
		if f.v < 0 {
			return usagef("--%s %v: must not be negative", f.name, f.v)
		}
	}
	if d.retryMultiplier != 0 && d.retryMultiplier < 1 {
		return usagef("--postgres-retry-multiplier %g: must be at least 1", d.retryMultiplier)
	}
	return nil
}

// apply points o at the store --durable names.
func (d *durableFlags) apply(o *sqlstore.Options) {
	switch {
	case sqlstore.IsPostgresURL(d.url):
		o.URL, o.Path = d.url, ""
		o.MaxReaders = d.maxConns
		o.Postgres = sqlstore.PostgresOptions{
			InsecurePlaintext: d.insecure,
			ConnMaxLifetime:   d.connMaxLifetime,
			ConnMaxIdleTime:   d.connMaxIdleTime,
			StatementTimeout:  d.statementTimeout,
			MinConns:          d.minConns,
			MaxIdleReaders:    d.maxIdleConns,

			BreakerFailures:      d.breakerFailures,
			BreakerSuccesses:     d.breakerSuccesses,
			BreakerOpenFor:       d.breakerOpenFor,
			BreakerHalfOpenCalls: d.breakerHalfOpenCalls,
			RetryAttempts:        d.retryAttempts,
			RetryInitial:         d.retryInitial,
			RetryMax:             d.retryMax,
			RetryMultiplier:      d.retryMultiplier,
		}
	case strings.HasPrefix(d.url, "sqlite:"):
		o.Path = strings.TrimPrefix(strings.TrimPrefix(d.url, "sqlite:"), "//")
	}
}
