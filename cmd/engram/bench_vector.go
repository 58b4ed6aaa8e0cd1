package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/vecmath"
	"github.com/engramhq/engram/vector"
	"github.com/engramhq/engram/vector/vectortest"
)

func (a *app) benchVectorCmd() *cobra.Command {
	var c vectorBenchConfig
	var efs, threads string
	cmd := &cobra.Command{
		Use:   "vector",
		Short: "Measure the vector index against an exact scan and hnswlib-node on clustered data",
		Long: `Draw --n clustered vectors (a 32-d latent space mapped to --dim dimensions,
plus noise, unit length) and --queries queries, take the ground truth by an
exact float32 scan, and measure on one thread: recall@k and queries/s (wall
and CPU time) of the exact scan, the int8 flat scan with float32 rerank (one
query at a time, and in batches of 16 through SearchBatch, a separate row),
and the HNSW graph at each --ef; the graph's build time on each --build-threads;
live inserts/s into the built index; open-to-first-query of its snapshot;
the index's memory beyond the float32 vectors; SIMD sums over the vectors'
and the int8 codes' bytes, timed between the exact and the int8 (rerank 16)
scans' queries (the memory-bandwidth ceilings of the two scans); filtered search at 10% and 1%.

With --hnswlib DIR (made by scripts/bench-vector-hnswlib-setup.sh), the same
data goes through hnswlib-node's stock build and the -march=native build in
the same run, and the report gives the ratios.

Example:
  scripts/bench-vector-hnswlib-setup.sh
  engram bench vector --hnswlib .bin/hnswlib`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if c.efs, err = parseInts(efs); err != nil {
				return usagef("--ef: %v", err)
			}
			if c.buildThreads, err = parseInts(threads); err != nil {
				return usagef("--build-threads: %v", err)
			}
			if c.n < 100 || c.queries < 1 || c.dim < 2 || c.k < 1 || c.k > 100 {
				return usagef("--n must be at least 100, --queries at least 1, --dim at least 2, --k 1-100")
			}
			c.command = "engram bench vector " + strings.Join(os.Args[min(3, len(os.Args)):], " ")
			c.log = a.stderr
			res, err := benchVector(c)
			if err != nil {
				return err
			}
			return a.print(res, func(w io.Writer) { res.writeText(w) })
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.n, "n", 100000, "vectors in the index")
	f.IntVar(&c.dim, "dim", 384, "dimension")
	f.IntVar(&c.queries, "queries", 1000, "queries")
	f.IntVar(&c.k, "k", 10, "neighbours per query (recall@k)")
	f.Uint64Var(&c.seed, "seed", 1, "data generator seed")
	f.IntVar(&c.m, "m", vector.DefaultM, "HNSW M")
	f.IntVar(&c.efC, "ef-construction", vector.DefaultEfConstruction, "HNSW efConstruction")
	f.StringVar(&efs, "ef", "10,16,20,24,28,32,40,48,56,64,96,128", "HNSW ef values to measure (hnswlib-node runs the same list)")
	f.StringVar(&threads, "build-threads", "1,2", "thread counts to time the build with")
	f.IntVar(&c.inserts, "inserts", 5000, "live inserts timed into the built index")
	f.StringVar(&c.hnswlib, "hnswlib", "", "directory with stock/ and native/ hnswlib-node installs (empty: skip)")
	f.StringVar(&c.workDir, "work-dir", "", "directory for the snapshot and data file (empty: a temporary one)")
	return cmd
}

type vectorBenchConfig struct {
	n, dim, queries, k, m, efC, inserts int
	seed                                uint64
	efs, buildThreads                   []int
	hnswlib, workDir, command           string
	log                                 io.Writer
}

// benchRow is one way of answering the queries.
type benchRow struct {
	Name    string  `json:"name"`
	Recall  float64 `json:"recall"`
	QPSWall float64 `json:"qps_wall"`
	QPSCPU  float64 `json:"qps_cpu"`
	Plan    string  `json:"plan,omitempty"`
}

