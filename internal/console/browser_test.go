package console_test

// Browser tests: Debian's headless Chromium, driven by chromedp, loads the
// console from a real engram server (package memory over a data directory,
// served by package server over loopback) seeded through the HTTP API, and
// the tests assert on the rendered DOM and the charts' data. One browser
// serves every test of the package (a tab each); screenshots go to
// $ENGRAM_TEST_OUT/console, else to the test's temporary directory.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/testenv"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/server"
)

// The package's one browser, started by the first test that needs it and
// stopped by TestMain.
var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	os.Exit(code)
}

func chromiumPath() (string, error) {
	if p := os.Getenv("ENGRAM_CHROMIUM"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return exec.LookPath("chromium")
}

func startBrowser() {
	path, err := chromiumPath()
	if err != nil {
		chrome.err = fmt.Errorf("no chromium: %v", err)
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in a container
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	chrome.ctx = ctx
	chrome.cancel = func() { cancelCtx(); cancelAlloc() }
	// The first Run starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		chrome.err = fmt.Errorf("starting %s: %v", path, err)
	}
}

// tab opens a new tab of the package's browser, closed when the test ends.
// Its context ends after a generous bound, so a broken page fails the test
// instead of hanging it.
func tab(t *testing.T) context.Context {
	t.Helper()
	chrome.once.Do(startBrowser)
	if chrome.err != nil {
		testenv.SkipOrFail(t, chrome.err.Error())
	}
	ctx, cancel := chromedp.NewContext(chrome.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelT)
	return ctx
}

// outDir is where a test's screenshots go.
func outDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ENGRAM_TEST_OUT")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "console", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// --- the server ---

// watched records what the browser sent: a request carrying the token in
// its URL or any cookie fails the test, and API requests without the
// Authorization header are counted.
type watched struct {
	next  http.Handler
	token string
	mu    sync.Mutex
	bad   []string
	api   int
	anon  int
}

func (w *watched) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	if w.token != "" && strings.Contains(r.URL.String(), w.token) {
		w.bad = append(w.bad, "token in URL "+r.URL.Path)
	}
	if r.Header.Get("Cookie") != "" {
		w.bad = append(w.bad, "cookie sent to "+r.URL.Path)
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") && r.Header.Get("User-Agent") != "engram-test" {
		w.api++
		if r.Header.Get("Authorization") == "" {
			w.anon++
		}
	}
	w.mu.Unlock()
	w.next.ServeHTTP(rw, r)
}

func (w *watched) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		t.Errorf("the console leaked credentials: %v", w.bad)
	}
}

type testServer struct {
	url   string
	token string
	mem   *memory.Memory
	watch *watched
}

// startServer opens a memory over a fresh data directory and serves it
// (or wrap(memory), when wrap is set) with one token granting every
// namespace, until the test ends.
func startServer(t *testing.T, wrap func(engram.Store) engram.Store) *testServer {
	t.Helper()
	m, err := memory.Open(context.Background(), memory.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	const token = "console-test-token-0123456789"
	tokens, err := server.ParseTokens(token + "=*")
	if err != nil {
		t.Fatal(err)
	}
	var store engram.Store = m
	if wrap != nil {
		store = wrap(m)
	}
	srv, err := server.New(store, server.Options{Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &watched{next: srv.Handler(), token: token}
	hs := &http.Server{Handler: w, ReadHeaderTimeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		w.check(t)
	})
	return &testServer{url: "http://" + ln.Addr().String(), token: token, mem: m, watch: w}
}

// call sends one API request as the test (not the browser) and decodes
// the answer into out (when not nil).
func (s *testServer) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("User-Agent", "engram-test")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// seedEpisode is one episode the tests create, with what they expect of it.
type seedEpisode struct {
	daysAgo  int
	taskType engram.TaskType
	desc     string
	domain   string
	tags     []string
	steps    []engram.Step
	outcome  *engram.Outcome // nil: left open
	reward   float64
}

func step(tool, action string, res engram.ResultType, msg string, latency int64) engram.Step {
	r := &engram.StepResult{Type: res}
	if res == engram.ResultSuccess {
		r.Output = msg
	} else {
		r.Message = msg
	}
	return engram.Step{Tool: tool, Action: action, Result: r, LatencyMS: latency, TokensUsed: 10}
}

// day is the UTC midnight daysAgo days before today.
func day(daysAgo int) time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -daysAgo)
}

