package memory

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
)

// Tiers of the vector indexes (docs/vector.md, "Tiers"), per index group
// (namespace, item type, model):
//
//   - hot: loaded (indexSet.groups), bounded by VectorTierConfig.HotMaxVectors
//     and HotMaxBytes, least recently used first out;
//   - warm: its snapshot files under <DataDir>/index (index.go's layout),
//     mapped when it loads, bounded by WarmMaxBytes;
//   - cold: its snapshot as content-addressed objects in the object tier
//     (VectorTierConfig.URL or Store), named by a small manifest per group.
//
// A group that is neither hot nor warm is fetched from the object tier when
// a query needs it (each object checked against its SHA-256, which is its
// name) and then opened as a warm one; only when there is no copy, or the
// copy fails its checks, is it rebuilt from the durable embeddings. After
// loading it catches up from the change feed, as every load does.
//
// The tiering loop (Memory.tierLoop, stopped by Close) uploads hot groups
// that changed by UploadEvery changes or were never uploaded, demotes hot
// groups idle for HotToWarm and warm groups idle for WarmToCold, and
// demotes the least recently used groups of a tier over its budget. A hot
// group over the budget on its own stays hot (the one being queried is
// never demoted to make room for itself). Without an object tier nothing
// goes cold: warm files stay, and WarmMaxBytes is not enforced.
//
// Object layout under the object tier's root:
//
//	vectors/objects/<sha256 hex>                  a snapshot file (vector's format), immutable
//	vectors/groups/<ns>/<item type>/<model>.json  {"version":1,"seq":S,"dims":{"384":{"kind":"hnsw","sha256":"...","size":N}}}
//
// with path elements escaped as in the local layout. The manifest is
// replaced whole by each upload; objects are never replaced (a Put of an
// existing name is skipped after a Stat).

// Defaults of VectorTierConfig (Dakera's tiering defaults where it has one).
const (
	DefaultHotMaxVectors = 100_000
	DefaultHotMaxBytes   = 1 << 30  // 1 GiB of vectors, codes and keys
	DefaultWarmMaxBytes  = 10 << 30 // Dakera's disk cache default
	DefaultHotToWarm     = time.Hour
	DefaultWarmToCold    = 24 * time.Hour
	DefaultTierInterval  = time.Minute
	DefaultUploadEvery   = 1000

	vtObjectPrefix   = "vectors/objects/"
	vtGroupPrefix    = "vectors/groups/"
	vtManifestSuffix = ".json"
)

// VectorTierConfig configures the tiers of the vector indexes. The zero
// value means every default and no object tier.
type VectorTierConfig struct {
	// URL names the object tier of cold indexes (file:///dir,
	// s3://bucket/prefix?..., mem://); "" with Store nil: none.
	URL string
	// Store, when set, is the object tier instead of URL; Memory does not
	// close it.
	Store engram.BlobStore
	// Blob configures the store URL opens (timeouts, retries, breaker).
	Blob blob.Options

	// HotMaxVectors and HotMaxBytes bound the loaded indexes. 0: the
	// defaults; < 0: unbounded.
	HotMaxVectors int
	HotMaxBytes   int64
	// WarmMaxBytes bounds the snapshot files on local disk of indexes not
	// loaded (only with an object tier to demote them to). 0: the default;
	// < 0: unbounded.
	WarmMaxBytes int64
	// HotToWarm and WarmToCold are the idle times after which an index is
	// demoted. 0: the defaults; < 0: never.
	HotToWarm, WarmToCold time.Duration
	// UploadEvery is how many changes applied to a loaded index make the
	// tiering loop upload its snapshot again. 0: DefaultUploadEvery.
	UploadEvery int
	// Interval is how often the tiering loop runs. 0: DefaultTierInterval;
	// < 0: never (TierVectors runs a pass on demand).
	Interval time.Duration
	// SweepInterval is how often expired embeddings are deleted durably
	// and from every tier (vectorns_expiry.go). 0: DefaultSweepInterval;
	// < 0: never (SweepExpired runs a pass on demand; reads skip expired
	// embeddings either way).
	SweepInterval time.Duration
	// SweepBatch is the most expired embeddings deleted per transaction.
	// 0: DefaultSweepBatch; at most engram.MaxBatch.
	SweepBatch int
}

