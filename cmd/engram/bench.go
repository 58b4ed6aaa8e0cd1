package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/internal/latency"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a running engram server",
	}
	var (
		op          string
		clients     []int
		seed        int
		duration    time.Duration
		maxRequests int
		nodes       []string
	)
	httpCmd := &cobra.Command{
		Use:   "http",
		Short: "Measure requests/s and latency percentiles of one operation against --server",
		Long: `Send one kind of request to the server --server names from --clients
concurrent connections until --duration passes or --requests are done, and
print the request rate and latency percentiles. --clients may list several
counts (2,32): each is a run of its own, one after the other, on a fresh
batch of requests. Operations:
  get-episode     GET /v1/episodes/{id} of episodes written beforehand (--seed of them)
  create-episode  POST /v1/episodes of a small episode with two steps

--nodes names more servers sharing --server's durable store (engram serve
--durable postgres://... on each): the clients are spread over all of them,
and the episodes a get-episode run reads are written through --server.

Example:
  engram serve --data-dir /tmp/bench &
  engram bench http --server http://127.0.0.1:7437 --op get-episode --clients 32 --duration 10s
  engram bench http --server http://127.0.0.1:7437 --op create-episode --clients 2,32`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.server == "" {
				return usagef("engram bench http needs --server (or ENGRAM_SERVER)")
			}
			if len(clients) == 0 || slices.Min(clients) < 1 || duration <= 0 {
				return usagef("--clients must be at least 1 and --duration positive")
			}
			var results []*BenchResult
			for _, n := range clients {
				res, err := benchHTTP(cmd.Context(), benchConfig{server: strings.TrimSuffix(a.server, "/"), token: a.token, ns: a.ns,
					op: op, clients: n, duration: duration, maxRequests: maxRequests, seed: seed, nodes: trimSlashes(nodes)})
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			text := func(w io.Writer) {
				for _, res := range results {
					fmt.Fprintf(w, "%s, %d clients on %d nodes: %d requests in %s, %.0f req/s, p50 %s, p90 %s, p99 %s, max %s, %d errors (load average %s, then %s)\n",
						res.Op, res.Clients, res.Nodes, res.Requests, res.Elapsed.Round(time.Millisecond), res.RPS,
						res.P50, res.P90, res.P99, res.Max, res.Errors, res.LoadStart, res.LoadEnd)
				}
			}
			if len(results) == 1 {
				return a.print(results[0], text)
			}
			return a.print(results, text)
		},
	}
	f := httpCmd.Flags()
	f.StringVar(&op, "op", "get-episode", "operation: get-episode or create-episode")
	f.IntSliceVar(&clients, "clients", []int{2}, "concurrent clients, each with its own connection; a list (2,32) runs once per count")
	f.DurationVar(&duration, "duration", 10*time.Second, "how long to send requests")
	f.IntVar(&maxRequests, "requests", 0, "stop after this many requests (0: only --duration bounds the run)")
	f.IntVar(&seed, "seed", 1000, "episodes written before a get-episode run")
	f.StringSliceVar(&nodes, "nodes", nil, "more servers on the same durable store to spread the clients over (comma-separated URLs)")
	cmd.AddCommand(httpCmd, a.benchVectorCmd(), a.benchLagCmd(), a.benchCompareCmd(), a.benchRecallCmd())
	return cmd
}

type benchConfig struct {
	server, token string
	ns            engram.Namespace
	op            string
	clients       int
	duration      time.Duration
	maxRequests   int
	seed          int
	nodes         []string // more servers; client w sends to all[w % len(all)]
}

func trimSlashes(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = strings.TrimSuffix(u, "/")
	}
	return out
}

