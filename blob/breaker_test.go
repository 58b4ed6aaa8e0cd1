package blob

import (
	"log/slog"
	"testing"
	"time"

	"github.com/engramhq/engram/clock"
)

func newTestBreaker(threshold int, cooldown time.Duration) (*breaker, *clock.Manual) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o := Options{Clock: clk, BreakerThreshold: threshold, BreakerCooldown: cooldown, Logger: slog.New(slog.DiscardHandler)}
	return newBreaker(&o), clk
}

func mustAllow(t *testing.T, b *breaker, wantProbe bool) {
	t.Helper()
	ok, probe := b.allow()
	if !ok || probe != wantProbe {
		t.Fatalf("allow = %v, probe %v; want allowed, probe %v", ok, probe, wantProbe)
	}
}

func TestBreakerSuccessResetsTheCount(t *testing.T) {
	b, _ := newTestBreaker(3, time.Minute)
	for _, out := range []outcome{outcomeFailure, outcomeFailure, outcomeSuccess, outcomeFailure, outcomeFailure, outcomeNeutral} {
		mustAllow(t, b, false)
		b.done(false, out)
	}
	if st, _ := b.snapshot(); st != BreakerClosed {
		t.Fatalf("two failures, a success, two failures and a give-up opened it: %v", st)
	}
	mustAllow(t, b, false)
	b.done(false, outcomeFailure)
	if st, opens := b.snapshot(); st != BreakerOpen || opens != 1 {
		t.Fatalf("after three failures in a row: %v, %d opens", st, opens)
	}
}

func TestBreakerHalfOpenLetsOneProbeThrough(t *testing.T) {
	b, clk := newTestBreaker(1, time.Minute)
	mustAllow(t, b, false)
	b.done(false, outcomeFailure)
	if ok, _ := b.allow(); ok {
		t.Fatal("open breaker let a call through")
	}
	clk.Advance(time.Minute)
	mustAllow(t, b, true)
	if ok, _ := b.allow(); ok {
		t.Fatal("a second call went through while the probe is in flight")
	}
	// A probe whose caller gave up decides nothing: the next call probes.
	b.done(true, outcomeNeutral)
	mustAllow(t, b, true)
	b.done(true, outcomeFailure)
	if st, opens := b.snapshot(); st != BreakerOpen || opens != 2 {
		t.Fatalf("after a failed probe: %v, %d opens", st, opens)
	}
	clk.Advance(59 * time.Second)
	if ok, _ := b.allow(); ok {
		t.Fatal("the failed probe did not restart the cooldown")
	}
	clk.Advance(time.Second)
	mustAllow(t, b, true)
	b.done(true, outcomeSuccess)
	mustAllow(t, b, false)
	mustAllow(t, b, false)
	if st, _ := b.snapshot(); st != BreakerClosed {
		t.Fatalf("after a good probe: %v", st)
	}
}

func TestBreakerLateFailuresFromBeforeTheOpenAreIgnored(t *testing.T) {
	b, clk := newTestBreaker(2, time.Minute)
	for range 4 {
		mustAllow(t, b, false) // four calls in flight
	}
	b.done(false, outcomeFailure)
	b.done(false, outcomeFailure) // opens
	b.done(false, outcomeFailure) // late: must not reopen or count
	b.done(false, outcomeSuccess) // late: must not close
	if st, opens := b.snapshot(); st != BreakerOpen || opens != 1 {
		t.Fatalf("%v, %d opens; want open once", st, opens)
	}
	clk.Advance(time.Minute)
	mustAllow(t, b, true)
}

func TestBreakerDisabled(t *testing.T) {
	b, _ := newTestBreaker(-1, time.Minute)
	if b != nil {
		t.Fatal("threshold < 0 made a breaker")
	}
	for range 10 {
		mustAllow(t, b, false)
		b.done(false, outcomeFailure)
	}
}