type hnswlibResult struct {
	Build    float64 `json:"build_wall_s"`
	BuildCPU float64 `json:"build_cpu_s"`
	Search   []struct {
		Ef      int     `json:"ef"`
		Recall  float64 `json:"recall"`
		QPSWall float64 `json:"qps_wall"`
		QPSCPU  float64 `json:"qps_cpu"`
	} `json:"search"`
}

type vectorBenchResult struct {
	Command      string                    `json:"command"`
	Machine      string                    `json:"machine"`
	LoadStart    string                    `json:"load_average_start"`
	LoadEnd      string                    `json:"load_average_end"`
	Kernel       string                    `json:"kernel"`
	N            int                       `json:"n"`
	Dim          int                       `json:"dim"`
	Queries      int                       `json:"queries"`
	K            int                       `json:"k"`
	Rows         []benchRow                `json:"rows"`
	SumGBs       float64                   `json:"simd_sum_gb_per_s"`
	ExactGBs     float64                   `json:"exact_scan_gb_per_s"`
	CodesSumGBs  float64                   `json:"simd_sum_int8_codes_gb_per_s"`
	VectorMB     float64                   `json:"vectors_mb"`
	CodesMB      float64                   `json:"int8_codes_mb"`
	BuildSeconds map[string]float64        `json:"build_seconds"`
	BuildCPU     map[string]float64        `json:"build_cpu_seconds"`
	InsertsPerS  float64                   `json:"live_inserts_per_s"`
	InsertsCPU   float64                   `json:"live_inserts_per_cpu_s"`
	OpenMS       float64                   `json:"open_to_first_query_ms"`
	SnapshotMB   float64                   `json:"snapshot_mb"`
	ExtraMB      float64                   `json:"memory_beyond_f32_mb"`
	Hnswlib      map[string]*hnswlibResult `json:"hnswlib,omitempty"`
	Ratios       []string                  `json:"ratios,omitempty"`
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no values")
	}
	return out, nil
}

// timeQueries runs fn for every query on this OS thread and returns the
// answers, wall and thread-CPU queries/s.
func timeQueries(qs [][]float32, fn func(q []float32) []engram.UUID) ([][]engram.UUID, float64, float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, q := range qs[:min(len(qs), 20)] { // warm caches and pools
		fn(q)
	}
	out := make([][]engram.UUID, len(qs))
	c0, t0 := threadCPU(), time.Now()
	for i, q := range qs {
		out[i] = fn(q)
	}
	wall, cpu := time.Since(t0), threadCPU()-c0
	return out, float64(len(qs)) / wall.Seconds(), float64(len(qs)) / max(cpu.Seconds(), 1e-9)
}

// timeBatches is timeQueries for a batch API: fn answers up to size
// queries per call; the figures are queries (not calls) per second.
func timeBatches(qs [][]float32, size int, fn func(b [][]float32) [][]engram.UUID) ([][]engram.UUID, float64, float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fn(qs[:min(len(qs), size)]) // warm caches and pools
	out := make([][]engram.UUID, 0, len(qs))
	c0, t0 := threadCPU(), time.Now()
	for i := 0; i < len(qs); i += size {
		out = append(out, fn(qs[i:min(i+size, len(qs))])...)
	}
	wall, cpu := time.Since(t0), threadCPU()-c0
	return out, float64(len(qs)) / wall.Seconds(), float64(len(qs)) / max(cpu.Seconds(), 1e-9)
}

// timeQueriesAndSum is timeQueries with sum (a SIMD sum over the bytes the
// queries scan) timed after every 4th query: the scan's read-rate ceiling,
// measured in the same minutes, on the same thread, over the same bytes in
// the same order and from the same cache state (a shared machine's
// bandwidth moves from minute to minute). It returns the answers, wall and
// thread-CPU queries/s, and the sum's thread-CPU bytes/s.
func timeQueriesAndSum(qs [][]float32, fn func(q []float32) []engram.UUID, sum func() int) ([][]engram.UUID, float64, float64, float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, q := range qs[:min(len(qs), 20)] {
		fn(q)
	}
	sum()
	out := make([][]engram.UUID, len(qs))
	var scan, summed, sumWall time.Duration
	var sumBytes int
	t0 := time.Now()
	for i, q := range qs {
		c0 := threadCPU()
		out[i] = fn(q)
		scan += threadCPU() - c0
		if i%4 == 3 || i == len(qs)-1 {
			w0, c0 := time.Now(), threadCPU()
			sumBytes += sum()
			summed += threadCPU() - c0
			sumWall += time.Since(w0)
		}
	}
	wall := time.Since(t0) - sumWall
	return out, float64(len(qs)) / wall.Seconds(), float64(len(qs)) / max(scan.Seconds(), 1e-9), float64(sumBytes) / max(summed.Seconds(), 1e-9)
}

