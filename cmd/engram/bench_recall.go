package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/vector/vectortest"
)

// recallBenchConfig is what engram bench recall runs.
type recallBenchConfig struct {
	episodes int
	seed     uint64
	workDir  string // "": a temporary directory, removed after
	server   string // "": start engram serve on workDir's data directory
	token    string
	ns       engram.Namespace
	clients  []int
	duration time.Duration
	modes    []string // of recallModes
	check    int      // answers decoded and checked per client per run, then every 50th
	batch    int      // episodes per seeding batch
	// engram runs engram serve as a subprocess; nil: this executable.
	engram func(args ...string) *exec.Cmd
	log    io.Writer
	// bar returns a progress bar of max steps, or nil (not a terminal).
	bar func(what string, max int) *progressbar.ProgressBar
}

// The queries of each mode: hybrid is text + vector + a domain filter that
// allows about a tenth of the episodes; filtered is the vector and the
// filter without the text.
var recallModes = []string{"hybrid", "vector", "text", "filtered"}

const recallQueries = 512 // distinct queries, cycled

// RecallBenchRun is one mode at one client count.
type RecallBenchRun struct {
	BenchResult
	Checked    int `json:"answers_checked"`
	Hits       int `json:"hits_checked"`
	Empty      int `json:"empty_answers"`
	Violations int `json:"violations"`
}

// RecallBenchResult is what engram bench recall prints.
type RecallBenchResult struct {
	Command  string           `json:"command"`
	Episodes int              `json:"episodes"`
	Dim      int              `json:"dim"`
	Seeded   bool             `json:"seeded"` // false: an earlier run's data was reused
	SeedTime time.Duration    `json:"seed_ns"`
	Server   string           `json:"server"`
	Runs     []RecallBenchRun `json:"runs"`
	// Violations lists the first answers' hits that broke the filter (or
	// were no episode of the data set).
	Violations []string `json:"violation_samples,omitempty"`
}

func (a *app) benchRecallCmd() *cobra.Command {
	c := recallBenchConfig{log: a.stderr}
	var clients, modes string
	var seed int64
	cmd := &cobra.Command{
		Use:   "recall",
		Short: "Measure hybrid recall (text + vector + filter) over HTTP, and check its answers",
		Long: `Seed --episodes episodes (task descriptions, steps, tags, domains from a seeded
generator) with 384-d clustered embeddings into a data directory under
--work-dir (reused when an earlier run seeded the same --episodes and --seed),
start engram serve on it (or use --server, seeding it through the batch API
when it lacks the data), and send POST /v1/recall from each of --clients:
  hybrid    text (two words) + vector + a domain filter allowing ~10% of episodes
  vector    the vector alone
  text      the text alone
  filtered  the vector and the filter, without the text
Each run prints req/s, p50, p90, p99, max and errors; requests still in
flight when --duration ends are waited for and counted. The first --check
answers of each client and every 50th after are decoded and every hit is
checked: it must be an episode of the data set whose domain, as generated,
is the filter's (and the record sent must match the filter too). Violations
are counted and printed, and make the command fail.

Example:
  engram bench recall --work-dir /tmp/bench-recall
  engram bench recall --episodes 20000 --clients 2,32 --duration 5s --modes hybrid`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if c.clients, err = parseInts(clients); err != nil {
				return usagef("--clients: %v", err)
			}
			c.modes = strings.Split(modes, ",")
			for _, m := range c.modes {
				if !slices.Contains(recallModes, m) {
					return usagef("--modes: %q is not one of %s", m, strings.Join(recallModes, ", "))
				}
			}
			if c.episodes < 10 || c.duration <= 0 || c.batch < 1 || c.check < 0 {
				return usagef("--episodes must be at least 10, --duration positive, --batch at least 1, --check not negative")
			}
			c.seed, c.server, c.token, c.ns = uint64(seed), strings.TrimSuffix(a.server, "/"), a.token, a.ns
			c.bar = func(what string, max int) *progressbar.ProgressBar {
				if !isTerminal(a.stderr) || a.output != "text" {
					return nil
				}
				return progressbar.NewOptions(max, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(what),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			}
			res, err := benchRecall(cmd.Context(), c)
			if res != nil {
				res.Command = "engram " + strings.Join(os.Args[1:], " ")
				if perr := a.print(res, func(w io.Writer) { res.writeText(w) }); perr != nil && err == nil {
					err = perr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.episodes, "episodes", 100_000, "episodes (each with one embedding) in the data set")
	f.Int64Var(&seed, "seed", 1, "the generator's seed (episodes, embeddings, queries)")
	f.StringVar(&c.workDir, "work-dir", "", "directory for the data directory, kept and reused (default: a temporary one, removed after)")
	f.StringVar(&clients, "clients", "1,2,32", "concurrent clients, comma-separated: one run per count and mode")
	f.StringVar(&modes, "modes", strings.Join(recallModes, ","), "query modes, comma-separated: hybrid, vector, text, filtered")
	f.DurationVar(&c.duration, "duration", 10*time.Second, "how long each run lasts")
	f.IntVar(&c.check, "check", 20, "answers checked per client per run before checking every 50th")
	f.IntVar(&c.batch, "batch", 1000, "episodes per batch while seeding")
	return cmd
}

func (c *recallBenchConfig) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "bench recall: "+format+"\n", args...)
	}
}