// seed creates the episodes through the API (steps with the episode,
// outcome by completing it) and returns their ids in order.
func (s *testServer) seed(t *testing.T, eps []seedEpisode) []string {
	t.Helper()
	var ids []string
	for _, se := range eps {
		start := day(se.daysAgo).Add(12 * time.Hour)
		ep := engram.Episode{TaskType: se.taskType, TaskDescription: se.desc, StartTime: start,
			Context: engram.TaskContext{Domain: se.domain, Language: "go"}, Tags: se.tags}
		for i, st := range se.steps {
			st.StepNumber = i + 1
			st.Timestamp = start.Add(time.Duration(i+1) * 10 * time.Second)
			ep.Steps = append(ep.Steps, st)
		}
		var got engram.Episode
		s.call(t, "POST", "/v1/episodes", &ep, &got)
		if se.outcome != nil {
			end := start.Add(5 * time.Minute)
			c := engram.Completion{Outcome: *se.outcome, EndTime: &end, Reward: &engram.Reward{Total: se.reward, Base: se.reward}}
			s.call(t, "POST", "/v1/episodes/"+got.ID.String()+"/complete", &c, nil)
		}
		ids = append(ids, got.ID.String())
	}
	return ids
}

// --- the page ---

// page drives one tab against one server.
type page struct {
	t   *testing.T
	ctx context.Context
	srv *testServer
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

func eval[T any](p *page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// ready waits until the view has rendered (main.js marks it ready).
func (p *page) ready(view string) {
	p.t.Helper()
	p.do(chromedp.WaitReady(chromedp.CSS(`#view[data-state="ready"][data-view="` + view + `"]`)))
}

// open loads the console at hash and waits for the view.
func (p *page) open(hash, view string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.srv.url + "/" + hash))
	p.ready(view)
}

// show switches the view by the location's hash, as a link does.
func (p *page) show(hash, view string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('view').dataset.state = 'switching'; location.hash = ` + strconv.Quote(hash)))
	p.ready(view)
}

// submit submits a form of the view, and waits for the view it leads to.
func (p *page) submit(form, view string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('view').dataset.state = 'switching'; document.getElementById(` + strconv.Quote(form) + `).requestSubmit()`))
	p.ready(view)
}

func (p *page) texts(sel string) []string {
	p.t.Helper()
	return eval[[]string](p, `[...document.querySelectorAll(`+strconv.Quote(sel)+`)].map((e) => e.textContent)`)
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s := p.texts(sel)
	if len(s) != 1 {
		p.t.Fatalf("%s: %d elements (%q), want 1", sel, len(s), s)
	}
	return s[0]
}

// chart is what a chart was given to draw: uPlot's data (x first) and the
// category labels of a bar chart.
type chart struct {
	Data   [][]*float64 `json:"data"`
	Labels []string     `json:"labels"`
}

func (p *page) chart(id string) chart {
	p.t.Helper()
	c := eval[*chart](p, `(() => { const el = document.getElementById(`+strconv.Quote(id)+`);
		return el && el.__chart ? { data: el.__chart.data, labels: el.__labels } : null })()`)
	if c == nil {
		p.t.Fatalf("chart %s was not drawn", id)
	}
	// A chart that drew must have a canvas.
	if n := eval[int](p, `document.querySelectorAll('#`+id+` canvas').length`); n == 0 {
		p.t.Fatalf("chart %s has no canvas", id)
	}
	return *c
}

func newPage(t *testing.T, srv *testServer) *page {
	return &page{t: t, ctx: tab(t), srv: srv}
}