func keysOf(h []vector.Hit) []engram.UUID {
	out := make([]engram.UUID, len(h))
	for i := range h {
		out[i] = h[i].Key
	}
	return out
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func benchVector(c vectorBenchConfig) (*vectorBenchResult, error) {
	logf := func(format string, args ...any) {
		if c.log != nil {
			fmt.Fprintf(c.log, "bench vector: "+format+"\n", args...)
		}
	}
	res := &vectorBenchResult{Command: c.command, LoadStart: loadAvg(), Kernel: vecmath.Kernel(),
		N: c.n, Dim: c.dim, Queries: c.queries, K: c.k, BuildSeconds: map[string]float64{}, BuildCPU: map[string]float64{}}
	if out, err := exec.Command("lscpu").Output(); err == nil {
		lines := strings.Split(string(out), "\n")
		res.Machine = strings.Join(lines[:min(len(lines), 10)], "\n")
	}
	dir := c.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "engram-bench-vector-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}

	logf("drawing %d x %d clustered vectors and %d queries", c.n, c.dim, c.queries)
	gen := vectortest.New(vectortest.Gen{Seed: c.seed, Dim: c.dim})
	data := gen.Draw(c.n)
	qs := make([][]float32, c.queries)
	for i := range qs {
		qs[i] = gen.Vector()
	}
	row := make(map[engram.UUID]int, c.n)
	for i, k := range data.Keys {
		row[k] = i
	}

	flat, err := vector.NewFlat(vector.Options{Dim: c.dim})
	if err != nil {
		return nil, err
	}
	for i := range data.Keys {
		if err := flat.Add(data.Keys[i], data.Vectors[i]); err != nil {
			return nil, err
		}
	}
	k := c.k
	logf("exact scan (ground truth), with the SIMD sum over the same bytes timed between queries")
	_, vecBytes := flat.SumVectors()
	_, codeBytes := flat.SumCodes()
	res.VectorMB, res.CodesMB = float64(vecBytes)/1e6, float64(codeBytes)/1e6
	truth, w, cpu, sumRate := timeQueriesAndSum(qs, func(q []float32) []engram.UUID {
		h, _ := flat.Search(q, k, &vector.SearchOptions{Exact: true})
		return keysOf(h)
	}, func() int { _, b := flat.SumVectors(); return b })
	res.Rows = append(res.Rows, benchRow{Name: "exact f32 scan", Recall: 1, QPSWall: w, QPSCPU: cpu})
	res.ExactGBs = cpu * float64(vecBytes) / 1e9
	res.SumGBs = sumRate / 1e9
	for _, r := range []int{16, 32, 64} {
		search := func(q []float32) []engram.UUID {
			h, _ := flat.Search(q, k, &vector.SearchOptions{Rerank: r})
			return keysOf(h)
		}
		var got [][]engram.UUID
		var w, cpu float64
		if r == 16 {
			var rate float64
			got, w, cpu, rate = timeQueriesAndSum(qs, search, func() int { _, b := flat.SumCodes(); return b })
			res.CodesSumGBs = rate / 1e9
		} else {
			got, w, cpu = timeQueries(qs, search)
		}
		res.Rows = append(res.Rows, benchRow{Name: fmt.Sprintf("int8 flat, rerank %d", r), Recall: vectortest.Recall(got, truth, k), QPSWall: w, QPSCPU: cpu})
	}
	// Batched: a separate figure, never the single-query one. QPS counts
	// queries answered, so it is comparable per query, not per call.
	{
		const batch, r = 16, 16
		got, w, cpu := timeBatches(qs, batch, func(b [][]float32) [][]engram.UUID {
			hs, _ := flat.SearchBatch(b, k, &vector.SearchOptions{Rerank: r})
			out := make([][]engram.UUID, len(hs))
			for i, h := range hs {
				out[i] = keysOf(h)
			}
			return out
		})
		res.Rows = append(res.Rows, benchRow{Name: fmt.Sprintf("int8 flat, rerank %d, batches of %d", r, batch), Recall: vectortest.Recall(got, truth, k), QPSWall: w, QPSCPU: cpu})
	}

	var graph *vector.HNSW
	for _, th := range c.buildThreads {
		logf("building HNSW (M=%d, efConstruction=%d) on %d thread(s)", c.m, c.efC, th)
		before := heapInUse()
		h, err := vector.NewHNSW(vector.Options{Dim: c.dim, M: c.m, EfConstruction: c.efC, FlatBelow: -1})
		if err != nil {
			return nil, err
		}
		t0, c0 := time.Now(), processCPU()
		if err := h.Build(data.Keys, data.Vectors, th); err != nil {
			return nil, err
		}
		res.BuildSeconds[strconv.Itoa(th)] = time.Since(t0).Seconds()
		res.BuildCPU[strconv.Itoa(th)] = (processCPU() - c0).Seconds()
		if graph == nil {
			graph = h
			res.ExtraMB = (float64(heapInUse()-before) - float64(c.n*c.dim*4)) / 1e6
		}
	}
	flat = nil
	for _, ef := range c.efs {
		got, w, cpu := timeQueries(qs, func(q []float32) []engram.UUID {
			h, _ := graph.Search(q, k, &vector.SearchOptions{Ef: ef})
			return keysOf(h)
		})
		res.Rows = append(res.Rows, benchRow{Name: fmt.Sprintf("hnsw ef=%d", ef), Recall: vectortest.Recall(got, truth, k), QPSWall: w, QPSCPU: cpu})
	}
	for _, every := range []int{10, 100} {
		var allowed []engram.UUID
		for i := 0; i < c.n; i += every {
			allowed = append(allowed, data.Keys[i])
		}
		ftruth := make([][]engram.UUID, len(qs))
		for i, q := range qs {
			h, _ := graph.Search(q, k, &vector.SearchOptions{Exact: true, Keys: allowed})
			ftruth[i] = keysOf(h)
		}
		var st vector.SearchStats
		got, w, cpu := timeQueries(qs, func(q []float32) []engram.UUID {
			h, _ := graph.Search(q, k, &vector.SearchOptions{Keys: allowed, Stats: &st})
			return keysOf(h)
		})
		res.Rows = append(res.Rows, benchRow{Name: fmt.Sprintf("filtered %d%% (ef=%d)", 100/every, vector.DefaultEfSearch),
			Recall: vectortest.Recall(got, ftruth, k), QPSWall: w, QPSCPU: cpu, Plan: st.Plan})
	}

	path := filepath.Join(dir, "bench.vec")
	logf("saving the snapshot to %s", path)
	if err := graph.Save(path, 1); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil {
		res.SnapshotMB = float64(fi.Size()) / 1e6
	}
	var opens []float64
	for range 5 {
		t0 := time.Now()
		o, _, err := vector.OpenHNSW(path, nil)
		if err != nil {
			return nil, err
		}
		if _, err := o.Search(qs[0], k, nil); err != nil {
			return nil, err
		}
		opens = append(opens, float64(time.Since(t0).Microseconds())/1000)
		o.Close()
	}
	slices.Sort(opens)
	res.OpenMS = opens[len(opens)/2]

	if c.inserts > 0 {
		logf("timing %d live inserts", c.inserts)
		more := vectortest.New(vectortest.Gen{Seed: c.seed, Dim: c.dim})
		more.Draw(c.n) // the same stream, continued past the index's vectors
		extra := make([][]float32, c.inserts)
		for i := range extra {
			extra[i] = more.Vector()
		}
		runtime.LockOSThread()
		t0, c0 := time.Now(), threadCPU()
		for i, v := range extra {
			if err := graph.Add(vectortest.Key(c.seed+1, i), v); err != nil {
				return nil, err
			}
		}
		res.InsertsPerS = float64(c.inserts) / time.Since(t0).Seconds()
		res.InsertsCPU = float64(c.inserts) / max((threadCPU()-c0).Seconds(), 1e-9)
		runtime.UnlockOSThread()
	}

	if c.hnswlib != "" {
		if err := benchHnswlib(c, res, dir, data, qs, truth, row, logf); err != nil {
			return nil, err
		}
	}
	res.LoadEnd = loadAvg()
	return res, nil
}

func benchHnswlib(c vectorBenchConfig, res *vectorBenchResult, dir string, data vectortest.Data, qs [][]float32, truth [][]engram.UUID, row map[engram.UUID]int, logf func(string, ...any)) error {
	file := filepath.Join(dir, "bench.f32")
	var buf bytes.Buffer
	le := binary.LittleEndian
	for _, v := range []int32{int32(c.n), int32(c.dim), int32(c.queries), int32(c.k)} {
		binary.Write(&buf, le, v)
	}
	for _, v := range data.Vectors {
		binary.Write(&buf, le, v)
	}
	for _, q := range qs {
		binary.Write(&buf, le, q)
	}
	for _, t := range truth {
		ids := make([]int32, c.k)
		for j := range ids {
			ids[j] = -1
			if j < len(t) {
				ids[j] = int32(row[t[j]])
			}
		}
		binary.Write(&buf, le, ids)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return err
	}
	script, err := hnswlibScript()
	if err != nil {
		return err
	}
	efs := make([]string, len(c.efs))
	for i, e := range c.efs {
		efs[i] = strconv.Itoa(e)
	}
	res.Hnswlib = map[string]*hnswlibResult{}
	for _, build := range []string{"native", "stock"} {
		logf("hnswlib-node (%s build): building and searching", build)
		cmd := exec.Command("node", script, filepath.Join(c.hnswlib, build), file, strconv.Itoa(c.m), strconv.Itoa(c.efC), strings.Join(efs, ","))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("hnswlib-node (%s): %w", build, err)
		}
		var r hnswlibResult
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("hnswlib-node (%s): %w: %s", build, err, out)
		}
		res.Hnswlib[build] = &r
	}
	// Ratios at the recall targets: the fastest configuration of each that
	// reaches the target.
	best := func(rows []benchRow, prefix string, target float64, cpu bool) (float64, string) {
		var q float64
		var name string
		for _, r := range rows {
			v := r.QPSWall
			if cpu {
				v = r.QPSCPU
			}
			if strings.HasPrefix(r.Name, prefix) && r.Recall >= target && v > q {
				q, name = v, r.Name
			}
		}
		return q, name
	}
	for _, build := range []string{"native", "stock"} {
		h := res.Hnswlib[build]
		var hrows []benchRow
		for _, s := range h.Search {
			hrows = append(hrows, benchRow{Name: fmt.Sprintf("ef=%d", s.Ef), Recall: s.Recall, QPSWall: s.QPSWall, QPSCPU: s.QPSCPU})
		}
		for _, target := range []float64{0.97, 0.99} {
			for _, cpu := range []bool{false, true} {
				ours, on := best(res.Rows, "hnsw", target, cpu)
				theirs, tn := best(hrows, "ef", target, cpu)
				clock := "wall"
				if cpu {
					clock = "CPU"
				}
				if ours == 0 || theirs == 0 {
					res.Ratios = append(res.Ratios, fmt.Sprintf("recall >= %.2f (%s): not reached by %s", target, clock, map[bool]string{true: "engram", false: "hnswlib " + build}[ours == 0]))
					continue
				}
				res.Ratios = append(res.Ratios, fmt.Sprintf("recall >= %.2f, %s QPS: engram %.0f (%s) / hnswlib %s %.0f (%s) = %.2fx", target, clock, ours, on, build, theirs, tn, ours/theirs))
			}
		}
		if b1, ok := res.BuildSeconds["1"]; ok {
			res.Ratios = append(res.Ratios, fmt.Sprintf("build, 1 thread, wall: engram %.1f s / hnswlib %s %.1f s = %.2fx", b1, build, h.Build, b1/h.Build))
			c1 := res.BuildCPU["1"]
			res.Ratios = append(res.Ratios, fmt.Sprintf("build, 1 thread, CPU: engram %.1f s / hnswlib %s %.1f s = %.2fx", c1, build, h.BuildCPU, c1/h.BuildCPU))
		}
	}
	return nil
}

