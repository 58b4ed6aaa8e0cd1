package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/testenv"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// Fault tests of the PostgreSQL store: toxiproxy, in process, between the
// store and the test server. The store connects as a role whose password
// is a canary: no error and no log line may show it.

const canaryPassword = "Canary-Pg-Pw-7731"

var canaryRoles atomic.Int64

// canaryURL creates a role with the canary password that owns a new
// schema, and returns the URL (through hostport, when not empty) that logs
// in as it.
func canaryURL(t *testing.T, hostport string) string {
	t.Helper()
	base := sqlstore.PostgresURL(t)
	u, err := url.Parse(base)
	must(t, err)
	schema := u.Query().Get("search_path")
	role := fmt.Sprintf("engram_canary_%d_%d", os.Getpid(), canaryRoles.Add(1))
	admin, err := sql.Open("pgx", base)
	must(t, err)
	defer admin.Close()
	if _, err := admin.Exec(`CREATE ROLE ` + role + ` LOGIN PASSWORD '` + canaryPassword + `'`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`GRANT ALL ON SCHEMA ` + schema + ` TO ` + role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec(`DROP OWNED BY ` + role)
		db.Exec(`DROP ROLE ` + role)
	})
	u.User = url.UserPassword(role, canaryPassword)
	if hostport != "" {
		u.Host = hostport
	}
	return u.String()
}

// canary collects every error and log line a test saw, and checks at the
// end that none shows the password.
type canary struct {
	mu   sync.Mutex
	seen []string
	log  bytes.Buffer
}

func newCanary(t *testing.T) *canary {
	c := &canary{}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		lines := append(c.seen, strings.Split(c.log.String(), "\n")...)
		for _, l := range lines {
			if strings.Contains(l, canaryPassword) {
				t.Errorf("the password shows in: %s", l)
			}
		}
		if len(c.seen) == 0 {
			t.Error("the canary saw no error at all")
		}
	})
	return c
}

func (c *canary) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Write(p)
}

func (c *canary) note(err error) error {
	if err != nil {
		c.mu.Lock()
		c.seen = append(c.seen, err.Error(), fmt.Sprintf("%+v", err))
		c.mu.Unlock()
	}
	return err
}

func (c *canary) logger() *slog.Logger { return slog.New(slog.NewTextHandler(c, nil)) }

type pgProxy struct{ p *toxiproxy.Proxy }

func newPGProxy(t *testing.T) *pgProxy {
	t.Helper()
	u, err := url.Parse(sqlstore.PostgresServer(t))
	must(t, err)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", u.Host)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &pgProxy{p}
}

func (f *pgProxy) add(t *testing.T, name, typ, stream string, attrs map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if _, err := f.p.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		t.Fatalf("add toxic %s: %v", name, err)
	}
}

func (f *pgProxy) remove(t *testing.T, name string) {
	t.Helper()
	if err := f.p.Toxics.RemoveToxic(t.Context(), name); err != nil {
		t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// faultTimeout is the statement timeout of the fault tests: every failing
// call must end within it + 10%.
const faultTimeout = time.Second

const faultOpenFor = 30 * time.Second

type faultRig struct {
	s     *sqlstore.Store
	proxy *pgProxy
	clk   *clock.Manual
	c     *canary
}

// newFaultRig opens a store through a fresh proxy, as the canary role,
// with a 1 s statement timeout, a breaker opening at 3 failures whose open
// period runs on a manual clock, and short backoffs.
func newFaultRig(t *testing.T, tweak ...func(*sqlstore.Options)) *faultRig {
	t.Helper()
	proxy := newPGProxy(t)
	c := newCanary(t)
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := sqlstore.Options{URL: canaryURL(t, proxy.p.Listen), Postgres: sqlstore.PostgresOptions{
		StatementTimeout: faultTimeout, BreakerFailures: 3, BreakerOpenFor: faultOpenFor,
		RetryInitial: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond,
		Clock: clk, Logger: c.logger(),
	}}
	for _, f := range tweak {
		f(&opts)
	}
	// Checked after the store's Close, before the proxy stops (cleanups run
	// last-in first-out).
	leakOpts := append(pgToxiproxyFrames(), goleak.IgnoreCurrent())
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpts...) })
	s := openPostgres(t, opts)
	return &faultRig{s: s, proxy: proxy, clk: clk, c: c}
}

