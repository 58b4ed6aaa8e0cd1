package boltcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/boltfile"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var _ engram.Cache = (*Cache)(nil)

// Tables (bbolt buckets). Record tables are indexed by kindCode; their keys
// are the namespace, a 0 byte and the id (embeddings: namespace, 0, item
// type, 0, item id, model), so one namespace's records sit together.
var (
	tableNames   = [numKinds + 1][]byte{nil, []byte("episodes"), []byte("patterns"), []byte("heuristics"), []byte("embeddings")}
	metaTable    = []byte("meta")
	recencyTable = []byte("recency") // index key -> read tick (uint64), written lazily

	// Every meta value is stored checksummed (meta.go).
	keyFormat    = []byte("format")    // formatName
	keyState     = []byte("state")     // stateClosed, stateOpenSync, or stateOpenNoSync and a boot id
	keyWatermark = []byte("watermark") // uint64, big-endian
	keyTick      = []byte("tick")      // the LRU clock, uint64
	keyCounters  = []byte("counters")  // lifetime counters, uvarints
	keyRecreated = []byte("recreated") // the last Recreation (meta.go)
)

// formatName names the file format: table layout, record format and meta
// value format. A file of any other format is discarded on open. Change it
// with recordVersion or metaVersion. Version 1 stored meta values without
// checksums.
const formatName = "engram.boltcache/2"

const (
	stateOpenSync   = "open"
	stateOpenNoSync = "open-nosync " // followed by the boot id of the session
	stateClosed     = "closed"
)

// bootID identifies the running kernel: it changes when the machine
// restarts. "" where it cannot be read (then a NoSync file left open is
// never trusted).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// maxGroupOps bounds how many writes of concurrent callers one commit
// gathers; a single Apply is never split.
const maxGroupOps = 20_000

// Cache is the cache tier in one bbolt file. See the package documentation
// for what it promises. Safe for concurrent use.
type Cache struct {
	path   string
	opts   Options
	db     *bolt.DB
	codecs *codecs
	log    *slog.Logger
	clock  clock.Clock

	// recreated says why Open discarded the file it found ("" if it did not),
	// damaged whether because it failed a check; lastRecreation is the record
	// the file keeps of the last time (this open's, or an earlier one's).
	// unclean says the previous session did not close the file.
	recreated      string
	damaged        bool
	lastRecreation *Recreation
	unclean        bool

	tick atomic.Uint64 // the LRU clock: every put and hit takes the next value

	// mu guards the index of every record in the file and its LRU list.
	// Readers take it briefly to move a hit to the front; only the committer
	// adds and removes entries, after its transaction commits.
	mu struct {
		sync.Mutex
		index map[string]*entry // by index key: table code, then bolt key
		lru   entry             // sentinel: lru.next is the most, lru.prev the least recently used
		bytes int64
		dirty []*entry // read since the last flush of the recency table
	}

	ctr     counters
	commits atomic.Uint64 // successful write transactions

	// closeMu orders Close after every submit in flight; closed is guarded by it.
	closeMu sync.RWMutex
	closed  bool
	writes  chan *writeReq
	quit    chan struct{} // closed by Close: stops the sweeper
	wg      sync.WaitGroup

	// failed is set when bbolt panicked in a commit: from then on the cache
	// answers every call with that error.
	failed atomic.Pointer[error]

	errMu     sync.Mutex
	lastErr   error     // guarded by errMu
	lastErrAt time.Time // guarded by errMu

	sweepDone chan int // tests only: each background sweep sends its count
}

// entry is the index's view of one record.
type entry struct {
	key        string
	size       int64 // len(bolt key) + len(value)
	expires    int64 // Unix nanoseconds; 0: never
	tick       uint64
	dirty      bool // in mu.dirty
	prev, next *entry
}

type counters struct {
	hits, misses, writes, deletes, evictions, expirations, corrupt atomic.Uint64
}

func (c *counters) encode() []byte {
	var b []byte
	for _, v := range []*atomic.Uint64{&c.hits, &c.misses, &c.writes, &c.deletes, &c.evictions, &c.expirations, &c.corrupt} {
		b = binary.AppendUvarint(b, v.Load())
	}
	return b
}

func (c *counters) decode(b []byte) {
	for _, v := range []*atomic.Uint64{&c.hits, &c.misses, &c.writes, &c.deletes, &c.evictions, &c.expirations, &c.corrupt} {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return
		}
		v.Store(n)
		b = b[k:]
	}
}

