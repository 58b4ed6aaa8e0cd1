package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/server"
)

// faultStore is a real store whose writes and change-feed reads fail with a
// set error while one is set, and whose Status, when status is set, is that.
type faultStore struct {
	engram.Store
	mu       sync.Mutex
	writeErr error
	onceErr  error // fails the next write only
	feedErr  error
	status   *engram.Status
	// keys records the idempotency key each write carried.
	keys []string
}

func (s *faultStore) set(f func(s *faultStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *faultStore) write(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, engram.IdempotencyKey(ctx))
	if err := s.onceErr; err != nil {
		s.onceErr = nil
		return err
	}
	return s.writeErr
}

func (s *faultStore) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if err := s.write(ctx); err != nil {
		return err
	}
	return s.Store.CreateEpisode(ctx, ns, ep)
}

func (s *faultStore) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	if err := s.write(ctx); err != nil {
		return err
	}
	return s.Store.PutPattern(ctx, ns, p)
}

func (s *faultStore) DeleteEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) error {
	if err := s.write(ctx); err != nil {
		return err
	}
	return s.Store.DeleteEpisode(ctx, ns, id)
}

func (s *faultStore) seenKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

func (s *faultStore) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	s.mu.Lock()
	err := s.feedErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Store.Changes(ctx, after, limit)
}

func (s *faultStore) Status(ctx context.Context) (*engram.Status, error) {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	if st != nil {
		cp := *st
		return &cp, nil
	}
	last, err := s.Store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	return &engram.Status{Tiers: []engram.TierStatus{{Tier: engram.TierDurable, State: "ok"}}, LastSeq: last, Watermark: last}, nil
}

// TestErrorStatuses: each storage error code has its documented HTTP status
// and code, and count limits are 413 too_large naming the field.
func TestErrorStatuses(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	url := startServer(t, fs, server.Options{})
	post := func(path, body string) rawResp {
		return do(t, "POST", url+path, strings.NewReader(body), "Content-Type", "application/json")
	}
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{&engram.Error{Code: engram.ENOSPACE, Message: "sqlstore: commit: disk full"}, 507, "no_space"},
		{&engram.Error{Code: engram.EUNKNOWN, Message: "sqlstore: fsync failed"}, 503, "unknown"},
		{&engram.Error{Code: engram.EUNAVAILABLE, Message: "down"}, 503, "unavailable"},
	} {
		fs.set(func(s *faultStore) { s.writeErr = c.err })
		d := wantError(t, post("/v1/episodes", `{"task_description":"x"}`), c.status, c.code, "")
		if strings.Contains(d.Message, "sqlstore") {
			t.Errorf("%s: internal detail sent to the client: %q", c.code, d.Message)
		}
	}
	fs.set(func(s *faultStore) { s.writeErr, s.feedErr = nil, engram.ErrGone })
	wantError(t, do(t, "GET", url+"/v1/changes?after=1", nil), 410, "gone", "")
	fs.set(func(s *faultStore) { s.feedErr = nil })

	steps := strings.Repeat(`{"tool":"t","action":"a"},`, engram.MaxSteps) + `{"tool":"t","action":"a"}`
	wantError(t, post("/v1/episodes", `{"task_description":"x","steps":[`+steps+`]}`), 413, "too_large", "steps")
	vec := strings.Repeat("0,", engram.MaxVectorDim) + "0"
	wantError(t, post("/v1/embeddings", `{"item_id":"`+engram.NewUUID().String()+`","item_type":"episode","vector":[`+vec+`]}`), 413, "too_large", "vector")
	// Bad times carry their field, in the query and in a body.
	wantError(t, do(t, "GET", url+"/v1/episodes?since=yesterday", nil), 400, "invalid", "since")
	wantError(t, do(t, "GET", url+"/v1/episodes?until=2026-13-01", nil), 400, "invalid", "until")
	wantError(t, post("/v1/episodes", `{"task_description":"x","start_time":"yesterday"}`), 400, "invalid", "start_time")
	wantError(t, post("/v1/episodes", `{"task_description":"x","episode_id":"nope"}`), 400, "invalid", "episode_id")
}