func pgToxiproxyFrames() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).write"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*Proxy).server"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*Proxy).freeBlocker"),
	}
}

// timed runs fn and fails the test if it took longer than the statement
// timeout + 10%, the bound a failing call promises.
func timed(t *testing.T, what string, fn func() error) error {
	t.Helper()
	start := time.Now()
	err := fn()
	if took, limit := time.Since(start), faultTimeout+faultTimeout/10; took > limit {
		t.Errorf("%s took %v; the bound is the statement timeout (%v) + 10%% = %v (err: %v)", what, took, faultTimeout, limit, err)
	}
	return err
}

func (r *faultRig) breaker(t *testing.T, want string) {
	t.Helper()
	if st := r.s.Resilience(); st.Breaker != want {
		t.Fatalf("breaker %s, want %s (%+v)", st.Breaker, want, st)
	}
}

// heal removes the toxic, lets the open period pass, and checks that reads
// and writes work again and the breaker closes.
func (r *faultRig) heal(t *testing.T, toxic string, ep *engram.Episode) {
	t.Helper()
	ctx := context.Background()
	r.proxy.remove(t, toxic)
	r.clk.Advance(faultOpenFor)
	for i := 0; i < 2; i++ { // success threshold 2: each call is at least one round trip
		got, err := r.s.GetEpisode(ctx, "default", ep.ID)
		must(t, r.c.note(err))
		if got.TaskDescription != ep.TaskDescription {
			t.Fatalf("after healing read %q, want %q", got.TaskDescription, ep.TaskDescription)
		}
	}
	r.breaker(t, "closed")
	must(t, r.s.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "after healing"}))
	page, err := r.s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
	must(t, err)
	if len(page.Episodes) < 2 {
		t.Fatalf("after healing %d episodes listed, want every one written", len(page.Episodes))
	}
}

func wantCircuitOpen(t *testing.T, what string, err error) {
	t.Helper()
	storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
	if !errors.Is(err, sqlstore.ErrCircuitOpen) || !strings.Contains(err.Error(), `circuit breaker "postgres postgres://127.0.0.1:`) {
		t.Fatalf("%s: %v; want the open breaker, named, failing it at once", what, err)
	}
}

