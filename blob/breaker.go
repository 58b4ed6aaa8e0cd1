package blob

import (
	"log/slog"
	"sync"
	"time"

	"github.com/engramhq/engram/clock"
)

// BreakerState is the state of a store's circuit breaker.
type BreakerState int

const (
	BreakerClosed   BreakerState = iota // calls go through
	BreakerOpen                         // calls fail at once with ErrCircuitOpen
	BreakerHalfOpen                     // one probe call goes through; the others fail at once
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// outcome of a call, as the breaker counts it.
type outcome int

const (
	outcomeSuccess outcome = iota // the server answered (an answer like "not found" included)
	outcomeFailure                // the server could not be reached or failed (EUNAVAILABLE)
	outcomeNeutral                // the caller gave up (its context ended); says nothing about the server
)

// breaker is a consecutive-failure circuit breaker over a tier. It is ours
// rather than gobreaker's because its cooldown runs on an injected clock, so
// tests open, probe and close it without sleeping. A nil *breaker lets every
// call through.
type breaker struct {
	clock     clock.Clock
	threshold int
	cooldown  time.Duration
	log       *slog.Logger

	mu struct {
		sync.Mutex
		state    BreakerState
		failures int               // consecutive failed calls while closed
		openedAt time.Time         // when it last opened
		probing  bool              // a half-open probe is in flight
		opens    int64             // times it opened
		changes  [][2]BreakerState // transitions to log once unlocked
	}
}

func newBreaker(o *Options) *breaker {
	if o.BreakerThreshold < 0 {
		return nil
	}
	return &breaker{clock: o.Clock, threshold: o.BreakerThreshold, cooldown: o.BreakerCooldown, log: o.Logger}
}

// allow reports whether a call may go ahead and whether it is the probe.
func (b *breaker) allow() (ok, probe bool) {
	if b == nil {
		return true, false
	}
	b.mu.Lock()
	defer b.unlock()
	switch b.mu.state {
	case BreakerClosed:
		return true, false
	case BreakerOpen:
		if b.clock.Now().Sub(b.mu.openedAt) < b.cooldown {
			return false, false
		}
		b.setLocked(BreakerHalfOpen)
	}
	if b.mu.probing {
		return false, false
	}
	b.mu.probing = true
	return true, true
}

// done records the outcome of a call allow let through.
func (b *breaker) done(probe bool, out outcome) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.unlock()
	if probe {
		b.mu.probing = false
		switch out {
		case outcomeSuccess:
			b.mu.failures = 0
			b.setLocked(BreakerClosed)
		case outcomeFailure:
			b.openLocked()
		}
		return
	}
	if b.mu.state != BreakerClosed {
		return // a call from before the circuit opened
	}
	switch out {
	case outcomeSuccess:
		b.mu.failures = 0
	case outcomeFailure:
		b.mu.failures++
		if b.mu.failures >= b.threshold {
			b.openLocked()
		}
	}
}

func (b *breaker) openLocked() {
	b.mu.openedAt = b.clock.Now()
	b.mu.opens++
	b.mu.failures = 0
	b.setLocked(BreakerOpen)
}

func (b *breaker) setLocked(s BreakerState) {
	if b.mu.state != s {
		b.mu.changes = append(b.mu.changes, [2]BreakerState{b.mu.state, s})
	}
	b.mu.state = s
}

// unlock releases mu, then logs the transitions made under it (no I/O
// under the lock).
func (b *breaker) unlock() {
	changes := b.mu.changes
	b.mu.changes = nil
	b.mu.Unlock()
	for _, c := range changes {
		b.log.Warn("blob: circuit breaker", "from", c[0].String(), "to", c[1].String())
	}
}

// snapshot returns the state (open turns half-open only at the next call)
// and how often the circuit opened.
func (b *breaker) snapshot() (BreakerState, int64) {
	if b == nil {
		return BreakerClosed, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.state, b.mu.opens
}