// BenchResult is what engram bench http prints.
type BenchResult struct {
	Op       string        `json:"op"`
	Clients  int           `json:"clients"`
	Nodes    int           `json:"nodes"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	RPS      float64       `json:"requests_per_second"`
	P50      time.Duration `json:"p50_ns"`
	P90      time.Duration `json:"p90_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// LoadStart and LoadEnd are the machine's load averages (1, 5 and 15
	// minutes) when the run started and ended.
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

func benchHTTP(ctx context.Context, cfg benchConfig) (*BenchResult, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.clients
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	small := &engram.Episode{TaskType: engram.TaskDebugging, TaskDescription: "benchmark: fix the flaky retry loop",
		Context: engram.TaskContext{Language: "go", Domain: "web-api"}, Tags: []string{"bench"},
		Steps: []engram.Step{
			{Tool: "grep", Action: "find retry call sites", Parameters: json.RawMessage(`{"pattern":"retry"}`), Result: &engram.StepResult{Type: engram.ResultSuccess, Output: "client/retry.go:42"}, LatencyMS: 12},
			{Tool: "go test", Action: "run the client tests", Result: &engram.StepResult{Type: engram.ResultError, Message: "deadline exceeded"}, LatencyMS: 3400},
		}}
	body, err := json.Marshal(small)
	if err != nil {
		return nil, err
	}
	var ids []string
	switch cfg.op {
	case "create-episode":
	case "get-episode":
		c, err := client.New(cfg.server, client.Options{Token: cfg.token, HTTPClient: hc})
		if err != nil {
			return nil, err
		}
		for len(ids) < cfg.seed {
			batch := make([]*engram.Episode, min(500, cfg.seed-len(ids)))
			for i := range batch {
				cp := *small
				batch[i] = &cp
			}
			if err := c.CreateEpisodes(ctx, cfg.ns, batch); err != nil {
				return nil, fmt.Errorf("writing the episodes to read: %w", err)
			}
			for _, ep := range batch {
				ids = append(ids, ep.ID.String())
			}
		}
	default:
		return nil, usagef("--op %q: want get-episode or create-episode", cfg.op)
	}
	ns := "?namespace=" + string(cfg.ns)
	res := runLoad(ctx, loadRun{hc: hc, clients: cfg.clients, duration: cfg.duration, maxRequests: cfg.maxRequests,
		servers: append([]string{cfg.server}, cfg.nodes...),
		next: func(w int, r *rand.Rand, server string) *http.Request {
			var req *http.Request
			if cfg.op == "get-episode" {
				req, _ = http.NewRequestWithContext(ctx, "GET", server+"/v1/episodes/"+ids[r.IntN(len(ids))]+ns, nil)
			} else {
				req, _ = http.NewRequestWithContext(ctx, "POST", server+"/v1/episodes"+ns, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			}
			if cfg.token != "" {
				req.Header.Set("Authorization", "Bearer "+cfg.token)
			}
			return req
		}})
	res.Op = cfg.op
	return res, nil
}

// loadRun is one run of the client loop of the bench commands: clients
// goroutines, each with its own connection to servers[w % len(servers)],
// sending next's requests until duration passes or maxRequests are done.
type loadRun struct {
	hc          *http.Client
	clients     int
	duration    time.Duration
	maxRequests int // 0: only duration bounds the run
	servers     []string
	// next makes client w's next request to server; its context is
	// replaced by the run's.
	next func(w int, r *rand.Rand, server string) *http.Request
	// answer reads the body of a response with a status below 300 (nil:
	// discarded); an error counts the request as failed.
	answer func(w int, body io.Reader) error
	// finish lets the requests in flight at the end of duration finish,
	// and counts them (for operations slower than a run: otherwise those
	// are cut and dropped); elapsed then runs until the last one.
	finish bool
}

// runLoad runs l and returns its figures (Op left for the caller).
func runLoad(ctx context.Context, l loadRun) *BenchResult {
	reqCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, l.duration)
	defer cancel()
	if !l.finish {
		reqCtx = ctx
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      latency.Recorder
		errs     int
		requests int
		budget   = make(chan struct{}, max(l.maxRequests, 1))
	)
	if l.maxRequests > 0 {
		for i := 0; i < l.maxRequests; i++ {
			budget <- struct{}{}
		}
		close(budget)
	}
	load := loadAvg()
	start := time.Now()
	for w := 0; w < l.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			server := l.servers[w%len(l.servers)]
			rec := all.Local()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			n, bad := 0, 0
			for ctx.Err() == nil {
				if l.maxRequests > 0 {
					if _, ok := <-budget; !ok {
						break
					}
				}
				req := l.next(w, r, server).WithContext(reqCtx)
				t0 := time.Now()
				resp, err := l.hc.Do(req)
				if err == nil {
					if resp.StatusCode >= 300 {
						err = fmt.Errorf("status %d", resp.StatusCode)
						io.Copy(io.Discard, resp.Body)
					} else if l.answer != nil {
						err = l.answer(w, resp.Body)
						io.Copy(io.Discard, resp.Body)
					} else {
						_, err = io.Copy(io.Discard, resp.Body)
					}
					resp.Body.Close()
				}
				if reqCtx.Err() != nil {
					break // the run ended mid-request: not a sample
				}
				rec.Add(time.Since(t0))
				n++
				if err != nil {
					bad++
				}
			}
			rec.Flush()
			mu.Lock()
			requests += n
			errs += bad
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	return &BenchResult{Clients: l.clients, Nodes: len(l.servers), Requests: requests, Errors: errs, Elapsed: elapsed,
		RPS: float64(requests) / elapsed.Seconds(), P50: all.Percentile(50), P90: all.Percentile(90), P99: all.Percentile(99), Max: all.Percentile(100),
		LoadStart: load, LoadEnd: loadAvg()}
}