// login loads the console, which asks for a token, and enters it.
func (p *page) login() {
	p.t.Helper()
	p.open("", "episodes")
	if got := p.text("#notice"); !strings.Contains(got, "needs a bearer token") {
		p.t.Fatalf("without a token the notice says %q", got)
	}
	p.do(chromedp.SendKeys(chromedp.ID("token-input"), p.srv.token),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('view').dataset.state = 'switching'`),
		chromedp.Click(chromedp.ID("token-save")))
	p.ready("episodes")
	if hidden := eval[bool](p, `document.getElementById('notice').hidden`); !hidden {
		p.t.Fatalf("the token notice stays after a good token: %q", p.text("#notice"))
	}
	// Kept in this tab's sessionStorage only: no cookie, not in the URL or
	// localStorage, and the input is emptied.
	if got := eval[string](p, `sessionStorage.getItem('engram.token')`); got != p.srv.token {
		p.t.Fatalf("sessionStorage holds %q", got)
	}
	if got := eval[string](p, `document.cookie + '|' + location.href + '|' + JSON.stringify(localStorage) + '|' + document.getElementById('token-input').value`); strings.Contains(got, p.srv.token) {
		p.t.Fatalf("the token is visible outside sessionStorage: %q", got)
	}
}

// --- the tests ---

// TestConsole seeds five episodes across three days, two patterns and a
// heuristic, then walks every view: the list and its filters, an
// episode's timeline, patterns, heuristics, recall, the insights charts
// (checked against counts computed here from the seed) and the status
// figures (checked against /v1/status).
func TestConsole(t *testing.T) {
	srv := startServer(t, nil)
	seeds := []seedEpisode{
		{daysAgo: 3, taskType: engram.TaskCodeGeneration, desc: "write the parser", domain: "web", tags: []string{"alpha"},
			steps:   []engram.Step{step("read_file", "read grammar.txt", engram.ResultSuccess, "ok", 40), step("run_tests", "go test ./parser", engram.ResultError, "assertion failed", 120)},
			outcome: &engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "parser works"}, reward: 0.9},
		{daysAgo: 3, taskType: engram.TaskDebugging, desc: "fix the flaky upload", domain: "web", tags: []string{"beta"},
			steps:   []engram.Step{step("run_tests", "go test ./upload", engram.ResultTimeout, "timed out after 900ms", 900)},
			outcome: &engram.Outcome{Type: engram.OutcomeFailure, Reason: "tests time out"}, reward: 0.1},
		{daysAgo: 2, taskType: engram.TaskCodeGeneration, desc: "add the export command", domain: "cli", tags: []string{"alpha"},
			steps:   []engram.Step{step("read_file", "read main.go", engram.ResultSuccess, "ok", 20), step("write_file", "write export.go", engram.ResultSuccess, "ok", 30)},
			outcome: &engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "done"}, reward: 0.8},
		{daysAgo: 1, taskType: engram.TaskTesting, desc: "cover the importer", domain: "cli", tags: []string{"gamma"},
			steps: []engram.Step{step("run_tests", "go test ./importer", engram.ResultSuccess, "PASS", 200)}},
		{daysAgo: 1, taskType: engram.TaskDebugging, desc: "track down the leak", domain: "web", tags: []string{"beta"},
			steps:   []engram.Step{step("read_file", "read pprof.txt", engram.ResultSuccess, "ok", 10)},
			outcome: &engram.Outcome{Type: engram.OutcomePartialSuccess, Verdict: "half", Completed: []string{"found it"}, Failed: []string{"fix"}}, reward: 0.5},
	}
	ids := srv.seed(t, seeds)
	srv.call(t, "POST", "/v1/patterns", &engram.Pattern{Kind: engram.PatternToolSequence, Tools: []string{"read_file", "run_tests"}, Domain: "web", SuccessRate: 0.75, OccurrenceCount: 4}, nil)
	srv.call(t, "POST", "/v1/patterns", &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "timeout", RecoverySteps: []string{"raise the limit", "retry"}, Domain: "web", SuccessRate: 0.5, OccurrenceCount: 2}, nil)
	srv.call(t, "POST", "/v1/heuristics", &engram.Heuristic{Condition: "tests time out", Action: "run them with -short", Confidence: 0.8, Domain: "web"}, nil)
	// A few reads, so the RAM tier has hits to show.
	for range 3 {
		srv.call(t, "GET", "/v1/episodes/"+ids[0], nil, nil)
	}
	out := outDir(t)
	p := newPage(t, srv)
	p.login()

	// The list: newest first, every seeded episode once.
	descs := p.texts("#episode-table tbody tr td[data-col=description]")
	want := []string{"track down the leak", "cover the importer", "add the export command", "write the parser", "fix the flaky upload"}
	if got := slices.Sorted(slices.Values(descs)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("episode list: %q, want %q", descs, want)
	}
	if descs[0] != "track down the leak" && descs[0] != "cover the importer" {
		t.Errorf("the list is not newest first: %q", descs)
	}
	if got := p.text("#episode-count"); got != "5 episodes" {
		t.Errorf("count line %q", got)
	}
	screenshot(t, p.ctx, out, "episodes")

	// Filters, by the hash and by the form.
	for _, c := range []struct {
		hash string
		want []string
	}{
		{"task_type=debugging", []string{"fix the flaky upload", "track down the leak"}},
		{"outcome=failure", []string{"fix the flaky upload"}},
		{"outcome=open", []string{"cover the importer"}},
		{"outcome=success", []string{"add the export command", "write the parser"}},
		{"tag=alpha", []string{"add the export command", "write the parser"}},
		{"domain=cli", []string{"add the export command", "cover the importer"}},
		{"domain=web&outcome=partial_success", []string{"track down the leak"}},
	} {
		p.show("#/episodes?"+c.hash, "episodes")
		if got := slices.Sorted(slices.Values(p.texts("#episode-table td[data-col=description]"))); !slices.Equal(got, c.want) {
			t.Errorf("filter %s: %q, want %q", c.hash, got, c.want)
		}
	}
	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('f-task-type').value = 'code_generation';
		document.getElementById('f-domain').value = ''; document.getElementById('f-outcome').value = ''`))
	p.submit("episode-filters", "episodes")
	if got := p.texts("#episode-table td[data-col=task_type]"); !slices.Equal(got, []string{"code_generation", "code_generation"}) {
		t.Errorf("the filter form for code_generation lists %q", got)
	}
	if h := eval[string](p, `location.hash`); h != "#/episodes?task_type=code_generation" {
		t.Errorf("the filter form leads to %q", h)
	}

	// One episode: its steps on the timeline, in order, with results.
	p.show("#/episode/"+ids[0], "episode")
	if got := p.text("#episode-title"); got != "write the parser" {
		t.Errorf("episode title %q", got)
	}
	if got := p.texts("#step-timeline li.step [data-col=tool]"); !slices.Equal(got, []string{"read_file", "run_tests"}) {
		t.Errorf("timeline tools %q", got)
	}
	if got := p.texts("#step-timeline [data-col=message]"); !slices.Equal(got, []string{"assertion failed"}) {
		t.Errorf("timeline messages %q", got)
	}
	// The bars sit at the steps' offsets: 10 s and 20 s into a 5 min episode.
	if got := eval[[]string](p, `[...document.querySelectorAll('#step-timeline .bar')].map((b) => b.style.marginLeft)`); !slices.Equal(got, []string{"3.33%", "6.67%"}) {
		t.Errorf("timeline bar offsets %q, want 10 s and 20 s of 300 s", got)
	}
	if got := p.text("#episode-outcome"); got != "success" {
		t.Errorf("outcome badge %q", got)
	}
	screenshot(t, p.ctx, out, "episode")

	// Patterns and heuristics.
	p.show("#/patterns", "patterns")
	if got := slices.Sorted(slices.Values(p.texts("#pattern-table td[data-col=summary]"))); !slices.Equal(got, []string{"read_file → run_tests", "timeout: raise the limit → retry"}) {
		t.Errorf("patterns %q", got)
	}
	p.show("#/patterns?kind=error_recovery", "patterns")
	if got := p.texts("#pattern-table td[data-col=summary]"); !slices.Equal(got, []string{"timeout: raise the limit → retry"}) {
		t.Errorf("error_recovery patterns %q", got)
	}
	p.show("#/heuristics", "heuristics")
	if got := p.texts("#heuristic-table td[data-col=action]"); !slices.Equal(got, []string{"run them with -short"}) {
		t.Errorf("heuristics %q", got)
	}
	if got := p.texts("#heuristic-table td[data-col=confidence]"); !slices.Equal(got, []string{"0.80"}) {
		t.Errorf("heuristic confidence %q", got)
	}

	// Search: this memory recalls, so the text goes to /v1/recall.
	p.show("#/search?q=parser", "search")
	if mode := eval[string](p, `document.getElementById('search-mode').dataset.mode || ''`); mode != "recall" {
		t.Errorf("search mode %q (%s), want recall", mode, p.text("#search-mode"))
	}
	if got := p.texts("#search-results li.hit a"); !slices.Contains(got, "write the parser") {
		t.Errorf("search for parser: %q", got)
	}

	// Status: the figures the page shows are /v1/status's.
	p.show("#/status", "status")
	checkStatus(t, p, srv)
	screenshot(t, p.ctx, out, "status")

	// Insights: the charts' points against counts of the seed.
	p.show("#/insights", "insights")
	screenshot(t, p.ctx, out, "insights")
	if got := p.texts("#insights-unavailable, #insights-error"); len(got) > 0 {
		t.Fatalf("insights: %s (this test passes once GET /v1/insights answers)", got[0])
	}
	checkInsights(t, p, seeds)

	// The console's own requests carried the token.
	srv.watch.mu.Lock()
	apiCalls, anon := srv.watch.api, srv.watch.anon
	srv.watch.mu.Unlock()
	// Exactly one request went without a token: the first, which asked for it.
	if apiCalls < 10 || anon != 1 {
		t.Errorf("the console made %d API requests, %d without a token (want 1: the first)", apiCalls, anon)
	}
}

