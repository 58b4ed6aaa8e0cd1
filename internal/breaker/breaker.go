// Package breaker is the circuit breaker engram's tiers put in front of a
// server they reach over the network (the object store, PostgreSQL). It
// counts consecutive failed calls; at the failure threshold it opens and
// calls fail at once for the open timeout; then it lets a few probe calls
// through (half-open) and closes after enough of them succeed, or opens
// again at the first that fails.
//
// It is engram's own rather than gobreaker's because its open timeout runs
// on an injected clock, so tests open, probe and close it without sleeping,
// and because a call's outcome has three values: success, failure, and
// neutral (the caller gave up; that says nothing about the server).
package breaker

import (
	"log/slog"
	"sync"
	"time"

	"github.com/engramhq/engram/clock"
)

// State is a breaker's state.
type State int

const (
	Closed   State = iota // calls go through
	Open                  // calls fail at once
	HalfOpen              // up to HalfOpenMaxCalls probes go through; the others fail at once
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Outcome is how a call ended, as the breaker counts it.
type Outcome int

const (
	Success Outcome = iota // the server answered (an answer like "not found" included)
	Failure                // the server could not be reached, or failed
	Neutral                // the caller gave up; says nothing about the server
)

// Options configure New. Zero values take the defaults noted.
type Options struct {
	// Name is what log lines and errors call the breaker.
	Name string
	// FailureThreshold is how many consecutive failed calls open it; 0: 5.
	FailureThreshold int
	// SuccessThreshold is how many successful probes close it again; 0: 1.
	SuccessThreshold int
	// OpenTimeout is how long it stays open before letting probes through;
	// 0: 30 s.
	OpenTimeout time.Duration
	// HalfOpenMaxCalls is how many probes may be in flight at once while
	// half-open; 0: 1.
	HalfOpenMaxCalls int
	// Clock drives the open timeout; nil: the wall clock.
	Clock clock.Clock
	// Log receives every state change (at Warn); nil: none.
	Log *slog.Logger
}

// Token is what Allow hands a call it lets through, to give back to Done.
type Token struct {
	Probe bool   // admitted while half-open
	Epoch uint64 // the half-open period it was admitted in
}

// Breaker is safe for concurrent use. A nil *Breaker lets every call
// through and counts nothing.
type Breaker struct {
	o Options

	mu struct {
		sync.Mutex
		state       State
		failures    int       // consecutive failed calls while closed
		successes   int       // successful probes in this half-open period
		inflight    int       // probes in flight in this half-open period
		epoch       uint64    // counts half-open periods
		openedAt    time.Time // when it last opened
		lastFailure time.Time
		lastError   string
		opens       int64 // times it opened
		rejected    int64 // calls refused while open or half-open
		changes     [][2]State
	}
}

// New returns a breaker with o's settings.
func New(o Options) *Breaker {
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 5
	}
	if o.SuccessThreshold <= 0 {
		o.SuccessThreshold = 1
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 30 * time.Second
	}
	if o.HalfOpenMaxCalls <= 0 {
		o.HalfOpenMaxCalls = 1
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	return &Breaker{o: o}
}

// Name is the breaker's name.
func (b *Breaker) Name() string {
	if b == nil {
		return ""
	}
	return b.o.Name
}

// Allow reports whether a call may go ahead; if it may, the call must end
// with Done(tok, outcome).
func (b *Breaker) Allow() (tok Token, ok bool) {
	if b == nil {
		return Token{}, true
	}
	b.mu.Lock()
	defer b.unlock()
	switch b.mu.state {
	case Closed:
		return Token{}, true
	case Open:
		if b.o.Clock.Now().Sub(b.mu.openedAt) < b.o.OpenTimeout {
			b.mu.rejected++
			return Token{}, false
		}
		b.mu.epoch++
		b.mu.successes, b.mu.inflight = 0, 0
		b.setLocked(HalfOpen)
	}
	if b.mu.inflight >= b.o.HalfOpenMaxCalls {
		b.mu.rejected++
		return Token{}, false
	}
	b.mu.inflight++
	return Token{Probe: true, Epoch: b.mu.epoch}, true
}

// Done records the outcome of a call Allow let through. err, for a
// failure, is kept (its text) for Snapshot.
func (b *Breaker) Done(tok Token, out Outcome, err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.unlock()
	if out == Failure {
		b.mu.lastFailure = b.o.Clock.Now()
		if err != nil {
			b.mu.lastError = err.Error()
		}
	}
	if tok.Probe {
		if b.mu.state != HalfOpen || tok.Epoch != b.mu.epoch {
			return // a probe of an earlier half-open period
		}
		b.mu.inflight--
		switch out {
		case Success:
			b.mu.successes++
			if b.mu.successes >= b.o.SuccessThreshold {
				b.mu.failures = 0
				b.setLocked(Closed)
			}
		case Failure:
			b.openLocked()
		}
		return
	}
	if b.mu.state != Closed {
		return // a call from before the circuit opened
	}
	switch out {
	case Success:
		b.mu.failures = 0
	case Failure:
		b.mu.failures++
		if b.mu.failures >= b.o.FailureThreshold {
			b.openLocked()
		}
	}
}

func (b *Breaker) openLocked() {
	b.mu.openedAt = b.o.Clock.Now()
	b.mu.opens++
	b.mu.failures, b.mu.successes, b.mu.inflight = 0, 0, 0
	b.setLocked(Open)
}

func (b *Breaker) setLocked(s State) {
	if b.mu.state != s {
		b.mu.changes = append(b.mu.changes, [2]State{b.mu.state, s})
	}
	b.mu.state = s
}

// unlock releases mu, then logs the changes made under it (no I/O under
// the lock).
func (b *Breaker) unlock() {
	changes := b.mu.changes
	b.mu.changes = nil
	b.mu.Unlock()
	if b.o.Log == nil {
		return
	}
	for _, c := range changes {
		b.o.Log.Warn("circuit breaker", "breaker", b.o.Name, "from", c[0].String(), "to", c[1].String())
	}
}

// Snapshot is a breaker's state and counters.
type Snapshot struct {
	State State
	// Failures counts consecutive failed calls while closed.
	Failures int
	// Opens counts the times it opened; Rejected the calls it refused.
	Opens, Rejected int64
	// OpenedAt is when it last opened; LastFailure when a call last failed,
	// and LastError that failure's text. Zero when never.
	OpenedAt, LastFailure time.Time
	LastError             string
}

// Snapshot returns the state (an open breaker turns half-open only at the
// next call after its open timeout) and counters.
func (b *Breaker) Snapshot() Snapshot {
	if b == nil {
		return Snapshot{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return Snapshot{State: b.mu.state, Failures: b.mu.failures, Opens: b.mu.opens, Rejected: b.mu.rejected,
		OpenedAt: b.mu.openedAt, LastFailure: b.mu.lastFailure, LastError: b.mu.lastError}
}

// Epoch is the current half-open period's number (see Token).
func (b *Breaker) Epoch() uint64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.epoch
}
