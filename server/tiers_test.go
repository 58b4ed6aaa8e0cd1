package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/server"
	"github.com/engramhq/engram/storetest"
)

// tieredStore is a real store (sqlstore underneath) that reports its reads
// as answered by a cache tier, stale while stale is set, and implements the
// optional Syncer and StatusReporter like a tiered store would. Syncing
// clears the staleness.
type tieredStore struct {
	engram.Store
	stale atomic.Bool
	syncs atomic.Int64
}

func (s *tieredStore) report(ctx context.Context) {
	engram.ReportRead(ctx, engram.TierCache, s.stale.Load())
}

func (s *tieredStore) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	ep, err := s.Store.GetEpisode(ctx, ns, id)
	if err == nil {
		s.report(ctx)
	}
	return ep, err
}

func (s *tieredStore) ListEpisodes(ctx context.Context, ns engram.Namespace, f engram.EpisodeFilter) (engram.EpisodePage, error) {
	p, err := s.Store.ListEpisodes(ctx, ns, f)
	if err == nil {
		s.report(ctx)
	}
	return p, err
}

func (s *tieredStore) Search(ctx context.Context, ns engram.Namespace, q engram.SearchQuery) ([]engram.SearchHit, error) {
	h, err := s.Store.Search(ctx, ns, q)
	if err == nil {
		s.report(ctx)
	}
	return h, err
}

func (s *tieredStore) Sync(ctx context.Context, opts engram.SyncOptions) (*engram.SyncReport, error) {
	last, err := s.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	s.syncs.Add(1)
	if !opts.DryRun {
		s.stale.Store(false)
	}
	return &engram.SyncReport{Full: opts.Full, DryRun: opts.DryRun, WatermarkAfter: last, Errors: []string{}}, nil
}

func (s *tieredStore) Status(ctx context.Context) (*engram.Status, error) {
	last, err := s.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	st := &engram.Status{LastSeq: last, Watermark: last, Stale: s.stale.Load(), Tiers: []engram.TierStatus{
		{Tier: engram.TierCache, State: "ok", Stats: map[string]any{"hits": int64(7), "entries": 3, "breaker": "closed"}},
		{Tier: engram.TierDurable, State: "ok", Stats: map[string]any{"store_breaker": "open", "store_breaker_opens": int64(2), "pool_open": 3}},
	}}
	if st.Stale {
		st.Watermark, st.Lag = 0, last
		st.Tiers[1].State = "unavailable"
	}
	return st, nil
}