// TestQueryBounds: repeatable filters are capped with a 400 naming the
// parameter and the limit, an explicit limit=0 (or out of 1-1000) is
// refused while an absent limit means the default.
func TestQueryBounds(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	many := func(name, val string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "&%s=%s%d", name, val, i)
		}
		return b.String()
	}
	d := wantError(t, do(t, "GET", url+"/v1/episodes?"+many("tag", "t", engram.MaxFilterTags+1)[1:], nil), 400, "invalid", "tag")
	if !strings.Contains(d.Message, "32") {
		t.Errorf("tag cap message does not name the limit: %q", d.Message)
	}
	d = wantError(t, do(t, "GET", url+"/v1/episodes?"+many("meta", "k=v", engram.MaxFilterMetadata+1)[1:], nil), 400, "invalid", "meta")
	if !strings.Contains(d.Message, "32") {
		t.Errorf("meta cap message does not name the limit: %q", d.Message)
	}
	if r := do(t, "GET", url+"/v1/episodes?"+many("tag", "t", engram.MaxFilterTags)[1:], nil); r.status != 200 {
		t.Errorf("%d tags: %d %s", engram.MaxFilterTags, r.status, r.body)
	}
	for _, path := range []string{"/v1/episodes", "/v1/patterns", "/v1/heuristics", "/v1/embeddings", "/v1/search?q=x&", "/v1/changes"} {
		sep := "?"
		if strings.HasSuffix(path, "&") {
			sep = ""
		}
		for _, bad := range []string{"0", "-1", "1001", "ten"} {
			wantError(t, do(t, "GET", url+path+sep+"limit="+bad, nil), 400, "invalid", "limit")
		}
		if r := do(t, "GET", url+strings.TrimSuffix(path, "&"), nil); r.status != 200 {
			t.Errorf("%s without a limit: %d %s", path, r.status, r.body)
		}
	}
}