// The generator's vocabulary. Ten domains, uniformly drawn: a domain filter
// allows about a tenth of the episodes.
var (
	recallDomains = []string{"payments", "search", "auth", "billing", "infra", "mobile", "data-pipeline", "ml-serving", "frontend", "observability"}
	recallLangs   = []string{"go", "python", "typescript", "rust", "java"}
	recallVerbs   = []string{"fix", "add", "refactor", "speed up", "debug", "migrate", "document", "test", "remove", "harden"}
	recallObjects = []string{"the retry loop", "the cache invalidation", "the checkout flow", "the schema migration", "the rate limiter",
		"the login handler", "the index rebuild", "the webhook consumer", "the report export", "the feature flag service",
		"the session store", "the search ranking", "the upload pipeline", "the billing cron", "the alert router", "the config loader"}
	recallQualifiers = []string{"under load", "after the upgrade", "for large tenants", "behind the proxy", "in CI", "on cold start",
		"with partial failures", "across regions", "during failover", "for the mobile client", "at midnight UTC", "with stale tokens"}
	recallTags  = []string{"flaky", "regression", "perf", "security", "oncall", "customer", "tech-debt", "p1", "p2", "backend", "frontend", "infra"}
	recallTools = []string{"grep", "go test", "git diff", "curl", "psql", "kubectl logs", "pytest", "npm test", "jq", "strace"}
	recallStart = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
)

// recallEpisode returns episode i of the data set of seed: the same
// episode every time (its own random stream), id vectortest.Key(seed, i).
func recallEpisode(seed uint64, i int) *engram.Episode {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	domain := recallDomains[r.IntN(len(recallDomains))]
	start := recallStart.Add(time.Duration(i) * time.Minute)
	end := start.Add(time.Duration(30+r.IntN(600)) * time.Second)
	ep := &engram.Episode{
		ID:              engram.EpisodeID{UUID: vectortest.Key(seed, i)},
		TaskType:        []engram.TaskType{engram.TaskDebugging, engram.TaskCodeGeneration, engram.TaskRefactoring, engram.TaskTesting}[r.IntN(4)],
		TaskDescription: pick(recallVerbs) + " " + pick(recallObjects) + " " + pick(recallQualifiers) + " in " + domain,
		Context:         engram.TaskContext{Language: pick(recallLangs), Domain: domain, Tags: []string{pick(recallTags)}},
		StartTime:       start,
		EndTime:         &end,
		Outcome:         &engram.Outcome{Type: engram.OutcomeSuccess, Verdict: pick(recallVerbs) + " done: " + pick(recallObjects)},
		Tags:            []string{pick(recallTags), pick(recallTags)},
		Metadata:        map[string]string{"agent": "bench-recall", "run": strconv.Itoa(i / 100)},
	}
	for s := 1; s <= 3; s++ {
		ep.Steps = append(ep.Steps, engram.Step{StepNumber: s, Timestamp: start.Add(time.Duration(s) * time.Second), Tool: pick(recallTools),
			Action: "inspect " + pick(recallObjects) + " " + pick(recallQualifiers),
			Result: &engram.StepResult{Type: engram.ResultSuccess, Output: pick(recallObjects) + " " + pick(recallQualifiers)}, LatencyMS: r.Int64N(4000)})
	}
	return ep
}

