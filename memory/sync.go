package memory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
)

// Sync brings the cache tiers in step with the durable store (see
// engram.Syncer). Incremental (the default): apply the change feed from the
// cache's watermark, batch by batch, each batch and its watermark in one
// cache transaction. Full: build a new cache file from the durable store,
// catch it up, validate it and swap it in. An incremental sync of a cache
// that was never synced runs as a full one. One sync runs at a time.
func (m *Memory) Sync(ctx context.Context, opts engram.SyncOptions) (*engram.SyncReport, error) {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	start := time.Now()
	if !opts.DryRun {
		m.reopenFile(ctx)
	}
	if !m.hasTier() {
		// Nothing to keep in step: a sync has nothing to do, and succeeds.
		rep := &engram.SyncReport{Full: opts.Full, DryRun: opts.DryRun, Errors: []string{}}
		if !opts.DryRun {
			m.recordSync(nil)
		}
		return rep, nil
	}
	if !opts.Full && m.needsFullSync(ctx) {
		// A cache that was never synced (new, lost, or discarded) is rebuilt
		// rather than replaying the whole change feed into it.
		opts.Full = true
	}
	rep := &engram.SyncReport{Full: opts.Full, DryRun: opts.DryRun, Errors: []string{}}
	var err error
	if opts.Full {
		err = m.fullSync(ctx, opts, rep)
	} else {
		err = m.incrementalSync(ctx, opts, rep)
	}
	if err == nil && opts.Validate {
		rep.Validation, err = m.validate(ctx, opts.Full)
	}
	rep.Duration = time.Since(start)
	if !opts.DryRun {
		m.recordSync(err)
	}
	return rep, err
}

// target is the tier whose watermark a sync advances: the cache file, or the
// RAM tier when there is no file.
func (m *Memory) target() (engram.Cache, engram.Tier, error) {
	if m.file != nil {
		return m.file, engram.TierCache, nil
	}
	if m.ram != nil {
		return m.ram, engram.TierRAM, nil
	}
	return nil, "", &engram.Error{Code: engram.EINVALID, Message: "memory: no cache tier to sync (the cache file is " + m.fileState + " and the RAM tier is off)"}
}

func (m *Memory) incrementalSync(ctx context.Context, opts engram.SyncOptions, rep *engram.SyncReport) error {
	m.fileMu.RLock()
	defer m.fileMu.RUnlock()
	tgt, name, err := m.target()
	if err != nil {
		return err
	}
	wm, err := tgt.Watermark(ctx)
	if err != nil {
		return fmt.Errorf("memory: sync: read watermark: %w", err)
	}
	rep.WatermarkBefore, rep.WatermarkAfter = wm, wm
	last, err := m.LastSeq(ctx)
	if err != nil {
		return err
	}
	total := int64(last) - int64(wm)
	if total < 0 {
		// The durable store is older than this cache (restored from a backup,
		// or another store): nothing in the cache can be trusted.
		return &engram.Error{Code: engram.ECONFLICT, Message: fmt.Sprintf("memory: sync: the cache's watermark %d is past the durable change feed's end %d; run a full sync", wm, last)}
	}
	progress(opts, 0, total)
	for {
		changes, err := m.Changes(ctx, wm, m.cfg.Sync.BatchSize)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		next := changes[len(changes)-1].Seq
		// Other tiers follow the target, without a watermark of their own.
		var others []tier
		if name == engram.TierCache && m.ram != nil {
			others = append(others, tier{engram.TierRAM, m.ram})
		}
		if err := m.applyChanges(ctx, changes, tier{name, tgt}, others, next, opts.DryRun, true, rep); err != nil {
			return err
		}
		wm = next
		rep.WatermarkAfter = wm
		progress(opts, int64(wm)-int64(rep.WatermarkBefore), total)
	}
}

// fetched is the durable state of one changed key: a record to put, or
// nothing (delete).
type fetched struct {
	key   engram.CacheKey
	gen   uint64 // the key's stripe counters when the fetch began
	fills uint64
	ep    *engram.Episode
	pat   *engram.Pattern
	heu   *engram.Heuristic
	emb   *engram.Embedding
}

