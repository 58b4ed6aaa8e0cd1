// Package clock is the time source of the tiers that expire or sweep records.
// Library code takes a Clock instead of calling time.Now so that tests drive
// expiry and background sweeps with a Manual clock and never sleep.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes tickers. Safe for concurrent use.
type Clock interface {
	Now() time.Time
	// NewTicker returns a ticker that delivers the time on C every d (d > 0).
	// Like time.Ticker it drops ticks for a slow receiver.
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// OrReal returns c, or the wall clock when c is nil.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real()
	}
	return c
}

// Manual is a clock that moves only when told to. Its tickers fire during
// Advance and Set, once for each tick the move passes (a tick that finds the
// channel full is dropped, as with time.Ticker).
type Manual struct {
	mu      sync.Mutex
	now     time.Time       // guarded by mu
	tickers []*manualTicker // guarded by mu
}

// NewManual returns a manual clock reading start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d (d >= 0) and fires due ticks.
func (m *Manual) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Manual.Advance with a negative duration")
	}
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.fireLocked()
	m.mu.Unlock()
}

// Set moves the clock to t, which must not be before its reading.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.Before(m.now) {
		panic("clock: Manual.Set moves backwards")
	}
	m.now = t
	m.fireLocked()
}

func (m *Manual) fireLocked() {
	live := m.tickers[:0]
	for _, t := range m.tickers {
		if t.stopped {
			continue
		}
		live = append(live, t)
		if !t.next.After(m.now) {
			select {
			case t.ch <- t.next:
			default:
			}
			missed := m.now.Sub(t.next) / t.d // whole intervals after the tick just sent
			t.next = t.next.Add((missed + 1) * t.d)
		}
	}
	m.tickers = live
}

// NewTicker returns a ticker whose first tick is due d after the clock's reading.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTicker{m: m, d: d, next: m.now.Add(d), ch: make(chan time.Time, 1)}
	m.tickers = append(m.tickers, t)
	return t
}

type manualTicker struct {
	m       *Manual
	d       time.Duration
	next    time.Time // guarded by m.mu
	stopped bool      // guarded by m.mu
	ch      chan time.Time
}

func (t *manualTicker) C() <-chan time.Time { return t.ch }

func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	t.stopped = true
	t.m.mu.Unlock()
}