// recallQuery is one query of the bench: its text and vector, and the
// filter the hybrid mode adds.
type recallQuery struct {
	text   string
	vector []float32
	filter engram.EpisodeFilter
}

// recallData is the data set's generator state: the vectors' sampler, the
// domain of every episode (the truth the answers are checked against) and
// the queries.
type recallData struct {
	seed    uint64
	sampler *vectortest.Sampler
	domains map[engram.UUID]string
	queries []recallQuery
}

func newRecallData(seed uint64, n int) *recallData {
	d := &recallData{seed: seed, sampler: vectortest.New(vectortest.Gen{Seed: seed}), domains: make(map[engram.UUID]string, n)}
	for i := range n {
		d.domains[vectortest.Key(seed, i)] = recallEpisode(seed, i).Context.Domain
	}
	return d
}

// vectors returns the embeddings of episodes [from, to): the sampler's next
// to-from draws (so call it in order, from 0).
func (d *recallData) vectors(from, to int) []*engram.Embedding {
	embs := make([]*engram.Embedding, 0, to-from)
	for i := from; i < to; i++ {
		embs = append(embs, &engram.Embedding{ItemID: vectortest.Key(d.seed, i), ItemType: engram.ItemEpisode, Vector: d.sampler.Vector()})
	}
	return embs
}

// makeQueries draws the queries after the n data vectors.
func (d *recallData) makeQueries() {
	r := rand.New(rand.NewPCG(d.seed, 0xbe11c))
	for q := range recallQueries {
		words := strings.Fields(recallObjects[r.IntN(len(recallObjects))])[1:] // without "the"
		text := words[r.IntN(len(words))] + " " + strings.Fields(recallQualifiers[r.IntN(len(recallQualifiers))])[1]
		d.queries = append(d.queries, recallQuery{text: text, vector: d.sampler.Vector(),
			filter: engram.EpisodeFilter{Domain: recallDomains[q%len(recallDomains)]}})
	}
}

// recallMarker, in the work directory, says what the data directory holds.
type recallMarker struct {
	Episodes int    `json:"episodes"`
	Seed     uint64 `json:"seed"`
	Version  int    `json:"version"`
}

const recallMarkerVersion = 1

