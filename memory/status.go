package memory

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
)

// Status describes the tiers (see engram.StatusReporter).
func (m *Memory) Status(ctx context.Context) (*engram.Status, error) {
	if m.shut.Load() {
		return nil, errClosed
	}
	st := &engram.Status{Tiers: []engram.TierStatus{}}
	m.mu.Lock()
	st.Stale = m.mu.stale
	suspect := map[engram.Tier]string{}
	for k, v := range m.mu.suspect {
		suspect[k] = v
	}
	if !m.mu.lastSync.IsZero() {
		t := m.mu.lastSync
		st.LastSync = &t
	}
	st.LastSyncError = m.mu.lastSyncError
	fileState := m.mu.fileState
	writeErr, writeErrAt := m.mu.writeErr, m.mu.writeErrAt
	m.mu.Unlock()

	if m.ram == nil {
		st.Tiers = append(st.Tiers, engram.TierStatus{Tier: engram.TierRAM, State: "disabled"})
	} else {
		ts := engram.TierStatus{Tier: engram.TierRAM, State: "ok"}
		if s, err := m.ram.Stats(ctx); err == nil {
			ts.Stats = statsMap(s)
		}
		if why := suspect[engram.TierRAM]; why != "" {
			ts.State, ts.Detail = "degraded", "not read until a full sync: "+why
		}
		st.Tiers = append(st.Tiers, ts)
	}

	var wmErr error
	h := m.acquireFile()
	switch {
	case h != nil:
		ts := engram.TierStatus{Tier: engram.TierCache, State: "ok", Detail: h.c.Path()}
		if s, err := h.c.Stats(ctx); err == nil {
			ts.Stats = statsMap(s)
		}
		if hl, err := h.c.QuickHealth(ctx); err == nil && !hl.Healthy {
			ts.State, ts.Detail = "degraded", fmt.Sprintf("%s: %v", h.c.Path(), hl.Problems)
		}
		if why := suspect[engram.TierCache]; why != "" {
			ts.State, ts.Detail = "degraded", "not read until a full sync: "+why
		}
		st.Watermark, wmErr = h.c.Watermark(ctx)
		h.release()
		st.Tiers = append(st.Tiers, ts)
	case m.cfg.NoCache:
		st.Tiers = append(st.Tiers, engram.TierStatus{Tier: engram.TierCache, State: "disabled"})
	default:
		st.Tiers = append(st.Tiers, engram.TierStatus{Tier: engram.TierCache, State: "degraded", Detail: m.cfg.CachePath + ": " + fileState})
		if m.ram != nil {
			st.Watermark, wmErr = m.ram.Watermark(ctx)
		}
	}
	if wmErr != nil {
		return nil, wmErr
	}

	ds := engram.TierStatus{Tier: engram.TierDurable, State: "ok", Stats: map[string]any{
		"breaker":              m.breaker.State().String(),
		"cache_write_failures": m.cacheFailed.Load(),
		"fills":                m.fills.Load(),
		"fills_dropped":        m.fillsLost.Load(),
	}}
	if m.sql != nil {
		ds.Detail = m.sql.Path()
		addResilience(ds.Stats, m.sql.Resilience())
	}
	if writeErr != "" {
		// Reads keep working; writes do not until the cause is removed.
		ds.State, ds.Detail = "degraded", "writes failing: "+writeErr
		if m.sql != nil {
			ds.Detail += " (" + m.sql.Path() + ")"
		}
		ds.Stats["writes_failing_since"] = writeErrAt.UTC()
	}
	last, err := m.LastSeq(ctx)
	if err != nil {
		ds.State, ds.Detail = "unavailable", err.Error()
	} else {
		st.LastSeq = last
		if last > st.Watermark {
			st.Lag = last - st.Watermark
		}
	}
	st.Tiers = append(st.Tiers, ds)
	st.Tiers = append(st.Tiers, m.extraTiers(ctx)...)
	st.Indexes = m.idx.status(st.LastSeq)
	st.Vectors = m.vt.status(false)
	return st, nil
}

// addResilience adds a PostgreSQL store's own breaker, retries and pool
// (sqlstore.ResilienceStats) to the durable tier's statistics; rs is nil on
// SQLite.
func addResilience(stats map[string]any, rs *sqlstore.ResilienceStats) {
	if rs == nil {
		return
	}
	stats["store_breaker"] = rs.Breaker
	stats["store_breaker_opens"] = rs.BreakerOpens
	stats["store_breaker_rejected"] = rs.BreakerRejected
	stats["store_breaker_failures"] = rs.BreakerFailures
	if rs.LastError != "" {
		stats["store_last_error"] = rs.LastError
		stats["store_last_failure"] = rs.LastFailure.UTC()
	}
	stats["store_retries"] = rs.Retries
	stats["store_timeouts"] = rs.Timeouts
	r := rs.Pool.Readers
	stats["pool_max_open"] = r.MaxOpen
	stats["pool_open"] = r.Open
	stats["pool_in_use"] = r.InUse
	stats["pool_idle"] = r.Idle
	stats["pool_waits"] = r.Waits
	stats["pool_wait_seconds"] = float64(r.WaitMillis) / 1000
	stats["pool_closed"] = r.ClosedIdle + r.ClosedIdleTime + r.ClosedLifetime
}