// Open opens the cache file at path, creating it if needed, and starts the
// TTL sweeper. It never fails because of what the file holds: a file that
// fails the structural check, was written in another format, or was left by
// an unclean shutdown of a session without Sync that the machine did not
// survive (see Options.Sync) is discarded and recreated, with a
// warning logged. It fails with ELOCKED, naming the path, when another
// process holds the file for longer than LockTimeout; with EINVALID for bad
// options or for a bbolt file that is not an engram cache (it is left
// alone); and with EUNAVAILABLE when the file cannot be opened or written.
func Open(path string, o Options) (*Cache, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.EnsureDefaults()
	cd, err := newCodecs(o.CompressThreshold, o.CompressLevel)
	if err != nil {
		return nil, fmt.Errorf("boltcache: %w", err)
	}
	c := &Cache{path: path, opts: o, codecs: cd, log: o.Logger, clock: o.Clock,
		writes: make(chan *writeReq, 256), quit: make(chan struct{}), sweepDone: o.sweepDone}
	c.mu.index = make(map[string]*entry)
	c.mu.lru.next, c.mu.lru.prev = &c.mu.lru, &c.mu.lru
	if err := c.open(); err != nil {
		cd.close()
		return nil, err
	}
	if c.recreated != "" {
		c.log.Warn("boltcache: discarded the cache file and started empty", "path", path, "reason", c.recreated, "damaged", c.damaged)
	}
	c.wg.Add(1)
	go c.commitLoop()
	if o.TTLCheckInterval > 0 {
		// The ticker starts before Open returns, so a test's clock cannot
		// move past the first tick before the ticker exists.
		t := c.clock.NewTicker(o.TTLCheckInterval)
		c.wg.Add(1)
		go c.sweepLoop(t)
	}
	return c, nil
}

func (c *Cache) open() error {
	for attempt := 0; attempt < 2; attempt++ {
		db, why, err := c.openFile(attempt > 0)
		if err != nil {
			return err
		}
		if why != "" { // open again, truncating
			if db != nil {
				_ = db.Close()
			}
			continue
		}
		c.db = db
		if err := c.loadIndex(); err != nil {
			_ = db.Close()
			return unavailable("load the index of "+c.path, err)
		}
		return nil
	}
	return unavailable("open "+c.path, errors.New("the file could not be recreated"))
}

// openFile locks and checks the file, opens it with bbolt, and checks its
// format. A file that fails the structural check is truncated and recreated
// at once; why is set when the file must be opened again with truncate
// (then db may be nil).
func (c *Cache) openFile(truncate bool) (db *bolt.DB, why string, err error) {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return nil, "", fileErr(err)
	}
	f, err := boltfile.Lock(c.path, boltfile.LockOptions{Flag: os.O_RDWR | os.O_CREATE, Perm: 0o600,
		Timeout: max(c.opts.LockTimeout, 0), OnWaiting: c.opts.lockWaiting})
	if err != nil {
		if errors.Is(err, boltfile.ErrLocked) {
			return nil, "", &engram.Error{Code: engram.ELOCKED,
				Message: fmt.Sprintf("boltcache: %s is locked by another process (waited %s)", c.path, max(c.opts.LockTimeout, 0))}
		}
		return nil, "", fileErr(err)
	}
	if !truncate && !c.opts.SkipOpenCheck {
		st, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return nil, "", fileErr(err)
		}
		if err := boltfile.Check(f, st.Size()); err != nil {
			c.recreated, c.damaged = "structural check failed: "+err.Error(), true
			truncate = true
		}
	}
	if truncate {
		if err := f.Truncate(0); err != nil {
			_ = f.Close()
			return nil, "", fileErr(err)
		}
	}
	db, err = bolt.Open(c.path, 0o600, &bolt.Options{
		Timeout:      max(c.opts.LockTimeout, time.Millisecond),
		NoSync:       !c.opts.Sync,
		NoStatistics: true, // unused, and their atomics slow every transaction
		FreelistType: bolt.FreelistMapType,
		OpenFile:     func(string, int, os.FileMode) (*os.File, error) { return f, nil },
	})
	if err != nil { // bbolt closed f
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, "", &engram.Error{Code: engram.ELOCKED, Message: fmt.Sprintf("boltcache: %s is locked by another process", c.path)}
		}
		if truncate {
			return nil, "", unavailable("create "+c.path, err)
		}
		c.recreated, c.damaged = "bbolt could not open it: "+err.Error(), true
		return nil, c.recreated, nil
	}
	reason, err := c.prepare(db)
	if err != nil {
		_ = db.Close()
		return nil, "", err
	}
	if reason != "" && truncate {
		_ = db.Close()
		return nil, "", unavailable("create "+c.path, errors.New(reason))
	}
	return db, reason, nil
}