// checkStatus compares the status view with /v1/status. Background work
// (fills, a sync a write set off) may change figures at any time, so the
// view is compared with the answer only when the answers before and after
// the view's own read agree; otherwise the view is refreshed and compared
// again.
func checkStatus(t *testing.T, p *page, srv *testServer) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		var before, after engram.Status
		srv.call(t, "GET", "/v1/status", nil, &before)
		p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('status-body').dataset.state = 'switching'; document.getElementById('status-refresh').click()`),
			chromedp.WaitReady(chromedp.CSS(`#status-body[data-state="ready"]`)))
		shown := map[string]string{}
		for sel := range statusFigures(&before) {
			if got := p.texts(sel); len(got) == 1 {
				shown[sel] = got[0]
			}
		}
		srv.call(t, "GET", "/v1/status", nil, &after)
		want := statusFigures(&before)
		if !maps.Equal(want, statusFigures(&after)) {
			if attempt == 20 {
				t.Fatalf("/v1/status never held still across a refresh of the view")
			}
			continue
		}
		for sel, w := range want {
			if shown[sel] != w {
				t.Errorf("status %s shows %q, want %q", sel, shown[sel], w)
			}
		}
		if before.LastSeq == 0 || len(before.Tiers) != 3 {
			t.Errorf("status after the seed: last_seq %d, %d tiers", before.LastSeq, len(before.Tiers))
		}
		for _, tier := range before.Tiers {
			if hits, _ := tier.Stats["hits"].(float64); tier.Tier == engram.TierRAM && hits < 3 {
				t.Errorf("RAM hits %v after three reads of a cached episode", hits)
			}
			if tier.Tier == engram.TierDurable && tier.Stats["breaker"] != "closed" {
				t.Errorf("durable breaker %v with the store up", tier.Stats["breaker"])
			}
		}
		return
	}
}

