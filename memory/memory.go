// Package memory is what users open: one Memory owns the durable store,
// the cache file and the RAM tier and keeps them consistent. It implements
// engram.Store, engram.Syncer, engram.StatusReporter and engram.VectorStore
// (the namespace contract over embeddings, with expiry: vectorns*.go).
//
// What it promises:
//
//   - Writes go to the durable store first. A write the durable store
//     refused changed nothing anywhere. After a durable success the cache
//     tiers are updated; a cache failure is counted and logged, the entry is
//     invalidated, and the write is still acknowledged. If even the
//     invalidation fails, that tier is not read again until a full sync has
//     rebuilt it. A write whose outcome is unknown (EUNKNOWN) invalidates
//     its keys.
//   - No lock is held across a durable call. A read answered by a cache
//     tier takes no lock a writer holds: it reads an atomic generation and
//     the current cache file from an atomic pointer. Writes of one key reach
//     the tiers in commit order: a write registers its keys before the
//     durable call and updates the tiers after it, under the keys' stripe
//     locks (held only across cache-tier commits); two writes of one key
//     whose durable calls overlapped cannot know their commit order, so both
//     invalidate the key instead of putting it.
//   - Reads of single records go RAM -> cache file -> durable store, filling
//     the faster tiers on the way back. A fill never overwrites a newer
//     write: a fill is dropped when the key's stripe generation moved since
//     the read began, and a fill never waits for a stripe (it is dropped).
//   - A record a read returns is the caller's (a copy of the RAM tier's,
//     unless Config.ShareRecords). AppendEpisodeJSON reads the same way but
//     hands out only an encoding, copied into the caller's buffer; on a RAM
//     hit it is the encoding the RAM tier keeps beside the record.
//   - Lists, searches and counts always read the durable store.
//   - When the durable store is unavailable (errors with code
//     EUNAVAILABLE; after BreakerFailures of them in a row the circuit
//     breaker opens and durable calls fail at once for BreakerOpenFor), reads
//     of cached records still succeed and are reported stale (see
//     engram.ReadInfo); misses and writes fail with EUNAVAILABLE. The store is
//     marked stale until a sync succeeds; when the durable store answers
//     again, a background incremental sync is started.
//   - Several processes may share one data directory. The cache file has one
//     writer: a process that cannot lock it within Config.Cache.LockTimeout
//     runs on the durable store and its RAM tier alone (Status says so). Each
//     process learns of the others' writes through the change feed, at its
//     next incremental sync.
//   - Every goroutine Memory starts is stopped by Close.
//
// Sync (sync.go) reads the durable change feed from the cache's watermark
// and applies it in batches, each batch committed with its new watermark in
// one cache transaction; a full sync builds a new cache file beside the old
// one and swaps it in.
package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/ramcache"
	"github.com/engramhq/engram/sqlstore"
)

var (
	_ engram.Store          = (*Memory)(nil)
	_ engram.Syncer         = (*Memory)(nil)
	_ engram.StatusReporter = (*Memory)(nil)
)

const numStripes = 512

// closeSyncTimeout bounds the sync Close runs.
const closeSyncTimeout = 5 * time.Second

// stripe orders the tier updates of the keys that hash to it: acknowledged
// writes, fills and sync commits. Its lock is held only across cache-tier
// commits, never across a durable call; reads that a cache tier answers do
// not take it.
type stripe struct {
	mu sync.Mutex
	// gen is bumped (under mu) by every write's tier update, sync commit and
	// cache file swap; read without mu by reads, which drop their fill when
	// it moved.
	gen   atomic.Uint64
	fills uint64 // bumped by every fill; guarded by mu
	// writing holds the keys whose writes are between their registration
	// (before the durable call) and their tier update; guarded by mu.
	writing map[engram.CacheKey]*inflight
}

// inflight is the writes of one key under way.
type inflight struct {
	n int // writes registered and not yet finished
	// overlapped: two writes of the key were under way at once, so their
	// commit order is unknown; each invalidates the key when it finishes.
	overlapped bool
}

// fileHandle is one open cache file, published in Memory.file. refs counts
// the publication (1 while the handle is current) and every call using the
// file; the file is closed when it drops to zero, so a swap never waits for
// readers and readers never wait for a swap.
type fileHandle struct {
	c        *boltcache.Cache
	refs     atomic.Int64
	done     chan struct{} // closed once c is closed
	closeErr error         // set before done is closed
}