// TestListPageByteBudget: a page whose records exceed the byte budget is cut
// short with a cursor, and following the cursors returns every record once.
func TestListPageByteBudget(t *testing.T) {
	const budget = 64 << 10
	url := startServer(t, openSQL(t), server.Options{MaxPageBytes: budget})
	c := newClient(t, url, "")
	ctx := context.Background()
	big := `{"blob":"` + strings.Repeat("x", 30<<10) + `"}`
	want := map[engram.EpisodeID]bool{}
	for i := range 5 {
		ep := &engram.Episode{TaskDescription: fmt.Sprintf("episode %d", i), Steps: []engram.Step{{Tool: "t", Action: "a", Parameters: json.RawMessage(big)}}}
		if err := c.CreateEpisode(ctx, "default", ep); err != nil {
			t.Fatal(err)
		}
		want[ep.ID] = true
	}
	got := map[engram.EpisodeID]bool{}
	cursor, pages := "", 0
	for {
		r := do(t, "GET", url+"/v1/episodes?limit=100&cursor="+cursor, nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if len(r.body) > budget+4<<10 {
			t.Errorf("page %d is %d bytes; the budget is %d", pages, len(r.body), budget)
		}
		var page server.EpisodeList
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, ep := range page.Episodes {
			if got[ep.ID] {
				t.Errorf("episode %s on two pages", ep.ID)
			}
			got[ep.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(got) != len(want) || pages < 3 {
		t.Fatalf("got %d of %d episodes in %d pages", len(got), len(want), pages)
	}
}

const (
	tokAll   = "star-token-0123456789abcdef"
	tokAlpha = "alpha-token-0123456789abcdef"
)

// TestStatusIsPerTenant: /v1/status, /readyz and memory_status show file
// paths, tier details and the last sync's error (which names records of
// any namespace) only to a * token; a namespace-scoped token sees the tiers'
// states and the staleness.
func TestStatusIsPerTenant(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	secret := "sync episode 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b in namespace beta: bad"
	fs.set(func(s *faultStore) {
		s.status = &engram.Status{Tiers: []engram.TierStatus{
			{Tier: engram.TierCache, State: "ok", Detail: "/srv/engram/cache.db", Stats: map[string]any{"entries": 3}},
			{Tier: engram.TierDurable, State: "ok", Detail: "/srv/engram/engram.db"},
		}, LastSeq: 9, Watermark: 7, Lag: 2, Stale: true, LastSyncError: secret}
	})
	tokens, err := server.ParseTokens(tokAll + "=*," + tokAlpha + "=alpha")
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, fs, server.Options{Tokens: tokens})
	get := func(path, tok string) rawResp {
		return do(t, "GET", url+path, nil, "Authorization", "Bearer "+tok)
	}
	for _, path := range []string{"/v1/status", "/readyz"} {
		full := get(path, tokAll)
		if full.status != 200 || !strings.Contains(string(full.body), "/srv/engram/engram.db") {
			t.Errorf("%s with *: %d %s", path, full.status, full.body)
		}
		scoped := get(path, tokAlpha)
		if scoped.status != 200 {
			t.Fatalf("%s with alpha: %d %s", path, scoped.status, scoped.body)
		}
		for _, leak := range []string{"/srv/engram", "beta", "0190a1b2", "entries"} {
			if strings.Contains(string(scoped.body), leak) {
				t.Errorf("%s shows %q to a namespace-scoped token: %s", path, leak, scoped.body)
			}
		}
	}
	var st engram.Status
	if err := json.Unmarshal(get("/v1/status", tokAlpha).body, &st); err != nil || !st.Stale || len(st.Tiers) != 2 || st.Tiers[1].State != "ok" || st.LastSyncError == "" {
		t.Errorf("scoped status lacks the tenant's view: %+v %v", st, err)
	}
	if err := json.Unmarshal(get("/v1/status", tokAll).body, &st); err != nil || st.LastSyncError != secret || st.Lag != 2 {
		t.Errorf("* status lacks details: %+v %v", st, err)
	}
	// memory_status over MCP is the same view.
	for tok, wantLeak := range map[string]bool{tokAll: true, tokAlpha: false} {
		s := mcpSession(t, url+"/mcp?namespace=alpha", tok)
		var ms server.MemoryStatus
		callTool(t, s, "memory_status", map[string]any{}, &ms)
		if got := ms.Status.LastSyncError == secret; got != wantLeak {
			t.Errorf("memory_status with %s: last_sync_error %q", tok[:5], ms.Status.LastSyncError)
		}
	}
}

// TestReadyzWhileWritesFail: a durable tier whose writes fail (its Status
// says "degraded", "writes failing: ...") makes /readyz answer 503, with the
// reason for a * token only; /v1/status shows the state.
func TestReadyzWhileWritesFail(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	tokens, err := server.ParseTokens(tokAll + "=*," + tokAlpha + "=alpha")
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, fs, server.Options{Tokens: tokens})
	get := func(path, tok string) rawResp {
		return do(t, "GET", url+path, nil, "Authorization", "Bearer "+tok)
	}
	if r := get("/readyz", tokAll); r.status != 200 || !strings.Contains(string(r.body), `"status":"ok"`) {
		t.Fatalf("readyz while healthy: %d %s", r.status, r.body)
	}
	fs.set(func(s *faultStore) {
		s.writeErr = &engram.Error{Code: engram.ENOSPACE, Message: "disk full"}
		s.status = &engram.Status{Tiers: []engram.TierStatus{
			{Tier: engram.TierCache, State: "ok"},
			{Tier: engram.TierDurable, State: "degraded", Detail: "writes failing: no_space: /srv/engram/engram.db: disk full"},
		}}
	})
	var h server.Health
	r := get("/readyz", tokAll)
	if err := json.Unmarshal(r.body, &h); err != nil || r.status != 503 || h.Status != "unavailable" || !strings.Contains(h.Reason, "writes failing") {
		t.Errorf("readyz with *, writes failing: %d %s", r.status, r.body)
	}
	r, h = get("/readyz", tokAlpha), server.Health{}
	if err := json.Unmarshal(r.body, &h); err != nil || r.status != 503 || h.Reason != "" || strings.Contains(string(r.body), "/srv") {
		t.Errorf("readyz with alpha, writes failing: %d %s", r.status, r.body)
	}
	r = get("/v1/status", tokAlpha)
	if r.status != 200 || !strings.Contains(string(r.body), `"state":"degraded"`) {
		t.Errorf("status with alpha, writes failing: %d %s", r.status, r.body)
	}
	// A degraded cache alone does not make the server unready.
	fs.set(func(s *faultStore) {
		s.status = &engram.Status{Tiers: []engram.TierStatus{{Tier: engram.TierCache, State: "degraded"}, {Tier: engram.TierDurable, State: "ok"}}}
	})
	if r := get("/readyz", tokAll); r.status != 200 {
		t.Errorf("readyz with a degraded cache: %d %s", r.status, r.body)
	}
}

// TestIdempotencyKeyHeader: every write passes its Idempotency-Key to the
// store; a malformed key is refused naming the header.
func TestIdempotencyKeyHeader(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	url := startServer(t, fs, server.Options{})
	r := do(t, "POST", url+"/v1/episodes", strings.NewReader(`{"task_description":"x"}`), "Content-Type", "application/json", "Idempotency-Key", "k-123")
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var ep engram.Episode
	json.Unmarshal(r.body, &ep)
	do(t, "POST", url+"/v1/patterns", strings.NewReader(`{"kind":"tool_sequence","tools":["a"]}`), "Content-Type", "application/json", "Idempotency-Key", "k-456")
	do(t, "DELETE", url+"/v1/episodes/"+ep.ID.String(), nil, "Idempotency-Key", "k-789")
	if got := fs.seenKeys(); strings.Join(got, ",") != "k-123,k-456,k-789" {
		t.Fatalf("keys the store saw: %q", got)
	}
	wantError(t, do(t, "POST", url+"/v1/episodes", strings.NewReader(`{"task_description":"x"}`), "Content-Type", "application/json", "Idempotency-Key", "has space"), 400, "invalid", "Idempotency-Key")
	wantError(t, do(t, "POST", url+"/v1/episodes", strings.NewReader(`{"task_description":"x"}`), "Content-Type", "application/json", "Idempotency-Key", strings.Repeat("k", 256)), 413, "too_large", "Idempotency-Key")
}

// dropFirstResponse forwards every request to the real server but, for the
// first write, throws the answer away and reports a broken connection, as
// when a network drops the response of a committed write.
type dropFirstResponse struct {
	base    http.RoundTripper
	mu      sync.Mutex
	dropped bool
}

func (d *dropFirstResponse) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(r)
	if err != nil || r.Method == "GET" {
		return resp, err
	}
	d.mu.Lock()
	drop := !d.dropped
	d.dropped = true
	d.mu.Unlock()
	if drop {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (injected)")
	}
	return resp, nil
}

// TestClientRetriesWritesWithTheirKey: the Go client sends an
// Idempotency-Key on every write and, when the answer is lost or the server
// says unavailable/unknown, sends the write again with the same key.
func TestClientRetriesWritesWithTheirKey(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	url := startServer(t, fs, server.Options{})
	ctx := context.Background()
	hc := &http.Client{Transport: &dropFirstResponse{base: http.DefaultTransport.(*http.Transport).Clone()}}
	c, err := client.New(url, client.Options{HTTPClient: hc, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ep := &engram.Episode{TaskDescription: "retried"}
	if err := c.CreateEpisode(ctx, "default", ep); err != nil {
		t.Fatalf("create through a dropped answer: %v", err)
	}
	keys := fs.seenKeys()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("the store saw keys %q; want the same key twice", keys)
	}
	// 503 unknown, then success: retried with the same key.
	fs.set(func(s *faultStore) { s.onceErr = &engram.Error{Code: engram.EUNKNOWN, Message: "fsync failed"} })
	if err := c.PutPattern(ctx, "default", &engram.Pattern{Kind: engram.PatternToolSequence, Tools: []string{"a"}}); err != nil {
		t.Fatalf("put through a 503 unknown: %v", err)
	}
	keys = fs.seenKeys()
	if len(keys) != 4 || keys[2] == "" || keys[2] != keys[3] || keys[2] == keys[0] {
		t.Fatalf("the store saw keys %q; want a new key, twice", keys)
	}
	// A 4xx is not retried.
	fs.set(func(s *faultStore) { s.onceErr = engram.Invalid("x", "no") })
	if err := c.PutPattern(ctx, "default", &engram.Pattern{Kind: engram.PatternToolSequence, Tools: []string{"a"}}); engram.ErrorCode(err) != engram.EINVALID {
		t.Fatalf("invalid: %v", err)
	}
	if n := len(fs.seenKeys()); n != 5 {
		t.Fatalf("an invalid write was sent %d times", n-4)
	}
	// Bounded: a server that stays unavailable is tried MaxAttempts times.
	fs.set(func(s *faultStore) { s.writeErr = engram.Unavailable("durable", errors.New("down")) })
	if err := c.DeleteEpisode(ctx, "default", ep.ID); engram.ErrorCode(err) != engram.EUNAVAILABLE {
		t.Fatalf("delete while down: %v", err)
	}
	if n := len(fs.seenKeys()) - 5; n != client.DefaultMaxAttempts {
		t.Fatalf("tried %d times; want %d", n, client.DefaultMaxAttempts)
	}
}

// TestRetriedCreateReturnsTheOriginal is the end-to-end contract over a
// real SQLite store: a create whose answer was lost, retried by the client
// with its key, returns the episode the first try created, and stores one.
//
// It needs the durable store's idempotency (sqlstore replaying a committed
// key); until that is in this tree it skips, saying so.
func TestRetriedCreateReturnsTheOriginal(t *testing.T) {
	store := openSQL(t)
	ctx := context.Background()
	probe := engram.WithIdempotencyKey(ctx, "probe-key")
	a, b := &engram.Episode{TaskDescription: "probe"}, &engram.Episode{TaskDescription: "probe"}
	if err := store.CreateEpisode(probe, "probe", a); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateEpisode(probe, "probe", b); err != nil || b.ID != a.ID {
		t.Fatalf("sqlstore does not replay an idempotency key (second create: %v, id %s vs %s)", err, b.ID, a.ID)
	}
	url := startServer(t, store, server.Options{})
	hc := &http.Client{Transport: &dropFirstResponse{base: http.DefaultTransport.(*http.Transport).Clone()}}
	c, err := client.New(url, client.Options{HTTPClient: hc, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ep := &engram.Episode{TaskDescription: "created once"}
	if err := c.CreateEpisode(ctx, "default", ep); err != nil {
		t.Fatalf("retried create: %v", err)
	}
	page, err := store.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Episodes) != 1 || page.Episodes[0].ID != ep.ID {
		t.Fatalf("stored %d episodes; the client got %s", len(page.Episodes), ep.ID)
	}
}

// TestBadFilterValuesOverHTTP: a filter value no record can have is a 400
// naming the parameter, not an empty list; a step's fields are named as the
// body spells them.
func TestBadFilterValuesOverHTTP(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	for path, field := range map[string]string{
		"/v1/episodes?task_type=juggling":                                         "task_type",
		"/v1/episodes?tag=ok-tag&tag=Not+a+tag!":                                  "tag[1]",
		"/v1/patterns?kind=telepathy":                                             "kind",
		"/v1/patterns?tag=x":                                                      "tag",
		"/v1/search?q=x&kind=episode&kind=mind":                                   "kind[1]",
		"/v1/episodes/" + engram.NewUUID().String() + "/relationships?type=likes": "type",
	} {
		wantError(t, do(t, "GET", url+path, nil), 400, "invalid", field)
	}
	r := do(t, "POST", url+"/v1/episodes", strings.NewReader(`{"task_description":"x"}`), "Content-Type", "application/json")
	var ep engram.Episode
	json.Unmarshal(r.body, &ep)
	wantError(t, do(t, "POST", url+"/v1/episodes/"+ep.ID.String()+"/steps", strings.NewReader(`{"tool":"t"}`), "Content-Type", "application/json"), 400, "invalid", "action")
}

// TestMetricsOneMeaningEach: tier statistics are one metric per meaning
// (no metric tells bytes, ratios and counters apart by a label), a tier's
// state is the value of one series (it does not swap series when the state
// changes), and histogram bounds are written without float noise.
func TestMetricsOneMeaningEach(t *testing.T) {
	fs := &faultStore{Store: openSQL(t)}
	status := func(state string) *engram.Status {
		return &engram.Status{Tiers: []engram.TierStatus{
			{Tier: engram.TierCache, State: "ok", Stats: map[string]any{"hits": 7.0, "hit_rate": 0.5, "bytes": 2048.0, "file_size": 32768.0, "breaker": "open"}},
			{Tier: engram.TierDurable, State: state},
		}}
	}
	fs.set(func(s *faultStore) { s.status = status("ok") })
	url := startServer(t, fs, server.Options{})
	do(t, "GET", url+"/v1/episodes", nil)
	scrape := func() string { return string(do(t, "GET", url+"/metrics", nil).body) }
	text := scrape()
	for _, want := range []string{
		`engram_tier_hits_total{tier="cache"} 7`,
		`engram_tier_hit_ratio{tier="cache"} 0.5`,
		`engram_tier_bytes{tier="cache"} 2048`,
		`engram_tier_file_size_bytes{tier="cache"} 32768`,
		`engram_breaker_state{tier="cache"} 2`,
		`engram_tier_state{tier="durable"} 0`,
		"# TYPE engram_tier_hits_total counter",
		"# TYPE engram_tier_bytes gauge",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, `stat="`) || strings.Contains(line, `state="`) {
			t.Errorf("a label carries a statistic's name or a state: %s", line)
		}
		if i := strings.Index(line, `le="`); i >= 0 && strings.HasPrefix(line, "engram_") {
			le := line[i+4:]
			le = le[:strings.IndexByte(le, '"')]
			if len(le) > 8 {
				t.Errorf("bucket bound %q has float noise: %s", le, line)
			}
		}
	}
	fs.set(func(s *faultStore) { s.status = status("degraded") })
	text = scrape()
	if !strings.Contains(text, `engram_tier_state{tier="durable"} 1`) || strings.Count(text, `engram_tier_state{tier="durable"}`) != 1 {
		t.Errorf("degraded durable tier: want one engram_tier_state series with value 1:\n%s", grepLines(text, "engram_tier_state"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestIndexedFieldMessage: an error whose field has an index keeps its
// message free of the field (the batch-record prefix is for batches only).
func TestIndexedFieldMessage(t *testing.T) {
	url := startServer(t, openSQL(t), server.Options{})
	d := wantError(t, do(t, "GET", url+"/v1/search?q=x&kind=episode&kind=mind", nil), 400, "invalid", "kind[1]")
	if strings.HasPrefix(d.Message, "kind[1]") {
		t.Errorf("message repeats the field: %q", d.Message)
	}
}