func TestPostgresFaults(t *testing.T) {
	ctx := context.Background()
	sqlstore.PostgresServer(t) // started before the leak baseline: it outlives the test

	t.Run("LatencyUnderTheTimeoutIsTolerated", func(t *testing.T) {
		r := newFaultRig(t)
		ep := &engram.Episode{TaskDescription: "slow but fine"}
		must(t, r.s.CreateEpisode(ctx, "default", ep))
		r.proxy.add(t, "slow", "latency", "downstream", map[string]any{"latency": 100})
		got, err := r.s.GetEpisode(ctx, "default", ep.ID)
		must(t, err)
		storetest.Equal(t, "episode read through 100 ms latency", got.TaskDescription, ep.TaskDescription)
		_, err = r.s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
		must(t, err)
		r.breaker(t, "closed")
		if st := r.s.Resilience(); st.BreakerFailures != 0 || st.Timeouts != 0 {
			t.Fatalf("latency under the timeout counted as failures: %+v", st)
		}
		r.proxy.remove(t, "slow")
		// Over the timeout: the call fails at the timeout, as unavailable.
		r.proxy.add(t, "slower", "latency", "downstream", map[string]any{"latency": 3 * faultTimeout.Milliseconds()})
		err = timed(t, "a read through latency over the timeout", func() error {
			_, err := r.s.GetEpisode(ctx, "default", ep.ID)
			return r.c.note(err)
		})
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		if !strings.Contains(err.Error(), "did not answer within 1s") {
			t.Fatalf("read over the timeout: %v; want the statement timeout named", err)
		}
		if st := r.s.Resilience(); st.Timeouts == 0 || st.BreakerFailures == 0 {
			t.Fatalf("a timed-out read not counted: %+v", st)
		}
		r.heal(t, "slower", ep)
	})

	t.Run("BlackholeOpensTheBreakerAtItsThreshold", func(t *testing.T) {
		r := newFaultRig(t)
		ep := &engram.Episode{TaskDescription: "before the black hole"}
		must(t, r.s.CreateEpisode(ctx, "default", ep))
		_, err := r.s.GetEpisode(ctx, "default", ep.ID)
		must(t, err)
		r.proxy.add(t, "hole", "timeout", "upstream", map[string]any{"timeout": 0})
		for i := 1; i <= 3; i++ {
			// A single-statement read, then a read transaction (retried
			// whole, under a timeout of its own), then a single one again.
			err := timed(t, fmt.Sprintf("read %d into the black hole", i), func() error {
				if i == 2 {
					_, err := r.s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
					return r.c.note(err)
				}
				_, err := r.s.GetEpisode(ctx, "default", ep.ID)
				return r.c.note(err)
			})
			storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
			if errors.Is(err, sqlstore.ErrCircuitOpen) {
				t.Fatalf("read %d failed on the breaker before its threshold: %v", i, err)
			}
			want := "closed"
			if i == 3 {
				want = "open"
			}
			r.breaker(t, want)
		}
		// Open: reads and writes fail at once, without a round trip.
		before := r.s.Resilience().BreakerRejected
		_, err = r.s.GetEpisode(ctx, "default", ep.ID)
		wantCircuitOpen(t, "read with the breaker open", r.c.note(err))
		err = r.s.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "refused"})
		wantCircuitOpen(t, "write with the breaker open", r.c.note(err))
		if st := r.s.Resilience(); st.BreakerRejected <= before || st.BreakerOpens != 1 || st.Timeouts < 3 {
			t.Fatalf("stats with the breaker open: %+v", st)
		}
		r.heal(t, "hole", ep)
	})

	t.Run("StalledPingFailsAfterOneTimeout", func(t *testing.T) {
		// The pool pings every connection it hands out, and holds three
		// idle: a ping into the black hole must fail the call after one
		// timeout, not move on to the next connection for another.
		sqlstore.AlwaysPing(t)
		r := newFaultRig(t, func(o *sqlstore.Options) { o.MaxReaders, o.Postgres.MinConns = 3, 3 })
		ep := &engram.Episode{TaskDescription: "pinged"}
		must(t, r.s.CreateEpisode(ctx, "default", ep))
		if st := r.s.Resilience().Pool.Readers; st.Idle != 3 {
			t.Fatalf("%d idle readers, want 3", st.Idle)
		}
		r.proxy.add(t, "hole", "timeout", "upstream", map[string]any{"timeout": 0})
		err := timed(t, "a read whose ping stalls", func() error {
			_, err := r.s.GetEpisode(ctx, "default", ep.ID)
			return r.c.note(err)
		})
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		// timed has bounded the read by one timeout (+10%). The counts are
		// at least one each, not exactly: the pool's top-up loop may also
		// dial into the black hole while the read waits, and time out too.
		if st := r.s.Resilience(); st.Timeouts < 1 || st.BreakerFailures < 1 {
			t.Fatalf("one stalled ping: %d timeouts, %d failures; want at least 1 each (%+v)", st.Timeouts, st.BreakerFailures, st)
		}
		r.heal(t, "hole", ep)
	})

	t.Run("ResetPeerFailsFastRetriesThenOpens", func(t *testing.T) {
		r := newFaultRig(t)
		ep := &engram.Episode{TaskDescription: "before the resets"}
		must(t, r.s.CreateEpisode(ctx, "default", ep))
		r.proxy.add(t, "reset", "reset_peer", "upstream", map[string]any{"timeout": 0})
		err := timed(t, "a list through resets", func() error {
			_, err := r.s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
			return r.c.note(err)
		})
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		st := r.s.Resilience()
		if st.Retries == 0 || st.Timeouts != 0 {
			t.Fatalf("a read through resets: retries %d, timeouts %d; want retried, never timed out (%+v)", st.Retries, st.Timeouts, st)
		}
		r.breaker(t, "open") // three attempts, each a failed round trip at least
		// A write without an idempotency key is never retried.
		retries := st.Retries
		r.clk.Advance(faultOpenFor) // half-open: the write goes through as a probe and fails
		err = r.s.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "no key"})
		storetest.WantCode(t, r.c.note(err), engram.EUNAVAILABLE, "")
		if got := r.s.Resilience().Retries; got != retries {
			t.Fatalf("a write without a key was retried (%d retries, %d before)", got, retries)
		}
		r.breaker(t, "open")
		r.heal(t, "reset", ep)
	})
}

