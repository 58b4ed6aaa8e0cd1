package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/engramhq/engram"
)

// metrics are the server's Prometheus metrics, on a registry of its own (no
// global state): several servers in one process do not collide.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // route, code
	latency  *prometheus.HistogramVec // route
	inflight prometheus.Gauge
	errors   *prometheus.CounterVec // code
	reads    *prometheus.CounterVec // tier, stale
	hits     *prometheus.CounterVec // tier
	misses   *prometheus.CounterVec // tier
}

func newMetrics(s *Server, rts []*route) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engram_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "engram_http_request_duration_seconds", Help: "HTTP request latency by route, from routing to the last byte written.",
			Buckets: prometheus.ExponentialBucketsRange(0.0001, 10, 16),
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "engram_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engram_errors_total", Help: "Error responses by error code.",
		}, []string{"code"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engram_reads_total", Help: "Reads by the tier that answered them (as the store reports it) and whether the answer was stale.",
		}, []string{"tier", "stale"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engram_cache_hits_total", Help: "Reads a fast tier answered, by tier.",
		}, []string{"tier"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engram_cache_misses_total", Help: "Reads a fast tier could not answer and passed down, by tier.",
		}, []string{"tier"}),
	}
	for _, rt := range rts {
		m.latency.WithLabelValues(rt.Name)
	}
	m.latency.WithLabelValues(unmatchedRoute)
	m.reg.MustRegister(m.requests, m.latency, m.inflight, m.errors, m.reads, m.hits, m.misses,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&statusCollector{s: s})
	return m
}

// fastTiers are the tiers in front of the durable one, fastest first.
var fastTiers = []engram.Tier{engram.TierRAM, engram.TierCache}

// observeRead counts one read by where it was answered. A read answered by a
// tier missed in every faster tier. Stores that do not report (ri.Tier
// empty) answer from the durable tier alone and count no cache traffic.
func (m *metrics) observeRead(ri *engram.ReadInfo) {
	tier, stale := ri.Get()
	if tier == "" {
		m.reads.WithLabelValues(string(engram.TierDurable), strconv.FormatBool(stale)).Inc()
		return
	}
	m.reads.WithLabelValues(string(tier), strconv.FormatBool(stale)).Inc()
	for _, t := range fastTiers {
		if t == tier {
			m.hits.WithLabelValues(string(t)).Inc()
			return
		}
		m.misses.WithLabelValues(string(t)).Inc()
	}
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: nil, Timeout: 10 * time.Second})
}

// statusCollector reports the store's status at scrape time: feed position,
// cache watermark and lag, staleness, tier states and numeric tier stats.
type statusCollector struct{ s *Server }

var (
	descLastSeq   = prometheus.NewDesc("engram_last_seq", "The durable change feed's position.", nil, nil)
	descWatermark = prometheus.NewDesc("engram_sync_watermark", "The change-feed position the cache has applied.", nil, nil)
	descLag       = prometheus.NewDesc("engram_sync_lag", "Changes the cache has not applied yet (last_seq - watermark).", nil, nil)
	descStale     = prometheus.NewDesc("engram_stale", "1 while reads may be answered from a cache that lags the durable tier.", nil, nil)
	descTierUp    = prometheus.NewDesc("engram_tier_up", "1 when the tier's state is ok; the state is a label.", []string{"tier", "state"}, nil)
	descTierStat  = prometheus.NewDesc("engram_tier_stat", "A numeric statistic a tier reports.", []string{"tier", "stat"}, nil)
	descTierInfo  = prometheus.NewDesc("engram_tier_info", "A textual statistic a tier reports (such as a circuit breaker's state), as a label.", []string{"tier", "stat", "value"}, nil)
)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastSeq, descWatermark, descLag, descStale, descTierUp, descTierStat, descTierInfo} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.s.storeStatus(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descLastSeq, prometheus.GaugeValue, float64(st.LastSeq))
	ch <- prometheus.MustNewConstMetric(descWatermark, prometheus.GaugeValue, float64(st.Watermark))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(st.Lag))
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, b2f(st.Stale))
	for _, t := range st.Tiers {
		ch <- prometheus.MustNewConstMetric(descTierUp, prometheus.GaugeValue, b2f(t.State == "ok"), string(t.Tier), t.State)
		for k, v := range t.Stats {
			if f, ok := number(v); ok {
				ch <- prometheus.MustNewConstMetric(descTierStat, prometheus.GaugeValue, f, string(t.Tier), k)
			} else if str, ok := v.(string); ok {
				ch <- prometheus.MustNewConstMetric(descTierInfo, prometheus.GaugeValue, 1, string(t.Tier), k, str)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint:
		return float64(n), true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case bool:
		return b2f(n), true
	case time.Duration:
		return n.Seconds(), true
	}
	return 0, false
}