func statsMap(s engram.CacheStats) map[string]any {
	b, _ := json.Marshal(s)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// syncState is what outlives the process about syncs: kept beside the cache
// file, so `engram status` in another process can show it.
type syncState struct {
	LastSync      time.Time `json:"last_sync"`
	LastSyncError string    `json:"last_sync_error,omitempty"`
}

func (m *Memory) statePath() string { return m.cfg.CachePath + syncStateSuffix }

func (m *Memory) loadSyncState() {
	b, err := os.ReadFile(m.statePath())
	if err != nil {
		return
	}
	var s syncState
	if json.Unmarshal(b, &s) != nil {
		return
	}
	m.mu.Lock()
	m.mu.lastSync, m.mu.lastSyncError = s.LastSync, s.LastSyncError
	m.mu.Unlock()
}

// recordSync notes a sync's end: success clears the stale flag.
func (m *Memory) recordSync(err error) {
	m.mu.Lock()
	s := syncState{LastSync: m.clock.Now().UTC()}
	if err != nil {
		s.LastSyncError = err.Error()
	} else {
		m.mu.stale = false
		m.stale.Store(false)
	}
	m.mu.lastSync, m.mu.lastSyncError = s.LastSync, s.LastSyncError
	m.mu.Unlock()
	if m.file.Load() == nil {
		return // only the process holding the cache file writes its state
	}
	b, _ := json.Marshal(s)
	tmp := m.statePath() + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil {
		os.Rename(tmp, m.statePath())
	}
}

// validate checks the cache file against the durable store: every cached
// record exists durably (so nothing deleted or orphaned is served), with
// ValidateChecksums its digest equals the durable record's, and after a
// full sync the most recent episodes are cached.
func (m *Memory) validate(ctx context.Context, full bool) (*engram.ValidationReport, error) {
	rep := &engram.ValidationReport{OK: true, Problems: []string{}}
	problem := func(format string, args ...any) {
		rep.OK = false
		rep.Problems = appendErr(rep.Problems, fmt.Sprintf(format, args...))
	}
	h := m.acquireFile()
	if h == nil {
		problem("no cache file to validate (%s)", m.fileStateOf())
		return rep, nil
	}
	defer h.release()
	file := h.c
	var keys []engram.CacheKey
	if err := file.Keys(ctx, func(k engram.CacheKey) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return nil, err
	}
	cachedEpisodes := 0
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep.Checked++
		// Writes go on while validation runs, so a write of this process
		// in between is not reported as a problem (see below).
		problemOf := func() (string, error) {
			r := fetched{key: k}
			if err := m.fetch(ctx, &r); err != nil {
				return "", err
			}
			durable, cached, err := pair(ctx, file, r)
			switch {
			case err != nil:
				return "", err
			case cached == nil:
				return "", nil // expired, evicted or deleted since Keys listed it
			case durable == nil && k.Kind == engram.KindEmbedding:
				return fmt.Sprintf("cached embedding %s (orphaned) is not in the durable store", k), nil
			case durable == nil:
				return fmt.Sprintf("cached record %s is not in the durable store", k), nil
			case m.cfg.Sync.ValidateChecksums && digest(durable) != digest(cached):
				return fmt.Sprintf("cached %s differs from the durable record", k), nil
			}
			return "", nil
		}
		// A difference is checked again; it is reported only if no write of
		// the key was under way or finished meanwhile (no lock is held
		// across the durable reads).
		p, err := problemOf()
		if err == nil && p != "" {
			g := m.gen(k)
			busy := m.writing(k)
			p, err = problemOf()
			if busy || m.writing(k) || m.gen(k) != g {
				p = ""
			}
		}
		if err != nil {
			return nil, err
		}
		if p != "" {
			problem("%s", p)
		}
		if k.Kind == engram.KindEpisode {
			cachedEpisodes++
		}
	}
	if full {
		nss, err := m.Namespaces(ctx)
		if err != nil {
			return nil, err
		}
		var total int64
		for _, ns := range nss {
			c, err := m.Counts(ctx, ns)
			if err != nil {
				return nil, err
			}
			total += c.Episodes
		}
		want := min(total, int64(m.cfg.Sync.MaxEpisodesCache))
		if int64(cachedEpisodes) < want {
			if s, err := file.Stats(ctx); err != nil || s.Evictions == 0 {
				problem("the cache holds %d episodes; a full sync should have cached %d", cachedEpisodes, want)
			}
		}
	}
	return rep, nil
}

// pair returns the durable record of r and the cache file's copy, each nil
// when absent.
func pair(ctx context.Context, file engram.Cache, r fetched) (durable, cached any, err error) {
	k := r.key
	switch k.Kind {
	case engram.KindEpisode:
		c, ok, err := file.GetEpisode(ctx, k.Namespace, engram.EpisodeID{UUID: k.ID})
		return nilIf(r.ep == nil, r.ep), nilIf(!ok, c), err
	case engram.KindPattern:
		c, ok, err := file.GetPattern(ctx, k.Namespace, engram.PatternID{UUID: k.ID})
		return nilIf(r.pat == nil, r.pat), nilIf(!ok, c), err
	case engram.KindHeuristic:
		c, ok, err := file.GetHeuristic(ctx, k.Namespace, engram.HeuristicID{UUID: k.ID})
		return nilIf(r.heu == nil, r.heu), nilIf(!ok, c), err
	case engram.KindEmbedding:
		c, ok, err := file.GetEmbedding(ctx, k.Namespace, engram.EmbeddingKey{ItemType: k.ItemType, ItemID: k.ID, Model: k.Model})
		return nilIf(r.emb == nil, r.emb), nilIf(!ok, c), err
	}
	return nil, nil, nil
}

func nilIf(isNil bool, v any) any {
	if isNil {
		return nil
	}
	return v
}

// digest is a SHA-256 of a record's JSON form.
func digest(v any) [32]byte {
	b, _ := json.Marshal(v)
	return sha256.Sum256(b)
}