// TestPostgresKeyedWriteRetriedAfterLostCommit: the server ends the
// writer's session as it commits. A write with an idempotency key is
// retried by the store and applied once; one without a key is not retried
// and reports the unknown outcome.
func TestPostgresKeyedWriteRetriedAfterLostCommit(t *testing.T) {
	ctx := context.Background()
	url := sqlstore.PostgresURL(t)
	s := openPostgres(t, sqlstore.Options{URL: url, Postgres: sqlstore.PostgresOptions{RetryInitial: time.Millisecond}})
	admin, err := sql.Open("pgx", url)
	must(t, err)
	defer admin.Close()
	var kill atomic.Bool
	sqlstore.SetBeforeCommit(s, func() {
		if !kill.CompareAndSwap(true, false) {
			return
		}
		var n int
		err := admin.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND classid::bigint = 1701734258 AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295)`).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("terminate the writer's session: %d sessions, %v", n, err)
		}
	})
	kill.Store(true)
	ep := &engram.Episode{TaskDescription: "keyed"}
	must(t, s.CreateEpisode(engram.WithIdempotencyKey(ctx, "retried-commit"), "default", ep))
	if st := s.Resilience(); st.Retries != 1 {
		t.Fatalf("%d retries of the keyed write whose commit was lost, want 1", st.Retries)
	}
	// The retry writes the episode the first attempt filled in: the caller
	// gets its id and times, and the row is stored under that id (not under
	// the zero id of a record put back as the caller passed it).
	if ep.ID.IsZero() || ep.CreatedAt.IsZero() {
		t.Fatalf("after the retried create the caller's episode has id %v, created_at %v", ep.ID, ep.CreatedAt)
	}
	if _, err := s.GetEpisode(ctx, "default", engram.EpisodeID{}); engram.ErrorCode(err) != engram.ENOTFOUND {
		t.Fatalf("an episode is stored under the zero id: %v", err)
	}
	kill.Store(true)
	err = s.CreateEpisode(ctx, "default", &engram.Episode{TaskDescription: "no key"})
	storetest.WantCode(t, err, engram.EUNKNOWN, "")
	if st := s.Resilience(); st.Retries != 1 {
		t.Fatalf("the write without a key was retried: %d retries", st.Retries)
	}
	c, err := s.Counts(ctx, "default")
	must(t, err)
	if c.Episodes < 1 || c.Episodes > 2 {
		t.Fatalf("%d episodes; want the keyed one once, and the unknown one at most once", c.Episodes)
	}
	got, err := s.GetEpisode(ctx, "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "the keyed episode", got.TaskDescription, "keyed")
}

// TestPostgresCredentialsCheckedAtStartup: a wrong password, an unreachable
// host and a missing database each fail Open with their own message, and
// none shows the password.
func TestPostgresCredentialsCheckedAtStartup(t *testing.T) {
	ctx := context.Background()
	base, err := url.Parse(sqlstore.PostgresServer(t))
	must(t, err)
	c := newCanary(t)
	open := func(u *url.URL) error {
		t.Helper()
		s, err := sqlstore.OpenURL(ctx, u.String(), sqlstore.Options{Postgres: sqlstore.PostgresOptions{StatementTimeout: 5 * time.Second, Logger: c.logger()}})
		if err == nil {
			s.Close()
			t.Fatalf("opened %s", u.Redacted())
		}
		return c.note(err)
	}
	cases := []struct {
		name, want string
		u          func(u *url.URL)
	}{
		{"WrongPassword", "refused the credentials", func(u *url.URL) { u.User = url.UserPassword(u.User.Username(), canaryPassword) }},
		{"UnreachableHost", "cannot reach PostgreSQL database postgres://127.0.0.1:1/", func(u *url.URL) {
			u.Host = "127.0.0.1:1"
			u.User = url.UserPassword(u.User.Username(), canaryPassword)
		}},
		{"MissingDatabase", "does not exist", func(u *url.URL) { u.Path = "/engram_no_such_database" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := *base
			tc.u(&u)
			err := open(&u)
			storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v; want %q", err, tc.want)
			}
			for _, other := range cases {
				if other.name != tc.name && strings.Contains(err.Error(), other.want) {
					t.Fatalf("%v: reads like %s too", err, other.name)
				}
			}
		})
	}
}

// TestPostgresRestart: the server restarts under an open store (its own
// server: the shared one must stay up). Reads and keyed writes work at
// once after it is back: dead pooled connections are replaced, not
// reported.
func TestPostgresRestart(t *testing.T) {
	ctx := context.Background()
	root, err := filepath.Abs("..")
	must(t, err)
	// Not under t.TempDir: its parent is private to root, and the server
	// runs as postgres. pg-stop.sh removes it.
	dir, err := os.MkdirTemp("", "engram-pg-restart-")
	must(t, err)
	out, err := exec.Command(filepath.Join(root, "scripts", "pg-start.sh"), dir).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		exec.Command(filepath.Join(root, "scripts", "pg-stop.sh"), dir).Run()
		testenv.SkipOrFail(t, fmt.Sprintf("start a PostgreSQL of its own: %v %s", err, stderr))
	}
	t.Cleanup(func() { exec.Command(filepath.Join(root, "scripts", "pg-stop.sh"), dir).Run() })
	s := openPostgres(t, sqlstore.Options{URL: strings.TrimSpace(string(out)), MaxReaders: 3,
		Postgres: sqlstore.PostgresOptions{MinConns: 3, RetryInitial: 10 * time.Millisecond}})
	ep := &engram.Episode{TaskDescription: "survives a restart"}
	must(t, s.CreateEpisode(ctx, "default", ep))
	if st := s.Resilience(); st.Pool.Readers.Open < 3 {
		t.Fatalf("%d reader connections open, want MinConns 3", st.Pool.Readers.Open)
	}
	pgCtl := filepath.Join(filepath.Dir(mustLookPath(t, "initdb")), "pg_ctl")
	// The server's output goes to its log: a pipe to this process would be
	// held open by the restarted server.
	args := []string{pgCtl, "-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "server.log"), "-m", "fast", "-w", "restart"}
	if os.Getuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	if err := exec.Command(args[0], args[1:]...).Run(); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		t.Fatalf("restart: %v %s", err, b)
	}
	for i := 0; i < 3; i++ { // each reader connection the pool held is dead now
		got, err := s.GetEpisode(ctx, "default", ep.ID)
		must(t, err)
		storetest.Equal(t, "episode after the restart", got.TaskDescription, ep.TaskDescription)
	}
	must(t, s.CreateEpisode(engram.WithIdempotencyKey(ctx, "after-restart"), "default", &engram.Episode{TaskDescription: "keyed, after"}))
	_, err = s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
	must(t, err)
	if st := s.Resilience(); st.Breaker != "closed" {
		t.Fatalf("breaker %s after the restart", st.Breaker)
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	if _, err := os.Stat("/usr/local/bin/" + name); err == nil {
		return "/usr/local/bin/" + name
	}
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.SkipOrFail(t, name+" not installed")
	}
	return p
}

// BenchmarkPostgresGetEpisodeGuard: what the breaker and the client-side
// timeouts cost a single-statement read, against the same store without
// them (no breaker, no statement timeout), in one run.
func BenchmarkPostgresGetEpisodeGuard(b *testing.B) {
	ctx := context.Background()
	url := sqlstore.PostgresURL(b)
	seed := openPostgres(b, sqlstore.Options{URL: url})
	ids := make([]engram.EpisodeID, 200)
	for i := range ids {
		ep := &engram.Episode{TaskDescription: fmt.Sprintf("episode %d", i)}
		if err := seed.CreateEpisode(ctx, "default", ep); err != nil {
			b.Fatal(err)
		}
		ids[i] = ep.ID
	}
	for _, c := range []struct {
		name string
		p    sqlstore.PostgresOptions
	}{
		{"guarded", sqlstore.PostgresOptions{}},
		{"unguarded", sqlstore.PostgresOptions{BreakerFailures: -1, StatementTimeout: -1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := openPostgres(b, sqlstore.Options{URL: url, Postgres: c.p})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.GetEpisode(ctx, "default", ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPostgresAnswersNeverOpenTheBreaker: with a breaker that opens at the
// first failure, answers from the server that are errors (a refused
// password, from the server itself; not found, a conflict) and bad input
// never count: it stays closed.
func TestPostgresAnswersNeverOpenTheBreaker(t *testing.T) {
	ctx := context.Background()
	u := canaryURL(t, "")
	// Every read opens a new connection (the old one is too old at once),
	// so a changed password is refused by the server on each.
	s := openPostgres(t, sqlstore.Options{URL: u, MaxReaders: 1,
		Postgres: sqlstore.PostgresOptions{BreakerFailures: 1, ConnMaxLifetime: time.Nanosecond}})
	ep := &engram.Episode{TaskDescription: "exists"}
	must(t, s.CreateEpisode(ctx, "default", ep))
	pu, err := url.Parse(u)
	must(t, err)
	admin, err := sql.Open("pgx", sqlstore.PostgresServer(t))
	must(t, err)
	defer admin.Close()
	role := pu.User.Username()
	_, err = admin.Exec(`ALTER ROLE ` + role + ` PASSWORD 'changed-elsewhere'`)
	must(t, err)
	for i := 0; i < 3; i++ {
		_, err := s.GetEpisode(ctx, "default", ep.ID)
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		if !strings.Contains(err.Error(), "refused the credentials") {
			t.Fatalf("read with the password changed: %v", err)
		}
	}
	_, err = admin.Exec(`ALTER ROLE ` + role + ` PASSWORD '` + canaryPassword + `'`)
	must(t, err)
	for i := 0; i < 3; i++ {
		_, err := s.GetEpisode(ctx, "default", engram.EpisodeID{UUID: engram.NewUUID()})
		storetest.WantCode(t, err, engram.ENOTFOUND, "")
		err = s.CreateEpisode(ctx, "default", &engram.Episode{ID: ep.ID, TaskDescription: "same id"})
		storetest.WantCode(t, err, engram.ECONFLICT, "")
		_, err = s.ListEpisodes(ctx, "Not A Namespace!", engram.EpisodeFilter{})
		storetest.WantCode(t, err, engram.EINVALID, "namespace")
	}
	if st := s.Resilience(); st.Breaker != "closed" || st.BreakerFailures != 0 || st.BreakerOpens != 0 {
		t.Fatalf("answers counted as failures: %+v", st)
	}
}
