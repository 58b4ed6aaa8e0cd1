package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/fsync"
	"github.com/engramhq/engram/vector"
)

// Vector indexes for recall: one per (namespace, item type, model,
// dimension), grouped by (namespace, item type, model). A group is loaded
// on first use: from its snapshot under <DataDir>/index when that opens,
// checks and is not past the change feed's end, else rebuilt from the
// durable embeddings. Then it replays the change feed from the position its
// snapshot (or rebuild) covers. Afterwards this process's own embedding
// writes reach it at once (noteEmbeddings*), and every Sync replays the
// feed, which carries other processes' changes.
//
// Snapshot layout: <DataDir>/index/<namespace>/<item type>/<model>/ holds
// manifest.json ({"version":1,"seq":S,"dims":{"384":"flat"}}) and one
// <dim>.flat or <dim>.hnsw file per dimension, each written by vector's
// Save with seq S. Path elements are escaped (escapePath). A manifest or
// file that is missing, damaged, of another seq or past the feed's end
// makes the group rebuild.

// Index tuning.
const (
	// IndexHNSWMin is the number of vectors of one dimension from which a
	// rebuild makes an HNSW graph instead of a flat index.
	IndexHNSWMin = vector.DefaultFlatBelow
	// indexAllowedMax is the most episodes a filter may allow for the
	// vector search to be restricted to them (exact over the allowed set);
	// a filter allowing more post-filters a widened search.
	indexAllowedMax = 2000
	indexFeedBatch  = 1000
	indexDirName    = "index"
	manifestName    = "manifest.json"
	manifestVersion = 1
)

// indexHNSWMin is IndexHNSWMin; tests lower it.
var indexHNSWMin = IndexHNSWMin

// annIndex is what vector.Flat and vector.HNSW both offer.
type annIndex interface {
	Add(engram.UUID, []float32) error
	Delete(engram.UUID) bool
	Contains(engram.UUID) bool
	Search([]float32, int, *vector.SearchOptions) ([]vector.Hit, error)
	Len() int
	Save(string, uint64) error
	Verify() error // every vector read from a snapshot file checked now
	Close() error
}

type groupKey struct {
	ns    engram.Namespace
	typ   engram.ItemType
	model string
}

// dimIndex is one index of a group.
type dimIndex struct {
	ix   annIndex
	kind string // "flat" or "hnsw"
	dim  int
}

// group is the indexes of one (namespace, item type, model).
type group struct {
	key groupKey
	dir string
	seq atomic.Uint64 // the change-feed position applied
	// mu guards dims (the map only; indexes are safe for concurrent use).
	mu   sync.Mutex
	dims map[int]*dimIndex
	// exp holds the expiry of each vector that has one: searches skip the
	// expired (vectorns_expiry.go).
	exp expiries

	dirty         atomic.Int64 // changes applied since the last save
	changes       atomic.Int64 // changes applied since the load (vtier: upload when enough)
	lastRebuild   time.Time    // set before publication, then read-only
	rebuildReason string       // why the last load rebuilt ("" when opened)
	snapshotError string       // the last save's failure
}

func (g *group) dimsList() []*dimIndex {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*dimIndex, 0, len(g.dims))
	for _, d := range g.dims {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dim < out[j].dim })
	return out
}

// indexSet holds a Memory's loaded groups.
type indexSet struct {
	m   *Memory
	dir string
	// loadMu serialises loads, rebuilds, feed replays and saves (like
	// syncMu, across their I/O); searches and direct updates never take it.
	loadMu sync.Mutex
	// groups is replaced whole (copy on write) under loadMu.
	groups atomic.Pointer[map[groupKey]*group]
	// use guards the indexes' lifetime: searches hold it shared over the
	// in-memory search calls; Close and retiring a mapped index take it
	// exclusively before closing.
	use      sync.RWMutex
	retired  []annIndex // replaced indexes, closed at Close
	rebuilds atomic.Uint64
	closed   atomic.Bool // close has begun: nothing loads any more
	stale    atomic.Bool // the last replay failed
	lastErr  atomic.Pointer[string]
}