func newFileHandle(c *boltcache.Cache) *fileHandle {
	h := &fileHandle{c: c, done: make(chan struct{})}
	h.refs.Store(1)
	return h
}

// tryAcquire takes a reference unless the handle is already closing.
func (h *fileHandle) tryAcquire() bool {
	for {
		n := h.refs.Load()
		if n <= 0 {
			return false
		}
		if h.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (h *fileHandle) release() {
	if h.refs.Add(-1) == 0 {
		h.closeErr = h.c.Close()
		close(h.done)
	}
}

// Memory is engram's tiered store. Safe for concurrent use.
type Memory struct {
	cfg         Config
	durable     engram.Store
	sql         *sqlstore.Store // the durable store when Memory opened it; nil otherwise
	breaker     *gobreaker.CircuitBreaker[any]
	ram         *ramcache.Cache // nil without a RAM tier
	log         *slog.Logger
	clock       clock.Clock
	seed        maphash.Seed
	stripes     [numStripes]stripe
	cacheFailed atomic.Uint64 // cache writes that failed after a durable success
	fills       atomic.Uint64 // records read from a slower tier and put into faster ones
	fillsLost   atomic.Uint64 // fills dropped because a write raced them
	wrote       atomic.Bool   // an acknowledged write went through this Memory
	stale       atomic.Bool   // mirrors mu.stale, for reads

	// idx holds the vector indexes recall searches (index.go).
	idx *indexSet
	// vt moves the vector indexes between RAM, disk and the object tier (vtier.go).
	vt *vtier
	// sweptTotal counts expired embeddings swept; afterSweep, when set
	// (tests), is called after each pass of the sweep loop (vectorns_expiry.go).
	sweptTotal atomic.Uint64
	afterSweep atomic.Pointer[func(int, error)]
	// extra describes tiers run beside the Memory (extratiers.go).
	extra struct {
		sync.Mutex
		fs []func(context.Context) engram.TierStatus
	}

	// file is the current cache file; nil without one (mu.fileState says why).
	file atomic.Pointer[fileHandle]

	// swap lets a cache file swap learn which keys writes changed while it
	// was being installed (see install).
	swap struct {
		sync.Mutex
		logging bool
		keys    map[engram.CacheKey]struct{}
	}

	// syncMu serialises syncs and file swaps.
	syncMu sync.Mutex

	mu struct {
		sync.Mutex
		stale         bool
		staleSince    time.Time
		suspect       map[engram.Tier]string // tiers not read until rebuilt, and why
		lastSync      time.Time
		lastSyncError string
		recovering    bool   // a background sync after an outage is running
		fileState     string // why there is no cache file: "disabled", "locked: ..."
		// rebuild: the cache file was found empty (new or recreated) while
		// the durable store holds data; the next sync is a full one.
		rebuild bool
		// writeErr is the last write's failure when it was one the store
		// keeps answering until an operator acts (no space, unknown
		// outcome); cleared by the next successful write.
		writeErr   string
		writeErrAt time.Time
	}

	bgCtx  context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool // Close has begun: no new background work
	shut   atomic.Bool // the tiers are closing or closed: calls fail
}

// Open opens every tier described by cfg, creating files and directories as
// needed. The cache file is optional: if another process holds it, Open
// still succeeds and the Memory runs without it.
func Open(ctx context.Context, cfg Config) (*Memory, error) {
	cfg.ensureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Memory{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, seed: maphash.MakeSeed()}
	m.mu.suspect = map[engram.Tier]string{}
	m.idx = newIndexSet(m)
	vt, err := newVtier(ctx, m)
	if err != nil {
		return nil, err
	}
	m.vt = vt
	m.bgCtx, m.cancel = context.WithCancel(context.Background())
	if cfg.Durable != nil {
		m.durable = cfg.Durable
	} else {
		s, err := sqlstore.Open(ctx, cfg.SQL)
		if err != nil {
			m.cancel()
			m.closeDurable()
			return nil, err
		}
		m.durable, m.sql = s, s
	}
	m.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "durable",
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(cfg.BreakerFailures) },
		IsSuccessful: func(err error) bool {
			return err == nil || engram.ErrorCode(err) != engram.EUNAVAILABLE
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			m.log.Warn("memory: durable store circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	if !cfg.NoRAM {
		r, err := ramcache.New(cfg.RAM)
		if err != nil {
			m.cancel()
			m.closeDurable()
			return nil, err
		}
		m.ram = r
	}
	switch {
	case cfg.NoCache:
		m.mu.fileState = "disabled"
	default:
		f, err := boltcache.Open(cfg.CachePath, cfg.Cache)
		switch {
		case err == nil:
			m.file.Store(newFileHandle(f))
			// Only the holder of the file may remove a rebuild that a killed
			// full sync left behind.
			os.Remove(cfg.CachePath + rebuildSuffix)
		case errors.Is(err, engram.ErrLocked):
			m.mu.fileState = "locked by another process; running on the durable store and RAM"
			m.log.Info("memory: cache file held by another process; running without it", "path", cfg.CachePath)
		case unwritable(err):
			// A read-only data directory still serves reads from the durable
			// store; the cache file is only a copy.
			m.mu.fileState = "data directory is not writable; running on the durable store and RAM"
			m.log.Info("memory: cache file cannot be written; running without it", "path", cfg.CachePath, "err", err)
		default:
			m.cancel()
			m.closeTiers()
			return nil, fmt.Errorf("memory: open cache: %w", err)
		}
	}
	m.loadSyncState()
	m.catchUpOnOpen(ctx)
	m.startSyncLoop()
	if cfg.Vectors.Interval > 0 {
		m.wg.Add(1)
		go m.tierLoop()
	}
	if cfg.Vectors.SweepInterval > 0 {
		m.wg.Add(1)
		go m.sweepLoop()
	}
	return m, nil
}

// hasTier reports whether there is any cache tier to keep in step.
func (m *Memory) hasTier() bool {
	return m.file.Load() != nil || m.ram != nil
}

// acquireFile returns the current cache file with a reference taken, or
// nil; release it with h.release().
func (m *Memory) acquireFile() *fileHandle {
	for {
		h := m.file.Load()
		if h == nil || h.tryAcquire() {
			return h
		}
		// h was swapped out and is closing: the pointer has moved on.
	}
}

// fileStateOf says why there is no cache file.
func (m *Memory) fileStateOf() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.fileState
}

func (m *Memory) setFileState(s string) {
	m.mu.Lock()
	m.mu.fileState = s
	m.mu.Unlock()
}

// catchUpOnOpen brings the cache up to the change feed before Memory serves
// anything from it: records other processes changed while this one was not
// running must not be served from a file that predates them. A never-synced
// or empty cache is reset (resetIfUnsynced); otherwise a sync applies what it
// missed (its cost is the lag, not the store's size), or rebuilds the cache
// when the feed cannot say what it missed. If the durable store cannot be
// reached, the cache is served marked stale until a sync succeeds.
func (m *Memory) catchUpOnOpen(ctx context.Context) {
	tgt, _, release, err := m.target()
	if err != nil {
		return
	}
	reset, err := m.resetIfUnsynced(ctx, tgt)
	release()
	if err == nil && !reset {
		_, err = m.Sync(ctx, engram.SyncOptions{})
	}
	if err != nil {
		m.markStale()
		m.log.Warn("memory: could not bring the cache up to date at open; serving it as stale", "err", err)
	}
}

// resetIfUnsynced empties c when it was never synced (watermark 0) and gives
// an empty c the change feed's position, reporting whether it did. An empty
// cache reflects any durable state; a never-synced one cannot say what it
// reflects, and replaying the whole feed into it would cost as much as
// rebuilding it. A reset cache file is rebuilt by the next sync (a full
// one), so a new or recreated file does not stay cold.
func (m *Memory) resetIfUnsynced(ctx context.Context, c engram.Cache) (bool, error) {
	st, err := c.Stats(ctx)
	if err != nil {
		return false, err
	}
	wm, err := c.Watermark(ctx)
	if err != nil {
		return false, err
	}
	if wm > 0 && st.Entries > 0 {
		return false, nil
	}
	last, err := m.LastSeq(ctx)
	if err != nil {
		return false, err
	}
	if wm > last {
		return false, nil // the sync that follows rebuilds it
	}
	if st.Entries > 0 {
		if err := c.Clear(ctx); err != nil {
			return false, err
		}
	}
	var b engram.CacheBatch
	b.SetWatermark(last)
	if err := c.Apply(ctx, &b); err != nil {
		return false, err
	}
	if _, isFile := c.(*boltcache.Cache); isFile && last > 0 {
		m.mu.Lock()
		m.mu.rebuild = true
		m.mu.Unlock()
	}
	return true, nil
}

// syncOnClose advances the cache's watermark past this process's own writes
// before it lets the file go, so the next process to open it does not replay
// them. Bounded: a store that does not answer is left for the next open.
func (m *Memory) syncOnClose() {
	if !m.wrote.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeSyncTimeout)
	defer cancel()
	if _, err := m.Sync(ctx, engram.SyncOptions{}); err != nil {
		m.log.Warn("memory: sync at close failed; the next open catches up", "err", err)
	}
}

