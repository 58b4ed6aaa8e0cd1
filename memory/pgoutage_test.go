package memory_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/pgtest"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// TestPostgresOutageServesCachedReadsStale: PostgreSQL behind toxiproxy
// turns into a black hole. Cached episodes are still served, marked stale;
// an uncached one fails as unavailable within the store's statement
// timeout + 10%; the store's breaker opens at its threshold and shows in
// the status; once the proxy heals and the breaker's open period passes,
// everything works again and a sync clears the stale flag. No goroutine
// outlives the memory.
func TestPostgresOutageServesCachedReadsStale(t *testing.T) {
	const timeout = time.Second
	base := pgtest.Schema(t, "engram_memory")
	u, err := url.Parse(base)
	must(t, err)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", u.Host)
	must(t, proxy.Start())
	t.Cleanup(proxy.Stop)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).write"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*Proxy).server"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*Proxy).freeBlocker"))

	// The direct store writes behind memory's back (an episode in no tier).
	direct, err := sqlstore.Open(ctx(), sqlstore.Options{URL: base})
	must(t, err)
	defer direct.Close()

	via := *u
	via.Host = proxy.Listen
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// memory's own breaker stays out of the way (it runs on real time): the
	// store's, on the manual clock, is the one under test.
	m, err := memory.Open(ctx(), memory.Config{DataDir: t.TempDir(), Logger: quiet, BreakerFailures: 1000,
		SQL: sqlstore.Options{URL: via.String(), Postgres: sqlstore.PostgresOptions{
			StatementTimeout: timeout, BreakerFailures: 3, BreakerOpenFor: time.Minute, Clock: clk}}})
	must(t, err)
	defer func() { must(t, m.Close()) }()

	cached, uncached := storetest.SampleEpisode(1), storetest.SampleEpisode(2)
	must(t, m.CreateEpisode(ctx(), "default", cached))
	must(t, direct.CreateEpisode(ctx(), "default", uncached))

	add := func(name, typ string, attrs map[string]any) {
		b, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": "upstream", "toxicity": 1.0, "attributes": attrs})
		if _, err := proxy.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	add("hole", "timeout", map[string]any{"timeout": 0})

	for i := 1; i <= 3; i++ {
		start := time.Now()
		_, _, err := readFrom(t, m, "default", uncached.ID)
		if took := time.Since(start); took > timeout+timeout/10 {
			t.Errorf("uncached read %d failed after %v; the bound is %v + 10%%", i, took, timeout)
		}
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		got, ri, err := readFrom(t, m, "default", cached.ID)
		must(t, err)
		storetest.Equal(t, "cached episode during the outage", got, cached)
		if !ri.Stale {
			t.Fatalf("a cached read after a durable failure is not marked stale: %+v", ri)
		}
	}
	_, _, err = readFrom(t, m, "default", uncached.ID)
	if !errors.Is(err, sqlstore.ErrCircuitOpen) {
		t.Fatalf("uncached read after 3 timeouts: %v; want the store's open breaker", err)
	}
	st := statusOf(t, m)
	ds := tierState(st, engram.TierDurable)
	if !st.Stale || ds.Stats["store_breaker"] != "open" || ds.Stats["store_breaker_opens"] != int64(1) {
		t.Fatalf("status during the outage: %s", dump(st))
	}

	if err := proxy.Toxics.RemoveToxic(t.Context(), "hole"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	got, _, err := readFrom(t, m, "default", uncached.ID)
	must(t, err)
	storetest.Equal(t, "uncached episode after healing", got, uncached)
	_, err = m.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	st = statusOf(t, m)
	if st.Stale || tierState(st, engram.TierDurable).Stats["store_breaker"] != "closed" {
		t.Fatalf("status after healing and a sync: %s", dump(st))
	}
	_, ri, err := readFrom(t, m, "default", cached.ID)
	must(t, err)
	if ri.Stale {
		t.Fatal("reads still stale after healing and a sync")
	}
	must(t, m.AppendStep(ctx(), "default", cached.ID, &engram.Step{Tool: "t", Action: "after"}))
}
