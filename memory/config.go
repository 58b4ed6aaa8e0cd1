package memory

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/ramcache"
	"github.com/engramhq/engram/sqlstore"
)

// Defaults for Config.
const (
	DefaultCacheLockTimeout   = 200 * time.Millisecond
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenFor     = 10 * time.Second
	DefaultMaxEpisodesCache   = 1000
	DefaultSyncBatchSize      = 100
	DefaultSyncConcurrency    = 4
	DefaultCacheFileName      = "cache.db"
	rebuildSuffix             = ".rebuild"
	syncStateSuffix           = ".sync.json"
	maxSyncErrorsKeptInReport = 20
)

// Config configures Open. The zero value of every field means its default;
// the zero Config opens everything under ./engram-data.
type Config struct {
	// DataDir holds the durable store (engram.db) and the cache file
	// (cache.db) unless their paths are set. "": ./engram-data.
	DataDir string

	// Durable, when set, is the durable store to use instead of opening
	// SQL.Path; Memory does not close it. Tests use it to put a failing
	// store underneath.
	Durable engram.Store
	// SQL configures the SQLite store; SQL.Path "": DataDir/engram.db.
	SQL sqlstore.Options

	// CachePath is the cache file; "": DataDir/cache.db.
	CachePath string
	// Cache configures the cache file; Cache.LockTimeout 0:
	// DefaultCacheLockTimeout (a process that cannot get the file within
	// it runs without the file, never hangs).
	Cache boltcache.Options
	// NoCache runs without the cache file.
	NoCache bool
	// RAM configures the RAM tier.
	RAM ramcache.Options
	// NoRAM runs without the RAM tier.
	NoRAM bool
	// ShareRecords makes reads return the RAM tier's records themselves
	// instead of copies. Only for callers that never modify what they read
	// (the HTTP server, which only encodes them): a modified shared record
	// would be served to every later reader.
	ShareRecords bool

	// BreakerFailures is how many consecutive "unavailable" failures of the
	// durable store open the circuit breaker; while open, durable calls fail
	// at once. 0: DefaultBreakerFailures.
	BreakerFailures int
	// BreakerOpenFor is how long the breaker stays open before it lets a
	// probe through. 0: DefaultBreakerOpenFor.
	BreakerOpenFor time.Duration

	Sync SyncConfig

	// Vectors configures the tiers of the vector indexes: how many stay
	// loaded, when idle ones move to disk and to the object tier (vtier.go).
	Vectors VectorTierConfig

	// Clock drives the cache tiers' expiry and the periodic sync. nil: wall clock.
	Clock clock.Clock
	// Embedder, when set, embeds the task description of every episode
	// created through this Memory (stored under Embedder.Model()) and the
	// text of a recall that gives no vector (see docs/recall.md).
	Embedder engram.Embedder
	// Logger receives what does not surface as an error: cache failures,
	// tiers skipped, background syncs. nil: slog.Default().
	Logger *slog.Logger

	// afterSync, if set, is called after every background sync with why it
	// ran ("periodic" or "notified") and its outcome (tests observe syncs).
	afterSync func(why string, rep *engram.SyncReport, err error)
}

// SyncConfig configures how the cache is kept in step with the durable
// store. The names are in parentheses.
type SyncConfig struct {
	// MaxEpisodesCache is how many of the most recent episodes a full sync
	// puts in the cache (max_episodes_cache). 0: DefaultMaxEpisodesCache.
	MaxEpisodesCache int
	// BatchSize is the number of change-feed entries (incremental) or
	// records (full) applied per cache transaction (batch_size). 0:
	// DefaultSyncBatchSize.
	BatchSize int
	// SkipPatterns leaves patterns and heuristics out of full syncs
	// (sync_patterns = false).
	SkipPatterns bool
	// SkipEmbeddings leaves embeddings out of syncs (sync_embeddings = false).
	SkipEmbeddings bool
	// ValidateChecksums makes validation compare a digest of every cached
	// record with the durable record (validate_checksums).
	ValidateChecksums bool
	// Concurrency bounds the durable reads a sync runs at once. 0:
	// DefaultSyncConcurrency.
	Concurrency int
	// Interval runs an incremental sync this often in the background; 0:
	// never (the server sets it). With an interval and a durable store that
	// notifies changes (Listener: PostgreSQL), a sync also runs as soon as
	// another process commits; the interval is then the fallback.
	Interval time.Duration
	// NoListen keeps to the interval even when the durable store can
	// notify changes (for comparing the two; it costs a connection less).
	NoListen bool
}

func (c *Config) ensureDefaults() {
	if c.DataDir == "" {
		c.DataDir = "./engram-data"
	}
	if c.SQL.Path == "" {
		c.SQL.Path = filepath.Join(c.DataDir, sqlstore.DefaultFileName)
	}
	if c.CachePath == "" {
		c.CachePath = filepath.Join(c.DataDir, DefaultCacheFileName)
	}
	if c.Cache.LockTimeout == 0 {
		c.Cache.LockTimeout = DefaultCacheLockTimeout
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerOpenFor == 0 {
		c.BreakerOpenFor = DefaultBreakerOpenFor
	}
	s := &c.Sync
	if s.MaxEpisodesCache == 0 {
		s.MaxEpisodesCache = DefaultMaxEpisodesCache
	}
	if s.BatchSize == 0 {
		s.BatchSize = DefaultSyncBatchSize
	}
	if s.Concurrency == 0 {
		s.Concurrency = DefaultSyncConcurrency
	}
	c.Vectors.ensureDefaults()
	c.Clock = clock.OrReal(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Cache.Clock == nil {
		c.Cache.Clock = c.Clock
	}
	if c.RAM.Clock == nil {
		c.RAM.Clock = c.Clock
	}
	if c.Cache.Logger == nil {
		c.Cache.Logger = c.Logger
	}
}

func (c *Config) validate() error {
	s := &c.Sync
	switch {
	case c.BreakerFailures < 1:
		return engram.Invalid("breaker_failures", "is %d; must be at least 1", c.BreakerFailures)
	case c.BreakerOpenFor < 0:
		return engram.Invalid("breaker_open_for", "must not be negative")
	case s.MaxEpisodesCache < 1:
		return engram.Invalid("max_episodes_cache", "is %d; must be at least 1", s.MaxEpisodesCache)
	case s.BatchSize < 1 || s.BatchSize > engram.MaxQueryLimit:
		return engram.Invalid("batch_size", "is %d; must be 1-%d", s.BatchSize, engram.MaxQueryLimit)
	case s.Concurrency < 1:
		return engram.Invalid("sync_concurrency", "is %d; must be at least 1", s.Concurrency)
	case s.Interval < 0:
		return engram.Invalid("sync_interval", "must not be negative")
	}
	return c.Vectors.validate()
}
