package latency

import (
	"sync"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	if quantile(nil, 0.5) != 0 {
		t.Fatal("quantile of no samples is not 0")
	}
	var s []time.Duration
	for i := 1; i <= 101; i++ {
		s = append(s, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0: 1, 0.5: 51, 0.99: 100, 1: 101} {
		if got := quantile(s, q); got != want {
			t.Errorf("quantile %v = %d, want %d", q, got, want)
		}
	}
}

func TestLocalsMerge(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := r.Local()
			for i := 0; i < 100; i++ {
				l.Add(time.Duration(i))
			}
			l.Time(func() {})
			l.Flush()
		}()
	}
	wg.Wait()
	if len(r.samples) != 404 {
		t.Fatalf("%d samples after 4 flushes of 101, want 404", len(r.samples))
	}
}

func TestPercentile(t *testing.T) {
	var r Recorder
	if r.Percentile(50) != 0 {
		t.Fatal("percentile of no samples is not 0")
	}
	l := r.Local()
	for i := 100; i >= 0; i-- {
		l.Add(time.Duration(i))
	}
	l.Flush()
	if r.Percentile(50) != 50 || r.Percentile(100) != 100 || r.Percentile(0) != 0 {
		t.Fatalf("p50 %d p100 %d p0 %d", r.Percentile(50), r.Percentile(100), r.Percentile(0))
	}
}
