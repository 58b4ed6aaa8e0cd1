// Package latency records per-operation durations in benchmarks and reports
// their percentiles next to Go's mean ns/op, since a mean hides the tail.
package latency

import (
	"slices"
	"testing"
	"time"
)

// Recorder collects durations. Not safe for concurrent use: give each
// goroutine its own and Merge them.
type Recorder struct{ d []time.Duration }

// New returns a recorder with room for n samples.
func New(n int) *Recorder { return &Recorder{d: make([]time.Duration, 0, n)} }

// Time runs fn and records how long it took.
func (r *Recorder) Time(fn func()) {
	start := time.Now()
	fn()
	r.d = append(r.d, time.Since(start))
}

// Add records one duration.
func (r *Recorder) Add(d time.Duration) { r.d = append(r.d, d) }

// Merge adds every sample of o.
func (r *Recorder) Merge(o *Recorder) { r.d = append(r.d, o.d...) }

// Len is the number of samples.
func (r *Recorder) Len() int { return len(r.d) }

// Percentile returns the p-th percentile (0-100) by nearest rank, 0 when empty.
func (r *Recorder) Percentile(p float64) time.Duration {
	if len(r.d) == 0 {
		return 0
	}
	s := slices.Clone(r.d)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Report adds p50-ns and p99-ns metrics to b.
func (r *Recorder) Report(b *testing.B) {
	if len(r.d) == 0 {
		return
	}
	b.ReportMetric(float64(r.Percentile(50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(r.Percentile(99).Nanoseconds()), "p99-ns")
}
