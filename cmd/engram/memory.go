package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// syncFlags configure how memory keeps the cache in step (memory.SyncConfig).
type syncFlags struct {
	maxEpisodes       int
	batchSize         int
	patterns          bool
	embeddings        bool
	validateChecksums bool
	concurrency       int
	noCache, noRAM    bool
	breakerFailures   int
	breakerOpenFor    time.Duration
}

func (f *syncFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&f.maxEpisodes, "sync-max-episodes", memory.DefaultMaxEpisodesCache, "most recent episodes a full sync puts in the cache (max_episodes_cache)")
	fs.IntVar(&f.batchSize, "sync-batch-size", memory.DefaultSyncBatchSize, "changes or records per cache transaction during a sync")
	fs.BoolVar(&f.patterns, "sync-patterns", true, "cache patterns and heuristics during a full sync")
	fs.BoolVar(&f.embeddings, "sync-embeddings", true, "cache embeddings")
	fs.BoolVar(&f.validateChecksums, "sync-validate-checksums", false, "validation compares a digest of every cached record with the durable one")
	fs.IntVar(&f.concurrency, "sync-concurrency", memory.DefaultSyncConcurrency, "durable reads a sync runs at once")
	fs.BoolVar(&f.noCache, "no-cache", false, "run without the cache file")
	fs.BoolVar(&f.noRAM, "no-ram", false, "run without the RAM tier")
	fs.IntVar(&f.breakerFailures, "breaker-failures", memory.DefaultBreakerFailures, "consecutive durable-store outages that open the circuit breaker")
	fs.DurationVar(&f.breakerOpenFor, "breaker-open-for", memory.DefaultBreakerOpenFor, "how long the open breaker fails durable calls at once before a probe")
}

// memoryConfig is the configuration the flags describe.
func (a *app) memoryConfig() (memory.Config, error) {
	bo, ro, err := a.cache.options(a.dataDir)
	if err != nil {
		return memory.Config{}, err
	}
	bo.Logger = a.logger()
	emb, err := a.embed.embedder()
	if err != nil {
		return memory.Config{}, err
	}
	return memory.Config{
		Embedder:        emb,
		DataDir:         a.dataDir,
		SQL:             a.sqlOptions(),
		CachePath:       a.cache.cachePath(a.dataDir),
		Cache:           bo,
		NoCache:         a.sync.noCache,
		RAM:             ro,
		NoRAM:           a.sync.noRAM,
		Logger:          a.logger(),
		BreakerFailures: a.sync.breakerFailures,
		BreakerOpenFor:  a.sync.breakerOpenFor,
		Vectors:         a.vectors.config(),
		Sync: memory.SyncConfig{
			MaxEpisodesCache:  a.sync.maxEpisodes,
			BatchSize:         a.sync.batchSize,
			SkipPatterns:      !a.sync.patterns,
			SkipEmbeddings:    !a.sync.embeddings,
			ValidateChecksums: a.sync.validateChecksums,
			Concurrency:       a.sync.concurrency,
		},
	}, nil
}

// logger writes warnings (a cache file recreated, a tier skipped) to
// standard error, where they do not mix with -o json output.
func (a *app) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openMemory opens the tiered memory under the data directory, once.
func (a *app) openMemory(ctx context.Context) (*memory.Memory, error) {
	if a.mem != nil {
		return a.mem, nil
	}
	cfg, err := a.memoryConfig()
	if err != nil {
		return nil, err
	}
	m, err := memory.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.mem = m
	return m, nil
}

