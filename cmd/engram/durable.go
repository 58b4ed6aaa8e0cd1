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
}

func (d *durableFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.url, "durable", "", "durable store: sqlite:PATH or postgres://user:password@host:port/db (default: engram.db in the data directory)")
	fs.BoolVar(&d.insecure, "postgres-insecure-plaintext", false, "allow a PostgreSQL host that is not loopback without verified TLS")
	fs.IntVar(&d.maxConns, "postgres-max-conns", 0, "PostgreSQL reader connections (0: 4)")
	fs.DurationVar(&d.connMaxLifetime, "postgres-conn-max-lifetime", 0, "close PostgreSQL connections older than this (0: 30m; negative: never)")
	fs.DurationVar(&d.connMaxIdleTime, "postgres-conn-max-idle-time", 0, "close PostgreSQL reader connections idle longer than this (0: 5m; negative: never)")
	fs.DurationVar(&d.statementTimeout, "postgres-statement-timeout", 0, "server-side bound on every PostgreSQL statement (0: 30s; negative: none)")
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
		}
	case strings.HasPrefix(d.url, "sqlite:"):
		o.Path = strings.TrimPrefix(strings.TrimPrefix(d.url, "sqlite:"), "//")
	}
}
