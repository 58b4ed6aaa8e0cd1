package breaker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/breaker"
)

func newTest(o breaker.Options) (*breaker.Breaker, *clock.Manual) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o.Clock = clk
	return breaker.New(o), clk
}

func allow(t *testing.T, b *breaker.Breaker, wantProbe bool) breaker.Token {
	t.Helper()
	tok, ok := b.Allow()
	if !ok || tok.Probe != wantProbe {
		t.Fatalf("Allow = %v, probe %v; want allowed, probe %v", ok, tok.Probe, wantProbe)
	}
	return tok
}

func refuse(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	if _, ok := b.Allow(); ok {
		t.Fatalf("Allow let a call through in state %v", b.Snapshot().State)
	}
}

func state(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	if got := b.Snapshot().State; got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

// TestReferenceKnobs: failure_threshold 5, success_threshold 2,
// half_open_max_calls 3 behave as the durable tier's reference describes.
func TestReferenceKnobs(t *testing.T) {
	b, clk := newTest(breaker.Options{FailureThreshold: 5, SuccessThreshold: 2, OpenTimeout: 30 * time.Second, HalfOpenMaxCalls: 3})
	boom := errors.New("connection refused")
	for i := 1; i <= 5; i++ {
		b.Done(allow(t, b, false), breaker.Failure, boom)
		want := breaker.Closed
		if i == 5 {
			want = breaker.Open
		}
		state(t, b, want)
	}
	snap := b.Snapshot()
	if snap.Opens != 1 || snap.LastError != "connection refused" || snap.LastFailure.IsZero() {
		t.Fatalf("snapshot after opening: %+v", snap)
	}
	refuse(t, b)
	clk.Advance(29 * time.Second)
	refuse(t, b)
	clk.Advance(time.Second)
	// Half-open: three probes at once, the fourth refused.
	p1, p2, p3 := allow(t, b, true), allow(t, b, true), allow(t, b, true)
	refuse(t, b)
	state(t, b, breaker.HalfOpen)
	b.Done(p1, breaker.Success, nil)
	state(t, b, breaker.HalfOpen) // one success of two
	b.Done(p2, breaker.Neutral, nil)
	state(t, b, breaker.HalfOpen)
	b.Done(p3, breaker.Success, nil)
	state(t, b, breaker.Closed)
	if got := b.Snapshot().Rejected; got != 3 {
		t.Fatalf("rejected %d calls, want 3", got)
	}
}

func TestHalfOpenFailureReopens(t *testing.T) {
	b, clk := newTest(breaker.Options{FailureThreshold: 1, SuccessThreshold: 2, OpenTimeout: time.Minute, HalfOpenMaxCalls: 2})
	b.Done(allow(t, b, false), breaker.Failure, nil)
	clk.Advance(time.Minute)
	p1, p2 := allow(t, b, true), allow(t, b, true)
	b.Done(p1, breaker.Failure, nil)
	state(t, b, breaker.Open)
	// The other probe of that period ends after the reopening: ignored.
	b.Done(p2, breaker.Success, nil)
	state(t, b, breaker.Open)
	clk.Advance(time.Minute)
	p3 := allow(t, b, true)
	b.Done(p2, breaker.Success, nil) // still stale in the new period
	state(t, b, breaker.HalfOpen)
	b.Done(p3, breaker.Success, nil)
	state(t, b, breaker.HalfOpen)
	b.Done(allow(t, b, true), breaker.Success, nil)
	state(t, b, breaker.Closed)
	if got := b.Snapshot().Opens; got != 2 {
		t.Fatalf("%d opens, want 2", got)
	}
}

func TestNeutralAndSuccessResetNothingWrong(t *testing.T) {
	b, _ := newTest(breaker.Options{FailureThreshold: 3})
	for _, out := range []breaker.Outcome{breaker.Failure, breaker.Failure, breaker.Success, breaker.Failure, breaker.Failure, breaker.Neutral} {
		b.Done(allow(t, b, false), out, nil)
	}
	state(t, b, breaker.Closed)
	b.Done(allow(t, b, false), breaker.Failure, nil)
	state(t, b, breaker.Open)
}

func TestNilBreakerAllowsAll(t *testing.T) {
	var b *breaker.Breaker
	for range 10 {
		tok, ok := b.Allow()
		if !ok {
			t.Fatal("nil breaker refused a call")
		}
		b.Done(tok, breaker.Failure, nil)
	}
	if b.Snapshot().State != breaker.Closed {
		t.Fatal("nil breaker not closed")
	}
}