// prepare checks the format, meta values and state of a freshly opened
// file, creates the tables of a new one and marks it open. why is set (and
// c.recreated with it) when the file must be recreated.
func (c *Cache) prepare(db *bolt.DB) (why string, err error) {
	boot := bootID()
	state := stateOpenSync
	if !c.opts.Sync {
		state = stateOpenNoSync + boot
	}
	recreate := func(reason string, damaged bool) {
		why, c.recreated, c.damaged = reason, reason, damaged
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaTable)
		if meta == nil {
			foreign := false
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { foreign = true; return nil })
			if foreign {
				return engram.Invalid("cache_path", "%s is a bbolt file but not an engram cache; refusing to overwrite it", c.path)
			}
			for _, name := range append(tableNames[1:], metaTable, recencyTable) {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			meta = tx.Bucket(metaTable)
			if err := putMeta(meta, keyFormat, []byte(formatName)); err != nil {
				return err
			}
			if c.recreated != "" {
				r := Recreation{At: c.clock.Now().UTC(), Reason: c.recreated, Damaged: c.damaged}
				c.lastRecreation = &r
				if err := putMeta(meta, keyRecreated, encodeRecreation(r)); err != nil {
					return err
				}
			}
			return putMeta(meta, keyState, []byte(state))
		}
		raw := meta.Get(keyFormat)
		got, err := decodeMeta(keyFormat, raw)
		switch {
		case err == nil && string(got) == formatName:
		case err == nil:
			recreate(fmt.Sprintf("file format %q, this version reads %q", got, formatName), false)
			return nil
		case bytes.HasPrefix(raw, []byte("engram.boltcache/")): // version 1 stored it plain
			recreate(fmt.Sprintf("file format %q, this version reads %q", raw, formatName), false)
			return nil
		default:
			recreate(err.Error(), true)
			return nil
		}
		if err := checkMetaTx(tx); err != nil {
			// Above all the watermark: trusting a damaged one would skip
			// changes, so the file starts empty and is refilled in full.
			recreate(err.Error(), true)
			return nil
		}
		for _, name := range append(tableNames[1:], recencyTable) {
			if tx.Bucket(name) == nil {
				recreate(fmt.Sprintf("table %s is missing", name), true)
				return nil
			}
		}
		if r, ok, _ := getRecreation(meta); ok {
			c.lastRecreation = &r
		}
		prevB, _, _ := getMeta(meta, keyState)
		switch prev := string(prevB); {
		case prev == stateClosed:
		case strings.HasPrefix(prev, stateOpenNoSync):
			if then := strings.TrimPrefix(prev, stateOpenNoSync); then == "" || then != boot {
				recreate("the last session did not close the file, ran without Sync, and the machine has restarted since", false)
				return nil
			}
			c.unclean = true // the process died but the machine did not: its writes are all in the file
		default:
			c.unclean = true
		}
		return putMeta(meta, keyState, []byte(state))
	})
	return why, err
}