func benchRecall(ctx context.Context, c recallBenchConfig) (*RecallBenchResult, error) {
	if c.engram == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		c.engram = func(args ...string) *exec.Cmd { return exec.Command(exe, args...) }
	}
	if c.ns == "" {
		c.ns = engram.DefaultNamespace
	}
	dir := c.workDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "engram-bench-recall-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	d := newRecallData(c.seed, c.episodes)
	res := &RecallBenchResult{Episodes: c.episodes, Dim: 384}
	url := c.server
	start := time.Now()
	if url == "" {
		dataDir := filepath.Join(dir, "data")
		seeded, err := c.seedDir(ctx, d, dir, dataDir)
		if err != nil {
			return nil, err
		}
		res.Seeded = seeded
		res.SeedTime = time.Since(start)
		c.logf("starting engram serve on %s", dataDir)
		srv, err := startListening(c.engram("--data-dir", dataDir, "serve", "--listen", "127.0.0.1:0",
			"--log-format", "json", "--log-level", "warn"), engramListening)
		if err != nil {
			return nil, fmt.Errorf("bench recall: engram serve: %w", err)
		}
		defer srv.stop()
		url = srv.url
	} else {
		seeded, err := c.seedServer(ctx, d, url)
		if err != nil {
			return nil, err
		}
		res.Seeded = seeded
		res.SeedTime = time.Since(start)
	}
	if !res.Seeded {
		d.vectors(0, c.episodes) // the queries are drawn after the data's vectors
	}
	d.makeQueries()
	res.Server = url

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	// Warm up: the index opens at the first recall, and the records of
	// the candidates come into the RAM tier.
	c.logf("warming up")
	if _, err := c.run(ctx, hc, d, url, "hybrid", 2, min(c.duration, 3*time.Second), nil); err != nil {
		return nil, err
	}
	var failed error
	for _, mode := range c.modes {
		for _, n := range c.clients {
			c.logf("%s, %d clients", mode, n)
			run, err := c.run(ctx, hc, d, url, mode, n, c.duration, &res.Violations)
			if err != nil {
				return res, err
			}
			res.Runs = append(res.Runs, *run)
			if run.Violations > 0 && failed == nil {
				failed = fmt.Errorf("bench recall: %d hits broke the filter or are no episode of the data set (%s, %d clients)", run.Violations, mode, n)
			}
			if run.Requests == 0 || run.Errors > 0 {
				failed = errors.Join(failed, fmt.Errorf("bench recall: %s, %d clients: %d of %d requests failed", mode, n, run.Errors, run.Requests))
			}
		}
	}
	return res, failed
}

// seedDir fills dataDir through the library, unless the marker in dir
// says an earlier run did. It reports whether it seeded.
func (c *recallBenchConfig) seedDir(ctx context.Context, d *recallData, dir, dataDir string) (bool, error) {
	markerFile := filepath.Join(dir, "bench-recall.json")
	want := recallMarker{Episodes: c.episodes, Seed: c.seed, Version: recallMarkerVersion}
	if b, err := os.ReadFile(markerFile); err == nil {
		var got recallMarker
		if json.Unmarshal(b, &got) == nil && got == want {
			c.logf("reusing %s (%d episodes, seed %d)", dataDir, c.episodes, c.seed)
			return false, nil
		}
	}
	if err := os.RemoveAll(dataDir); err != nil {
		return false, err
	}
	os.Remove(markerFile)
	m, err := memory.Open(ctx, memory.Config{DataDir: dataDir})
	if err != nil {
		return false, err
	}
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	c.logf("seeding %d episodes with embeddings into %s", c.episodes, dataDir)
	if err := seedRecall(ctx, c, d, m, m); err != nil {
		return false, err
	}
	// Build the index now (and save its snapshot at Close) so that the
	// server maps it rather than building it on its first recall.
	c.logf("building the vector index")
	probe := make([]float32, 384) // not drawn: the queries come after the data's draws
	probe[0] = 1
	if _, err := m.Recall(ctx, c.ns, engram.RecallQuery{Vector: probe, Limit: 1}); err != nil {
		return false, fmt.Errorf("bench recall: build the index: %w", err)
	}
	// Rebuild the cache file from the durable store in one pass, so that
	// it is current when engram serve opens it (otherwise the server
	// replays every change of the seeding, one read each, before it
	// listens).
	c.logf("rebuilding the cache file")
	if _, err := m.Sync(ctx, engram.SyncOptions{Full: true}); err != nil {
		return false, fmt.Errorf("bench recall: rebuild the cache: %w", err)
	}
	closed = true
	if err := m.Close(); err != nil {
		return false, err
	}
	b, _ := json.Marshal(want)
	return true, os.WriteFile(markerFile, b, 0o644)
}

