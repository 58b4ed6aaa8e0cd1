package server

import (
	"net"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// rateLimiter holds one token bucket per client: per token when
// authentication is on, per remote address when it is off. Safe for
// concurrent use.
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu struct {
		sync.Mutex
		buckets map[string]*rate.Limiter // by client key; bounded by maxBuckets
	}
}

// maxBuckets bounds the limiter's memory when clients are addresses: past it
// the buckets are forgotten and start full again.
const maxBuckets = 10000

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	l := &rateLimiter{limit: rate.Limit(perSecond), burst: burst}
	l.mu.buckets = map[string]*rate.Limiter{}
	return l
}

// allow takes one request from key's bucket; nil allows everything.
func (l *rateLimiter) allow(key string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	b, ok := l.mu.buckets[key]
	if !ok {
		if len(l.mu.buckets) >= maxBuckets {
			l.mu.buckets = map[string]*rate.Limiter{}
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.mu.buckets[key] = b
	}
	l.mu.Unlock()
	return b.Allow()
}

// clientKey names the rate-limit bucket of a request.
func clientKey(p *principal, r *http.Request) string {
	if p != anonymous {
		return p.id
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
