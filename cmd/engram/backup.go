package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/backup"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/sqlstore"
)

func (a *app) backupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up the data directory to object storage, and restore it",
		Long: `Backups of the durable store (a consistent SQLite snapshot, taken while engram
may be writing) and the blockstore (copied under its shared lock), cut into
content-defined chunks stored once by SHA-256 in object storage at URL
(file:///dir, s3://bucket/prefix?endpoint=..., mem://): backups share every
chunk that did not change. A backup exists once its manifest is written, last.
See docs/backup.md.`,
	}
	cmd.AddCommand(a.backupCreateCmd(), a.backupListCmd(), a.backupVerifyCmd(), a.backupRestoreCmd(), a.backupPruneCmd())
	return cmd
}

func openBackupStore(ctx context.Context, url string) (engram.BlobStore, error) {
	return blob.Open(ctx, url, nil)
}

// bytesBar returns a progress bar in bytes on standard error when it is a
// terminal and the output is text (the test progressBar applies); nil
// otherwise.
func (a *app) bytesBar(what string) *progressbar.ProgressBar {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || a.output != "text" {
		return nil
	}
	return progressbar.NewOptions64(-1, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}

// backupOptions returns options whose Progress drives a bar, and a func to
// finish it.
func (a *app) backupOptions(what string) (*backup.Options, func()) {
	o := &backup.Options{}
	bar := a.bytesBar(what)
	if bar == nil {
		return o, func() {}
	}
	var max int64 = -1
	o.Progress = func(p backup.Progress) {
		if p.Total != max {
			max = p.Total
			bar.ChangeMax64(max)
		}
		_ = bar.Set64(p.Done)
	}
	return o, func() { _ = bar.Finish() }
}

type backupSummary struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Source      string    `json:"source"`
	Version     string    `json:"engram_version"`
	Files       []string  `json:"files"`
	Bytes       int64     `json:"bytes"`
	Chunks      int       `json:"chunks"`
	NewChunks   *int      `json:"new_chunks,omitempty"`
	Uploaded    *int64    `json:"uploaded_bytes,omitempty"`
	ReusedBytes *int64    `json:"reused_bytes,omitempty"`
}

func summarize(m *backup.Manifest) backupSummary {
	s := backupSummary{ID: m.ID, Time: m.Time, Source: m.Source, Version: m.EngramVersion, Bytes: m.Size(), Files: []string{}}
	for _, f := range m.Files {
		s.Files = append(s.Files, f.Name)
		s.Chunks += len(f.Chunks)
	}
	return s
}

func (a *app) backupCreateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create URL",
		Short: "Back up the durable store and the blockstore of --data-dir to URL",
		Long: `Take a consistent snapshot of <data-dir>/engram.db (SQLite's online backup,
while engram may be writing) and a copy of <data-dir>/blocks.db (under its
shared lock, so no writer is in it), and store them at URL. Chunks already
stored, by earlier backups or by a create that was killed, are not uploaded
again. Prints the new backup's id.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dbPath := filepath.Join(a.dataDir, sqlstore.DefaultFileName)
			if _, err := os.Stat(dbPath); err != nil {
				return fmt.Errorf("backup: no durable store to back up: %w", err)
			}
			st, err := openBackupStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			removeStaleSnapshots(a.dataDir, time.Now())
			tmp, err := os.MkdirTemp(a.dataDir, ".backup-")
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			defer os.RemoveAll(tmp)
			s, err := a.openSQL(ctx)
			if err != nil {
				return err
			}
			snap := filepath.Join(tmp, sqlstore.DefaultFileName)
			if err := s.Snapshot(ctx, snap); err != nil {
				return err
			}
			srcs := []backup.Source{{Name: sqlstore.DefaultFileName, Path: snap}}
			blocksPath := filepath.Join(a.dataDir, blocksFile)
			if _, err := os.Stat(blocksPath); err == nil {
				copyPath := filepath.Join(tmp, blocksFile)
				if err := copyBlocks(blocksPath, copyPath); err != nil {
					return err
				}
				srcs = append(srcs, backup.Source{Name: blocksFile, Path: copyPath})
			}
			o, done := a.backupOptions("backup")
			host, _ := os.Hostname()
			abs, _ := filepath.Abs(a.dataDir)
			o.Source, o.EngramVersion = host+":"+abs, version
			m, stats, err := backup.Create(ctx, st, srcs, o)
			done()
			if err != nil {
				return err
			}
			sum := summarize(m)
			sum.NewChunks, sum.Uploaded, sum.ReusedBytes = &stats.NewChunks, &stats.Uploaded, &stats.ReusedBytes
			return a.print(sum, func(w io.Writer) {
				fmt.Fprintf(w, "backup %s: %d files, %s in %d chunks; %d new chunks, %s uploaded, %s already stored\n",
					m.ID, len(m.Files), humanBytes(m.Size()), sum.Chunks, stats.NewChunks, humanBytes(stats.Uploaded), humanBytes(stats.ReusedBytes))
			})
		},
	}
}

// staleSnapshotAge is how old a snapshot directory of a create must be to
// be taken for one a killed create left.
const staleSnapshotAge = 24 * time.Hour

// removeStaleSnapshots removes the .backup-* directories of creates that
// were killed (SIGKILL, power loss) before they could remove their own.
func removeStaleSnapshots(dataDir string, now time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(dataDir, ".backup-*"))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && now.Sub(fi.ModTime()) > staleSnapshotAge {
			_ = os.RemoveAll(d)
		}
	}
}

// copyBlocks copies the blockstore file while holding its shared lock: no
// writer can be inside it, so the bytes on disk are one committed state.
func copyBlocks(src, dst string) error {
	bs, err := bsOpenRead(src)
	if err != nil {
		return err
	}
	defer bs.Close()
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("backup: copy %s: %w", src, err)
	}
	return out.Close()
}

func (a *app) backupListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list URL",
		Short: "List the backups at URL, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openBackupStore(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			ms, err := backup.List(cmd.Context(), st)
			if err != nil {
				return err
			}
			out := []backupSummary{}
			for _, m := range ms {
				out = append(out, summarize(m))
			}
			return a.print(out, func(w io.Writer) {
				for _, s := range out {
					fmt.Fprintf(w, "%s  %s  %9s  %v  %s\n", s.ID, fmtTime(s.Time), humanBytes(s.Bytes), s.Files, s.Source)
				}
			})
		},
	}
}

func (a *app) backupVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify URL [ID]",
		Short: "Re-hash every chunk and file of a backup (default: of every backup)",
		Long: `Read every chunk of the backup, check its SHA-256 against its name and its