func (a *app) syncCmd() *cobra.Command {
	var opts engram.SyncOptions
	cmd := &cobra.Command{
		Use:   "sync [--full] [--dry-run] [--validate]",
		Short: "Bring the cache in step with the durable store",
		Long: `Apply the durable change feed to the cache from its watermark, in batches
(each committed with its new watermark, so an interrupted sync resumes where it
stopped). --full rebuilds the cache file instead: the newest --sync-max-episodes
episodes, patterns, heuristics and embeddings go into a new file beside the old
one, which is validated and swapped in. --validate compares the cache with the
durable store afterwards (record digests with --sync-validate-checksums).

A progress bar is drawn on a terminal; the report follows (-o json: the report
alone). While a server holds the cache file, ask it to sync instead
(POST /v1/sync, or engram --server URL sync).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			syncer, ok := s.(engram.Syncer)
			if !ok {
				return fmt.Errorf("this store cannot sync")
			}
			if st, ok := s.(engram.StatusReporter); ok && a.server == "" && !a.sync.noCache {
				status, err := st.Status(cmd.Context())
				if err != nil {
					return err
				}
				for _, t := range status.Tiers {
					if t.Tier == engram.TierCache && t.State != "ok" {
						return &engram.Error{Code: engram.ELOCKED, Message: fmt.Sprintf(
							"the cache file is not ours (%s): if a server holds it, ask it to sync (POST /v1/sync, or engram --server URL sync)", t.Detail)}
					}
				}
			}
			bar := a.progressBar("syncing")
			if bar != nil {
				opts.Progress = func(done, total int64) {
					if total >= 0 && bar.GetMax64() != total {
						bar.ChangeMax64(total)
					}
					bar.Set64(done)
				}
			}
			rep, err := syncer.Sync(cmd.Context(), opts)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(a.stderr)
			}
			if err != nil {
				return err
			}
			if err := a.print(rep, func(w io.Writer) { writeSyncReport(w, rep) }); err != nil {
				return err
			}
			if rep.Validation != nil && !rep.Validation.OK {
				return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("validation found %d problems", len(rep.Validation.Problems))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&opts.Full, "full", false, "rebuild the cache file from the durable store")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "count what a sync would do; change nothing")
	cmd.Flags().BoolVar(&opts.Validate, "validate", false, "check the cache against the durable store afterwards")
	return cmd
}

// progressBar returns a bar on standard error when it is a terminal and
// the output is text; nil otherwise.
func (a *app) progressBar(what string) *progressbar.ProgressBar {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || a.output != "text" {
		return nil
	}
	return progressbar.NewOptions64(-1, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}

func writeSyncReport(w io.Writer, r *engram.SyncReport) {
	kind := "incremental"
	if r.Full {
		kind = "full"
	}
	if r.DryRun {
		kind += " (dry run: nothing changed)"
	}
	fmt.Fprintf(w, "sync        %s in %s\n", kind, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "watermark   %d -> %d\n", r.WatermarkBefore, r.WatermarkAfter)
	fmt.Fprintf(w, "episodes    %d\npatterns    %d\nheuristics  %d\nembeddings  %d\ndeletions   %d\n",
		r.Episodes, r.Patterns, r.Heuristics, r.Embeddings, r.Deletions)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error       %s\n", e)
	}
	if v := r.Validation; v != nil {
		if v.OK {
			fmt.Fprintf(w, "validation  ok (%d records checked)\n", v.Checked)
		} else {
			fmt.Fprintf(w, "validation  %d problems in %d records:\n", len(v.Problems), v.Checked)
			for _, p := range v.Problems {
				fmt.Fprintf(w, "  %s\n", p)
			}
		}
	}
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the tiers, the sync watermark and lag, staleness and the last sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
			return a.print(st, func(w io.Writer) { writeStatus(w, st) })
		},
	}
}

func writeStatus(w io.Writer, st *engram.Status) {
	for _, t := range st.Tiers {
		line := fmt.Sprintf("%-8s %s", t.Tier, t.State)
		if t.Detail != "" {
			line += "  " + t.Detail
		}
		fmt.Fprintln(w, line)
		if len(t.Stats) > 0 {
			keys := make([]string, 0, len(t.Stats))
			for k := range t.Stats {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, 0, len(keys))
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%v", k, t.Stats[k]))
			}
			fmt.Fprintf(w, "         %s\n", strings.Join(parts, " "))
		}
	}
	fmt.Fprintf(w, "change feed  %d\nwatermark    %d\nlag          %d\n", st.LastSeq, st.Watermark, st.Lag)
	fmt.Fprintf(w, "stale        %v\n", st.Stale)
	if st.LastSync != nil {
		fmt.Fprintf(w, "last sync    %s", st.LastSync.Format(time.RFC3339))
		if st.LastSyncError != "" {
			fmt.Fprintf(w, " (failed: %s)", st.LastSyncError)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "last sync    never")
	}
	if len(st.Indexes) > 0 {
		writeIndexes(w, st.Indexes)
	}
}
