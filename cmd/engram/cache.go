package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/boltcache"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/ramcache"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// cacheFlags configure the cache tiers. Their names make the environment
// variables of the root command's generic mapping: --cache-max-entries is
// ENGRAM_CACHE_MAX_ENTRIES, and so on.
type cacheFlags struct {
	path              string
	maxEntries        int
	maxBytes          int64
	ttl               time.Duration
	ttlCheckInterval  time.Duration
	compressThreshold int
	compressLevel     int
	lockTimeout       time.Duration
	sync              bool
	ramMaxBytes       int64
}

func (f *cacheFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.path, "cache-path", "", "cache file (default <data-dir>/cache.db)")
	fs.IntVar(&f.maxEntries, "cache-max-entries", boltcache.DefaultMaxEntries, "most records the cache file holds; -1: no bound")
	fs.Int64Var(&f.maxBytes, "cache-max-bytes", boltcache.DefaultMaxBytes, "most bytes of records the cache file holds; -1: no bound")
	fs.DurationVar(&f.ttl, "cache-ttl", 0, "time to live of cached records; 0: never expire")
	fs.DurationVar(&f.ttlCheckInterval, "cache-ttl-check-interval", boltcache.DefaultTTLCheckInterval, "how often expired records are removed")
	fs.IntVar(&f.compressThreshold, "cache-compress-threshold", boltcache.DefaultCompressThreshold, "compress records of at least this many bytes; -1: never")
	fs.IntVar(&f.compressLevel, "cache-compress-level", boltcache.DefaultCompressLevel, "zstd level, 1 (fastest) to 22 (smallest)")
	fs.DurationVar(&f.lockTimeout, "cache-lock-timeout", memory.DefaultCacheLockTimeout, "how long to wait for a cache file another process holds (then run without it)")
	fs.BoolVar(&f.sync, "cache-sync", false, "fsync every cache commit, so the cache survives power loss (slower writes)")
	fs.Int64Var(&f.ramMaxBytes, "ram-max-bytes", ramcache.DefaultMaxBytes, "most bytes of records the RAM tier holds")
}

// cachePath returns the cache file: --cache-path, or cache.db in dataDir.
func (f *cacheFlags) cachePath(dataDir string) string {
	if f.path != "" {
		return f.path
	}
	return filepath.Join(dataDir, "cache.db")
}

// options returns the options of both tiers. The cache file's path is
// cachePath's: boltcache.Open takes it apart from its options.
func (f *cacheFlags) options(dataDir string) (boltcache.Options, ramcache.Options, error) {
	if f.ttl < 0 {
		return boltcache.Options{}, ramcache.Options{}, engram.Invalid("cache-ttl", "is %s; must not be negative", f.ttl)
	}
	if f.compressLevel < 1 || f.compressLevel > 22 {
		return boltcache.Options{}, ramcache.Options{}, engram.Invalid("cache-compress-level", "is %d; must be 1-22", f.compressLevel)
	}
	if f.ramMaxBytes <= 0 {
		return boltcache.Options{}, ramcache.Options{}, engram.Invalid("ram-max-bytes", "is %d; must be positive", f.ramMaxBytes)
	}
	if f.ttlCheckInterval <= 0 {
		return boltcache.Options{}, ramcache.Options{}, engram.Invalid("cache-ttl-check-interval", "is %s; must be positive", f.ttlCheckInterval)
	}
	bo := boltcache.Options{
		MaxEntries:        f.maxEntries,
		MaxBytes:          f.maxBytes,
		TTL:               f.ttl,
		TTLCheckInterval:  f.ttlCheckInterval,
		CompressThreshold: f.compressThreshold,
		CompressLevel:     f.compressLevel,
		LockTimeout:       f.lockTimeout,
		Sync:              f.sync,
	}
	ro := ramcache.Options{MaxBytes: f.ramMaxBytes, TTL: f.ttl}
	return bo, ro, nil
}

