package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/internal/latency"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
)

// The C SQLite side of the durable comparison (python3's sqlite3 module).
//
//go:embed bench_compare_sqlite.py
var compareSQLitePy []byte

// compareConfig is what engram bench compare runs.
type compareConfig struct {
	command     string
	workDir     string
	python      string // python3
	redisAddr   string // host:port of a running redis-server; "": start one from PATH, if any
	episodes    int    // batched inserts, the rebuild and its SELECT
	single      int    // inserts of one episode per commit
	batch       int    // episodes per commit in the batched inserts
	hits        int    // reads in each cache-hit loop
	httpFor     time.Duration
	httpClients []int
	// engram runs this program (engram serve, the plain server) as a
	// subprocess; nil: this executable.
	engram func(args ...string) *exec.Cmd
	log    io.Writer
}

// compareRow is one line of the comparison: engram's figure, the peer's,
// and engram's throughput over the peer's (above 1: engram is faster).
type compareRow struct {
	Name       string  `json:"name"`
	Engram     string  `json:"engram"`
	Peer       string  `json:"peer"`
	EngramRate float64 `json:"engram_per_second,omitempty"`
	PeerRate   float64 `json:"peer_per_second,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	Skipped    string  `json:"skipped,omitempty"`
}

// compareResult is what engram bench compare prints.
type compareResult struct {
	Command   string       `json:"command"`
	CPU       string       `json:"cpu"`
	Cores     int          `json:"cores"`
	GoVersion string       `json:"go_version"`
	LoadStart string       `json:"load_average_start"`
	LoadEnd   string       `json:"load_average_end"`
	Rows      []compareRow `json:"rows"`
	Notes     []string     `json:"notes"`
}

func (a *app) benchCompareCmd() *cobra.Command {
	c := compareConfig{log: a.stderr}
	var clients string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run engram and the tools a user would pick instead side by side, and print the ratios",
		Long: `Measure, in one run on this machine, engram against its peers doing the same work:
  durable inserts   engram's SQLite tier vs C SQLite (python3's sqlite3 module) doing
                    the same inserts in an engram-shaped schema, one statement per row,
                    WAL, synchronous=FULL: one episode per commit, and --batch per commit
  cache hits        a RAM-tier hit and a cache-file hit through the library (the result
                    owned by the caller) vs Redis GET of the same bytes from Go (go-redis)
  HTTP get-episode  engram serve vs a minimal Go net/http handler returning the same
                    bytes, at each of --http-clients (the ceiling for a Go HTTP server)
  full rebuild      rebuilding the cache file from the durable tier vs a plain SELECT of
                    the same rows with the same driver (the ceiling for a rebuild)
Each ratio is engram's throughput over the peer's: above 1, engram is faster.
Without --redis, a redis-server found on PATH is started on 127.0.0.1 (and
stopped); without one the cache rows against Redis are skipped. The machine and
the load average at start and end are printed with the table.

Example:
  make bench-compare
  engram bench compare --episodes 20000 --http-duration 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if c.httpClients, err = parseInts(clients); err != nil {
				return usagef("--http-clients: %v", err)
			}
			if c.episodes < c.batch || c.batch < 1 || c.single < 1 || c.hits < 1 || c.httpFor <= 0 {
				return usagef("--episodes must be at least --batch (at least 1); --single, --hits at least 1; --http-duration positive")
			}
			c.command = "engram bench compare " + strings.Join(os.Args[min(3, len(os.Args)):], " ")
			res, err := benchCompare(cmd.Context(), c)
			if err != nil {
				return err
			}
			return a.print(res, func(w io.Writer) { res.writeText(w) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.workDir, "work-dir", "", "directory for the databases (default: a temporary one, removed after)")
	f.StringVar(&c.python, "python", "python3", "python3 with its sqlite3 module (C SQLite)")
	f.StringVar(&c.redisAddr, "redis", "", "host:port of a redis-server to compare cache hits with (default: start one from PATH)")
	f.IntVar(&c.episodes, "episodes", 10_000, "episodes of 6 steps for the batched inserts and the rebuild")
	f.IntVar(&c.single, "single", 300, "episodes inserted one per commit")
	f.IntVar(&c.batch, "batch", 1000, "episodes per commit in the batched inserts")
	f.IntVar(&c.hits, "hits", 200_000, "reads in each cache-hit loop")
	f.DurationVar(&c.httpFor, "http-duration", 5*time.Second, "how long each HTTP run lasts")
	f.StringVar(&clients, "http-clients", "2,32", "concurrent HTTP clients, comma-separated")
	cmd.AddCommand(plainServerCmd())
	return cmd
}