func newIndexSet(m *Memory) *indexSet {
	s := &indexSet{m: m, dir: filepath.Join(m.cfg.DataDir, indexDirName)}
	empty := map[groupKey]*group{}
	s.groups.Store(&empty)
	return s
}

func (s *indexSet) lookup(k groupKey) *group { return (*s.groups.Load())[k] }

func (s *indexSet) publish(g *group) {
	old := *s.groups.Load()
	next := make(map[groupKey]*group, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[g.key] = g
	s.groups.Store(&next)
}

// escapePath makes s one safe path element: bytes outside [a-zA-Z0-9_-]
// become %XX (so ".", "..", "/" never reach the file system as such).
func escapePath(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%"
	}
	return b.String()
}

func (s *indexSet) groupDir(k groupKey) string {
	return filepath.Join(s.dir, escapePath(string(k.ns)), escapePath(string(k.typ)), escapePath(k.model))
}

// get returns the loaded group of k, loading it first if need be.
func (s *indexSet) get(ctx context.Context, k groupKey) (*group, error) {
	g, _, _, err := s.getTier(ctx, k)
	return g, err
}

// getTier is get that also says which tier the group came from (hot when
// it was loaded already) and how long loading it took. A group on neither
// the local disk nor the object tier is rebuilt (vtier.go).
func (s *indexSet) getTier(ctx context.Context, k groupKey) (*group, engram.VectorTier, time.Duration, error) {
	if g := s.lookup(k); g != nil {
		s.m.vt.hit(k)
		return g, engram.VectorHot, 0, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.closed.Load() {
		return nil, "", 0, errClosed
	}
	if g := s.lookup(k); g != nil {
		s.m.vt.hit(k)
		return g, engram.VectorHot, 0, nil
	}
	start := time.Now()
	dir := s.groupDir(k)
	from, fetchErr := s.m.vt.fetchLocked(ctx, k, dir)
	g, err := s.open(ctx, k, dir)
	if err != nil && from == engram.VectorWarm && !errors.Is(err, fs.ErrNotExist) &&
		engram.ErrorCode(err) != engram.EUNAVAILABLE && ctx.Err() == nil {
		// A damaged local snapshot: the object tier's copy, if any, is
		// fetched in its place before anything is rebuilt. Not when the
		// open failed because the durable store is unavailable or the
		// call was cancelled: the local snapshot is fine (and may be newer
		// than the object tier's).
		if f, ferr := s.m.vt.refetchLocked(ctx, k, dir, err); f == engram.VectorCold {
			from, fetchErr = f, nil
			g, err = s.open(ctx, k, dir)
		} else if ferr != nil {
			fetchErr = ferr
		}
	}
	opened := err == nil
	if opened {
		// Catch up before the group is served, so that a snapshot taken
		// before its vectors expired and were swept never answers with
		// them; the replay after publication below catches the rest.
		if err := s.replayFeed(ctx, []*group{g}, false); err != nil && ctx.Err() != nil {
			for _, d := range g.dims {
				d.ix.Close()
			}
			return nil, "", 0, err
		}
	}
	if !opened {
		if g, opened, err = s.load(ctx, k, false); err != nil {
			return nil, "", 0, err
		}
	}
	if !opened {
		from = engram.VectorRebuilt
		if fetchErr != nil {
			g.rebuildReason = fetchErr.Error()
		}
	}
	openSeq := g.seq.Load()
	s.publish(g)
	if err := s.replayLocked(ctx, []*group{g}); err != nil {
		s.m.log.Warn("memory: index replay after load failed; the next sync retries", "index", g.dir, "err", err)
	}
	if !opened {
		s.saveLocked(g)
	}
	took := time.Since(start)
	s.m.vt.loadedLocked(ctx, g, from, openSeq, took)
	return g, from, took, nil
}

// unpublish removes k's group from the loaded ones.
func (s *indexSet) unpublish(k groupKey) {
	old := *s.groups.Load()
	next := make(map[groupKey]*group, len(old))
	for kk, v := range old {
		if kk != k {
			next[kk] = v
		}
	}
	s.groups.Store(&next)
}

type manifest struct {
	Version int               `json:"version"`
	Seq     uint64            `json:"seq"`
	Dims    map[string]string `json:"dims"`
}

// load opens k's group from its snapshot, or rebuilds it (always when
// rebuild is set). opened reports which.
func (s *indexSet) load(ctx context.Context, k groupKey, rebuild bool) (g *group, opened bool, err error) {
	dir := s.groupDir(k)
	why := "rebuild asked for"
	if !rebuild {
		g, err := s.open(ctx, k, dir)
		if err == nil {
			return g, true, nil
		}
		why = err.Error()
		if !errors.Is(err, fs.ErrNotExist) {
			s.m.log.Warn("memory: index snapshot unusable; rebuilding it from the durable embeddings", "index", dir, "err", err)
		} else {
			why = "no snapshot"
		}
	}
	g, err = s.build(ctx, k, dir)
	if err != nil {
		return nil, false, err
	}
	g.rebuildReason = why
	s.rebuilds.Add(1)
	return g, false, nil
}

// open reads k's snapshot.
func (s *indexSet) open(ctx context.Context, k groupKey, dir string) (*group, error) {
	mpath := filepath.Join(dir, manifestName)
	b, err := os.ReadFile(mpath)
	if err != nil {
		return nil, err
	}
	var man manifest
	if err := json.Unmarshal(b, &man); err != nil || man.Version != manifestVersion {
		return nil, &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("index manifest %s is damaged or of another version", mpath), Err: err}
	}
	last, err := s.m.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	if man.Seq > last {
		return nil, fmt.Errorf("index manifest %s covers feed position %d, past the feed's end %d (the durable store was replaced)", mpath, man.Seq, last)
	}
	g := &group{key: k, dir: dir, dims: map[int]*dimIndex{}}
	g.seq.Store(man.Seq)
	fail := func(err error) (*group, error) {
		for _, d := range g.dims {
			d.ix.Close()
		}
		return nil, err
	}
	for ds, kind := range man.Dims {
		dim, err := strconv.Atoi(ds)
		if err != nil || dim < 1 || dim > engram.MaxVectorDim {
			return fail(&engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("index manifest %s names dimension %q", mpath, ds)})
		}
		path := filepath.Join(dir, ds+"."+kind)
		var ix annIndex
		var seq uint64
		switch kind {
		case "flat":
			var x *vector.Flat
			x, seq, err = vector.OpenFlat(path)
			if err == nil {
				ix = x
			}
		case "hnsw":
			var h *vector.HNSW
			h, seq, err = vector.OpenHNSW(path, nil)
			if err == nil {
				ix = h
			}
		default:
			err = &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("index manifest %s names index kind %q", mpath, kind)}
		}
		if err != nil {
			return fail(err)
		}
		g.dims[dim] = &dimIndex{ix: ix, kind: kind, dim: dim}
		if seq != man.Seq {
			return fail(fmt.Errorf("index %s covers feed position %d, its manifest %d (written by two processes at once)", path, seq, man.Seq))
		}
	}
	if st, err := os.Stat(mpath); err == nil {
		g.lastRebuild = st.ModTime()
	}
	if err := s.m.loadExpiries(ctx, g); err != nil {
		return fail(err)
	}
	return g, nil
}

