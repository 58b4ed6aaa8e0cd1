package blob

import (
	cb "github.com/engramhq/engram/internal/breaker"
)

// BreakerState is the state of a store's circuit breaker.
type BreakerState = cb.State

const (
	BreakerClosed   = cb.Closed   // calls go through
	BreakerOpen     = cb.Open     // calls fail at once with ErrCircuitOpen
	BreakerHalfOpen = cb.HalfOpen // one probe call goes through; the others fail at once
)

// outcome of a call, as the breaker counts it.
type outcome = cb.Outcome

const (
	outcomeSuccess = cb.Success // the server answered (an answer like "not found" included)
	outcomeFailure = cb.Failure // the server could not be reached or failed (EUNAVAILABLE)
	outcomeNeutral = cb.Neutral // the caller gave up (its context ended); says nothing about the server
)

// breaker is the object tier's consecutive-failure circuit breaker
// (internal/breaker) with one probe at a time and one success to close. A
// nil *breaker lets every call through.
type breaker struct{ b *cb.Breaker }

func newBreaker(o *Options) *breaker {
	if o.BreakerThreshold < 0 {
		return nil
	}
	return &breaker{cb.New(cb.Options{
		Name: "blob", FailureThreshold: o.BreakerThreshold, SuccessThreshold: 1,
		OpenTimeout: o.BreakerCooldown, HalfOpenMaxCalls: 1, Clock: o.Clock, Log: o.Logger,
	})}
}

// allow reports whether a call may go ahead and whether it is the probe.
func (b *breaker) allow() (ok, probe bool) {
	if b == nil {
		return true, false
	}
	tok, ok := b.b.Allow()
	return ok, tok.Probe
}

// done records the outcome of a call allow let through. There is at most
// one probe in flight, so a probe belongs to the current half-open period.
func (b *breaker) done(probe bool, out outcome) {
	if b == nil {
		return
	}
	b.b.Done(cb.Token{Probe: probe, Epoch: b.b.Epoch()}, out, nil)
}

// snapshot returns the state (open turns half-open only at the next call)
// and how often the circuit opened.
func (b *breaker) snapshot() (BreakerState, int64) {
	if b == nil {
		return BreakerClosed, 0
	}
	s := b.b.Snapshot()
	return s.State, s.Opens
}
