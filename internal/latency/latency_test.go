package latency

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	r := New(100)
	if r.Percentile(50) != 0 {
		t.Fatal("empty recorder percentile not 0")
	}
	for i := 100; i >= 1; i-- {
		r.Add(time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 99: 99, 100: 100, 1: 1, 0: 1} {
		if got := r.Percentile(p); got != want {
			t.Errorf("p%v = %d, want %d", p, got, want)
		}
	}
	o := New(1)
	o.Add(1000)
	r.Merge(o)
	if r.Len() != 101 || r.Percentile(100) != 1000 {
		t.Fatalf("merge: len %d, max %d", r.Len(), r.Percentile(100))
	}
}
