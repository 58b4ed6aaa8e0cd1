// Package latency records per-operation durations in benchmarks and reports
// their percentiles with testing.B.ReportMetric, since ns/op alone hides the
// tail.
package latency

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Recorder collects durations. Safe for concurrent use through Local.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
	start   time.Time
}

// Start resets the recorder and starts its wall clock, with the benchmark
// timer.
func (r *Recorder) Start(b *testing.B) {
	r.mu.Lock()
	r.samples = r.samples[:0]
	r.start = time.Now()
	r.mu.Unlock()
	b.ResetTimer()
}

// Local returns a buffer for one goroutine; call Flush when it is done.
func (r *Recorder) Local() *Local { return &Local{r: r} }

// Local is one goroutine's share of a Recorder.
type Local struct {
	r       *Recorder
	samples []time.Duration
}

// Add records one operation that took d.
func (l *Local) Add(d time.Duration) { l.samples = append(l.samples, d) }

// Time runs fn and records how long it took.
func (l *Local) Time(fn func()) {
	start := time.Now()
	fn()
	l.samples = append(l.samples, time.Since(start))
}

// Flush hands the samples to the recorder.
func (l *Local) Flush() {
	l.r.mu.Lock()
	l.r.samples = append(l.r.samples, l.samples...)
	l.r.mu.Unlock()
	l.samples = nil
}

// Report stops the timer and reports p50 and p99 of the samples in ns and
// the throughput: ops operations (records, for batches) per second of wall
// time since Start. Metric names start with prefix ("" or "read-", ...).
func (r *Recorder) Report(b *testing.B, prefix string, ops int) {
	elapsed := time.Since(r.start)
	b.StopTimer()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == 0 {
		return
	}
	slices.Sort(r.samples)
	b.ReportMetric(float64(quantile(r.samples, 0.50).Nanoseconds()), prefix+"p50-ns")
	b.ReportMetric(float64(quantile(r.samples, 0.99).Nanoseconds()), prefix+"p99-ns")
	b.ReportMetric(float64(ops)/elapsed.Seconds(), prefix+"ops/s")
}

// quantile returns the q-quantile (0..1) of sorted samples, 0 when empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}

// Percentile returns the p-th percentile (0-100) of the flushed samples,
// 0 when there are none. For reports outside testing.B (engram bench).
func (r *Recorder) Percentile(p float64) time.Duration {
	r.mu.Lock()
	s := slices.Clone(r.samples)
	r.mu.Unlock()
	slices.Sort(s)
	return quantile(s, p/100)
}