// loadIndex builds the index and LRU list from the file: every record's
// size, expiry and write tick, and the read ticks of the recency table.
func (c *Cache) loadIndex() error {
	var all []*entry
	var maxTick uint64
	err := c.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaTable)
		// prepare verified the meta values.
		if v, ok, _ := getMeta(meta, keyCounters); ok {
			c.ctr.decode(v)
		}
		maxTick, _ = getMetaUint64(meta, keyTick)
		rec := tx.Bucket(recencyTable)
		for code := kindCode(1); int(code) <= numKinds; code++ {
			err := tx.Bucket(tableNames[code]).ForEach(func(k, v []byte) error {
				ik := string(append([]byte{byte(code)}, k...))
				e := &entry{key: ik, size: int64(len(k) + len(v)), expires: recordExpiry(v), tick: recordTick(v)}
				if r := rec.Get([]byte(ik)); len(r) == 8 {
					e.tick = max(e.tick, binary.BigEndian.Uint64(r))
				}
				maxTick = max(maxTick, e.tick)
				all = append(all, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b *entry) int { return compareTicks(a.tick, b.tick) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range all { // oldest first, each pushed to the front
		c.mu.index[e.key] = e
		c.mu.bytes += e.size
		c.pushFrontLocked(e)
	}
	c.tick.Store(maxTick)
	return nil
}

func compareTicks(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *Cache) pushFrontLocked(e *entry) {
	e.prev, e.next = &c.mu.lru, c.mu.lru.next
	e.prev.next, e.next.prev = e, e
}

func (c *Cache) unlinkLocked(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// Path returns the file the cache lives in.
func (c *Cache) Path() string { return c.path }

func unavailable(what string, err error) error {
	return &engram.Error{Code: engram.EUNAVAILABLE, Message: "boltcache: " + what, Err: err}
}

// fileErr wraps an error of the os package, which names the file already.
func fileErr(err error) error {
	return &engram.Error{Code: engram.EUNAVAILABLE, Message: "boltcache", Err: err}
}

var errClosed = &engram.Error{Code: engram.EUNAVAILABLE, Message: "boltcache: the cache is closed"}

func (c *Cache) setErr(err error) {
	c.errMu.Lock()
	c.lastErr, c.lastErrAt = err, c.clock.Now()
	c.errMu.Unlock()
}

// appendIndexKey appends the index key of k: its table code, then its bolt key.
func appendIndexKey(dst []byte, k engram.CacheKey) []byte {
	dst = append(dst, byte(kindOf(k.Kind)))
	dst = append(dst, k.Namespace...)
	dst = append(dst, 0)
	if k.Kind == engram.KindEmbedding {
		dst = append(dst, k.ItemType...)
		dst = append(dst, 0)
		dst = append(dst, k.ID[:]...)
		return append(dst, k.Model...)
	}
	return append(dst, k.ID[:]...)
}

// Reads

func (c *Cache) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, bool, error) {
	r, ok, err := c.get(ctx, engram.EpisodeCacheKey(ns, id))
	return r.ep, ok, err
}

func (c *Cache) GetPattern(ctx context.Context, ns engram.Namespace, id engram.PatternID) (*engram.Pattern, bool, error) {
	r, ok, err := c.get(ctx, engram.PatternCacheKey(ns, id))
	return r.pat, ok, err
}

func (c *Cache) GetHeuristic(ctx context.Context, ns engram.Namespace, id engram.HeuristicID) (*engram.Heuristic, bool, error) {
	r, ok, err := c.get(ctx, engram.HeuristicCacheKey(ns, id))
	return r.heu, ok, err
}

func (c *Cache) GetEmbedding(ctx context.Context, ns engram.Namespace, key engram.EmbeddingKey) (*engram.Embedding, bool, error) {
	r, ok, err := c.get(ctx, engram.EmbeddingCacheKey(ns, key))
	return r.emb, ok, err
}

// outcome says how a read ended.
type outcome uint8

const (
	outHit outcome = iota
	outAbsent
	outExpired
	outCorrupt
)

func (c *Cache) get(ctx context.Context, key engram.CacheKey) (record, bool, error) {
	r, out, err := c.lookup(ctx, key)
	return r, out == outHit && err == nil, err
}

// lookup reads one record in a read-only transaction. A hit moves the
// record to the front of the LRU list in memory only; the recency table
// catches up at the next flush, so a read never waits for a write
// transaction.
func (c *Cache) lookup(ctx context.Context, key engram.CacheKey) (record, outcome, error) {
	if err := ctx.Err(); err != nil {
		return record{}, outAbsent, err
	}
	if err := key.Validate(); err != nil {
		return record{}, outAbsent, err
	}
	var buf [128]byte
	ik := appendIndexKey(buf[:0], key)
	code := kindCode(ik[0])
	now := c.clock.Now().UnixNano()
	var (
		rec  record
		out  = outAbsent
		bad  error
		badV []byte
	)
	err := c.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(tableNames[code]).Get(ik[1:])
		if v == nil {
			return nil
		}
		if exp := recordExpiry(v); exp != 0 && exp <= now {
			out = outExpired
			return nil
		}
		r, err := c.codecs.decodeRecord(ik[1:], v, code)
		if err != nil {
			out, bad, badV = outCorrupt, err, bytes.Clone(v)
			return nil
		}
		rec, out = r, outHit
		return nil
	})
	switch {
	case err != nil:
		c.ctr.misses.Add(1)
		return record{}, outAbsent, err
	case out == outCorrupt:
		c.ctr.misses.Add(1)
		c.corruptRecord(ik, badV, bad)
		return record{}, out, nil
	case out != outHit:
		c.ctr.misses.Add(1)
		return record{}, out, nil
	}
	c.ctr.hits.Add(1)
	c.touch(ik)
	return rec, outHit, nil
}

// view runs fn in a read transaction. A panic or memory fault inside bbolt,
// which the open check makes unlikely but a file changed under a running
// process can still cause, becomes an EUNAVAILABLE error, never a crash.
func (c *Cache) view(fn func(*bolt.Tx) error) (err error) {
	if c.isClosed() {
		return errClosed
	}
	if f := c.failed.Load(); f != nil {
		return *f
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = unavailable("read "+c.path, fmt.Errorf("bbolt panicked: %v", p))
			c.setErr(err)
		}
	}()
	if err := c.db.View(fn); err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			return errClosed
		}
		err = unavailable("read "+c.path, err)
		c.setErr(err)
		return err
	}
	return nil
}