// newCacheCmd returns "engram cache" and its subcommands. dataDir and
// jsonOut read the root command's --data-dir and -o json.
func newCacheCmd(flags *cacheFlags, dataDir func() string, jsonOut func() bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and maintain the cache file",
		Long: `The cache file holds rebuildable copies of durable records. These commands
open it directly, so they fail with "locked" while a server holds it.`,
	}

	// withCache opens the cache, runs fn and closes it. Opening may log that a
	// damaged file was recreated; that goes to stderr.
	withCache := func(cmd *cobra.Command, fn func(ctx context.Context, c *boltcache.Cache) error) error {
		bo, _, err := flags.options(dataDir())
		if err != nil {
			return err
		}
		bo.TTLCheckInterval = -1 // one-shot commands do not sweep
		c, err := boltcache.Open(flags.cachePath(dataDir()), bo)
		if err != nil {
			return err
		}
		ferr := fn(cmd.Context(), c)
		if cerr := c.Close(); ferr == nil {
			ferr = cerr
		}
		return ferr
	}
	out := func(cmd *cobra.Command, v any, text func(w io.Writer)) error {
		if jsonOut() {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		text(tw)
		return tw.Flush()
	}

	stats := &cobra.Command{
		Use:   "stats",
		Short: "Print the cache's counters and size",
		Long: `Print hits, misses, writes, evictions, expirations and corrupt records
over the life of the cache file, and its entries, bytes and file size.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCache(cmd, func(ctx context.Context, c *boltcache.Cache) error {
				s, err := c.Stats(ctx)
				if err != nil {
					return err
				}
				type report struct {
					Path string `json:"path"`
					engram.CacheStats
					LastRecreation *boltcache.Recreation `json:"last_recreation,omitempty"`
				}
				var last *boltcache.Recreation
				if r, ok := c.LastRecreation(); ok {
					last = &r
				}
				return out(cmd, report{c.Path(), s, last}, func(w io.Writer) {
					fmt.Fprintf(w, "path\t%s\n", c.Path())
					fmt.Fprintf(w, "entries\t%d\n", s.Entries)
					fmt.Fprintf(w, "bytes\t%d\n", s.Bytes)
					fmt.Fprintf(w, "file size\t%d\n", s.FileSize)
					fmt.Fprintf(w, "hits\t%d\n", s.Hits)
					fmt.Fprintf(w, "misses\t%d\n", s.Misses)
					fmt.Fprintf(w, "hit rate\t%.1f%%\n", 100*s.HitRate)
					fmt.Fprintf(w, "writes\t%d\n", s.Writes)
					fmt.Fprintf(w, "deletes\t%d\n", s.Deletes)
					fmt.Fprintf(w, "evictions\t%d\n", s.Evictions)
					fmt.Fprintf(w, "expirations\t%d\n", s.Expirations)
					fmt.Fprintf(w, "corrupt\t%d\n", s.Corrupt)
					if last != nil {
						fmt.Fprintf(w, "recreated\t%s: %s\n", last.At.Format(time.RFC3339), last.Reason)
					}
				})
			})
		},
	}

	health := &cobra.Command{
		Use:   "health",
		Short: "Check the cache file's structure, size and free disk space",
		Long:  `Exit status 1 when the cache is unhealthy; the report is printed either way.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCache(cmd, func(ctx context.Context, c *boltcache.Cache) error {
				h, err := c.Health(ctx)
				if err != nil {
					return err
				}
				err = out(cmd, h, func(w io.Writer) {
					state := "healthy"
					if !h.Healthy {
						state = "unhealthy"
					}
					fmt.Fprintf(w, "status\t%s\n", state)
					fmt.Fprintf(w, "path\t%s\n", h.Path)
					fmt.Fprintf(w, "structure\t%s\n", h.Check)
					fmt.Fprintf(w, "entries\t%d\n", h.Entries)
					fmt.Fprintf(w, "file size\t%d\n", h.FileSize)
					fmt.Fprintf(w, "disk free\t%d\n", h.DiskFree)
					if h.UncleanShutdown {
						fmt.Fprintf(w, "last shutdown\tunclean\n")
					}
					if h.Recreated != "" {
						fmt.Fprintf(w, "recreated on open\t%s\n", h.Recreated)
					}
					for _, p := range h.Problems {
						fmt.Fprintf(w, "problem\t%s\n", p)
					}
				})
				if err != nil {
					return err
				}
				if !h.Healthy {
					return fmt.Errorf("cache %s is unhealthy: %s", h.Path, strings.Join(h.Problems, "; "))
				}
				return nil
			})
		},
	}

	clearCmd := &cobra.Command{
		Use:   "clear",
		Short: "Remove every record and reset the sync watermark",
		Long:  `The cache is refilled from the durable store by the next sync.`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCache(cmd, func(ctx context.Context, c *boltcache.Cache) error {
				s, err := c.Stats(ctx)
				if err != nil {
					return err
				}
				if err := c.Clear(ctx); err != nil {
					return err
				}
				type report struct {
					Path    string `json:"path"`
					Removed int64  `json:"removed"`
				}
				return out(cmd, report{c.Path(), s.Entries}, func(w io.Writer) {
					fmt.Fprintf(w, "cleared %d records from %s\n", s.Entries, c.Path())
				})
			})
		},
	}

	check := &cobra.Command{
		Use:   "check",
		Short: "Verify every record; report and remove bad ones",
		Long: `Check the file's structure and the checksum and encoding of every record.
Bad records are removed and listed. Exit status 1 when the structure is
damaged (reopening the cache then recreates it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCache(cmd, func(ctx context.Context, c *boltcache.Cache) error {
				rep, err := c.Check(ctx, true)
				if err != nil {
					return err
				}
				type report struct {
					Path string `json:"path"`
					boltcache.CheckReport
				}
				err = out(cmd, report{c.Path(), rep}, func(w io.Writer) {
					fmt.Fprintf(w, "path\t%s\n", c.Path())
					fmt.Fprintf(w, "structure\t%s\n", rep.Structure)
					fmt.Fprintf(w, "records\t%d\n", rep.Records)
					fmt.Fprintf(w, "ok\t%d\n", rep.OK)
					fmt.Fprintf(w, "expired\t%d\n", rep.Expired)
					fmt.Fprintf(w, "bad\t%d\n", len(rep.Bad))
					fmt.Fprintf(w, "removed\t%d\n", rep.Removed)
					if rep.Recreated != "" {
						fmt.Fprintf(w, "recreated on open\t%s\n", rep.Recreated)
					}
					for _, b := range rep.Bad {
						fmt.Fprintf(w, "bad %s\t%s: %s\n", b.Table, b.Key, b.Reason)
					}
				})
				if err != nil {
					return err
				}
				if rep.Structure != "ok" {
					return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("cache %s: %s", c.Path(), rep.Structure)}
				}
				if rep.RecreatedDamaged {
					return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("cache %s was damaged (%s); it was recreated empty and the next sync refills it", c.Path(), rep.Recreated)}
				}
				return nil
			})
		},
	}
	cmd.AddCommand(stats, health, clearCmd, check)
	return cmd
}