size against the manifest, and re-hash every file from its chunks. Damage is
listed by chunk key and file; exits 1 when there is any.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openBackupStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			var ids []string
			if len(args) == 2 {
				ids = []string{args[1]}
			} else {
				ms, err := backup.List(ctx, st)
				if err != nil {
					return err
				}
				for _, m := range ms {
					ids = append(ids, m.ID)
				}
			}
			reports := []*backup.VerifyReport{}
			bad := 0
			for _, id := range ids {
				o, done := a.backupOptions("verify " + id)
				rep, err := backup.Verify(ctx, st, id, o)
				done()
				if err != nil {
					return err
				}
				if rep.Problems == nil {
					rep.Problems = []string{}
				}
				bad += len(rep.Problems)
				reports = append(reports, rep)
			}
			if err := a.print(reports, func(w io.Writer) {
				for _, r := range reports {
					if len(r.Problems) == 0 {
						fmt.Fprintf(w, "%s: ok (%d files, %d chunks, %s)\n", r.ID, r.Files, r.Chunks, humanBytes(r.Bytes))
					}
					for _, p := range r.Problems {
						fmt.Fprintf(w, "%s: problem: %s\n", r.ID, p)
					}
				}
			}); err != nil {
				return err
			}
			if bad > 0 {
				return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("%d problems found", bad)}
			}
			return nil
		},
	}
}

func (a *app) backupRestoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore URL ID",
		Short: "Restore backup ID into --data-dir, which must be new or empty",
		Long: `Write the backup's files into a staging directory beside --data-dir, check
every chunk's and every file's SHA-256, and only then move them into
--data-dir. A damaged or missing chunk is named and nothing is put in place.
--data-dir must not exist or be empty: restore never overwrites a store.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := backup.ValidateID(args[1]); err != nil {
				return usagef("backup id: %v", err)
			}
			st, err := openBackupStore(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			o, done := a.backupOptions("restore")
			n, err := backup.Restore(ctx, st, args[1], a.dataDir, o)
			done()
			var e *engram.Error
			if errors.As(err, &e) && e.Field == "dir" {
				return fmt.Errorf("--data-dir: %w", err)
			}
			if err != nil {
				return err
			}
			return a.print(map[string]any{"id": args[1], "data_dir": a.dataDir, "bytes": n}, func(w io.Writer) {
				fmt.Fprintf(w, "restored %s (%s) into %s\n", args[1], humanBytes(n), a.dataDir)
			})
		},
	}
}

func (a *app) backupPruneCmd() *cobra.Command {
	var keep int
	cmd := &cobra.Command{
		Use:   "prune URL --keep N",
		Short: "Keep the newest N backups; remove the others and the chunks only they used",
		Long: `Remove every backup but the newest --keep, then every chunk no remaining
backup names. A create running at the same time is safe: if prune sees its
lock it removes no chunks this time (say so, and run it again later); if the
create sees prune's lock it stops. Locks older than an hour are taken for
those of killed processes and removed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("keep") {
				return usagef("prune needs --keep N")
			}
			st, err := openBackupStore(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := backup.Prune(cmd.Context(), st, keep, nil)
			if err != nil {
				return err
			}
			return a.print(map[string]any{"kept": nonNil(rep.Kept), "removed": nonNil(rep.Removed), "chunks_removed": rep.ChunksRemoved,
				"bytes_removed": rep.BytesRemoved, "chunks_kept": rep.ChunksKept, "chunks_deferred": rep.ChunksDeferred,
				"stale_locks": nonNil(rep.StaleLocks)}, func(w io.Writer) {
				fmt.Fprintf(w, "kept %d backups, removed %d\n", len(rep.Kept), len(rep.Removed))
				if rep.ChunksDeferred {
					fmt.Fprintf(w, "chunks not pruned: a create is running (%s); prune again when it is done\n", rep.DeferredBecause)
				} else {
					fmt.Fprintf(w, "removed %d chunks (%s), kept %d\n", rep.ChunksRemoved, humanBytes(rep.BytesRemoved), rep.ChunksKept)
				}
			})
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 0, "how many of the newest backups to keep (at least 1)")
	return cmd
}

// nonNil returns s, or an empty slice for nil, so JSON output prints [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