// hnswlibScript finds scripts/bench-vector-hnswlib.js from the working
// directory or the executable's.
func hnswlibScript() (string, error) {
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		for ; ; d = filepath.Dir(d) {
			p := filepath.Join(d, "scripts", "bench-vector-hnswlib.js")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("scripts/bench-vector-hnswlib.js not found above the working directory")
}

func (r *vectorBenchResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "%d x %d clustered, %d queries, recall@%d, one thread, kernel %s\n", r.N, r.Dim, r.Queries, r.K, r.Kernel)
	fmt.Fprintf(w, "load average %s at start, %s at end\n\n", r.LoadStart, r.LoadEnd)
	fmt.Fprintf(w, "%-36s %8s %10s %10s  %s\n", "method", "recall", "QPS wall", "QPS CPU", "plan")
	for _, x := range r.Rows {
		fmt.Fprintf(w, "%-36s %8.4f %10.0f %10.0f  %s\n", x.Name, x.Recall, x.QPSWall, x.QPSCPU, x.Plan)
	}
	for _, build := range []string{"native", "stock"} {
		h := r.Hnswlib[build]
		if h == nil {
			continue
		}
		for _, s := range h.Search {
			fmt.Fprintf(w, "%-36s %8.4f %10.0f %10.0f\n", fmt.Sprintf("hnswlib-node %s ef=%d", build, s.Ef), s.Recall, s.QPSWall, s.QPSCPU)
		}
	}
	fmt.Fprintln(w)
	keys := make([]string, 0, len(r.BuildSeconds))
	for k := range r.BuildSeconds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "build, %s thread(s): %.1f s wall, %.1f s CPU\n", k, r.BuildSeconds[k], r.BuildCPU[k])
	}
	for _, build := range []string{"native", "stock"} {
		if h := r.Hnswlib[build]; h != nil {
			fmt.Fprintf(w, "build, hnswlib-node %s: %.1f s wall, %.1f s CPU\n", build, h.Build, h.BuildCPU)
		}
	}
	fmt.Fprintf(w, "live inserts: %.0f/s wall, %.0f per CPU second\n", r.InsertsPerS, r.InsertsCPU)
	fmt.Fprintf(w, "open of the %.0f MB snapshot to first query: %.1f ms (median of 5, warm page cache)\n", r.SnapshotMB, r.OpenMS)
	fmt.Fprintf(w, "memory beyond the float32 vectors: %.1f MB\n", r.ExtraMB)
	fmt.Fprintf(w, "SIMD sum over the vectors: %.1f GB/s; exact scan reads %.1f GB/s (%.0f%% of it)\n", r.SumGBs, r.ExactGBs, 100*r.ExactGBs/math.Max(r.SumGBs, 1e-9))
	for _, x := range r.Rows {
		if x.Name == "exact f32 scan" && x.QPSCPU > 0 && r.CodesMB > 0 {
			ceil := r.CodesSumGBs * 1e3 / r.CodesMB
			fmt.Fprintf(w, "SIMD sum over the int8 codes (%.1f MB): %.1f GB/s, so a one-query int8 scan is capped at %.0f QPS = %.2fx the exact scan\n",
				r.CodesMB, r.CodesSumGBs, ceil, ceil/x.QPSCPU)
			for _, y := range r.Rows {
				if strings.HasPrefix(y.Name, "int8 flat") {
					fmt.Fprintf(w, "%s / exact scan, CPU QPS: %.2fx\n", y.Name, y.QPSCPU/x.QPSCPU)
				}
			}
		}
	}
	for _, s := range r.Ratios {
		fmt.Fprintln(w, s)
	}
}