func (c *Cache) isClosed() bool {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	return c.closed
}

func (c *Cache) touch(ik []byte) {
	t := c.tick.Add(1)
	c.mu.Lock()
	if e := c.mu.index[string(ik)]; e != nil {
		e.tick = t
		if c.mu.lru.next != e {
			c.unlinkLocked(e)
			c.pushFrontLocked(e)
		}
		if !e.dirty {
			e.dirty = true
			c.mu.dirty = append(c.mu.dirty, e)
		}
	}
	c.mu.Unlock()
}

// corruptRecord counts and logs a record that failed verification and has
// it deleted in the background, unless it has been rewritten meanwhile.
func (c *Cache) corruptRecord(ik, val []byte, cause error) {
	c.ctr.corrupt.Add(1)
	c.log.Warn("boltcache: removing a record that failed verification", "path", c.path,
		"table", kindCode(ik[0]).String(), "key", describeKey(ik), "err", cause)
	_ = c.submit(context.Background(), &writeReq{ops: []op{{key: bytes.Clone(ik), cond: condBytes, old: val, why: removeCorrupt}}}, false)
}

// Writes

func (c *Cache) PutEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if ep == nil {
		return engram.Invalid("episode", "must not be nil")
	}
	return c.applyWrites(ctx, []engram.CacheWrite{{Key: engram.EpisodeCacheKey(ns, ep.ID), Episode: ep}}, nil)
}

func (c *Cache) PutPattern(ctx context.Context, ns engram.Namespace, p *engram.Pattern) error {
	if p == nil {
		return engram.Invalid("pattern", "must not be nil")
	}
	return c.applyWrites(ctx, []engram.CacheWrite{{Key: engram.PatternCacheKey(ns, p.ID), Pattern: p}}, nil)
}

func (c *Cache) PutHeuristic(ctx context.Context, ns engram.Namespace, h *engram.Heuristic) error {
	if h == nil {
		return engram.Invalid("heuristic", "must not be nil")
	}
	return c.applyWrites(ctx, []engram.CacheWrite{{Key: engram.HeuristicCacheKey(ns, h.ID), Heuristic: h}}, nil)
}

func (c *Cache) PutEmbedding(ctx context.Context, ns engram.Namespace, e *engram.Embedding) error {
	if e == nil {
		return engram.Invalid("embedding", "must not be nil")
	}
	return c.applyWrites(ctx, []engram.CacheWrite{{Key: engram.EmbeddingCacheKey(ns, e.Key()), Embedding: e}}, nil)
}

func (c *Cache) Delete(ctx context.Context, key engram.CacheKey) error {
	return c.applyWrites(ctx, []engram.CacheWrite{{Key: key}}, nil)
}

// Apply commits b in one bbolt transaction, which concurrent callers' writes
// may share (group commit); a failed shared commit is retried alone for each
// caller, so one caller's failure never fails another's writes. Records are
// encoded and checksummed by the calling goroutine before the commit.
func (c *Cache) Apply(ctx context.Context, b *engram.CacheBatch) error {
	if b == nil {
		return nil
	}
	return c.applyWrites(ctx, b.Writes, b.Watermark)
}

func (c *Cache) applyWrites(ctx context.Context, writes []engram.CacheWrite, watermark *uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	batch := engram.CacheBatch{Writes: writes, Watermark: watermark}
	if err := batch.Validate(); err != nil {
		return err
	}
	now := c.clock.Now()
	req := &writeReq{ops: make([]op, len(writes)), watermark: watermark}
	for i := range writes {
		w := &writes[i]
		o := &req.ops[i]
		o.key = appendIndexKey(make([]byte, 0, 64), w.Key)
		if w.IsDelete() {
			o.why = removeDelete
			continue
		}
		var expires int64
		ttl := w.TTL
		if ttl == 0 {
			ttl = c.opts.TTL
		}
		if ttl > 0 {
			expires = now.Add(ttl).UnixNano()
		}
		o.val = c.codecs.encodeRecord(nil, o.key[1:], w, expires, c.tick.Add(1))
	}
	return c.submit(ctx, req, true)
}

