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
			Buckets: latencyBuckets,
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

// latencyBuckets are the request latency histogram's upper bounds, in
// seconds: 1-2.5-5 steps from 100µs to 10s, written out so that the
// exposition shows round numbers (a computed exponential series prints as
// 0.00021544346900318845).
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// statusCollector reports the store's status at scrape time: feed position,
// cache watermark and lag, staleness, each tier's state, and the statistics
// tiers report, one metric per meaning (a byte count, a ratio and a counter
// are different metrics, never one gauge told apart by a label).
type statusCollector struct{ s *Server }

// Tier states as the value of engram_tier_state: a tier keeps one series
// whatever its state, so a dashboard can graph and alert on it.
var tierStates = map[string]float64{"ok": 0, "degraded": 1, "unavailable": 2, "disabled": 3}

// Circuit breaker states as the value of engram_breaker_state.
var breakerStates = map[string]float64{"closed": 0, "half-open": 1, "open": 2}

// tierStat describes the metric of one statistic a tier reports.
type tierStat struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
}

func tierMetric(name, help string, kind prometheus.ValueType) tierStat {
	return tierStat{prometheus.NewDesc(name, help, []string{"tier"}, nil), kind}
}

// tierStats maps the statistics tiers report (engram.CacheStats and the
// durable tier's) to their metrics. A statistic not listed is not exported.
var tierStats = map[string]tierStat{
	"hits":                 tierMetric("engram_tier_hits_total", "Reads the tier answered.", prometheus.CounterValue),
	"misses":               tierMetric("engram_tier_misses_total", "Reads the tier could not answer (absent, expired or corrupt).", prometheus.CounterValue),
	"reads":                tierMetric("engram_tier_reads_total", "Reads of the tier (hits + misses).", prometheus.CounterValue),
	"writes":               tierMetric("engram_tier_writes_total", "Records put into the tier.", prometheus.CounterValue),
	"deletes":              tierMetric("engram_tier_deletes_total", "Deletes applied to the tier.", prometheus.CounterValue),
	"evictions":            tierMetric("engram_tier_evictions_total", "Records evicted for room.", prometheus.CounterValue),
	"expirations":          tierMetric("engram_tier_expirations_total", "Expired records removed.", prometheus.CounterValue),
	"corrupt":              tierMetric("engram_tier_corrupt_records_total", "Records that failed verification when read.", prometheus.CounterValue),
	"entries":              tierMetric("engram_tier_entries", "Records the tier holds.", prometheus.GaugeValue),
	"bytes":                tierMetric("engram_tier_bytes", "Size of the records the tier holds, in bytes.", prometheus.GaugeValue),
	"file_size":            tierMetric("engram_tier_file_size_bytes", "Size of the tier's file, in bytes.", prometheus.GaugeValue),
	"hit_rate":             tierMetric("engram_tier_hit_ratio", "Hits / reads since start (0-1).", prometheus.GaugeValue),
	"cache_write_failures": tierMetric("engram_cache_write_failures_total", "Acknowledged durable writes whose cache update failed (the entry was invalidated).", prometheus.CounterValue),
	"fills":                tierMetric("engram_cache_fills_total", "Cache fills after a durable read.", prometheus.CounterValue),
	"fills_dropped":        tierMetric("engram_cache_fills_dropped_total", "Cache fills dropped (a write raced them, or the queue was full).", prometheus.CounterValue),
	// A PostgreSQL durable store's breaker, retries and reader pool.
	"store_breaker_opens":    tierMetric("engram_store_breaker_opens_total", "Times the PostgreSQL store's circuit breaker opened.", prometheus.CounterValue),
	"store_breaker_rejected": tierMetric("engram_store_breaker_rejected_total", "Calls the PostgreSQL store's open breaker failed at once.", prometheus.CounterValue),
	"store_breaker_failures": tierMetric("engram_store_breaker_consecutive_failures", "Consecutive failed round trips to PostgreSQL (the breaker opens at its threshold).", prometheus.GaugeValue),
	"store_retries":          tierMetric("engram_store_retries_total", "Repeated attempts of PostgreSQL reads and keyed writes.", prometheus.CounterValue),
	"store_timeouts":         tierMetric("engram_store_timeouts_total", "PostgreSQL round trips the client-side statement timeout ended.", prometheus.CounterValue),
	"pool_max_open":          tierMetric("engram_pool_max_open_connections", "Most PostgreSQL reader connections the pool opens.", prometheus.GaugeValue),
	"pool_open":              tierMetric("engram_pool_open_connections", "PostgreSQL reader connections open (in use + idle).", prometheus.GaugeValue),
	"pool_in_use":            tierMetric("engram_pool_in_use_connections", "PostgreSQL reader connections in use.", prometheus.GaugeValue),
	"pool_idle":              tierMetric("engram_pool_idle_connections", "PostgreSQL reader connections idle.", prometheus.GaugeValue),
	"pool_waits":             tierMetric("engram_pool_waits_total", "Times a read waited for a free PostgreSQL connection.", prometheus.CounterValue),
	"pool_wait_seconds":      tierMetric("engram_pool_wait_seconds_total", "Time reads waited for a free PostgreSQL connection.", prometheus.CounterValue),
	"pool_closed":            tierMetric("engram_pool_closed_connections_total", "PostgreSQL reader connections closed for being idle too many, idle too long, or too old.", prometheus.CounterValue),
}