// applyChanges fetches the current durable state of every key in changes
// and commits it to tgt (with watermark next) and to others. With stripes,
// the keys' stripes are held around the commit and a key written since its
// fetch is left to that write.
func (m *Memory) applyChanges(ctx context.Context, changes []engram.Change, tgt tier, others []tier, next uint64, dryRun, stripes bool, rep *engram.SyncReport) error {
	order := []engram.CacheKey{}
	byKey := map[engram.CacheKey]engram.ChangeOp{}
	for _, c := range changes {
		key, ok, err := cacheKeyOf(c)
		if err != nil {
			rep.Errors = appendErr(rep.Errors, fmt.Sprintf("change %d: %v", c.Seq, err))
			continue
		}
		if !ok {
			continue // relationships are not cached
		}
		if _, seen := byKey[key]; !seen {
			order = append(order, key)
		}
		byKey[key] = c.Op
	}
	results := make([]fetched, len(order))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.cfg.Sync.Concurrency)
	for i, key := range order {
		results[i] = fetched{key: key}
		if stripes {
			results[i].gen, results[i].fills = m.counters(key)
		}
		if byKey[key] == engram.OpDelete || m.skipped(key.Kind) {
			continue
		}
		g.Go(func() error { return m.fetch(gctx, &results[i]) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var b engram.CacheBatch
	for _, r := range results {
		switch {
		case r.ep != nil:
			b.PutEpisode(r.key.Namespace, r.ep)
			rep.Episodes++
		case r.pat != nil:
			b.PutPattern(r.key.Namespace, r.pat)
			rep.Patterns++
		case r.heu != nil:
			b.PutHeuristic(r.key.Namespace, r.heu)
			rep.Heuristics++
		case r.emb != nil:
			b.PutEmbedding(r.key.Namespace, r.emb)
			rep.Embeddings++
		default:
			b.Delete(r.key)
			rep.Deletions++
		}
	}
	if dryRun {
		return nil
	}
	b.SetWatermark(next)
	var idx []int
	if stripes {
		idx = m.lockKeys(order)
		defer m.unlockKeys(idx, true)
		// A key written since its fetch already holds that newer write: leave
		// it. A key a read filled since (with a record perhaps newer than the
		// fetch, from another process's write) is dropped, not overwritten.
		kept := b.Writes[:0]
		for i, w := range b.Writes {
			st := &m.stripes[m.stripeIndex(w.Key)]
			switch {
			case results[i].gen != st.gen:
			case results[i].fills != st.fills:
				kept = append(kept, engram.CacheWrite{Key: w.Key})
			default:
				kept = append(kept, w)
			}
		}
		b.Writes = kept
	}
	if err := tgt.cache.Apply(ctx, &b); err != nil {
		return fmt.Errorf("memory: sync: commit batch up to change %d to the %s tier: %w", next, tgt.name, err)
	}
	b.Watermark = nil
	m.applyTiers(ctx, others, &b)
	return nil
}

// skipped reports whether the configuration keeps kind out of the cache; a
// skipped kind's changes are applied as deletes (invalidation).
func (m *Memory) skipped(kind engram.RecordKind) bool {
	switch kind {
	case engram.KindPattern, engram.KindHeuristic:
		return m.cfg.Sync.SkipPatterns
	case engram.KindEmbedding:
		return m.cfg.Sync.SkipEmbeddings
	}
	return false
}

// fetch reads r.key's current record from the durable store; a record that
// no longer exists leaves r empty (a delete).
func (m *Memory) fetch(ctx context.Context, r *fetched) error {
	k := r.key
	var err error
	switch k.Kind {
	case engram.KindEpisode:
		r.ep, err = durableRead(m, ctx, func() (*engram.Episode, error) {
			return m.durable.GetEpisode(ctx, k.Namespace, engram.EpisodeID{UUID: k.ID})
		})
	case engram.KindPattern:
		r.pat, err = durableRead(m, ctx, func() (*engram.Pattern, error) {
			return m.durable.GetPattern(ctx, k.Namespace, engram.PatternID{UUID: k.ID})
		})
	case engram.KindHeuristic:
		r.heu, err = durableRead(m, ctx, func() (*engram.Heuristic, error) {
			return m.durable.GetHeuristic(ctx, k.Namespace, engram.HeuristicID{UUID: k.ID})
		})
	case engram.KindEmbedding:
		ek := engram.EmbeddingKey{ItemType: k.ItemType, ItemID: k.ID, Model: k.Model}
		r.emb, err = durableRead(m, ctx, func() (*engram.Embedding, error) { return m.durable.GetEmbedding(ctx, k.Namespace, ek) })
	}
	if errors.Is(err, engram.ErrNotFound) {
		*r = fetched{key: r.key, gen: r.gen}
		return nil
	}
	if err != nil {
		return fmt.Errorf("memory: sync: read %s: %w", k, err)
	}
	return nil
}

// cacheKeyOf maps a change-feed entry to the cache key it affects; ok is
// false for kinds the cache does not hold.
func cacheKeyOf(c engram.Change) (engram.CacheKey, bool, error) {
	switch c.Kind {
	case engram.KindEpisode:
		id, err := engram.ParseEpisodeID(c.Key)
		return engram.EpisodeCacheKey(c.Namespace, id), err == nil, err
	case engram.KindPattern:
		id, err := engram.ParsePatternID(c.Key)
		return engram.PatternCacheKey(c.Namespace, id), err == nil, err
	case engram.KindHeuristic:
		id, err := engram.ParseHeuristicID(c.Key)
		return engram.HeuristicCacheKey(c.Namespace, id), err == nil, err
	case engram.KindEmbedding:
		k, err := engram.ParseEmbeddingKey(c.Key)
		return engram.EmbeddingCacheKey(c.Namespace, k), err == nil, err
	}
	return engram.CacheKey{}, false, nil
}

func appendErr(errs []string, e string) []string {
	if len(errs) < maxSyncErrorsKeptInReport {
		errs = append(errs, e)
	}
	return errs
}

func progress(opts engram.SyncOptions, done, total int64) {
	if opts.Progress != nil {
		opts.Progress(done, total)
	}
}

// needsFullSync: the cache is empty and has never been synced, but the
// durable store has data (a new, lost or discarded cache file). A cache
// synced while the store was empty also has watermark 0, but it has since
// received the records written through this Memory, so it is not empty.
func (m *Memory) needsFullSync(ctx context.Context) bool {
	m.fileMu.RLock()
	defer m.fileMu.RUnlock()
	tgt, _, err := m.target()
	if err != nil {
		return false
	}
	wm, err := tgt.Watermark(ctx)
	if err != nil || wm != 0 {
		return false
	}
	if st, err := tgt.Stats(ctx); err != nil || st.Entries > 0 {
		return false
	}
	last, err := m.LastSeq(ctx)
	return err == nil && last > 0
}

// periodicSync runs an incremental sync every Sync.Interval until Close.
func (m *Memory) periodicSync() {
	defer m.wg.Done()
	t := m.clock.NewTicker(m.cfg.Sync.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.bgCtx.Done():
			return
		case <-t.C():
			if _, err := m.Sync(m.bgCtx, engram.SyncOptions{}); err != nil && m.bgCtx.Err() == nil {
				m.log.Warn("memory: periodic sync failed", "err", err)
			}
		}
	}
}

// fullSync rebuilds the cache. With a cache file: fill a new file beside it,
// catch it up with the change feed, validate it, then (holding every reader
// and writer off) apply the last changes and swap it in. Without one: clear
// the RAM tier and fill it.
func (m *Memory) fullSync(ctx context.Context, opts engram.SyncOptions, rep *engram.SyncReport) error {
	m.fileMu.RLock()
	hasFile := m.file != nil
	var before uint64
	if tgt, _, err := m.target(); err == nil {
		before, _ = tgt.Watermark(ctx)
	}
	m.fileMu.RUnlock()
	rep.WatermarkBefore = before
	if !hasFile && m.ram == nil {
		_, _, err := m.target()
		return err
	}
	// Changes from here on are applied after the fill, so the fill may read
	// any state at or after this point.
	from, err := m.LastSeq(ctx)
	if err != nil {
		return err
	}
	if opts.DryRun {
		rep.WatermarkAfter = before
		return m.fillFrom(ctx, nil, from, opts, rep)
	}
	if !hasFile {
		return m.rebuildRAM(ctx, from, opts, rep)
	}

	path := m.cfg.CachePath + rebuildSuffix
	os.Remove(path)
	o := m.cfg.Cache
	o.TTLCheckInterval = -1 // the rebuilt file gets its sweeper when it is reopened
	o.LockTimeout = -1
	o.Sync = true // the file is fsynced before the rename makes it the cache
	nf, err := boltcache.Open(path, o)
	if err != nil {
		return fmt.Errorf("memory: full sync: create %s: %w", path, err)
	}
	keep := false
	defer func() {
		if !keep {
			nf.Close()
			os.Remove(path)
		}
	}()
	if err := m.fillFrom(ctx, nf.Apply, from, opts, rep); err != nil {
		return err
	}
	// Catch up outside the lock, then check the file.
	if _, err := m.catchUp(ctx, nf, rep); err != nil {
		return err
	}
	check, err := nf.Check(ctx, false)
	if err != nil {
		return fmt.Errorf("memory: full sync: check the new file: %w", err)
	}
	if check.Structure != "ok" || len(check.Bad) > 0 {
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("memory: full sync: the new cache file failed its check (%s, %d bad records); the old one stays", check.Structure, len(check.Bad))}
	}
	// Swap: no reader or writer holds the file meanwhile. The new file is
	// renamed over the old one while the old handle is still open, so a
	// failed rename leaves everything as it was.
	err = m.swapIn(ctx, func() error {
		if _, err := m.catchUp(ctx, nf, rep); err != nil {
			return err
		}
		if err := nf.Close(); err != nil {
			return fmt.Errorf("memory: full sync: close the new file: %w", err)
		}
		if err := os.Rename(path, m.cfg.CachePath); err != nil {
			return fmt.Errorf("memory: full sync: swap in the new file: %w", err)
		}
		keep = true
		if err := m.file.Close(); err != nil {
			m.log.Warn("memory: full sync: close the old cache file", "err", err)
		}
		f, err := boltcache.Open(m.cfg.CachePath, m.cfg.Cache)
		if err != nil {
			// Another process took the new file between the close and this
			// open; a later sync tries again (reopenFile).
			m.file, m.fileState = nil, "unavailable after a full sync: "+err.Error()
			return fmt.Errorf("memory: full sync: reopen the cache: %w", err)
		}
		m.file, m.fileState = f, ""
		m.clearSuspect(engram.TierCache)
		rep.WatermarkAfter, err = f.Watermark(ctx)
		return err
	})
	return err
}