// Watermark returns the watermark the last Apply with one committed, 0 for
// a file that never had one. A stored watermark that fails its checksum (the
// file was changed under the running process; Open discards such a file) is
// an ECORRUPT error naming the file, never a number.
func (c *Cache) Watermark(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var w uint64
	var bad error
	err := c.view(func(tx *bolt.Tx) error {
		w, bad = getMetaUint64(tx.Bucket(metaTable), keyWatermark)
		return nil
	})
	if err == nil && bad != nil {
		err = &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("boltcache: %s: the sync watermark is damaged; reopening the file recreates it", c.path), Err: bad}
		c.setErr(err)
		return 0, err
	}
	return w, err
}

// LastRecreation returns the record the file keeps of the last time Open
// discarded a file at its path and started it empty (ok false if never).
// Recreated reports whether that happened when this Cache was opened.
func (c *Cache) LastRecreation() (r Recreation, ok bool) {
	if c.lastRecreation == nil {
		return Recreation{}, false
	}
	return *c.lastRecreation, true
}

// Recreated says why Open discarded the file it found and started empty
// ("" when it did not): then the file's watermark is 0 and it must be
// refilled in full.
func (c *Cache) Recreated() string { return c.recreated }

// Clear removes every record and resets the watermark to 0, in one commit.
func (c *Cache) Clear(ctx context.Context) error {
	return c.submit(ctx, &writeReq{special: specialClear}, true)
}

// Sweep removes the records that have expired by now and returns how many
// it removed. The background sweeper calls it every TTLCheckInterval.
func (c *Cache) Sweep(ctx context.Context) (int, error) {
	now := c.clock.Now().UnixNano()
	var ops []op
	c.mu.Lock()
	for e := c.mu.lru.prev; e != &c.mu.lru; e = e.prev {
		if e.expires != 0 && e.expires <= now {
			ops = append(ops, op{key: []byte(e.key), cond: condExpired, now: now, why: removeExpire})
		}
	}
	c.mu.Unlock()
	req := &writeReq{ops: ops, special: specialFlush}
	if err := c.submit(ctx, req, true); err != nil {
		return 0, err
	}
	return req.removed, nil
}

func (c *Cache) sweepLoop(t clock.Ticker) {
	defer c.wg.Done()
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C():
			n, err := c.Sweep(context.Background())
			if err != nil && !errors.Is(err, errClosed) {
				c.log.Error("boltcache: sweep failed", "path", c.path, "err", err)
			}
			if c.sweepDone != nil {
				c.sweepDone <- n
			}
		}
	}
}

// Stats returns the tier's counters (lifetime of the file, persisted lazily)
// and its current size.
func (c *Cache) Stats(ctx context.Context) (engram.CacheStats, error) {
	if err := ctx.Err(); err != nil {
		return engram.CacheStats{}, err
	}
	s := engram.CacheStats{
		Hits: c.ctr.hits.Load(), Misses: c.ctr.misses.Load(), Writes: c.ctr.writes.Load(),
		Deletes: c.ctr.deletes.Load(), Evictions: c.ctr.evictions.Load(),
		Expirations: c.ctr.expirations.Load(), Corrupt: c.ctr.corrupt.Load(),
	}
	s.Reads = s.Hits + s.Misses
	if s.Reads > 0 {
		s.HitRate = float64(s.Hits) / float64(s.Reads)
	}
	c.mu.Lock()
	s.Entries, s.Bytes = int64(len(c.mu.index)), c.mu.bytes
	c.mu.Unlock()
	if st, err := os.Stat(c.path); err == nil {
		s.FileSize = st.Size()
	}
	return s, nil
}

// Close flushes the recency table and counters, marks the file cleanly
// closed and releases it. Writes already submitted are committed first.
func (c *Cache) Close() error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return errClosed
	}
	done := make(chan error, 1)
	c.writes <- &writeReq{special: specialClose, done: done}
	c.closed = true
	close(c.quit)
	close(c.writes)
	c.closeMu.Unlock()
	err := <-done
	c.wg.Wait()
	if cerr := c.db.Close(); err == nil && cerr != nil {
		err = unavailable("close "+c.path, cerr)
	}
	c.codecs.close()
	return err
}