// statusFigures is what the status view must show for st: by selector,
// the text of the element.
func statusFigures(st *engram.Status) map[string]string {
	out := map[string]string{}
	for k, v := range map[string]uint64{"last_seq": st.LastSeq, "watermark": st.Watermark, "lag": st.Lag} {
		out[`#status-sync [data-field="`+k+`"]`] = strconv.FormatUint(v, 10)
	}
	num := func(v any) string { f, _ := v.(float64); return strconv.FormatFloat(f, 'f', -1, 64) }
	for _, tier := range st.Tiers {
		sel := `#status-tiers [data-tier="` + string(tier.Tier) + `"] `
		out[sel+`[data-field=state]`] = tier.State
		switch tier.Tier {
		case engram.TierRAM, engram.TierCache:
			rate, _ := tier.Stats["hit_rate"].(float64)
			out[sel+`[data-stat=hit_rate]`] = fmt.Sprintf("%.1f%%", rate*100)
			out[sel+`[data-stat=hits]`] = num(tier.Stats["hits"])
			out[sel+`[data-stat=misses]`] = num(tier.Stats["misses"])
			out[sel+`[data-stat=entries]`] = num(tier.Stats["entries"])
		case engram.TierDurable:
			out[sel+`[data-stat=breaker]`] = fmt.Sprint(tier.Stats["breaker"])
		}
	}
	return out
}