// build reads every durable embedding of k into new indexes. Its seq is
// the feed position read before the first page, so replaying the feed
// from it catches every change the pages may have missed.
func (s *indexSet) build(ctx context.Context, k groupKey, dir string) (*group, error) {
	seq, err := s.m.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	keys := map[int][]engram.UUID{}
	vecs := map[int][][]float32{}
	exps := map[engram.UUID]time.Time{}
	err = eachPage(func(cur string) ([]*engram.Embedding, string, error) {
		p, err := s.m.ListEmbeddings(ctx, k.ns, engram.EmbeddingFilter{ItemType: k.typ, Model: k.model, Limit: engram.MaxQueryLimit, Cursor: cur})
		return p.Embeddings, p.NextCursor, err
	}, func(e *engram.Embedding) error {
		d := len(e.Vector)
		keys[d] = append(keys[d], e.ItemID)
		vecs[d] = append(vecs[d], e.Vector)
		if !e.ExpiresAt.IsZero() {
			exps[e.ItemID] = e.ExpiresAt
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	g := &group{key: k, dir: dir, dims: map[int]*dimIndex{}, lastRebuild: s.m.clock.Now()}
	g.seq.Store(seq)
	for id, at := range exps {
		g.exp.set(id, at)
	}
	for d := range keys {
		di, err := buildDim(d, keys[d], vecs[d])
		if err != nil {
			return nil, fmt.Errorf("memory: build index %s dim %d: %w", dir, d, err)
		}
		g.dims[d] = di
	}
	return g, nil
}

func buildDim(dim int, keys []engram.UUID, vecs [][]float32) (*dimIndex, error) {
	if len(keys) >= indexHNSWMin {
		h, err := vector.NewHNSW(vector.Options{Dim: dim})
		if err != nil {
			return nil, err
		}
		if err := h.Build(keys, vecs, runtime.GOMAXPROCS(0)); err != nil {
			return nil, err
		}
		return &dimIndex{ix: h, kind: "hnsw", dim: dim}, nil
	}
	x, err := vector.NewFlat(vector.Options{Dim: dim})
	if err != nil {
		return nil, err
	}
	for i := range keys {
		if err := x.Add(keys[i], vecs[i]); err != nil {
			return nil, err
		}
	}
	return &dimIndex{ix: x, kind: "flat", dim: dim}, nil
}

// put stores v under id in g's index of v's dimension (creating it) and
// removes id from the others; exp is its expiry (zero: none).
func (g *group) put(id engram.UUID, v []float32, exp time.Time) {
	d := len(v)
	if d < 1 || d > engram.MaxVectorDim {
		return
	}
	g.mu.Lock()
	di := g.dims[d]
	if di == nil {
		x, err := vector.NewFlat(vector.Options{Dim: d})
		if err == nil {
			di = &dimIndex{ix: x, kind: "flat", dim: d}
			g.dims[d] = di
		}
	}
	others := make([]*dimIndex, 0, len(g.dims))
	for od, o := range g.dims {
		if od != d {
			others = append(others, o)
		}
	}
	g.mu.Unlock()
	for _, o := range others {
		o.ix.Delete(id)
	}
	g.exp.set(id, exp)
	if di != nil {
		_ = di.ix.Add(id, v) // the durable store validated v
	}
	g.dirty.Add(1)
	g.changes.Add(1)
}

func (g *group) remove(id engram.UUID) {
	for _, d := range g.dimsList() {
		d.ix.Delete(id)
	}
	g.exp.set(id, time.Time{})
	g.dirty.Add(1)
	g.changes.Add(1)
}

// noteEmbeddingsPut applies this process's committed PutEmbeddings to the
// loaded groups. The direct updates hold use shared, so a group demoted
// meanwhile (vtier.go) is never changed after its indexes close; the feed
// brings the change to it when it loads again.
func (s *indexSet) noteEmbeddingsPut(ns engram.Namespace, embs []*engram.Embedding) {
	s.use.RLock()
	defer s.use.RUnlock()
	for _, e := range embs {
		if e == nil || e.ItemID.IsZero() {
			continue
		}
		model := e.Model
		if model == "" {
			model = engram.DefaultModel
		}
		if g := s.lookup(groupKey{ns, e.ItemType, model}); g != nil {
			g.put(e.ItemID, e.Vector, e.ExpiresAt)
		}
	}
}

func (s *indexSet) noteEmbeddingDeleted(ns engram.Namespace, k engram.EmbeddingKey) {
	s.use.RLock()
	defer s.use.RUnlock()
	if k.Model == "" {
		k.Model = engram.DefaultModel
	}
	if g := s.lookup(groupKey{ns, k.ItemType, k.Model}); g != nil {
		g.remove(k.ItemID)
	}
}

// noteItemDeleted removes id from every loaded group of (ns, typ).
func (s *indexSet) noteItemDeleted(ns engram.Namespace, typ engram.ItemType, id engram.UUID) {
	s.use.RLock()
	defer s.use.RUnlock()
	for k, g := range *s.groups.Load() {
		if k.ns == ns && k.typ == typ {
			g.remove(id)
		}
	}
}

// replay applies the change feed to every loaded group.
func (s *indexSet) replay(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	var gs []*group
	for _, g := range *s.groups.Load() {
		gs = append(gs, g)
	}
	err := s.replayLocked(ctx, gs)
	if err != nil {
		s.stale.Store(true)
		msg := err.Error()
		s.lastErr.Store(&msg)
	} else {
		s.stale.Store(false)
	}
	return err
}

// replayLocked reads the feed from the lowest position of gs and applies
// each embedding change (re-reading the embedding: present means put,
// absent means delete) and each episode, pattern or heuristic delete to
// the groups behind it. A group whose changes the feed no longer holds
// (EGONE) is rebuilt.
func (s *indexSet) replayLocked(ctx context.Context, gs []*group) error {
	return s.replayFeed(ctx, gs, true)
}

// replayFeed is replayLocked; without rebuild, a group the feed no longer
// covers is left as it is (EGONE).
func (s *indexSet) replayFeed(ctx context.Context, gs []*group, rebuild bool) error {
	if len(gs) == 0 {
		return nil
	}
	from := gs[0].seq.Load()
	for _, g := range gs[1:] {
		from = min(from, g.seq.Load())
	}
	for {
		changes, err := s.m.Changes(ctx, from, indexFeedBatch)
		if errors.Is(err, engram.ErrGone) && rebuild {
			return s.rebuildBehind(ctx, gs, from, err)
		}
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		for _, c := range changes {
			if err := s.apply(ctx, gs, c); err != nil {
				return err
			}
		}
		last := changes[len(changes)-1].Seq
		for _, g := range gs {
			if g.seq.Load() < last {
				g.seq.Store(last)
			}
		}
		from = last
		if len(changes) < indexFeedBatch {
			return nil
		}
	}
}

func (s *indexSet) apply(ctx context.Context, gs []*group, c engram.Change) error {
	switch c.Kind {
	case engram.KindEmbedding:
		k, err := engram.ParseEmbeddingKey(c.Key)
		if err != nil {
			return nil // not ours to judge; the cache sync reports it
		}
		var targets []*group
		for _, g := range gs {
			if g.key == (groupKey{c.Namespace, k.ItemType, k.Model}) && g.seq.Load() < c.Seq {
				targets = append(targets, g)
			}
		}
		if len(targets) == 0 {
			return nil
		}
		e, err := durableRead(s.m, ctx, func() (*engram.Embedding, error) { return s.m.durable.GetEmbedding(ctx, c.Namespace, k) })
		switch {
		case engram.ErrorCode(err) == engram.ENOTFOUND:
			for _, g := range targets {
				g.remove(k.ItemID)
			}
		case err != nil:
			return err
		default:
			for _, g := range targets {
				g.put(k.ItemID, e.Vector, e.ExpiresAt)
			}
		}
	case engram.KindEpisode, engram.KindPattern, engram.KindHeuristic:
		if c.Op != engram.OpDelete {
			return nil
		}
		id, err := engram.ParseUUID(c.Key)
		if err != nil {
			return nil
		}
		for _, g := range gs {
			if g.key.ns == c.Namespace && string(g.key.typ) == string(c.Kind) && g.seq.Load() < c.Seq {
				g.remove(id)
			}
		}
	}
	return nil
}

// rebuildBehind rebuilds the groups positioned at or below from.
func (s *indexSet) rebuildBehind(ctx context.Context, gs []*group, from uint64, cause error) error {
	for _, g := range gs {
		if g.seq.Load() > from {
			continue
		}
		s.m.log.Warn("memory: change feed no longer holds an index's changes; rebuilding it", "index", g.dir, "err", cause)
		if _, err := s.rebuildLocked(ctx, g.key, "the change feed no longer holds its changes: "+cause.Error()); err != nil {
			return err
		}
	}
	return nil
}

// rebuildDamaged rebuilds g after one of its indexes failed verification
// during a search. A caller that finds g already replaced (another search
// rebuilt it first) does nothing.
func (s *indexSet) rebuildDamaged(ctx context.Context, g *group, cause error) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.lookup(g.key) != g {
		return nil
	}
	s.m.log.Warn("memory: vector index damaged; rebuilding it from the durable embeddings", "index", g.dir, "err", cause)
	_, err := s.rebuildLocked(ctx, g.key, cause.Error())
	return err
}

// rebuildLocked rebuilds k's group from the durable embeddings, publishes
// it, replays the feed into it and saves its snapshot.
func (s *indexSet) rebuildLocked(ctx context.Context, k groupKey, why string) (*group, error) {
	g, err := s.build(ctx, k, s.groupDir(k))
	if err != nil {
		return nil, err
	}
	g.rebuildReason = why
	s.rebuilds.Add(1)
	old := s.lookup(k)
	s.publish(g)
	if old != nil {
		s.use.Lock()
		for _, d := range old.dimsList() {
			s.retired = append(s.retired, d.ix)
		}
		s.use.Unlock()
	}
	if err := s.replayLocked(ctx, []*group{g}); err != nil {
		return g, err
	}
	s.saveLocked(g)
	return g, nil
}

// saveLocked writes g's snapshot: every index with g's position, then the
// manifest. Failures are logged and reported in status; they cost only a
// rebuild at the next open.
func (s *indexSet) saveLocked(g *group) {
	err := s.save(g)
	g.mu.Lock()
	if err != nil {
		g.snapshotError = err.Error()
	} else {
		g.snapshotError = ""
	}
	g.mu.Unlock()
	if err != nil {
		s.m.log.Warn("memory: saving an index snapshot failed; the next open rebuilds it", "index", g.dir, "err", err)
	}
}

func (s *indexSet) save(g *group) error {
	seq := g.seq.Load()
	dirty := g.dirty.Load()
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return err
	}
	man := manifest{Version: manifestVersion, Seq: seq, Dims: map[string]string{}}
	for _, d := range g.dimsList() {
		name := strconv.Itoa(d.dim)
		if err := d.ix.Save(filepath.Join(g.dir, name+"."+d.kind), seq); err != nil {
			return err
		}
		man.Dims[name] = d.kind
	}
	b, err := json.Marshal(man)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(g.dir, manifestName), b); err != nil {
		return err
	}
	g.dirty.Add(-dirty)
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return fsync.Dir(filepath.Dir(path))
}