// Close stops background syncs and closes every tier Memory opened. Calls
// after Close fail with EUNAVAILABLE.
func (m *Memory) Close() error {
	// Under mu, so that maybeRecover either sees closed or has added its
	// goroutine to wg before Wait.
	m.mu.Lock()
	if m.closed.Swap(true) {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.syncOnClose()
	m.idx.close()
	m.shut.Store(true)
	return m.closeTiers()
}

// closeTiers closes the tiers. The cache file closes once the calls using
// it have let go of it; they hold it only across cache-tier I/O.
func (m *Memory) closeTiers() error {
	var errs []error
	m.syncMu.Lock()
	if h := m.file.Swap(nil); h != nil {
		m.setFileState("closed")
		h.release()
		<-h.done
		errs = append(errs, h.closeErr)
	}
	m.syncMu.Unlock()
	if m.ram != nil {
		errs = append(errs, m.ram.Close())
	}
	errs = append(errs, m.closeDurable())
	return errors.Join(errs...)
}

func (m *Memory) closeDurable() error {
	m.vt.close()
	if m.sql != nil {
		return m.sql.Close()
	}
	return nil
}

// SQL returns the SQLite store Memory opened, or nil when Config.Durable was
// given. The CLI's db commands use it.
func (m *Memory) SQL() *sqlstore.Store { return m.sql }

var errClosed = &engram.Error{Code: engram.EUNAVAILABLE, Message: "memory: closed"}

// call runs fn against the durable store through the circuit breaker. Only
// EUNAVAILABLE failures count against the breaker and mark the memory stale
// (a full disk or a bad request says nothing about reachability); a success
// while stale starts a background sync to catch up.
func (m *Memory) call(fn func() error) error {
	if m.shut.Load() {
		return errClosed
	}
	_, err := m.breaker.Execute(func() (any, error) { return nil, fn() })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = &engram.Error{Code: engram.EUNAVAILABLE, Message: "durable store unavailable (circuit breaker open; retrying soon)", Err: err}
	}
	switch {
	case engram.ErrorCode(err) == engram.EUNAVAILABLE:
		m.markStale()
	case err == nil || engram.ErrorCode(err) != engram.EINTERNAL:
		m.maybeRecover()
	}
	return err
}