func (c *VectorTierConfig) ensureDefaults() {
	if c.HotMaxVectors == 0 {
		c.HotMaxVectors = DefaultHotMaxVectors
	}
	if c.HotMaxBytes == 0 {
		c.HotMaxBytes = DefaultHotMaxBytes
	}
	if c.WarmMaxBytes == 0 {
		c.WarmMaxBytes = DefaultWarmMaxBytes
	}
	if c.HotToWarm == 0 {
		c.HotToWarm = DefaultHotToWarm
	}
	if c.WarmToCold == 0 {
		c.WarmToCold = DefaultWarmToCold
	}
	if c.UploadEvery == 0 {
		c.UploadEvery = DefaultUploadEvery
	}
	if c.Interval == 0 {
		c.Interval = DefaultTierInterval
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.SweepBatch == 0 {
		c.SweepBatch = DefaultSweepBatch
	}
}

func (c *VectorTierConfig) validate() error {
	if c.UploadEvery < 0 {
		return engram.Invalid("vectors.upload_every", "is %d; must be at least 1", c.UploadEvery)
	}
	if c.SweepBatch < 0 || c.SweepBatch > engram.MaxBatch {
		return engram.Invalid("vectors.sweep_batch", "is %d; must be 1-%d", c.SweepBatch, engram.MaxBatch)
	}
	return nil
}

// vtEntry is one group's place in the tiers.
type vtEntry struct {
	key      groupKey
	tier     engram.VectorTier // hot, warm or cold
	lastUsed time.Time
	bytes    int64 // warm: local files; cold: objects (as uploaded or listed)
	// uploadedSeq is the feed position of the object-tier copy (0: none
	// known); uploadedChanges the group's changes counter then.
	uploadedSeq     uint64
	uploadedChanges int64
	uploadedFor     *group // the loaded group uploadedChanges counts in
}

type vtCounters struct {
	hits, promotions, demotions uint64
	loadTime, lastLoad          time.Duration
}

// vtier is a Memory's tiering state.
type vtier struct {
	m         *Memory
	cfg       VectorTierConfig
	obj       engram.BlobStore // nil: no cold tier
	own       bool             // obj was opened here and is closed by close
	closeOnce sync.Once

	// afterPass, when set (tests), is called after each pass of the loop.
	afterPass atomic.Pointer[func()]

	// upMu serialises uploads (held across their I/O; nothing a query
	// waits for takes it).
	upMu sync.Mutex

	// mu guards the fields below (never held across I/O).
	mu            sync.Mutex
	entries       map[groupKey]*vtEntry
	counts        map[engram.VectorTier]*vtCounters
	uploads       uint64
	uploadBytes   int64
	corrupt       uint64
	lastUploadErr string
	objErr        string // the object tier's last failure, "" after a success
	objCorrupt    bool   // that failure was damage (ECORRUPT), not reachability
}

// vectorTierRank orders the tiers from hot to rebuilt, for a recall's
// coldest.
var vectorTierRank = map[engram.VectorTier]int{engram.VectorHot: 0, engram.VectorWarm: 1, engram.VectorCold: 2, engram.VectorRebuilt: 3}

var vtTiers = []engram.VectorTier{engram.VectorHot, engram.VectorWarm, engram.VectorCold, engram.VectorRebuilt}

func newVtier(ctx context.Context, m *Memory) (*vtier, error) {
	vt := &vtier{m: m, cfg: m.cfg.Vectors, entries: map[groupKey]*vtEntry{}, counts: map[engram.VectorTier]*vtCounters{}}
	for _, t := range vtTiers {
		vt.counts[t] = &vtCounters{}
	}
	switch {
	case vt.cfg.Store != nil:
		vt.obj = vt.cfg.Store
	case vt.cfg.URL != "":
		o := vt.cfg.Blob
		if o.Clock == nil {
			o.Clock = m.clock
		}
		if o.Logger == nil {
			o.Logger = m.log
		}
		b, err := blob.Open(ctx, vt.cfg.URL, &o)
		if err != nil {
			return nil, fmt.Errorf("memory: open the vector object tier: %w", err)
		}
		vt.obj, vt.own = b, true
	}
	vt.scanWarm()
	return vt, nil
}

func (vt *vtier) close() {
	if vt.own {
		vt.closeOnce.Do(func() { vt.obj.Close() })
	}
}

// scanWarm registers the groups whose snapshots are on local disk, as
// last used now.
func (vt *vtier) scanWarm() {
	root := vt.m.idx.dir
	now := vt.m.clock.Now()
	nss, _ := os.ReadDir(root)
	for _, ns := range nss {
		typs, _ := os.ReadDir(filepath.Join(root, ns.Name()))
		for _, typ := range typs {
			models, _ := os.ReadDir(filepath.Join(root, ns.Name(), typ.Name()))
			for _, model := range models {
				dir := filepath.Join(root, ns.Name(), typ.Name(), model.Name())
				if _, err := os.Stat(filepath.Join(dir, manifestName)); err != nil {
					continue
				}
				n, err1 := unescapePath(ns.Name())
				t, err2 := unescapePath(typ.Name())
				md, err3 := unescapePath(model.Name())
				if err1 != nil || err2 != nil || err3 != nil {
					continue
				}
				k := groupKey{engram.Namespace(n), engram.ItemType(t), md}
				vt.entries[k] = &vtEntry{key: k, tier: engram.VectorWarm, lastUsed: now, bytes: dirBytes(dir)}
			}
		}
	}
}

// unescapePath reverses escapePath.
func unescapePath(s string) (string, error) {
	if s == "%" {
		return "", nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+3 > len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b), nil
}

// dirBytes sums the sizes of dir's files.
func dirBytes(dir string) int64 {
	var n int64
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

func (vt *vtier) entryLocked(k groupKey) *vtEntry {
	e := vt.entries[k]
	if e == nil {
		e = &vtEntry{key: k, tier: engram.VectorCold}
		vt.entries[k] = e
	}
	return e
}

// hit notes a query answered by k's loaded group.
func (vt *vtier) hit(k groupKey) {
	now := vt.m.clock.Now()
	vt.mu.Lock()
	e := vt.entryLocked(k)
	e.tier, e.lastUsed = engram.VectorHot, now
	vt.counts[engram.VectorHot].hits++
	vt.mu.Unlock()
}

// loadedLocked notes that g was loaded from tier from in took (its
// snapshot covering feed position openSeq), and demotes
// least recently used groups while the hot tier is over its budget.
// Called under idx.loadMu.
func (vt *vtier) loadedLocked(ctx context.Context, g *group, from engram.VectorTier, openSeq uint64, took time.Duration) {
	now := vt.m.clock.Now()
	vt.mu.Lock()
	e := vt.entryLocked(g.key)
	c := vt.counts[from]
	c.hits++
	c.loadTime += took
	c.lastLoad = took
	if from == engram.VectorWarm || from == engram.VectorCold {
		vt.counts[engram.VectorHot].promotions++
	}
	if from == engram.VectorCold {
		vt.counts[engram.VectorWarm].promotions++
	}
	e.tier, e.lastUsed = engram.VectorHot, now
	switch from {
	case engram.VectorRebuilt:
		e.uploadedFor = nil // a rebuilt group is uploaded by the next pass
	case engram.VectorCold:
		// Its object-tier copy is what it loaded: the next upload is due
		// after UploadEvery changes (those the feed replayed count).
		e.uploadedFor, e.uploadedChanges = g, 0
	case engram.VectorWarm:
		if e.uploadedSeq != 0 && e.uploadedSeq == openSeq {
			e.uploadedFor, e.uploadedChanges = g, 0 // the snapshot it opened is uploaded
		}
	}
	vt.mu.Unlock()
	vt.enforceHotLocked(ctx, g.key)
}

// hotUse sums the loaded groups' vectors and estimated bytes.
func hotUse(g *group) (vectors, bytes int64) {
	for _, d := range g.dimsList() {
		n := int64(d.ix.Len())
		vectors += n
		bytes += n * int64(d.dim*5+28)
	}
	return vectors, bytes
}

// enforceHotLocked demotes the least recently used loaded groups, never
// keep, while the hot tier is over its budget. Under idx.loadMu.
func (vt *vtier) enforceHotLocked(ctx context.Context, keep groupKey) {
	s := vt.m.idx
	for {
		var vecs, bytes int64
		var gs []*group
		s.use.RLock()
		for _, g := range *s.groups.Load() {
			v, b := hotUse(g)
			vecs, bytes = vecs+v, bytes+b
			gs = append(gs, g)
		}
		s.use.RUnlock()
		over := (vt.cfg.HotMaxVectors > 0 && vecs > int64(vt.cfg.HotMaxVectors)) || (vt.cfg.HotMaxBytes > 0 && bytes > vt.cfg.HotMaxBytes)
		if !over {
			return
		}
		victim := vt.lruLocked(gs, keep)
		if victim == nil {
			return
		}
		if err := vt.demoteHotLocked(ctx, victim); err != nil {
			vt.m.log.Warn("memory: demoting a vector index to disk failed; it stays loaded", "index", victim.dir, "err", err)
			return
		}
	}
}

// lruLocked is the least recently used of gs other than keep, or nil.
func (vt *vtier) lruLocked(gs []*group, keep groupKey) *group {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	var best *group
	var bestT time.Time
	for _, g := range gs {
		if g.key == keep {
			continue
		}
		t := vt.entryLocked(g.key).lastUsed
		if best == nil || t.Before(bestT) || (t.Equal(bestT) && g.dir < best.dir) {
			best, bestT = g, t
		}
	}
	return best
}

// demoteHotLocked saves g's snapshot (when it changed since the last),
// stops serving it and closes its indexes: it is warm. Under idx.loadMu.
func (vt *vtier) demoteHotLocked(ctx context.Context, g *group) error {
	s := vt.m.idx
	if _, err := os.Stat(filepath.Join(g.dir, manifestName)); g.dirty.Load() > 0 || err != nil {
		if err := s.save(g); err != nil {
			return err
		}
	}
	s.unpublish(g.key)
	s.use.Lock() // waits for searches and direct updates holding it
	for _, d := range g.dimsList() {
		d.ix.Close()
	}
	s.use.Unlock()
	b := dirBytes(g.dir)
	vt.mu.Lock()
	e := vt.entryLocked(g.key)
	e.tier, e.bytes = engram.VectorWarm, b
	// The loaded group is no longer referenced: a heap-built index (a
	// rebuild, or vectors added since its load) is freed with it.
	e.uploadedFor, e.uploadedChanges = nil, 0
	vt.counts[engram.VectorHot].demotions++
	vt.mu.Unlock()
	return nil
}

// fetchLocked makes sure k's snapshot is on local disk before it loads:
// warm when it is, cold when it was fetched from the object tier now. ""
// with a nil error means there is no copy to fetch (the load rebuilds); an
// error says why the object-tier copy was not usable (the load rebuilds,
// and reports it). Under idx.loadMu.
func (vt *vtier) fetchLocked(ctx context.Context, k groupKey, dir string) (engram.VectorTier, error) {
	if _, err := os.Stat(filepath.Join(dir, manifestName)); err == nil {
		return engram.VectorWarm, nil
	}
	if vt.obj == nil {
		return "", nil
	}
	man, err := vt.remoteManifest(ctx, k)
	if engram.ErrorCode(err) == engram.ENOTFOUND {
		return "", nil
	}
	if err == nil {
		err = vt.download(ctx, k, man, dir)
	}
	if err != nil && ctx.Err() != nil {
		return "", err // the caller gave up: nothing is known of the object tier
	}
	if err != nil {
		vt.noteObjErr(err)
		vt.m.log.Warn("memory: the object tier's copy of a vector index is unusable; rebuilding it from the durable embeddings", "index", dir, "err", err)
		return "", fmt.Errorf("object tier copy unusable: %w", err)
	}
	vt.noteObjErr(nil)
	vt.mu.Lock()
	e := vt.entryLocked(k)
	e.uploadedSeq = man.Seq
	vt.mu.Unlock()
	return engram.VectorCold, nil
}

// refetchLocked replaces k's local snapshot, which failed to open with
// cause, by the object tier's copy. Under idx.loadMu.
func (vt *vtier) refetchLocked(ctx context.Context, k groupKey, dir string, cause error) (engram.VectorTier, error) {
	if vt.obj == nil {
		return "", nil
	}
	if _, err := vt.remoteManifest(ctx, k); err != nil {
		return "", nil // no usable copy: the load rebuilds, as without a tier
	}
	vt.m.log.Warn("memory: local vector index snapshot unusable; fetching the object tier's copy", "index", dir, "err", cause)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return vt.fetchLocked(ctx, k, dir)
}

func (vt *vtier) noteObjErr(err error) {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	if err == nil {
		vt.objErr, vt.objCorrupt = "", false
		return
	}
	vt.objErr = err.Error()
	vt.objCorrupt = engram.ErrorCode(err) == engram.ECORRUPT
	if vt.objCorrupt {
		vt.corrupt++
	}
}

// pass runs one round of the tiering policy at the clock's now.
func (vt *vtier) pass(ctx context.Context) error {
	s := vt.m.idx
	now := vt.m.clock.Now()
	var errs []error
	if vt.obj != nil {
		if err := vt.uploadChanged(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Hot -> warm by idle time, then the hot budget.
	s.loadMu.Lock()
	if s.closed.Load() {
		s.loadMu.Unlock()
		return errClosed
	}
	if vt.cfg.HotToWarm > 0 {
		for _, g := range *s.groups.Load() {
			vt.mu.Lock()
			idle := now.Sub(vt.entryLocked(g.key).lastUsed)
			vt.mu.Unlock()
			if idle >= vt.cfg.HotToWarm {
				if err := vt.demoteHotLocked(ctx, g); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	vt.enforceHotLocked(ctx, groupKey{})
	s.loadMu.Unlock()
	if vt.obj == nil {
		return errors.Join(errs...)
	}
	// Warm -> cold by idle time, then the warm budget (LRU).
	type warm struct {
		k     groupKey
		used  time.Time
		bytes int64
	}
	var ws []warm
	var total int64
	vt.mu.Lock()
	for k, e := range vt.entries {
		if e.tier == engram.VectorWarm {
			ws = append(ws, warm{k, e.lastUsed, e.bytes})
			total += e.bytes
		}
	}
	vt.mu.Unlock()
	sort.Slice(ws, func(i, j int) bool {
		if !ws[i].used.Equal(ws[j].used) {
			return ws[i].used.Before(ws[j].used)
		}
		return s.groupDir(ws[i].k) < s.groupDir(ws[j].k)
	})
	for _, w := range ws {
		idle := vt.cfg.WarmToCold > 0 && now.Sub(w.used) >= vt.cfg.WarmToCold
		over := vt.cfg.WarmMaxBytes > 0 && total > vt.cfg.WarmMaxBytes
		if !idle && !over {
			continue
		}
		ok, err := vt.demoteWarm(ctx, w.k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			total -= w.bytes
		}
	}
	return errors.Join(errs...)
}

// demoteWarm uploads k's local snapshot unless the object tier holds it
// already, then removes the local files, unless k was loaded meanwhile.
func (vt *vtier) demoteWarm(ctx context.Context, k groupKey) (bool, error) {
	s := vt.m.idx
	dir := s.groupDir(k)
	seq, err := vt.uploadDir(ctx, k, dir, nil)
	if err != nil {
		return false, err
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.lookup(k) != nil {
		return false, nil // promoted meanwhile
	}
	if cur, err := readManifest(dir); err != nil || cur.Seq != seq {
		return false, nil // rewritten meanwhile; the next pass uploads that
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("memory: remove demoted index %s: %w", dir, err)
	}
	vt.mu.Lock()
	e := vt.entryLocked(k)
	if e.tier == engram.VectorWarm {
		e.tier = engram.VectorCold
		vt.counts[engram.VectorWarm].demotions++
	}
	vt.mu.Unlock()
	return true, nil
}

// uploadChanged uploads every loaded group never uploaded since it loaded
// or changed by UploadEvery changes since its last upload.
func (vt *vtier) uploadChanged(ctx context.Context) error {
	var errs []error
	for _, g := range *vt.m.idx.groups.Load() {
		vt.mu.Lock()
		e := vt.entryLocked(g.key)
		due := e.uploadedFor != g || g.changes.Load()-e.uploadedChanges >= int64(vt.cfg.UploadEvery)
		vt.mu.Unlock()
		if !due {
			continue
		}
		if err := vt.uploadGroup(ctx, g); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// uploadGroup saves g when it changed since its last save and uploads its
// snapshot.
func (vt *vtier) uploadGroup(ctx context.Context, g *group) error {
	s := vt.m.idx
	changes := g.changes.Load()
	s.loadMu.Lock()
	if s.closed.Load() || s.lookup(g.key) != g {
		s.loadMu.Unlock()
		return nil
	}
	if _, err := os.Stat(filepath.Join(g.dir, manifestName)); g.dirty.Load() > 0 || err != nil {
		s.saveLocked(g)
	}
	s.loadMu.Unlock()
	if _, err := vt.uploadDir(ctx, g.key, g.dir, g); err != nil {
		return err
	}
	vt.mu.Lock()
	e := vt.entryLocked(g.key)
	e.uploadedFor, e.uploadedChanges = g, changes
	vt.mu.Unlock()
	return nil
}

// TierVectors runs one pass of the vector tiering policy now (what the
// background loop does every VectorTierConfig.Interval): uploads the
// loaded indexes due for it, demotes idle ones and enforces the budgets.
func (m *Memory) TierVectors(ctx context.Context) error {
	if m.shut.Load() {
		return errClosed
	}
	return m.vt.pass(ctx)
}

// FlushVectors uploads every loaded index whose object-tier copy is behind
// it, and every local snapshot the object tier lacks, so that a node
// starting from the object tier finds them all. Without an object tier it
// only saves the loaded indexes' snapshots.
func (m *Memory) FlushVectors(ctx context.Context) error {
	if m.shut.Load() {
		return errClosed
	}
	s := m.idx
	if m.vt.obj == nil {
		s.loadMu.Lock()
		defer s.loadMu.Unlock()
		for _, g := range *s.groups.Load() {
			if g.dirty.Load() > 0 {
				s.saveLocked(g)
			}
		}
		return nil
	}
	var errs []error
	for _, g := range *s.groups.Load() {
		if err := m.vt.uploadGroup(ctx, g); err != nil {
			errs = append(errs, err)
		}
	}
	m.vt.mu.Lock()
	var warm []groupKey
	for k, e := range m.vt.entries {
		if e.tier == engram.VectorWarm {
			warm = append(warm, k)
		}
	}
	m.vt.mu.Unlock()
	for _, k := range warm {
		if s.lookup(k) != nil {
			continue
		}
		if _, err := m.vt.uploadDir(ctx, k, s.groupDir(k), nil); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tierLoop runs the tiering pass every Interval until Close.
func (m *Memory) tierLoop() {
	defer m.wg.Done()
	t := m.clock.NewTicker(m.cfg.Vectors.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.bgCtx.Done():
			return
		case <-t.C():
			if err := m.vt.pass(m.bgCtx); err != nil && m.bgCtx.Err() == nil {
				m.log.Warn("memory: vector tiering pass failed; the next pass retries", "err", err)
			}
			if f := m.vt.afterPass.Load(); f != nil {
				(*f)()
			}
		}
	}
}

// status describes the tiers; with groups, every group's place too.
func (vt *vtier) status(groups bool) *engram.VectorTiersStatus {
	s := vt.m.idx
	hot := map[groupKey][2]int64{}
	s.use.RLock()
	for k, g := range *s.groups.Load() {
		v, b := hotUse(g)
		hot[k] = [2]int64{v, b}
	}
	s.use.RUnlock()
	vt.mu.Lock()
	defer vt.mu.Unlock()
	out := &engram.VectorTiersStatus{Rebuilds: s.rebuilds.Load(), Uploads: vt.uploads, UploadBytes: vt.uploadBytes,
		Corrupt: vt.corrupt, LastUploadError: vt.lastUploadErr}
	per := map[engram.VectorTier]*engram.VectorTierStatus{}
	for _, t := range vtTiers {
		c := vt.counts[t]
		ts := engram.VectorTierStatus{Tier: t, State: "ok", Hits: c.hits, Promotions: c.promotions, Demotions: c.demotions,
			LoadTime: c.loadTime, LastLoad: c.lastLoad}
		switch t {
		case engram.VectorHot:
			ts.MaxVectors, ts.MaxBytes = int64(max(vt.cfg.HotMaxVectors, 0)), max(vt.cfg.HotMaxBytes, 0)
		case engram.VectorWarm:
			if vt.obj != nil {
				ts.MaxBytes = max(vt.cfg.WarmMaxBytes, 0)
			}
		case engram.VectorCold:
			switch {
			case vt.obj == nil:
				ts.State = "disabled"
			case vt.objErr != "" && vt.objCorrupt:
				ts.State, ts.Detail = "degraded", vt.objErr
			case vt.objErr != "":
				ts.State, ts.Detail = "unavailable", vt.objErr
			}
		}
		out.Tiers = append(out.Tiers, ts)
	}
	for i := range out.Tiers {
		per[out.Tiers[i].Tier] = &out.Tiers[i]
	}
	for k, e := range vt.entries {
		tier, bytes := e.tier, e.bytes
		var vecs int64
		if h, ok := hot[k]; ok {
			tier, vecs, bytes = engram.VectorHot, h[0], h[1]
		} else if tier == engram.VectorHot {
			tier = engram.VectorWarm // demoted by a rebuild's replacement or Close
		}
		ts := per[tier]
		ts.Indexes++
		ts.Vectors += vecs
		ts.Bytes += bytes
		if groups {
			out.Groups = append(out.Groups, engram.VectorGroupStatus{Namespace: k.ns, ItemType: k.typ, Model: k.model, Tier: tier,
				Vectors: vecs, Bytes: bytes, LastUsed: e.lastUsed, Uploaded: e.uploadedSeq})
		}
	}
	sort.Slice(out.Groups, func(i, j int) bool {
		a, b := out.Groups[i], out.Groups[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.ItemType != b.ItemType {
			return a.ItemType < b.ItemType
		}
		return a.Model < b.Model
	})
	return out
}

// VectorTiers describes the tiers of the vector indexes and every group in
// them. With an object tier it first lists the groups the object tier
// holds, so groups no process here has used show as cold.
func (m *Memory) VectorTiers(ctx context.Context) (*engram.VectorTiersStatus, error) {
	if m.shut.Load() {
		return nil, errClosed
	}
	if m.vt.obj != nil {
		if err := m.vt.listCold(ctx); err != nil {
			return nil, err
		}
	}
	return m.vt.status(true), nil
}