// close saves the groups changed since their last save and closes every index.
func (s *indexSet) close() {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.closed.Store(true)
	gs := *s.groups.Load()
	for _, g := range gs {
		if g.dirty.Load() > 0 {
			s.saveLocked(g)
		}
	}
	s.use.Lock()
	defer s.use.Unlock()
	for _, g := range gs {
		for _, d := range g.dimsList() {
			d.ix.Close()
		}
	}
	for _, ix := range s.retired {
		ix.Close()
	}
	s.retired = nil
	empty := map[groupKey]*group{}
	s.groups.Store(&empty)
}

// IndexStatus describes one vector index.
func (s *indexSet) status(last uint64) []engram.IndexStatus {
	var out []engram.IndexStatus
	s.use.RLock()
	defer s.use.RUnlock()
	for _, g := range *s.groups.Load() {
		seq := g.seq.Load()
		g.mu.Lock()
		snapErr := g.snapshotError
		g.mu.Unlock()
		for _, d := range g.dimsList() {
			n := d.ix.Len()
			st := engram.IndexStatus{Namespace: g.key.ns, ItemType: g.key.typ, Model: g.key.model, Dim: d.dim, Kind: d.kind,
				Vectors: n, Bytes: int64(n) * int64(d.dim*5+28), Seq: seq, RebuildReason: g.rebuildReason, SnapshotError: snapErr}
			if last > seq {
				st.Lag = last - seq
			}
			if !g.lastRebuild.IsZero() {
				t := g.lastRebuild
				st.LastRebuild = &t
			}
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.ItemType != b.ItemType {
			return a.ItemType < b.ItemType
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		return a.Dim < b.Dim
	})
	return out
}