func (m *Memory) markStale() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mu.stale {
		m.mu.stale, m.mu.staleSince = true, m.clock.Now()
		m.stale.Store(true)
		m.log.Warn("memory: durable store unavailable; serving cached reads as stale")
	}
}

// maybeRecover starts one background incremental sync when the durable
// store answers again after an outage; its success clears the stale flag.
func (m *Memory) maybeRecover() {
	if !m.stale.Load() {
		return
	}
	m.mu.Lock()
	if !m.mu.stale || m.mu.recovering || m.closed.Load() {
		m.mu.Unlock()
		return
	}
	m.mu.recovering = true
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		if _, err := m.Sync(m.bgCtx, engram.SyncOptions{}); err != nil && m.bgCtx.Err() == nil {
			m.log.Warn("memory: catch-up sync after an outage failed", "err", err)
		}
		m.mu.Lock()
		m.mu.recovering = false
		m.mu.Unlock()
	}()
}

// tier is one cache tier as the read and write paths see it.
type tier struct {
	name  engram.Tier
	cache engram.Cache
}

// tiers returns the usable cache tiers, fastest first, and the cache file
// handle they include (nil if none), referenced; call release when done.
// Hold it only across cache-tier calls.
func (m *Memory) tiers() (ts []tier, h *fileHandle, release func()) {
	h = m.acquireFile()
	m.mu.Lock()
	suspect := m.mu.suspect
	ts = make([]tier, 0, 2)
	if m.ram != nil && suspect[engram.TierRAM] == "" {
		ts = append(ts, tier{engram.TierRAM, m.ram})
	}
	if h != nil && suspect[engram.TierCache] == "" {
		ts = append(ts, tier{engram.TierCache, h.c})
	}
	m.mu.Unlock()
	if h == nil {
		return ts, nil, func() {}
	}
	return ts, h, h.release
}

