package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/engramhq/engram/sqlstore"
)

// TestDurableResilienceFlags: the PostgreSQL pool, breaker and retry flags
// reach the store's options, and bad values are usage errors naming the flag.
func TestDurableResilienceFlags(t *testing.T) {
	var d durableFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	d.register(fs)
	err := fs.Parse([]string{"--durable", "postgres://u:p@127.0.0.1/db", "--postgres-max-conns", "8", "--postgres-min-conns", "2",
		"--postgres-max-idle-conns", "4", "--postgres-breaker-failures", "7", "--postgres-breaker-successes", "3",
		"--postgres-breaker-open-for", "45s", "--postgres-breaker-half-open-calls", "1", "--postgres-retry-attempts", "5",
		"--postgres-retry-initial", "50ms", "--postgres-retry-max", "2s", "--postgres-retry-multiplier", "1.5",
		"--postgres-statement-timeout", "10s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.check(); err != nil {
		t.Fatal(err)
	}
	var o sqlstore.Options
	d.apply(&o)
	want := sqlstore.PostgresOptions{MinConns: 2, MaxIdleReaders: 4, StatementTimeout: 10 * time.Second,
		BreakerFailures: 7, BreakerSuccesses: 3, BreakerOpenFor: 45 * time.Second, BreakerHalfOpenCalls: 1,
		RetryAttempts: 5, RetryInitial: 50 * time.Millisecond, RetryMax: 2 * time.Second, RetryMultiplier: 1.5}
	if o.MaxReaders != 8 || o.Postgres != want {
		t.Fatalf("options %+v (max readers %d), want %+v", o.Postgres, o.MaxReaders, want)
	}

	for _, bad := range [][]string{
		{"--postgres-min-conns", "-1"}, {"--postgres-retry-attempts", "-2"}, {"--postgres-breaker-open-for", "-1s"},
		{"--postgres-retry-multiplier", "0.5"},
	} {
		var d durableFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		d.register(fs)
		if err := fs.Parse(append([]string{"--durable", "postgres://127.0.0.1/db"}, bad...)); err != nil {
			t.Fatal(err)
		}
		err := d.check()
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v; want a usage error naming the flag", bad, err)
		}
	}
}