// seedServer fills the server's namespace through the batch API unless it
// already holds the data set's first and last episodes.
func (c *recallBenchConfig) seedServer(ctx context.Context, d *recallData, url string) (bool, error) {
	cl, err := client.New(url, client.Options{Token: c.token})
	if err != nil {
		return false, err
	}
	_, err1 := cl.GetEpisode(ctx, c.ns, engram.EpisodeID{UUID: vectortest.Key(c.seed, 0)})
	_, err2 := cl.GetEpisode(ctx, c.ns, engram.EpisodeID{UUID: vectortest.Key(c.seed, c.episodes-1)})
	if err1 == nil && err2 == nil {
		c.logf("%s holds the data set already", url)
		return false, nil
	}
	c.logf("seeding %d episodes with embeddings through %s", c.episodes, url)
	return true, seedRecall(ctx, c, d, cl, cl)
}

type episodeBatcher interface {
	CreateEpisodes(ctx context.Context, ns engram.Namespace, eps []*engram.Episode) error
}

type embeddingBatcher interface {
	PutEmbeddings(ctx context.Context, ns engram.Namespace, embs []*engram.Embedding) error
}

// seedRecall writes the data set in batches: episodes, then their
// embeddings, with a progress bar on a terminal.
func seedRecall(ctx context.Context, c *recallBenchConfig, d *recallData, eps episodeBatcher, embs embeddingBatcher) error {
	var bar *progressbar.ProgressBar
	if c.bar != nil {
		bar = c.bar("seeding", c.episodes)
	}
	for from := 0; from < c.episodes; from += c.batch {
		to := min(from+c.batch, c.episodes)
		batch := make([]*engram.Episode, 0, to-from)
		for i := from; i < to; i++ {
			batch = append(batch, recallEpisode(c.seed, i))
		}
		if err := eps.CreateEpisodes(ctx, c.ns, batch); err != nil {
			return fmt.Errorf("bench recall: seed episodes %d-%d: %w", from, to-1, err)
		}
		if err := embs.PutEmbeddings(ctx, c.ns, d.vectors(from, to)); err != nil {
			return fmt.Errorf("bench recall: seed embeddings %d-%d: %w", from, to-1, err)
		}
		if bar != nil {
			_ = bar.Set(to)
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return nil
}

// recallBody is the JSON of query q in mode.
func recallBody(q *recallQuery, mode string) []byte {
	req := map[string]any{"limit": 10}
	if mode != "text" {
		req["vector"] = q.vector
	}
	if mode == "hybrid" || mode == "text" {
		req["text"] = q.text
	}
	if mode == "hybrid" || mode == "filtered" {
		req["filter"] = map[string]any{"domain": q.filter.Domain}
	}
	b, _ := json.Marshal(req)
	return b
}

// run is one mode at one client count. Answers are checked when
// violations is not nil (the warm-up's are not), and its first samples
// appended there.
func (c *recallBenchConfig) run(ctx context.Context, hc *http.Client, d *recallData, url, mode string, clients int, dur time.Duration, violations *[]string) (*RecallBenchRun, error) {
	bodies := make([][]byte, len(d.queries))
	for i := range d.queries {
		bodies[i] = recallBody(&d.queries[i], mode)
	}
	ns := "?namespace=" + string(c.ns)
	last := make([]int, clients) // the query client w sent last
	seen := make([]int, clients) // answers client w has had
	var (
		mu  sync.Mutex
		out = &RecallBenchRun{}
	)
	answer := func(w int, body io.Reader) error {
		seen[w]++
		if violations == nil || (seen[w] > c.check && seen[w]%50 != 0) {
			return nil
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		var filter *engram.EpisodeFilter
		if mode == "hybrid" || mode == "filtered" {
			filter = &d.queries[last[w]].filter
		}
		hits, bad, err := checkRecallAnswer(b, filter, d.domains)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			return err
		}
		out.Checked++
		out.Hits += hits
		if hits == 0 {
			out.Empty++
		}
		out.Violations += len(bad)
		for _, v := range bad {
			if len(*violations) < 20 {
				*violations = append(*violations, fmt.Sprintf("%s query %d (%q): %s", mode, last[w], d.queries[last[w]].text, v))
			}
		}
		return nil
	}
	res := runLoad(ctx, loadRun{hc: hc, clients: clients, duration: dur, servers: []string{url},
		next: func(w int, r *rand.Rand, server string) *http.Request {
			q := r.IntN(len(bodies))
			last[w] = q
			req, _ := http.NewRequest("POST", server+"/v1/recall"+ns, bytes.NewReader(bodies[q]))
			req.Header.Set("Content-Type", "application/json")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			return req
		},
		answer: answer, finish: true})
	res.Op = mode
	out.BenchResult = *res
	return out, nil
}

// checkRecallAnswer decodes a POST /v1/recall answer and checks each hit:
// it must be an episode of the data set (truth holds its generated
// domain) and, with a filter, its generated domain and the record sent
// must both pass it. It returns the hits and a line per violation.
func checkRecallAnswer(body []byte, filter *engram.EpisodeFilter, truth map[engram.UUID]string) (int, []string, error) {
	var ans struct {
		Hits []struct {
			ItemType engram.ItemType `json:"item_type"`
			ItemID   engram.UUID     `json:"item_id"`
			Record   json.RawMessage `json:"record"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, nil, fmt.Errorf("bench recall: decode an answer: %w", err)
	}
	var bad []string
	for _, h := range ans.Hits {
		domain, ok := truth[h.ItemID]
		if h.ItemType != engram.ItemEpisode || !ok {
			bad = append(bad, fmt.Sprintf("hit %s %s is no episode of the data set", h.ItemType, h.ItemID))
			continue
		}
		if filter == nil {
			continue
		}
		var ep engram.Episode
		if err := json.Unmarshal(h.Record, &ep); err != nil {
			return 0, nil, fmt.Errorf("bench recall: decode the record of hit %s: %w", h.ItemID, err)
		}
		switch {
		case domain != filter.Domain:
			bad = append(bad, fmt.Sprintf("episode %s was generated in domain %q; the filter asks for %q", h.ItemID, domain, filter.Domain))
		case ep.ID.UUID != h.ItemID || !engram.MatchEpisode(&ep, filter):
			bad = append(bad, fmt.Sprintf("the record sent for episode %s (id %s, domain %q) does not pass the filter %q", h.ItemID, ep.ID, ep.Context.Domain, filter.Domain))
		}
	}
	return len(ans.Hits), bad, nil
}

func (r *RecallBenchResult) writeText(w io.Writer) {
	how := "reused"
	if r.Seeded {
		how = "seeded in " + r.SeedTime.Round(time.Second).String()
	}
	fmt.Fprintf(w, "%s\n%d episodes with %d-d embeddings (%s), server %s\n", r.Command, r.Episodes, r.Dim, how, r.Server)
	for _, run := range r.Runs {
		fmt.Fprintf(w, "%-6s %2d clients: %6.0f req/s, p50 %s, p90 %s, p99 %s, max %s, %d errors, %d requests; checked %d answers (%d hits, %d empty), %d violations (load average %s, then %s)\n",
			run.Op, run.Clients, run.RPS, roundDur(run.P50), roundDur(run.P90), roundDur(run.P99), roundDur(run.Max), run.Errors, run.Requests,
			run.Checked, run.Hits, run.Empty, run.Violations, run.LoadStart, run.LoadEnd)
	}
	for _, v := range r.Violations {
		fmt.Fprintf(w, "violation: %s\n", v)
	}
}