func (m *Memory) stripeIndex(k engram.CacheKey) int {
	return int(maphash.Comparable(m.seed, k) % numStripes)
}

// stripesOf returns the distinct stripe indexes of keys in index order (the
// order they are locked in, so two lockers never deadlock).
func (m *Memory) stripesOf(keys []engram.CacheKey) []int {
	idx := make([]int, 0, len(keys))
	seen := map[int]bool{}
	for _, k := range keys {
		i := m.stripeIndex(k)
		if !seen[i] {
			seen[i] = true
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	return idx
}

// lockKeys locks the stripes of keys; unlockKeys releases them, bumping
// their generations when the holder changed a tier.
func (m *Memory) lockKeys(keys []engram.CacheKey) []int {
	idx := m.stripesOf(keys)
	for _, i := range idx {
		m.stripes[i].mu.Lock()
	}
	return idx
}

func (m *Memory) unlockKeys(idx []int, bump bool) {
	for j := len(idx) - 1; j >= 0; j-- {
		s := &m.stripes[idx[j]]
		if bump {
			s.gen.Add(1)
		}
		s.mu.Unlock()
	}
}

// gen returns k's stripe generation without locking.
func (m *Memory) gen(k engram.CacheKey) uint64 {
	return m.stripes[m.stripeIndex(k)].gen.Load()
}

// counters returns the generation and fill count of k's stripe.
func (m *Memory) counters(k engram.CacheKey) (gen, fills uint64) {
	s := &m.stripes[m.stripeIndex(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen.Load(), s.fills
}

// bumpAll moves every stripe's generation: fills begun before it are dropped.
func (m *Memory) bumpAll() {
	for i := range m.stripes {
		s := &m.stripes[i]
		s.mu.Lock()
		s.gen.Add(1)
		s.mu.Unlock()
	}
}

// writing reports whether a write of k is under way.
func (m *Memory) writing(k engram.CacheKey) bool {
	s := &m.stripes[m.stripeIndex(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writing[k] != nil
}

// applyTiers writes b to every cache tier. A tier that fails gets its keys
// invalidated; a tier that cannot even invalidate is marked suspect.
func (m *Memory) applyTiers(ctx context.Context, ts []tier, b *engram.CacheBatch) {
	if len(b.Writes) == 0 && b.Watermark == nil {
		return
	}
	ctx = context.WithoutCancel(ctx) // a caller giving up must not leave a tier half-updated
	for _, t := range ts {
		err := t.cache.Apply(ctx, b)
		if err == nil {
			continue
		}
		m.cacheFailed.Add(1)
		m.log.Warn("memory: cache tier write failed; invalidating", "tier", t.name, "err", err)
		var inv engram.CacheBatch
		for _, w := range b.Writes {
			inv.Delete(w.Key)
		}
		if err := t.cache.Apply(ctx, &inv); err != nil {
			m.markSuspect(t.name, fmt.Sprintf("a write and its invalidation failed: %v", err))
		}
	}
}

func (m *Memory) markSuspect(t engram.Tier, why string) {
	m.mu.Lock()
	m.mu.suspect[t] = why
	m.mu.Unlock()
	m.log.Error("memory: cache tier no longer trusted until a full sync", "tier", t, "why", why)
}

// unwritable reports whether err says a file could not be created or opened
// for writing because the file system or the directory forbids it.
func unwritable(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission)
}
