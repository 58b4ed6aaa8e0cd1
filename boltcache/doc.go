// Package boltcache is the cache tier: rebuildable copies of durable records
// in one embedded bbolt file per node (one writer, many readers, memory-mapped
// reads). It implements engram.Cache.
//
// # What it owns
//
// The file at Options' path and everything in it: a table (bbolt bucket) per
// record kind (episodes with their steps, patterns, heuristics, embeddings),
// a recency table for LRU order, and a metadata table (file format, clean
// shutdown marker, sync watermark, LRU clock, lifetime counters). No other
// process may write the file; Open takes bbolt's exclusive lock.
//
// # What it promises
//
//   - It never returns wrong data. Every record carries a CRC-32C over its
//     key and bytes; a record that fails verification is a miss, is counted
//     (Stats.Corrupt), logged once and deleted. It never panics on what a
//     file holds.
//   - It always opens. Before bbolt maps a file, Open checks its structure
//     with plain reads (a damaged bbolt file can otherwise crash the process
//     or hang it); a file that fails, that another format version wrote, or
//     that was left open by a session without Sync on a machine that has
//     restarted since is discarded and recreated
//     empty, with a warning logged. Open fails only for a file another
//     process holds (ELOCKED, after Options.LockTimeout), a bbolt file that is
//     not an engram cache (EINVALID, left untouched), or an I/O error.
//   - It may lose data, never keep half of a write: Apply commits its puts,
//     deletes and watermark in one bbolt transaction. A process killed at any
//     moment (kill -9) keeps every acknowledged write. By default commits are
//     not fsynced, so an OS crash or power loss costs the whole cache (it is
//     discarded on the next Open, never trusted); with Options.Sync every
//     commit is fsynced and the file survives those too. See Options.Sync.
//   - Reads take only read transactions. LRU order is kept in memory and
//     written lazily (on each sweep and on Close); after a crash the order
//     falls back to the last flush and the records' write order.
//   - Writes are grouped: one goroutine commits, and the puts of all callers
//     waiting at that moment share one transaction and one fsync.
//   - Expired records are never returned (checked on every read) and are
//     removed by a sweeper every Options.TTLCheckInterval, or by Sweep.
//   - Entries and bytes stay within MaxEntries and MaxBytes after every
//     commit, by evicting the least recently used records; a single batch
//     larger than the bounds keeps its newest records.
//
// # Record format
//
// See record.go: a 20-byte header (magic, version, flags, expiry, write
// tick), the payload in a compact binary encoding (codec.go), zstd-compressed
// above Options.CompressThreshold when that is smaller, and the checksum. The
// format version is also recorded for the whole file; a file of any other
// version is discarded on open, never read.
//
// # Rebuilding
//
// To rebuild a cache, Open a new path, fill it with Apply, call Check, and
// Close it; a report with Structure "ok" and no Bad records describes a file
// that holds exactly what was put. Swapping it in is the caller's business.
package boltcache