// catchUp applies every change after c's watermark to c, which no other
// code sees yet (no stripes, no other tiers).
func (m *Memory) catchUp(ctx context.Context, c engram.Cache, rep *engram.SyncReport) (uint64, error) {
	wm, err := c.Watermark(ctx)
	if err != nil {
		return 0, err
	}
	for {
		changes, err := m.Changes(ctx, wm, m.cfg.Sync.BatchSize)
		if err != nil {
			return wm, err
		}
		if len(changes) == 0 {
			return wm, nil
		}
		next := changes[len(changes)-1].Seq
		if err := m.applyChanges(ctx, changes, tier{engram.TierCache, c}, nil, next, false, false, rep); err != nil {
			return wm, err
		}
		wm = next
	}
}

func (m *Memory) clearSuspect(t engram.Tier) {
	m.mu.Lock()
	delete(m.mu.suspect, t)
	m.mu.Unlock()
}

// reopenFile tries again to get the cache file when this Memory runs
// without it (another process held it at open, or a swap failed). A file it
// gets is brought up to the change feed before it is read from, the same way
// a rebuilt file is swapped in; the RAM tier, which followed its own
// watermark meanwhile, is cleared. Failures are silent: the Memory goes on
// without the file. The caller holds syncMu.
func (m *Memory) reopenFile(ctx context.Context) {
	if m.cfg.NoCache {
		return
	}
	m.fileMu.RLock()
	has := m.file != nil
	m.fileMu.RUnlock()
	if has {
		return
	}
	o := m.cfg.Cache
	o.LockTimeout = -1 // a quick try: the holder may be a long-running server
	f, err := boltcache.Open(m.cfg.CachePath, o)
	if err != nil {
		return
	}
	os.Remove(m.cfg.CachePath + rebuildSuffix)
	rep := &engram.SyncReport{}
	err = func() error {
		if reset, err := m.resetIfUnsynced(ctx, f); err != nil || reset {
			return err
		}
		_, err := m.catchUp(ctx, f, rep)
		return err
	}()
	if err == nil {
		err = m.swapIn(ctx, func() error {
			if _, err := m.catchUp(ctx, f, rep); err != nil {
				return err
			}
			m.file, m.fileState = f, ""
			return nil
		})
	}
	if err != nil {
		f.Close()
		m.log.Warn("memory: reopened the cache file but could not bring it up to date; running without it", "err", err)
		return
	}
	m.log.Info("memory: the cache file is ours again", "path", m.cfg.CachePath)
}

