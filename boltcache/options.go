package boltcache

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/clock"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxEntries        = 100_000
	DefaultMaxBytes          = 1 << 30 // 1 GiB of records
	DefaultTTLCheckInterval  = time.Minute
	DefaultCompressThreshold = 4 << 10 // compress payloads of 4 KiB and more
	DefaultCompressLevel     = 3       // zstd's default level
	DefaultLockTimeout       = time.Second
)

// Options configure a cache. The zero value of every field means its default.
type Options struct {
	// MaxEntries bounds the number of records; past it the least recently
	// used are evicted. 0: DefaultMaxEntries; < 0: unbounded.
	MaxEntries int
	// MaxBytes bounds the encoded size of all records (keys and values);
	// past it the least recently used are evicted. The file itself is larger
	// (page overhead, free pages bbolt keeps for reuse). 0: DefaultMaxBytes;
	// < 0: unbounded.
	MaxBytes int64
	// TTL is the time to live of a record put without one of its own.
	// 0: records never expire.
	TTL time.Duration
	// TTLCheckInterval is how often the background sweeper removes expired
	// records (reads never return them either way). 0:
	// DefaultTTLCheckInterval; < 0: no sweeper (call Sweep).
	TTLCheckInterval time.Duration
	// CompressThreshold: payloads of at least this many bytes are stored
	// zstd-compressed when that makes them smaller. 0:
	// DefaultCompressThreshold; < 0: never compress.
	CompressThreshold int
	// CompressLevel is the zstd level, 1 (fastest) to 22 (smallest).
	// 0: DefaultCompressLevel.
	CompressLevel int
	// LockTimeout bounds the wait for a file another process holds; then
	// Open fails with ELOCKED. 0: DefaultLockTimeout; < 0: do not wait.
	LockTimeout time.Duration
	// Sync makes every commit fsync the file before Apply or Put returns,
	// so the cache survives an OS crash or power loss too.
	//
	// By default commits are not fsynced, which makes a single put about
	// ten times faster (BENCHMARKS.md (cache tiers)). That is safe for a cache
	// because of what Open does after an unclean shutdown: a process that
	// dies (kill -9, a panic, the OOM killer) loses nothing, since its
	// writes are in the OS page cache and a page write is never torn by a
	// signal, so the file is kept; but if the machine has restarted since
	// the file was opened (the kernel's boot id differs, or cannot be read),
	// unsynced pages may be missing, and the file is discarded and rebuilt
	// rather than trusted.
	Sync bool
	// SkipOpenCheck skips the structural check of the file on Open. The
	// check reads the whole file once (about 0.7 s per GiB from the page
	// cache, BENCHMARKS.md (cache tiers)); without it a file damaged on disk can
	// crash the process.
	SkipOpenCheck bool
	// Clock drives expiry and the sweeper. nil: the wall clock.
	Clock clock.Clock
	// Logger receives what the cache does not return as an error: files
	// recreated on open, corrupt records removed, failed background writes.
	// nil: slog.Default().
	Logger *slog.Logger

	sweepDone   chan int // tests: each background sweep sends how many it removed
	lockWaiting func()   // tests: called once when Open finds the file locked and starts waiting
}

// EnsureDefaults returns o with every zero field set to its default.
func (o Options) EnsureDefaults() Options {
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.TTLCheckInterval == 0 {
		o.TTLCheckInterval = DefaultTTLCheckInterval
	}
	if o.CompressThreshold == 0 {
		o.CompressThreshold = DefaultCompressThreshold
	}
	if o.CompressLevel == 0 {
		o.CompressLevel = DefaultCompressLevel
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports the first field out of range as an EINVALID error.
func (o Options) Validate() error {
	if o.TTL < 0 {
		return engram.Invalid("ttl", "is %s; must not be negative", o.TTL)
	}
	if o.CompressLevel < 0 || o.CompressLevel > 22 {
		return engram.Invalid("compress_level", "is %d; must be 1-22", o.CompressLevel)
	}
	return nil
}

func (o Options) String() string {
	return fmt.Sprintf("max_entries=%d max_bytes=%d ttl=%s ttl_check_interval=%s compress_threshold=%d compress_level=%d sync=%t",
		o.MaxEntries, o.MaxBytes, o.TTL, o.TTLCheckInterval, o.CompressThreshold, o.CompressLevel, o.Sync)
}