// checkInsights compares the charts with what the seed implies: per UTC
// day the episodes started; per task type the success rate over the
// completed ones; per tool the error rate (error and timeout results).
func checkInsights(t *testing.T, p *page, seeds []seedEpisode) {
	t.Helper()
	perDay := map[int64]float64{}
	type agg struct{ episodes, completed, success, uses, errs float64 }
	tasks, tools := map[string]*agg{}, map[string]*agg{}
	for _, s := range seeds {
		perDay[day(s.daysAgo).Unix()]++
		a := tasks[string(s.taskType)]
		if a == nil {
			a = &agg{}
			tasks[string(s.taskType)] = a
		}
		a.episodes++
		if s.outcome != nil {
			a.completed++
			if s.outcome.Type == engram.OutcomeSuccess {
				a.success++
			}
		}
		for _, st := range s.steps {
			u := tools[st.Tool]
			if u == nil {
				u = &agg{}
				tools[st.Tool] = u
			}
			u.uses++
			if st.Result.Type != engram.ResultSuccess {
				u.errs++
			}
		}
	}

	tl := p.chart("chart-timeline")
	if len(tl.Data) != 3 {
		t.Fatalf("timeline chart has %d series, want x, episodes, success rate", len(tl.Data))
	}
	got := map[int64]float64{}
	for i, x := range tl.Data[0] {
		if x == nil || tl.Data[1][i] == nil {
			t.Fatalf("timeline point %d is null", i)
		}
		if *tl.Data[1][i] != 0 {
			got[int64(*x)] = *tl.Data[1][i]
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(perDay) {
		t.Errorf("timeline episodes per day %v, want %v", got, perDay)
	}
	if n := len(tl.Data[0]); n < 30 || n > 32 {
		t.Errorf("timeline has %d buckets for 30 days by day", n)
	}

	checkBars(t, p.chart("chart-task-types"), tasks, func(a *agg) float64 {
		if a.completed == 0 {
			return 0
		}
		return a.success / a.completed
	})
	checkBars(t, p.chart("chart-tool-errors"), tools, func(a *agg) float64 { return a.errs / a.uses })
	lat := p.chart("chart-tool-latency")
	if len(lat.Data) != 3 || len(lat.Labels) != len(tools) {
		t.Errorf("latency chart: %d series over %q", len(lat.Data), lat.Labels)
	}
}

// checkBars compares a bar chart's categories and values with want.
func checkBars[A any](t *testing.T, c chart, want map[string]A, value func(A) float64) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := slices.Sorted(slices.Values(c.Labels)); !slices.Equal(got, keys) {
		t.Errorf("bar chart categories %q, want %q", c.Labels, keys)
		return
	}
	for i, label := range c.Labels {
		v := c.Data[1][i]
		w := value(want[label])
		if v == nil || math.Abs(*v-w) > 1e-9 {
			t.Errorf("bar %s = %v, want %v", label, v, w)
		}
	}
}

// The hostile texts of the issue, in every field the console shows.
const (
	hostileScript = `<script>window.__pwned=1</script>`
	hostileImg    = `"><img src=x onerror=window.__pwned=1>`
)

// TestConsoleHostileText stores markup in an episode's description,
// domain, tags, step tool, action and message, a pattern and a heuristic,
// and checks every view shows it as text (tags allow only [a-z0-9_-]): no element it names exists and
// no script of it ran. The page's CSP is checked to block inline script
// and eval on its own.
func TestConsoleHostileText(t *testing.T) {
	srv := startServer(t, nil)
	ids := srv.seed(t, []seedEpisode{{daysAgo: 1, taskType: engram.TaskDebugging, desc: hostileScript, domain: hostileImg, tags: []string{"hostile"},
		steps:   []engram.Step{step(hostileImg, hostileScript, engram.ResultError, hostileImg, 5)},
		outcome: &engram.Outcome{Type: engram.OutcomeFailure, Reason: hostileScript}}})
	srv.call(t, "POST", "/v1/patterns", &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: hostileScript, RecoverySteps: []string{hostileImg}, Domain: hostileImg}, nil)
	srv.call(t, "POST", "/v1/heuristics", &engram.Heuristic{Condition: hostileScript, Action: hostileImg, Confidence: 0.5}, nil)
	out := outDir(t)
	p := newPage(t, srv)
	p.login()

	noScriptRan := func(where string) {
		t.Helper()
		if got := eval[string](p, `typeof window.__pwned`); got != "undefined" {
			t.Fatalf("%s: the hostile text ran (window.__pwned is %s)", where, got)
		}
		if n := eval[int](p, `document.querySelectorAll('main img, main script, main [onerror]').length`); n != 0 {
			t.Fatalf("%s: the hostile text became %d elements", where, n)
		}
	}
	if got := p.texts("#episode-table td[data-col=description]"); !slices.Equal(got, []string{hostileScript}) {
		t.Errorf("list description %q", got)
	}
	if got := p.texts("#episode-table td[data-col=domain]"); !slices.Equal(got, []string{hostileImg}) {
		t.Errorf("list domain %q", got)
	}
	noScriptRan("episode list")
	p.show("#/episode/"+ids[0], "episode")
	if got := p.text("#episode-title"); got != hostileScript {
		t.Errorf("episode title %q", got)
	}
	if got := p.texts("#step-timeline [data-col=tool]"); !slices.Equal(got, []string{hostileImg}) {
		t.Errorf("step tool %q", got)
	}
	if got := p.texts("#step-timeline [data-col=action]"); !slices.Equal(got, []string{hostileScript}) {
		t.Errorf("step action %q", got)
	}
	if got := p.texts("#step-timeline [data-col=message]"); !slices.Equal(got, []string{hostileImg}) {
		t.Errorf("step message %q", got)
	}
	if got := p.text(`#episode-outcome-detail [data-field=reason]`); got != hostileScript {
		t.Errorf("outcome reason %q", got)
	}
	screenshot(t, p.ctx, out, "hostile-episode")
	noScriptRan("episode")
	p.show("#/patterns", "patterns")
	if got := p.texts("#pattern-table td[data-col=summary]"); !slices.Equal(got, []string{hostileScript + ": " + hostileImg}) {
		t.Errorf("pattern summary %q", got)
	}
	noScriptRan("patterns")
	p.show("#/heuristics", "heuristics")
	if got := p.texts("#heuristic-table td[data-col=condition]"); !slices.Equal(got, []string{hostileScript}) {
		t.Errorf("heuristic condition %q", got)
	}
	noScriptRan("heuristics")
	p.show("#/search?q=pwned", "search")
	noScriptRan("search")
	p.show("#/insights", "insights")
	noScriptRan("insights")

	// The policy on its own: an inline script and eval are refused even
	// when something puts them in the page.
	if got := eval[string](p, `(() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1';
		document.body.appendChild(s); return typeof window.__inline })()`); got != "undefined" {
		t.Errorf("an inline script ran: window.__inline is %s", got)
	}
	evalRes, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(() => { try { eval('1'); return 'eval ran' } catch (e) { return e.name } })()`,
		func(ep *runtime.EvaluateParams) { no := false; ep.AllowUnsafeEvalBlockedByCSP = &no }))
	if err != nil || evalRes != "EvalError" {
		t.Errorf("eval under the console's CSP: %q %v, want EvalError", evalRes, err)
	}
}

// plainStore hides every optional interface of the store (insights,
// recall, status), as a server over a store without them sees it.
type plainStore struct{ engram.Store }

// TestConsoleWithoutInsights serves a store that can neither summarise nor
// recall: the insights view says insights are unavailable, and search
// falls back to the keyword search.
func TestConsoleWithoutInsights(t *testing.T) {
	srv := startServer(t, func(s engram.Store) engram.Store { return plainStore{s} })
	srv.seed(t, []seedEpisode{{daysAgo: 1, taskType: engram.TaskTesting, desc: "index the manuals", domain: "docs"}})
	p := newPage(t, srv)
	p.login()
	p.show("#/insights", "insights")
	if got := p.text("#insights-unavailable"); !strings.HasPrefix(got, "Insights unavailable") {
		t.Errorf("insights without an insighter: %q", got)
	}
	if n := eval[int](p, `document.querySelectorAll('#view canvas').length`); n != 0 {
		t.Errorf("%d charts drawn without insights", n)
	}
	p.show("#/search?q=manuals", "search")
	if mode := eval[string](p, `document.getElementById('search-mode').dataset.mode || ''`); mode != "keyword" {
		t.Errorf("search mode %q (%s), want keyword", mode, p.text("#search-mode"))
	}
	if got := p.texts("#search-results li.hit a"); len(got) != 1 || !strings.Contains(got[0], "manuals") {
		t.Errorf("keyword search hits %q", got)
	}
	// A store without tier status: the server reports one durable tier.
	p.show("#/status", "status")
	if got := p.texts("#status-tiers [data-tier]"); len(got) != 1 || p.text(`[data-tier=durable] [data-field=state]`) != "ok" {
		t.Errorf("status of a plain store: %q", got)
	}
}