// swapTimeout bounds how long a swap waits for the readers and writers of
// the current cache file to let go.
const swapTimeout = 30 * time.Second

// swapIn runs fn with the cache file's write lock held: no reader or writer
// uses a tier meanwhile. It waits for the lock with TryLock rather than Lock,
// because a waiting Lock would stop new readers too, and a reader must never
// queue behind a writer stuck in a slow durable call. The RAM tier is
// cleared afterwards (it may hold what the old file did).
func (m *Memory) swapIn(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(swapTimeout)
	for !m.fileMu.TryLock() {
		if time.Now().After(deadline) {
			return &engram.Error{Code: engram.EUNAVAILABLE, Message: "memory: the cache is too busy to swap files; try again"}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	defer m.fileMu.Unlock()
	if err := fn(); err != nil {
		return err
	}
	if m.ram != nil {
		if err := m.ram.Clear(ctx); err != nil {
			m.markSuspect(engram.TierRAM, "could not be cleared after a cache file swap: "+err.Error())
		} else {
			m.clearSuspect(engram.TierRAM)
		}
	}
	return nil
}

// rebuildRAM is a full sync without a cache file: the RAM tier is the
// target, and it is in use while it is rebuilt. Every stripe's counters are
// read first; the tier is cleared and filled, and a record whose key was
// written or filled since (its copy there may be newer than what the fill
// read) is left out of the fill. The changes made meanwhile are then applied
// like an incremental sync.
func (m *Memory) rebuildRAM(ctx context.Context, from uint64, opts engram.SyncOptions, rep *engram.SyncReport) error {
	var snap [numStripes][2]uint64
	for i := range m.stripes {
		st := &m.stripes[i]
		st.mu.Lock()
		snap[i] = [2]uint64{st.gen, st.fills}
		st.mu.Unlock()
	}
	if err := m.ram.Clear(ctx); err != nil {
		return err
	}
	checked := func(ctx context.Context, b *engram.CacheBatch) error {
		keys := make([]engram.CacheKey, len(b.Writes))
		for i, w := range b.Writes {
			keys[i] = w.Key
		}
		idx := m.lockKeys(keys)
		defer m.unlockKeys(idx, false)
		kept := b.Writes[:0]
		for _, w := range b.Writes {
			i := m.stripeIndex(w.Key)
			if snap[i] == [2]uint64{m.stripes[i].gen, m.stripes[i].fills} {
				kept = append(kept, w)
			}
		}
		b.Writes = kept
		return m.ram.Apply(ctx, b)
	}
	if err := m.fillFrom(ctx, checked, from, opts, rep); err != nil {
		return err
	}
	m.clearSuspect(engram.TierRAM)
	for wm := from; ; {
		changes, err := m.Changes(ctx, wm, m.cfg.Sync.BatchSize)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			rep.WatermarkAfter = wm
			return nil
		}
		next := changes[len(changes)-1].Seq
		if err := m.applyChanges(ctx, changes, tier{engram.TierRAM, m.ram}, nil, next, false, true, rep); err != nil {
			return err
		}
		wm = next
	}
}