// plainServerCmd is the peer of engram serve in the HTTP comparison: it
// answers every GET with the bytes of one file, as engram would answer a
// get-episode. POST /v1/episodes:batch gives the posted episodes ids (so
// engram bench http can seed it as it seeds engram; not timed).
func plainServerCmd() *cobra.Command {
	var listen, body string
	cmd := &cobra.Command{
		Use:    "plain-server",
		Short:  "A minimal net/http server returning one file's bytes (engram bench compare starts it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(body)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "listening http://%s\n", ln.Addr())
			srv := &http.Server{Handler: plainHandler(b), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				srv.Close()
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	cmd.Flags().StringVar(&body, "body", "", "file whose bytes every GET returns")
	return cmd
}

func plainHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/episodes:batch" {
			var in struct {
				Episodes []*engram.Episode `json:"episodes"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, ep := range in.Episodes {
				ep.ID = engram.NewEpisodeID()
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(in)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

func (c *compareConfig) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "bench compare: "+format+"\n", args...)
	}
}

func benchCompare(ctx context.Context, c compareConfig) (*compareResult, error) {
	res := &compareResult{Command: c.command, CPU: cpuModel(), Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg()}
	if c.engram == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		c.engram = func(args ...string) *exec.Cmd { return exec.Command(exe, args...) }
	}
	dir := c.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "engram-bench-compare-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rng := rand.New(rand.NewPCG(1, 2))
	eps := make([]*engram.Episode, max(c.episodes, c.single))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range eps {
		eps[i] = compareEpisode(rng, t0.Add(time.Duration(i)*time.Second))
	}

	rows, err := compareDurable(ctx, c, dir, eps)
	if err != nil {
		return nil, err
	}
	res.Rows = append(res.Rows, rows...)
	batchDir := filepath.Join(dir, "engram-batch")
	rows, err = compareRebuild(ctx, c, batchDir)
	if err != nil {
		return nil, err
	}
	res.Rows = append(res.Rows, rows...)
	rows, note, err := compareCacheHits(ctx, c, dir, batchDir, eps)
	if err != nil {
		return nil, err
	}
	res.Rows = append(res.Rows, rows...)
	res.Notes = append(res.Notes, note)
	rows, err = compareHTTP(ctx, c, dir)
	if err != nil {
		return nil, err
	}
	res.Rows = append(res.Rows, rows...)
	res.Notes = append(res.Notes,
		fmt.Sprintf("durable: the same %d episodes (6 steps, %d bytes of JSON on average) through sqlstore (validation, encoding, digests and FTS included)", c.episodes, avgJSON(eps))+
			" and through python3's sqlite3 (rows built before the clock starts; only SQLite's work and the per-statement calls are timed)",
		"http: both servers are processes of their own; engram serve runs with --log-level warn (no line per request); the client loop is engram bench http's")
	res.LoadEnd = loadAvg()
	return res, nil
}

func avgJSON(eps []*engram.Episode) int {
	n := 0
	for _, ep := range eps {
		b, _ := json.Marshal(ep)
		n += len(b)
	}
	return n / max(len(eps), 1)
}

// compareEpisode returns a 6-step episode of about 3 KB of JSON, with every
// part an agent records (tags, metadata, outcome, reward, reflection, a
// location), its id and times set so both stores get identical rows.
func compareEpisode(rng *rand.Rand, start time.Time) *engram.Episode {
	words := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = compareWords[rng.IntN(len(compareWords))]
		}
		return strings.Join(w, " ")
	}
	end := start.Add(7 * time.Second)
	ep := &engram.Episode{
		ID: engram.NewEpisodeID(), TaskType: engram.TaskDebugging, TaskDescription: "fix: " + words(12),
		Context: engram.TaskContext{Language: "go", Framework: "net/http", Complexity: engram.ComplexityComplex,
			Domain: "payments", Tags: []string{"flaky", "ci"}},
		StartTime: start, EndTime: &end,
		Outcome: &engram.Outcome{Type: engram.OutcomeSuccess, Verdict: words(6), Artifacts: []string{"payments/checkout.go"}},
		Reward: &engram.Reward{Total: rng.Float64(), Base: 1, Efficiency: 0.8, ComplexityBonus: 0.2,
			QualityMultiplier: 1.1, LearningBonus: 0.05},
		Reflection: &engram.Reflection{Successes: []string{words(5)}, Improvements: []string{words(5)},
			Insights: []string{words(7)}, GeneratedAt: end},
		Tags:     []string{"backend", "go"},
		Metadata: map[string]string{"agent": "bench", "run": strconv.Itoa(rng.IntN(1000))},
		Location: &engram.Location{Lat: 52.52, Lon: 13.405},
	}
	for i := 1; i <= 6; i++ {
		ep.Steps = append(ep.Steps, engram.Step{StepNumber: i, Timestamp: start.Add(time.Duration(i) * time.Second),
			Tool: "shell", Action: "run " + words(4), Parameters: json.RawMessage(`{"cmd":"go test ./...","attempt":` + strconv.Itoa(i) + `}`),
			Result:    &engram.StepResult{Type: engram.ResultSuccess, Output: words(16)},
			LatencyMS: rng.Int64N(5000), TokensUsed: rng.Int64N(2000), Metadata: map[string]string{"step": strconv.Itoa(i)}})
	}
	return ep
}

var compareWords = strings.Fields(`agent retry loop timeout cache flaky network request handler parse
config deploy rollback schema migration index query latency budget token payment checkout refund
ledger invoice queue worker lease backoff jitter circuit breaker trace span metric alert`)

// compareDurable inserts the episodes through engram's SQLite tier and
// through C SQLite, one per commit and --batch per commit, all with
// synchronous=FULL in WAL mode.
func compareDurable(ctx context.Context, c compareConfig, dir string, eps []*engram.Episode) ([]compareRow, error) {
	c.logf("durable inserts: engram, %d single and %d batched", c.single, c.episodes)
	open := func(sub string) (*sqlstore.Store, error) {
		return sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, sub, sqlstore.DefaultFileName), Synchronous: sqlstore.SyncFull})
	}
	s, err := open("engram-single")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for _, ep := range eps[:c.single] {
		if err := s.CreateEpisode(ctx, engram.DefaultNamespace, ep.Clone()); err != nil {
			s.Close()
			return nil, err
		}
	}
	single := float64(c.single) / time.Since(start).Seconds()
	s.Close()

	if s, err = open("engram-batch"); err != nil {
		return nil, err
	}
	start = time.Now()
	for i := 0; i < c.episodes; i += c.batch {
		batch := make([]*engram.Episode, 0, c.batch)
		for _, ep := range eps[i:min(i+c.batch, c.episodes)] {
			batch = append(batch, ep.Clone())
		}
		if err := s.CreateEpisodes(ctx, engram.DefaultNamespace, batch); err != nil {
			s.Close()
			return nil, err
		}
	}
	batched := float64(c.episodes) / time.Since(start).Seconds()
	if err := s.Close(); err != nil {
		return nil, err
	}

	c.logf("durable inserts: C SQLite through %s", c.python)
	py, err := runSQLitePeer(ctx, c.python, filepath.Join(dir, "c-sqlite"), eps[:c.episodes], c.single, c.batch)
	if err != nil {
		return nil, err
	}
	peer := "C SQLite " + py.Version
	return []compareRow{
		rateRow("durable insert, 1 episode per commit", single, py.singleRate(), "episodes/s", peer),
		rateRow(fmt.Sprintf("durable insert, %d episodes per commit", c.batch), batched, py.batchRate(), "episodes/s", peer),
	}, nil
}

// sqlitePeer is what bench_compare_sqlite.py reports.
type sqlitePeer struct {
	Version       string         `json:"sqlite_version"`
	Episodes      int            `json:"episodes"`
	Single        int            `json:"single"`
	SingleSeconds float64        `json:"single_seconds"`
	BatchSeconds  float64        `json:"batch_seconds"`
	SelectSeconds float64        `json:"select_seconds"`
	SelectRows    int            `json:"select_rows"`
	Rows          map[string]int `json:"rows"`
	DocBytes      int            `json:"doc_bytes"`    // of every episode document
	SearchBytes   int            `json:"search_bytes"` // of every full-text row's text
}

func (p *sqlitePeer) singleRate() float64 { return float64(p.Single) / p.SingleSeconds }
func (p *sqlitePeer) batchRate() float64  { return float64(p.Episodes) / p.BatchSeconds }

// runSQLitePeer writes eps as JSON lines into dir and runs the C SQLite
// inserts on them there.
func runSQLitePeer(ctx context.Context, python, dir string, eps []*engram.Episode, single, batch int) (*sqlitePeer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, ep := range eps {
		cp := ep.Clone()
		cp.CreatedAt, cp.UpdatedAt = cp.StartTime, cp.StartTime
		if err := enc.Encode(cp); err != nil {
			return nil, err
		}
	}
	input, script := filepath.Join(dir, "episodes.jsonl"), filepath.Join(dir, "bench_compare_sqlite.py")
	if err := os.WriteFile(input, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(script, compareSQLitePy, 0o644); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, script, input, dir, strconv.Itoa(single), strconv.Itoa(batch))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bench compare: %s %s: %v: %s", python, script, err, strings.TrimSpace(stderr.String()))
	}
	var p sqlitePeer
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("bench compare: the C SQLite run printed %q: %v", out, err)
	}
	steps := 0
	for _, ep := range eps {
		steps += len(ep.Steps)
	}
	// The same rows as engram writes: one per episode and per step, and a
	// search row for each.
	if p.Episodes != len(eps) || p.Rows["episodes"] != len(eps) || p.Rows["steps"] != steps ||
		p.Rows["search_fts"] != len(eps)+steps || p.SingleSeconds <= 0 || p.BatchSeconds <= 0 {
		return nil, fmt.Errorf("bench compare: the C SQLite run wrote %v rows for %d episodes of %d steps", p.Rows, len(eps), steps)
	}
	return &p, nil
}

// compareRebuild rebuilds the cache file from the batched store and reads
// the same rows with a plain SELECT through the same driver.
func compareRebuild(ctx context.Context, c compareConfig, dataDir string) ([]compareRow, error) {
	c.logf("full rebuild of %d episodes", c.episodes)
	m, err := memory.Open(ctx, memory.Config{DataDir: dataDir, NoRAM: true,
		Sync: memory.SyncConfig{MaxEpisodesCache: c.episodes, BatchSize: c.batch}})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rep, err := m.Sync(ctx, engram.SyncOptions{Full: true})
	elapsed := time.Since(start)
	m.Close()
	if err != nil {
		return nil, err
	}
	if rep.Episodes != int64(c.episodes) {
		return nil, fmt.Errorf("bench compare: the rebuild wrote %d episodes of %d", rep.Episodes, c.episodes)
	}
	rebuild := float64(c.episodes) / elapsed.Seconds()

	n, elapsed, err := plainSelect(ctx, filepath.Join(dataDir, sqlstore.DefaultFileName))
	if err != nil {
		return nil, err
	}
	if n != c.episodes {
		return nil, fmt.Errorf("bench compare: the SELECT read %d episodes of %d", n, c.episodes)
	}
	return []compareRow{rateRow("full rebuild vs plain SELECT of its rows", rebuild, float64(n)/elapsed.Seconds(), "episodes/s", "SELECT (same driver)")}, nil
}

// selectTables are the tables a rebuild of episodes reads, in the order it
// reads them: since schema 5 an episode is one document with its steps.
var selectTables = []string{"episodes"}

// plainSelect reads every column of every row of selectTables from the
// SQLite file at path and returns how many episodes it read and how long
// that took.
func plainSelect(ctx context.Context, path string) (int, time.Duration, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	episodes := 0
	start := time.Now()
	for _, table := range selectTables {
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+table)
		if err != nil {
			return 0, 0, fmt.Errorf("bench compare: SELECT from %s: %w", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return 0, 0, err
			}
			if table == "episodes" {
				episodes++
			}
		}
		if err := rows.Close(); err != nil {
			return 0, 0, err
		}
		if err := rows.Err(); err != nil {
			return 0, 0, err
		}
	}
	return episodes, time.Since(start), nil
}

// compareCacheHits reads episodes from the RAM tier and from the cache file
// through memory (each result owned by the caller), and the same episodes'
// JSON from Redis.
func compareCacheHits(ctx context.Context, c compareConfig, dir, dataDir string, eps []*engram.Episode) ([]compareRow, string, error) {
	hot := eps[:min(len(eps), 1000)]
	var rows []compareRow
	rates := map[engram.Tier]hitStats{}
	for _, tier := range []engram.Tier{engram.TierRAM, engram.TierCache} {
		c.logf("cache hits: %s tier", tier)
		st, err := memoryHits(ctx, dataDir, tier, hot, c.hits)
		if err != nil {
			return nil, "", err
		}
		rates[tier] = st
	}
	values := make([][]byte, len(hot))
	for i, ep := range hot {
		b, err := json.Marshal(ep)
		if err != nil {
			return nil, "", err
		}
		values[i] = b
	}
	addr, stop := c.redisAddr, func() {}
	if addr == "" {
		var err error
		if addr, stop, err = startRedis(filepath.Join(dir, "redis")); err != nil {
			c.logf("no Redis: %v", err)
			addr = ""
		}
	}
	defer stop()
	var redisSt hitStats
	skipped := ""
	if addr == "" {
		skipped = "no redis-server (pass --redis or put redis-server on PATH)"
	} else {
		c.logf("cache hits: Redis GET at %s", addr)
		var err error
		if redisSt, err = redisHits(ctx, addr, values, c.hits); err != nil {
			return nil, "", err
		}
	}
	peer := "Redis GET (go-redis, 1 connection)"
	for _, tier := range []engram.Tier{engram.TierRAM, engram.TierCache} {
		name := "cache hit, RAM tier"
		if tier == engram.TierCache {
			name = "cache hit, cache file"
		}
		st := rates[tier]
		r := compareRow{Name: name, Engram: st.String(), EngramRate: st.rate, Peer: peer}
		if skipped != "" {
			r.Skipped = skipped
		} else {
			r.Peer = peer + ": " + redisSt.String()
			r.PeerRate, r.Ratio = redisSt.rate, st.rate/redisSt.rate
		}
		rows = append(rows, r)
	}
	avg := 0
	for _, v := range values {
		avg += len(v)
	}
	note := fmt.Sprintf("cache hits: one goroutine, %d reads over %d episodes (%d bytes of JSON on average); Redis holds those bytes, engram the decoded episodes", c.hits, len(hot), avg/max(len(values), 1))
	return rows, note, nil
}

// hitStats is one read loop's throughput and median.
type hitStats struct {
	rate float64
	p50  time.Duration
}

func (h hitStats) String() string {
	return fmt.Sprintf("%s/s, p50 %s", humanRate(h.rate), roundDur(h.p50))
}

// roundDur keeps three or four significant digits of d.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	default:
		return d.Round(10 * time.Nanosecond)
	}
}

// memoryHits opens memory on dataDir with only tier in front of the durable
// store, reads eps once to fill it, then reads them n times, checking every
// read was answered by tier.
func memoryHits(ctx context.Context, dataDir string, tier engram.Tier, eps []*engram.Episode, n int) (hitStats, error) {
	cfg := memory.Config{DataDir: dataDir, Sync: memory.SyncConfig{MaxEpisodesCache: max(len(eps), 1)}}
	if tier == engram.TierCache {
		cfg.NoRAM = true
	}
	m, err := memory.Open(ctx, cfg)
	if err != nil {
		return hitStats{}, err
	}
	defer m.Close()
	for _, ep := range eps {
		if _, err := m.GetEpisode(ctx, engram.DefaultNamespace, ep.ID); err != nil {
			return hitStats{}, err
		}
	}
	var ri engram.ReadInfo
	rctx := engram.WithReadInfo(ctx, &ri)
	for _, ep := range eps { // the tier under test answers
		if _, err := m.GetEpisode(rctx, engram.DefaultNamespace, ep.ID); err != nil {
			return hitStats{}, err
		}
		if got, _ := ri.Get(); got != tier {
			return hitStats{}, fmt.Errorf("bench compare: a read was answered by the %s tier, not %s", got, tier)
		}
	}
	return timeLoop(n, func(i int) error {
		_, err := m.GetEpisode(ctx, engram.DefaultNamespace, eps[(i*7919)%len(eps)].ID)
		return err
	})
}

// timeLoop runs fn(0..n-1) on this goroutine, timing each call.
func timeLoop(n int, fn func(i int) error) (hitStats, error) {
	var rec latency.Recorder
	l := rec.Local()
	start := time.Now()
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := fn(i); err != nil {
			return hitStats{}, err
		}
		l.Add(time.Since(t))
	}
	elapsed := time.Since(start)
	l.Flush()
	return hitStats{rate: float64(n) / elapsed.Seconds(), p50: rec.Percentile(50)}, nil
}

// redisHits stores values in Redis under keys of their own, checks each
// reads back byte for byte, then GETs them n times.
func redisHits(ctx context.Context, addr string, values [][]byte, n int) (hitStats, error) {
	rc := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, DisableIdentity: true})
	defer rc.Close()
	key := func(i int) string { return "engram-bench:" + strconv.Itoa(i) }
	for i, v := range values {
		if err := rc.Set(ctx, key(i), v, 0).Err(); err != nil {
			return hitStats{}, fmt.Errorf("bench compare: redis SET: %w", err)
		}
	}
	for i, v := range values {
		got, err := rc.Get(ctx, key(i)).Bytes()
		if err != nil {
			return hitStats{}, fmt.Errorf("bench compare: redis GET: %w", err)
		}
		if !bytes.Equal(got, v) {
			return hitStats{}, fmt.Errorf("bench compare: redis returned %d bytes for a value of %d", len(got), len(v))
		}
	}
	return timeLoop(n, func(i int) error {
		_, err := rc.Get(ctx, key((i*7919)%len(values))).Bytes()
		return err
	})
}

// startRedis starts redis-server from PATH on 127.0.0.1 on a free port,
// without persistence, its files in dir; stop ends it.
func startRedis(dir string) (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	rc := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1})
	defer rc.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		pctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = rc.Ping(pctx).Err()
		cancel()
		if err == nil {
			return addr, stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("redis-server exited: %s", strings.TrimSpace(out.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not answer on %s: %v", addr, err)
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// compareHTTP runs engram serve and the plain server as processes and
// engram bench http's get-episode loop against each, alternating, at each
// client count.
func compareHTTP(ctx context.Context, c compareConfig, dir string) ([]compareRow, error) {
	c.logf("http: starting engram serve")
	srv, err := startListening(c.engram("--data-dir", filepath.Join(dir, "engram-http"), "serve", "--listen", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "warn"), engramListening)
	if err != nil {
		return nil, fmt.Errorf("bench compare: engram serve: %w", err)
	}
	defer srv.stop()
	run := func(url string, clients int) (*BenchResult, error) {
		r, err := benchHTTP(ctx, benchConfig{server: url, ns: engram.DefaultNamespace, op: "get-episode",
			clients: clients, duration: c.httpFor, seed: 1000})
		if err == nil && (r.Errors > 0 || r.Requests == 0) {
			err = fmt.Errorf("bench compare: %d of %d requests to %s failed", r.Errors, r.Requests, url)
		}
		return r, err
	}
	first, err := run(srv.url, c.httpClients[0])
	if err != nil {
		return nil, err
	}
	body, err := episodeBytes(ctx, srv.url)
	if err != nil {
		return nil, err
	}
	bodyFile := filepath.Join(dir, "episode.json")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		return nil, err
	}
	c.logf("http: starting the plain server (%d bytes per answer)", len(body))
	plain, err := startListening(c.engram("bench", "compare", "plain-server", "--listen", "127.0.0.1:0", "--body", bodyFile), plainListening)
	if err != nil {
		return nil, fmt.Errorf("bench compare: plain server: %w", err)
	}
	defer plain.stop()
	var rows []compareRow
	for i, clients := range c.httpClients {
		c.logf("http: get-episode, %d clients", clients)
		e := first
		if i > 0 {
			if e, err = run(srv.url, clients); err != nil {
				return nil, err
			}
		}
		p, err := run(plain.url, clients)
		if err != nil {
			return nil, err
		}
		r := rateRow(fmt.Sprintf("HTTP get-episode, %d clients", clients), e.RPS, p.RPS, "req/s", "net/http handler, same bytes")
		r.Engram += fmt.Sprintf(", p50 %s, p99 %s", roundDur(e.P50), roundDur(e.P99))
		r.Peer += fmt.Sprintf(", p50 %s, p99 %s", roundDur(p.P50), roundDur(p.P99))
		rows = append(rows, r)
	}
	return rows, nil
}

// episodeBytes returns the body engram serves for one of its episodes.
func episodeBytes(ctx context.Context, url string) ([]byte, error) {
	cl, err := client.New(url, client.Options{})
	if err != nil {
		return nil, err
	}
	page, err := cl.ListEpisodes(ctx, engram.DefaultNamespace, engram.EpisodeFilter{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Episodes) == 0 {
		return nil, errors.New("bench compare: engram serve holds no episode to copy")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/v1/episodes/"+page.Episodes[0].ID.String()+"?namespace="+string(engram.DefaultNamespace), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("bench compare: GET an episode: status %d: %s", resp.StatusCode, b)
	}
	return b, err
}

// process is a server started by startListening.
type process struct {
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// stop interrupts the process and waits for it (killing it after 10 s).
func (p *process) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// engramListening finds engram serve's "listening" log line (JSON, on stderr).
func engramListening(line []byte) string {
	var l struct {
		Msg string `json:"msg"`
		URL string `json:"url"`
	}
	if json.Unmarshal(line, &l) == nil && l.Msg == "listening" {
		return l.URL
	}
	return ""
}

// plainListening finds the plain server's "listening URL" line.
func plainListening(line []byte) string {
	if u, ok := strings.CutPrefix(string(line), "listening "); ok {
		return strings.TrimSpace(u)
	}
	return ""
}

// startListening starts cmd and reads its standard output and error until
// find recognises the line saying where it listens.
func startListening(cmd *exec.Cmd, find func([]byte) string) (*process, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	p := &process{cmd: cmd, exited: make(chan struct{})}
	urls := make(chan string, 1)
	var tail bytes.Buffer
	go func() { // owned by the process: ends when its output closes
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			if !found {
				if u := find(sc.Bytes()); u != "" {
					found = true
					urls <- u
					continue
				}
				if tail.Len() < 4096 {
					tail.Write(sc.Bytes())
					tail.WriteByte('\n')
				}
			}
		}
		if !found {
			close(urls)
		}
	}()
	go func() { cmd.Wait(); close(p.exited) }()
	select {
	case u, ok := <-urls:
		if !ok {
			<-p.exited
			return nil, fmt.Errorf("exited without listening: %s", strings.TrimSpace(tail.String()))
		}
		p.url = u
		return p, nil
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, errors.New("not listening after 60 s")
	}
}

func rateRow(name string, engramRate, peerRate float64, unit, peer string) compareRow {
	r := compareRow{Name: name, EngramRate: engramRate, PeerRate: peerRate,
		Engram: humanRate(engramRate) + " " + unit, Peer: peer + ": " + humanRate(peerRate) + " " + unit}
	if peerRate > 0 {
		r.Ratio = engramRate / peerRate
	}
	return r
}

// humanRate prints a rate with thousands separators and no fraction.
func humanRate(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

func (r *compareResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "%s\nmachine: %s, %d cores, %s\nload average: %s at start, %s at end\n\n", r.Command, r.CPU, r.Cores, r.GoVersion, r.LoadStart, r.LoadEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "comparison\tengram\tpeer\tengram/peer")
	for _, row := range r.Rows {
		ratio := "-"
		if row.Skipped != "" {
			ratio = "skipped: " + row.Skipped
		} else if row.Ratio > 0 {
			ratio = fmt.Sprintf("%.2fx", row.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Name, row.Engram, row.Peer, ratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "- "+n)
	}
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
