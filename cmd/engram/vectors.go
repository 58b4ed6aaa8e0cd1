package main

// engram vectors tiers|flush and the --vectors-* flags: the tiers of the
// vector indexes (memory/vtier.go); engram vectors ls|stats|count|export|
// import|clear|sweep: the namespace contract over embeddings
// (engram.VectorStore, memory/vectorns.go), locally or with --server.

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// vectorFlags configure memory.VectorTierConfig.
type vectorFlags struct {
	tier                  string
	hotMaxVectors         int
	hotMaxBytes, warmMax  int64
	hotToWarm, warmToCold time.Duration
	interval              time.Duration
	uploadEvery           int
	sweepInterval         time.Duration
}

func (f *vectorFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.tier, "vectors-tier", "", "object tier for cold vector indexes (file:///dir, s3://bucket/prefix?endpoint=...&region=...); \"\": none, indexes stay on local disk")
	fs.IntVar(&f.hotMaxVectors, "vectors-hot-max", memory.DefaultHotMaxVectors, "most vectors loaded in RAM at once (least recently used indexes move to disk); -1: unbounded")
	fs.Int64Var(&f.hotMaxBytes, "vectors-hot-max-bytes", memory.DefaultHotMaxBytes, "most bytes of vector indexes loaded in RAM; -1: unbounded")
	fs.Int64Var(&f.warmMax, "vectors-warm-max-bytes", memory.DefaultWarmMaxBytes, "most bytes of unloaded index snapshots on local disk (with --vectors-tier; the rest go cold); -1: unbounded")
	fs.DurationVar(&f.hotToWarm, "vectors-hot-to-warm", memory.DefaultHotToWarm, "idle time after which a loaded index is unloaded to disk; -1ns: never")
	fs.DurationVar(&f.warmToCold, "vectors-warm-to-cold", memory.DefaultWarmToCold, "idle time after which an index on disk moves to the object tier; -1ns: never")
	fs.DurationVar(&f.interval, "vectors-tier-interval", memory.DefaultTierInterval, "how often the vector tiering loop runs; -1ns: never")
	fs.IntVar(&f.uploadEvery, "vectors-upload-every", memory.DefaultUploadEvery, "changes to a loaded index after which its snapshot is uploaded to the object tier again")
	fs.DurationVar(&f.sweepInterval, "vectors-sweep-interval", memory.DefaultSweepInterval, "how often expired embeddings are deleted durably and from every tier (reads skip them either way); -1ns: never")
}

func (f *vectorFlags) config() memory.VectorTierConfig {
	return memory.VectorTierConfig{URL: f.tier, HotMaxVectors: f.hotMaxVectors, HotMaxBytes: f.hotMaxBytes, WarmMaxBytes: f.warmMax,
		HotToWarm: f.hotToWarm, WarmToCold: f.warmToCold, Interval: f.interval, UploadEvery: f.uploadEvery, SweepInterval: f.sweepInterval}
}

func (a *app) vectorsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vectors",
		Short: "Vector namespaces (ls, stats, count, export, import, clear, sweep) and the tiers of the vector indexes (tiers, flush)",
		Long: `Each vector index (namespace, item type, model) is hot (loaded in RAM),
warm (its snapshot files under DATA_DIR/index, mapped when it loads) or cold
(content-addressed snapshot objects in the object tier, --vectors-tier). Idle
indexes move down (--vectors-hot-to-warm, --vectors-warm-to-cold) and so do the
least recently used when a tier is over its budget; a query loads an index
from the hottest tier holding it, and rebuilds it from the durable embeddings
only when no tier has a usable copy.

Embeddings may carry metadata and an expiry (ttl_ns or expires_at when put):
an expired embedding is never returned, and a sweep deletes it durably every
--vectors-sweep-interval. ls, stats, count, export, import, clear and sweep
work on the data directory or, with --server, through the server.`,
	}
	tiers := &cobra.Command{
		Use:   "tiers",
		Short: "Per-tier counts, bytes, hits, promotions, demotions and load times, and every index's tier",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var vts *engram.VectorTiersStatus
			if a.server != "" {
				s, err := a.openStore(cmd.Context())
				if err != nil {
					return err
				}
				sr, ok := s.(engram.StatusReporter)
				if !ok {
					return fmt.Errorf("this store reports no status")
				}
				st, err := sr.Status(cmd.Context())
				if err != nil {
					return err
				}
				if vts = st.Vectors; vts == nil {
					return fmt.Errorf("the server reports no vector tiers (a token granted * sees them)")
				}
			} else {
				m, err := a.openMemory(cmd.Context())
				if err != nil {
					return err
				}
				if vts, err = m.VectorTiers(cmd.Context()); err != nil {
					return err
				}
			}
			return a.print(vts, func(w io.Writer) { writeVectorTiers(w, vts) })
		},
	}
	flush := &cobra.Command{
		Use:   "flush",
		Short: "Upload every index snapshot the object tier lacks (so a new node starts from it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.server != "" {
				return usagef("vectors flush works on the data directory, not --server (the server uploads on its own)")
			}
			m, err := a.openMemory(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := m.LoadIndexes(cmd.Context(), ""); err != nil {
				return err
			}
			if err := m.FlushVectors(cmd.Context()); err != nil {
				return err
			}
			vts, err := m.VectorTiers(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(vts, func(w io.Writer) { writeVectorTiers(w, vts) })
		},
	}
	cmd.AddCommand(tiers, flush)
	cmd.AddCommand(a.vectorNSCmds()...)
	return cmd
}

func writeVectorTiers(w io.Writer, v *engram.VectorTiersStatus) {
	fmt.Fprintf(w, "%-8s %-9s %7s %10s %10s %8s %10s %9s %10s %10s\n", "tier", "state", "indexes", "vectors", "bytes", "hits", "promotions", "demotions", "load", "last load")
	for _, t := range v.Tiers {
		fmt.Fprintf(w, "%-8s %-9s %7d %10d %10s %8d %10d %9d %10s %10s\n", t.Tier, t.State, t.Indexes, t.Vectors, engram.FormatBytes(int(t.Bytes)),
			t.Hits, t.Promotions, t.Demotions, t.LoadTime.Round(time.Microsecond), t.LastLoad.Round(time.Microsecond))
		if t.Detail != "" {
			fmt.Fprintf(w, "         %s\n", t.Detail)
		}
	}
	fmt.Fprintf(w, "rebuilds=%d uploads=%d upload_bytes=%s corrupt=%d\n", v.Rebuilds, v.Uploads, engram.FormatBytes(int(v.UploadBytes)), v.Corrupt)
	if v.LastUploadError != "" {
		fmt.Fprintf(w, "last upload error: %s\n", v.LastUploadError)
	}
	for _, g := range v.Groups {
		fmt.Fprintf(w, "index %s/%s/%s %s bytes=%s", g.Namespace, g.ItemType, g.Model, g.Tier, engram.FormatBytes(int(g.Bytes)))
		if g.Vectors > 0 {
			fmt.Fprintf(w, " vectors=%d", g.Vectors)
		}
		if !g.LastUsed.IsZero() {
			fmt.Fprintf(w, " last_used=%s", g.LastUsed.UTC().Format(time.RFC3339))
		}
		if g.Uploaded > 0 {
			fmt.Fprintf(w, " uploaded_seq=%d", g.Uploaded)
		}
		fmt.Fprintln(w)
	}
}