var (
	descLastSeq   = prometheus.NewDesc("engram_last_seq", "The durable change feed's position.", nil, nil)
	descWatermark = prometheus.NewDesc("engram_sync_watermark", "The change-feed position the cache has applied.", nil, nil)
	descLag       = prometheus.NewDesc("engram_sync_lag", "Changes the cache has not applied yet (last_seq - watermark).", nil, nil)
	descStale     = prometheus.NewDesc("engram_stale", "1 while reads may be answered from a cache that lags the durable tier.", nil, nil)
	descTierUp    = prometheus.NewDesc("engram_tier_up", "1 when the tier's state is ok, else 0.", []string{"tier"}, nil)
	descTierState = prometheus.NewDesc("engram_tier_state", "The tier's state: 0 ok, 1 degraded, 2 unavailable, 3 disabled.", []string{"tier"}, nil)
	descBreaker   = prometheus.NewDesc("engram_breaker_state", "The durable tier's circuit breaker: 0 closed, 1 half-open, 2 open.", []string{"tier"}, nil)
	// The PostgreSQL store's own breaker, in front of the database (the one
	// above is memory's, in front of the store).
	descStoreBreaker = prometheus.NewDesc("engram_store_breaker_state", "The PostgreSQL store's circuit breaker: 0 closed, 1 half-open, 2 open.", []string{"tier"}, nil)
)

// The vector indexes' tiers (engram.VectorTiersStatus), by tier: hot,
// warm, cold, rebuilt.
var (
	descVecIndexes    = prometheus.NewDesc("engram_vector_tier_indexes", "Vector index groups in the tier.", []string{"tier"}, nil)
	descVecVectors    = prometheus.NewDesc("engram_vector_tier_vectors", "Vectors loaded (hot tier).", []string{"tier"}, nil)
	descVecBytes      = prometheus.NewDesc("engram_vector_tier_bytes", "Bytes of vector indexes in the tier (hot: memory estimate; warm: files; cold: objects).", []string{"tier"}, nil)
	descVecHits       = prometheus.NewDesc("engram_vector_tier_hits_total", "Queries (hot) or index loads (warm, cold, rebuilt) the tier answered.", []string{"tier"}, nil)
	descVecPromotions = prometheus.NewDesc("engram_vector_tier_promotions_total", "Indexes moved into the tier from a colder one.", []string{"tier"}, nil)
	descVecDemotions  = prometheus.NewDesc("engram_vector_tier_demotions_total", "Indexes moved out of the tier to a colder one.", []string{"tier"}, nil)
	descVecLoad       = prometheus.NewDesc("engram_vector_tier_load_seconds_total", "Time spent loading indexes from the tier.", []string{"tier"}, nil)
	descVecRebuilds   = prometheus.NewDesc("engram_vector_rebuilds_total", "Vector indexes rebuilt from the durable embeddings.", nil, nil)
	descVecUploads    = prometheus.NewDesc("engram_vector_uploads_total", "Vector index snapshots uploaded to the object tier.", nil, nil)
	descVecCorrupt    = prometheus.NewDesc("engram_vector_corrupt_objects_total", "Downloaded vector index objects that failed their checksum.", nil, nil)
)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastSeq, descWatermark, descLag, descStale, descTierUp, descTierState, descBreaker, descStoreBreaker,
		descVecIndexes, descVecVectors, descVecBytes, descVecHits, descVecPromotions, descVecDemotions, descVecLoad, descVecRebuilds, descVecUploads, descVecCorrupt} {
		ch <- d
	}
	for _, st := range tierStats {
		ch <- st.desc
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
	if v := st.Vectors; v != nil {
		for _, t := range v.Tiers {
			tier := string(t.Tier)
			ch <- prometheus.MustNewConstMetric(descVecIndexes, prometheus.GaugeValue, float64(t.Indexes), tier)
			ch <- prometheus.MustNewConstMetric(descVecVectors, prometheus.GaugeValue, float64(t.Vectors), tier)
			ch <- prometheus.MustNewConstMetric(descVecBytes, prometheus.GaugeValue, float64(t.Bytes), tier)
			ch <- prometheus.MustNewConstMetric(descVecHits, prometheus.CounterValue, float64(t.Hits), tier)
			ch <- prometheus.MustNewConstMetric(descVecPromotions, prometheus.CounterValue, float64(t.Promotions), tier)
			ch <- prometheus.MustNewConstMetric(descVecDemotions, prometheus.CounterValue, float64(t.Demotions), tier)
			ch <- prometheus.MustNewConstMetric(descVecLoad, prometheus.CounterValue, t.LoadTime.Seconds(), tier)
		}
		ch <- prometheus.MustNewConstMetric(descVecRebuilds, prometheus.CounterValue, float64(v.Rebuilds))
		ch <- prometheus.MustNewConstMetric(descVecUploads, prometheus.CounterValue, float64(v.Uploads))
		ch <- prometheus.MustNewConstMetric(descVecCorrupt, prometheus.CounterValue, float64(v.Corrupt))
	}
	seen := map[engram.Tier]bool{}
	for _, t := range st.Tiers {
		if seen[t.Tier] {
			continue // one series per tier
		}
		seen[t.Tier] = true
		tier := string(t.Tier)
		ch <- prometheus.MustNewConstMetric(descTierUp, prometheus.GaugeValue, b2f(t.State == "ok"), tier)
		if v, ok := tierStates[t.State]; ok {
			ch <- prometheus.MustNewConstMetric(descTierState, prometheus.GaugeValue, v, tier)
		}
		for k, v := range t.Stats {
			if k == "breaker" || k == "store_breaker" {
				desc := descBreaker
				if k == "store_breaker" {
					desc = descStoreBreaker
				}
				if str, ok := v.(string); ok {
					if f, ok := breakerStates[str]; ok {
						ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, f, tier)
					}
				}
				continue
			}
			ts, known := tierStats[k]
			if f, ok := number(v); ok && known {
				ch <- prometheus.MustNewConstMetric(ts.desc, ts.kind, f, tier)
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