func TestStaleReads(t *testing.T) {
	store := &tieredStore{Store: openSQL(t)}
	url := startServer(t, store, server.Options{})
	c := newClient(t, url, "")
	ctx := context.Background()
	ep := storetest.SampleEpisode(1)
	if err := c.CreateEpisode(ctx, "default", ep); err != nil {
		t.Fatal(err)
	}
	get := "/v1/episodes/" + ep.ID.String()

	r := do(t, "GET", url+get, nil)
	if r.status != 200 || r.header.Get("X-Engram-Stale") != "" || r.header.Get("X-Engram-Tier") != "cache" {
		t.Fatalf("fresh read: %d stale=%q tier=%q", r.status, r.header.Get("X-Engram-Stale"), r.header.Get("X-Engram-Tier"))
	}
	store.stale.Store(true)
	r = do(t, "GET", url+get, nil)
	if r.header.Get("X-Engram-Stale") != "true" {
		t.Fatalf("stale read without X-Engram-Stale: %v", r.header)
	}
	// The record's own JSON stays clean: no "stale" member.
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil || m["stale"] != nil || m["episode_id"] != ep.ID.String() {
		t.Fatalf("stale single read body: %v %s", err, r.body)
	}
	for _, path := range []string{"/v1/episodes", "/v1/search?q=retry"} {
		r := do(t, "GET", url+path, nil)
		if r.header.Get("X-Engram-Stale") != "true" || !strings.Contains(string(r.body), `"stale":true`) {
			t.Fatalf("GET %s while stale: %v %s", path, r.header, r.body)
		}
	}
	// The client reports staleness into the caller's ReadInfo.
	var ri engram.ReadInfo
	if _, err := c.GetEpisode(engram.WithReadInfo(ctx, &ri), "default", ep.ID); err != nil {
		t.Fatal(err)
	}
	if tier, stale := ri.Get(); !stale || tier != engram.TierCache {
		t.Fatalf("client ReadInfo %s %v, want stale from cache", tier, stale)
	}
	st, err := c.Status(ctx)
	if err != nil || !st.Stale || st.Lag == 0 {
		t.Fatalf("status while stale: %+v %v", st, err)
	}
	if r := do(t, "GET", url+"/readyz", nil); r.status != 503 || !strings.Contains(string(r.body), `"status":"unavailable"`) {
		t.Fatalf("readyz while the durable tier is down: %d %s", r.status, r.body)
	}
	wantError(t, do(t, "GET", url+"/v1/episodes/"+engram.NewUUID().String(), nil), 404, engram.ENOTFOUND, "")

	// A sync clears it.
	rep, err := c.Sync(ctx, engram.SyncOptions{Full: true})
	if err != nil || !rep.Full || store.syncs.Load() != 1 {
		t.Fatalf("sync: %+v %v", rep, err)
	}
	var ri2 engram.ReadInfo
	if _, err := c.GetEpisode(engram.WithReadInfo(ctx, &ri2), "default", ep.ID); err != nil {
		t.Fatalf("after sync: %v", err)
	} else if _, stale := ri2.Get(); stale {
		t.Fatal("after sync: still stale")
	}
	if r := do(t, "GET", url+"/readyz", nil); r.status != 200 {
		t.Fatalf("readyz after sync: %d %s", r.status, r.body)
	}

	// Metrics: reads by tier, cache hits, the status gauges and tier stats.
	r = do(t, "GET", url+"/metrics", nil)
	text := string(r.body)
	for _, want := range []string{
		`engram_http_requests_total{code="200",route="getEpisode"}`,
		`engram_http_request_duration_seconds_bucket{route="getEpisode",le="`,
		`engram_http_request_duration_seconds_count{route="createEpisode"}`,
		`engram_cache_hits_total{tier="cache"}`,
		`engram_cache_misses_total{tier="ram"}`,
		`engram_reads_total{stale="true",tier="cache"}`,
		`engram_errors_total{code="not_found"} 1`,
		`engram_sync_lag 0`,
		`engram_tier_hits_total{tier="cache"} 7`,
		`engram_tier_entries{tier="cache"} 3`,
		`engram_breaker_state{tier="cache"} 0`,
		`engram_tier_up{tier="durable"} 1`,
		`engram_tier_state{tier="durable"} 0`,
		// A PostgreSQL store's own breaker and pool (sqlstore.ResilienceStats).
		`engram_store_breaker_state{tier="durable"} 2`,
		`engram_store_breaker_opens_total{tier="durable"} 2`,
		`engram_pool_open_connections{tier="durable"} 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSyncWithoutCache(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	wantError(t, do(t, "POST", url+"/v1/sync", nil), 501, server.CodeNotImplemented, "")
	c := newClient(t, url, "")
	_, err := c.Sync(context.Background(), engram.SyncOptions{})
	if engram.ErrorCode(err) != server.CodeNotImplemented {
		t.Fatalf("client sync: %v", err)
	}
	st, err := c.Status(context.Background())
	if err != nil || len(st.Tiers) != 1 || st.Tiers[0].Tier != engram.TierDurable || st.Tiers[0].State != "ok" || st.Stale {
		t.Fatalf("status of a durable-only store: %+v %v", st, err)
	}
	wantError(t, do(t, "POST", url+"/v1/sync", strings.NewReader(`{"fulll": true}`)), 400, engram.EINVALID, "fulll")
}

func TestNamespaceIsolationByToken(t *testing.T) {
	tokens, err := server.ParseTokens("alpha-token-0123456789abcdef=alpha,beta-token-0123456789abcdef=beta,admin-token-0123456789abcdef=*")
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, openSQL(t), server.Options{Tokens: tokens})
	ctx := context.Background()
	a, b, admin := newClient(t, url, "alpha-token-0123456789abcdef"), newClient(t, url, "beta-token-0123456789abcdef"), newClient(t, url, "admin-token-0123456789abcdef")
	ep := storetest.SampleEpisode(1)
	if err := a.CreateEpisode(ctx, "alpha", ep); err != nil {
		t.Fatal(err)
	}
	// B can neither read nor write A's namespace, nor list it or search it.
	_, err = b.GetEpisode(ctx, "alpha", ep.ID)
	if engram.ErrorCode(err) != server.CodeForbidden {
		t.Fatalf("beta reading alpha: %v", err)
	}
	if err := b.CreateEpisode(ctx, "alpha", storetest.SampleEpisode(2)); engram.ErrorCode(err) != server.CodeForbidden {
		t.Fatalf("beta writing alpha: %v", err)
	}
	if err := b.DeleteEpisode(ctx, "alpha", ep.ID); engram.ErrorCode(err) != server.CodeForbidden {
		t.Fatalf("beta deleting in alpha: %v", err)
	}
	if _, err := b.Search(ctx, "alpha", engram.SearchQuery{Text: "retry"}); engram.ErrorCode(err) != server.CodeForbidden {
		t.Fatalf("beta searching alpha: %v", err)
	}
	// In its own namespace, B sees nothing of A's.
	if _, err := b.GetEpisode(ctx, "beta", ep.ID); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("beta reading its own namespace: %v", err)
	}
	// The change feed spans namespaces: only * may read it.
	if _, err := a.Changes(ctx, 0, 10); engram.ErrorCode(err) != server.CodeForbidden {
		t.Fatalf("alpha reading the change feed: %v", err)
	}
	chs, err := admin.Changes(ctx, 0, 10)
	if err != nil || len(chs) != 1 || chs[0].Namespace != "alpha" {
		t.Fatalf("admin change feed: %+v %v", chs, err)
	}
	if got, err := admin.GetEpisode(ctx, "alpha", ep.ID); err != nil || got.ID != ep.ID {
		t.Fatalf("admin reading alpha: %v", err)
	}
	// No token at all: unauthorized, as an *engram.Error.
	if _, err := newClient(t, url, "").GetEpisode(ctx, "alpha", ep.ID); engram.ErrorCode(err) != server.CodeUnauthorized {
		t.Fatalf("no token: %v", err)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	tokens, err := server.ParseTokens("first-token-0123456789abcdef=*,second-token-0123456789abcdef=*")
	if err != nil {
		t.Fatal(err)
	}
	// One request per thousand seconds with a burst of two: the third
	// request of a token is refused whatever the timing.
	url := startServer(t, openSQL(t), server.Options{Tokens: tokens, RateLimit: 0.001, RateBurst: 2})
	get := func(tok string) rawResp {
		return do(t, "GET", url+"/v1/counts", nil, "Authorization", "Bearer "+tok)
	}
	for i := 0; i < 2; i++ {
		if r := get("first-token-0123456789abcdef"); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	r := get("first-token-0123456789abcdef")
	wantError(t, r, 429, server.CodeRateLimited, "")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Another token has its own bucket, and probes are not limited.
	if r := get("second-token-0123456789abcdef"); r.status != 200 {
		t.Fatalf("second token: %d", r.status)
	}
	if r := do(t, "GET", url+"/healthz", nil); r.status != 200 {
		t.Fatalf("healthz under rate limit: %d", r.status)
	}
}
