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
// catch it up, validate it and swap it in. An incremental sync runs as a
// full one when the feed cannot bring the cache up to date: the cache was
// never synced or was recreated, its watermark lies past the feed's end (the
// durable store was replaced or restored), or the feed no longer holds the
// changes after it (EGONE, retention). In the last two cases the cache tiers
// are not read until the rebuild succeeds. One sync runs at a time.
func (m *Memory) Sync(ctx context.Context, opts engram.SyncOptions) (*engram.SyncReport, error) {
	// A sync's reads are its own, not the caller's: they do not report into
	// a ReadInfo the caller attached.
	ctx = engram.WithReadInfo(ctx, nil)
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	defer m.replayIndexes(ctx, opts)
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
	if !opts.Full {
		if why := m.fullSyncNeeded(ctx, opts.DryRun); why != "" {
			m.log.Info("memory: running a full sync", "why", why)
			opts.Full = true
		}
	}
	rep := &engram.SyncReport{Full: opts.Full, DryRun: opts.DryRun, Errors: []string{}}
	var err error
	if opts.Full {
		err = m.fullSync(ctx, opts, rep)
	} else {
		err = m.incrementalSync(ctx, opts, rep)
		if errors.Is(err, engram.ErrGone) {
			why := fmt.Sprintf("the change feed no longer holds the changes after the cache's watermark %d (%v)", rep.WatermarkBefore, err)
			m.log.Warn("memory: running a full sync", "why", why)
			if !opts.DryRun {
				m.distrust(why)
			}
			opts.Full = true
			rep = &engram.SyncReport{Full: true, DryRun: opts.DryRun, Errors: []string{}}
			err = m.fullSync(ctx, opts, rep)
		}
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
// RAM tier when there is no file. Call release when done with it.
func (m *Memory) target() (c engram.Cache, name engram.Tier, release func(), err error) {
	if h := m.acquireFile(); h != nil {
		return h.c, engram.TierCache, h.release, nil
	}
	if m.ram != nil {
		return m.ram, engram.TierRAM, func() {}, nil
	}
	return nil, "", func() {}, &engram.Error{Code: engram.EINVALID, Message: "memory: no cache tier to sync (the cache file is " + m.fileStateOf() + " and the RAM tier is off)"}
}

// distrust stops reads from the cache tiers until a full sync has rebuilt
// them: they may hold records the durable store no longer has.
func (m *Memory) distrust(why string) {
	if m.file.Load() != nil {
		m.markSuspect(engram.TierCache, why)
	}
	if m.ram != nil {
		m.markSuspect(engram.TierRAM, why)
	}
}

// fullSyncNeeded says why an incremental sync cannot bring the cache up to
// date, or "" when it can (or the durable store cannot say).
func (m *Memory) fullSyncNeeded(ctx context.Context, dryRun bool) string {
	tgt, name, release, err := m.target()
	if err != nil {
		return ""
	}
	wm, err := tgt.Watermark(ctx)
	var st engram.CacheStats
	if err == nil {
		st, err = tgt.Stats(ctx)
	}
	release()
	if err != nil {
		return ""
	}
	last, err := m.LastSeq(ctx)
	if err != nil {
		return ""
	}
	m.mu.Lock()
	rebuild := m.mu.rebuild
	m.mu.Unlock()
	switch {
	case wm > last:
		// The durable store is older than this cache (restored from a
		// backup, or another store): nothing in the cache can be trusted.
		why := fmt.Sprintf("the %s tier's watermark %d is past the durable change feed's end %d (the durable store was replaced or restored)", name, wm, last)
		if !dryRun {
			m.distrust(why)
		}
		return why
	case rebuild && name == engram.TierCache:
		return "the cache file was new or recreated"
	case wm == 0 && st.Entries == 0 && last > 0:
		// A cache synced while the store was empty also has watermark 0,
		// but it has since received the records written through this
		// Memory, so it is not empty.
		return "the cache was never synced"
	}
	return ""
}

func (m *Memory) incrementalSync(ctx context.Context, opts engram.SyncOptions, rep *engram.SyncReport) error {
	tgt, name, release, err := m.target()
	if err != nil {
		return err
	}
	wm, err := tgt.Watermark(ctx)
	release()
	if err != nil {
		return fmt.Errorf("memory: sync: read the %s tier's watermark: %w", name, err)
	}
	rep.WatermarkBefore, rep.WatermarkAfter = wm, wm
	last, err := m.LastSeq(ctx)
	if err != nil {
		return err
	}
	total := int64(last) - int64(wm)
	if total < 0 {
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
		if err := m.applyChanges(ctx, changes, next, opts.DryRun, true, rep, m.commitLive); err != nil {
			return err
		}
		wm = next
		rep.WatermarkAfter = wm
		progress(opts, int64(wm)-int64(rep.WatermarkBefore), total)
	}
}

// commitLive commits a sync batch to the tier in use: the cache file (and
// the RAM tier, which follows it without a watermark of its own), or the RAM
// tier when there is no file. The caller holds the batch's stripes.
func (m *Memory) commitLive(ctx context.Context, b *engram.CacheBatch) error {
	tgt, name, release, err := m.target()
	if err != nil {
		return err
	}
	defer release()
	if err := tgt.Apply(ctx, b); err != nil {
		return fmt.Errorf("memory: sync: commit a batch to the %s tier: %w", name, err)
	}
	if name == engram.TierCache && m.ram != nil {
		rest := *b
		rest.Watermark = nil
		m.applyTiers(ctx, []tier{{engram.TierRAM, m.ram}}, &rest)
	}
	return nil
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
// and passes it, with watermark next, to commit. Live (the batch goes to
// tiers in use), the keys' stripes are held around the commit and a key
// written since its fetch is left to that write. No lock is held while the
// durable store is read.
func (m *Memory) applyChanges(ctx context.Context, changes []engram.Change, next uint64, dryRun, live bool, rep *engram.SyncReport, commit func(context.Context, *engram.CacheBatch) error) error {
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
		if live {
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
	if live {
		idx := m.lockKeys(order)
		defer m.unlockKeys(idx, true)
		// A key written since its fetch already holds that newer write (or
		// will, when the write finishes): leave it. A key a read filled
		// since (with a record perhaps newer than the fetch, from another
		// process's write) is dropped, not overwritten.
		kept := b.Writes[:0]
		for i, w := range b.Writes {
			st := &m.stripes[m.stripeIndex(w.Key)]
			switch {
			case results[i].gen != st.gen.Load():
			case results[i].fills != st.fills:
				kept = append(kept, engram.CacheWrite{Key: w.Key})
			default:
				kept = append(kept, w)
			}
		}
		b.Writes = kept
	}
	return commit(ctx, &b)
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
		*r = fetched{key: r.key, gen: r.gen, fills: r.fills}
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

// Listener is an optional interface of a durable store shared by several
// processes (sqlstore on PostgreSQL, with LISTEN/NOTIFY): Listen returns a
// channel that receives a value soon after any process commits a change,
// and is closed when ctx ends or the listening connection fails. A nil
// channel with a nil error means the store has nothing to listen to.
// When the durable store offers it, Memory syncs as soon as a wake-up
// arrives (wake-ups arriving during a sync are coalesced into one more
// sync), keeps syncing every Sync.Interval as the fallback, and listens
// again, with backoff, when the connection drops.
type Listener interface {
	Listen(ctx context.Context) (<-chan struct{}, error)
}

// Backoff bounds between attempts to listen again after the listening
// connection failed: the first attempt is immediate, then, while attempts
// fail, the wait doubles from listenBackoffMin up to listenBackoffMax.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 30 * time.Second
)

// startSyncLoop starts the background sync when Sync.Interval asks for
// one: periodic, and woken by the durable store's notifications when it
// has them. Without an interval there is no background sync and no
// listening connection (one-shot commands).
func (m *Memory) startSyncLoop() {
	if !m.hasTier() || m.cfg.Sync.Interval <= 0 {
		return
	}
	l, _ := m.durable.(Listener)
	if m.cfg.Sync.NoListen {
		l = nil
	}
	wake := make(chan struct{}, 1)
	if l != nil {
		m.wg.Add(1)
		go m.listen(l, wake)
	}
	m.wg.Add(1)
	go m.periodicSync(wake)
}

// periodicSync runs an incremental sync every Sync.Interval, and whenever
// wake fires, until Close.
func (m *Memory) periodicSync(wake <-chan struct{}) {
	defer m.wg.Done()
	t := m.clock.NewTicker(m.cfg.Sync.Interval)
	defer t.Stop()
	for {
		why := "periodic"
		select {
		case <-m.bgCtx.Done():
			return
		case <-t.C():
		case <-wake:
			why = "notified"
		}
		rep, err := m.Sync(m.bgCtx, engram.SyncOptions{})
		if err != nil && m.bgCtx.Err() == nil {
			m.log.Warn("memory: background sync failed", "why", why, "err", err)
		}
		if h := m.cfg.afterSync; h != nil {
			h(why, rep, err)
		}
	}
}

// listen keeps a listening connection to the durable store open until
// Close, passing its wake-ups on to wake (coalesced: wake holds at most
// one). Each new connection also wakes the sync once, for the changes
// committed while there was none.
func (m *Memory) listen(l Listener, wake chan<- struct{}) {
	defer m.wg.Done()
	poke := func() {
		select {
		case wake <- struct{}{}:
		default: // a sync is pending already
		}
	}
	delay := time.Duration(0)
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !m.wait(delay) {
			return
		}
		ch, err := l.Listen(m.bgCtx)
		if m.bgCtx.Err() != nil {
			return
		}
		if err == nil && ch == nil {
			return // nothing to listen to: the interval alone syncs
		}
		if err != nil {
			delay = min(max(2*delay, listenBackoffMin), listenBackoffMax)
			m.log.Warn("memory: cannot listen for the durable store's changes; polling meanwhile", "retry_in", delay, "err", err)
			continue
		}
		if attempt > 0 {
			m.log.Info("memory: listening for the durable store's changes again")
		}
		poke()
		for range ch {
			poke()
		}
		if m.bgCtx.Err() != nil {
			return
		}
		// The connection was made, so the store is reachable: listen again
		// at once. Failing to connect backs off.
		delay = 0
		m.log.Warn("memory: the connection listening for changes dropped; listening again")
	}
}

// wait blocks for d on the memory's clock (0: not at all); false when Close
// ended it.
func (m *Memory) wait(d time.Duration) bool {
	if d <= 0 {
		return m.bgCtx.Err() == nil
	}
	t := m.clock.NewTicker(d)
	defer t.Stop()
	select {
	case <-m.bgCtx.Done():
		return false
	case <-t.C():
		return true
	}
}

// fullSync rebuilds the cache. With a cache file: fill a new file beside it,
// catch it up with the change feed, check it, then install it (install):
// readers and writers go on using the old file meanwhile and are never held
// off. Without one: clear the RAM tier and fill it.
func (m *Memory) fullSync(ctx context.Context, opts engram.SyncOptions, rep *engram.SyncReport) error {
	tgt, _, release, err := m.target()
	if err != nil {
		return err
	}
	_, isFile := tgt.(*boltcache.Cache)
	rep.WatermarkBefore, _ = tgt.Watermark(ctx)
	release()
	// Changes from here on are applied after the fill, so the fill may read
	// any state at or after this point.
	from, err := m.LastSeq(ctx)
	if err != nil {
		return err
	}
	if opts.DryRun {
		rep.WatermarkAfter = rep.WatermarkBefore
		return m.fillFrom(ctx, nil, from, opts, rep)
	}
	if !isFile {
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
	// The new file is renamed over the old one while the old handle is
	// still open (readers go on using it), so a failed rename leaves
	// everything as it was.
	f, err := m.install(ctx, func() (*boltcache.Cache, error) {
		if _, err := m.catchUp(ctx, nf, rep); err != nil {
			return nil, err
		}
		if err := nf.Close(); err != nil {
			return nil, fmt.Errorf("memory: full sync: close the new file: %w", err)
		}
		if err := os.Rename(path, m.cfg.CachePath); err != nil {
			return nil, fmt.Errorf("memory: full sync: swap in the new file: %w", err)
		}
		keep = true
		f, err := boltcache.Open(m.cfg.CachePath, m.cfg.Cache)
		if err != nil {
			// Another process took the new file between the close and this
			// open; a later sync tries again (reopenFile). The old file is
			// no longer the one at the path: stop using it.
			m.unpublish("unavailable after a full sync: " + err.Error())
			return nil, fmt.Errorf("memory: full sync: reopen the cache: %w", err)
		}
		return f, nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.mu.rebuild = false
	m.mu.Unlock()
	rep.WatermarkAfter, err = f.Watermark(ctx)
	return err
}

// install publishes a cache file in place of the current one (or of none)
// without holding off readers or writers. open returns the file to publish,
// caught up with the change feed; while it runs and until the file is
// published, the keys writes change are logged, and those keys are
// invalidated in the new file before it is published (the catch-up may have
// read them before those writes committed). A write that went to the old
// file after that applies itself again to the new one (applyWrite). Then
// every stripe's generation moves (fills that read before the swap are
// dropped), the RAM tier is cleared (it may hold what the old file did), and
// the old file is released: it closes when its last user lets go. The caller
// holds syncMu.
func (m *Memory) install(ctx context.Context, open func() (*boltcache.Cache, error)) (*boltcache.Cache, error) {
	m.swap.Lock()
	m.swap.logging, m.swap.keys = true, map[engram.CacheKey]struct{}{}
	m.swap.Unlock()
	stopLogging := func() {
		m.swap.logging, m.swap.keys = false, nil
	}
	f, err := open()
	if err != nil {
		m.swap.Lock()
		stopLogging()
		m.swap.Unlock()
		return nil, err
	}
	m.swap.Lock()
	var inv engram.CacheBatch
	for k := range m.swap.keys {
		inv.Delete(k)
	}
	if len(inv.Writes) > 0 {
		if err := f.Apply(context.WithoutCancel(ctx), &inv); err != nil {
			stopLogging()
			m.swap.Unlock()
			f.Close()
			return nil, fmt.Errorf("memory: invalidate the keys written during the swap in %s: %w", f.Path(), err)
		}
	}
	old := m.file.Swap(newFileHandle(f))
	stopLogging()
	m.swap.Unlock()
	m.setFileState("")
	m.bumpAll()
	m.clearSuspect(engram.TierCache)
	if m.ram != nil {
		if err := m.ram.Clear(ctx); err != nil {
			m.markSuspect(engram.TierRAM, "could not be cleared after a cache file swap: "+err.Error())
		} else {
			m.clearSuspect(engram.TierRAM)
		}
	}
	if old != nil {
		old.release()
	}
	return f, nil
}

// unpublish stops using the current cache file; it closes when its last
// user lets go.
func (m *Memory) unpublish(why string) {
	m.setFileState(why)
	if old := m.file.Swap(nil); old != nil {
		old.release()
	}
}

// catchUp applies every change after c's watermark to c, which no other
// code sees yet (no stripes, no other tiers).
func (m *Memory) catchUp(ctx context.Context, c engram.Cache, rep *engram.SyncReport) (uint64, error) {
	wm, err := c.Watermark(ctx)
	if err != nil {
		return 0, err
	}
	commit := func(ctx context.Context, b *engram.CacheBatch) error {
		if err := c.Apply(ctx, b); err != nil {
			return fmt.Errorf("memory: sync: commit a batch to the new cache file: %w", err)
		}
		return nil
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
		if err := m.applyChanges(ctx, changes, next, false, false, rep, commit); err != nil {
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
// gets is brought up to the change feed before it is read from and installed
// the way a rebuilt file is; a file the feed cannot catch up (its watermark
// is past the feed's end, or the feed no longer holds what it missed) is
// emptied and rebuilt by the next sync. Failures are silent: the Memory goes
// on without the file. The caller holds syncMu.
func (m *Memory) reopenFile(ctx context.Context) {
	if m.cfg.NoCache || m.file.Load() != nil {
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
		wm, err := f.Watermark(ctx)
		if err != nil {
			return err
		}
		last, err := m.LastSeq(ctx)
		if err != nil {
			return err
		}
		if wm <= last {
			_, err = m.catchUp(ctx, f, rep)
		}
		if wm > last || errors.Is(err, engram.ErrGone) {
			if err := f.Clear(ctx); err != nil {
				return err
			}
			_, err = m.resetIfUnsynced(ctx, f)
		}
		return err
	}()
	if err == nil {
		_, err = m.install(ctx, func() (*boltcache.Cache, error) {
			if _, err := m.catchUp(ctx, f, rep); err != nil {
				return nil, err
			}
			return f, nil
		})
	}
	if err != nil {
		f.Close()
		m.log.Warn("memory: reopened the cache file but could not bring it up to date; running without it", "err", err)
		return
	}
	m.log.Info("memory: the cache file is ours again", "path", m.cfg.CachePath)
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
		snap[i] = [2]uint64{st.gen.Load(), st.fills}
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
			if snap[i] == [2]uint64{m.stripes[i].gen.Load(), m.stripes[i].fills} {
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
		if err := m.applyChanges(ctx, changes, next, false, true, rep, m.commitLive); err != nil {
			return err
		}
		wm = next
	}
}
