package main

// engram blocks push|pull|verify-remote URL: replication of blocks.db to and
// from the object tier (package blobblocks over a blob URL).

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/blobblocks"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// replicaProgressHook, when set (by tests), sees every progress report of
// push and pull after the bar does.
var replicaProgressHook func(blobblocks.Progress)

// newBlocksReplicaCmds returns push, pull and verify-remote.
func newBlocksReplicaCmds(path func() string, jsonOut func() bool) []*cobra.Command {
	push := &cobra.Command{
		Use:   "push URL",
		Short: "Copy every block and the op heads of blocks.db to an object store",
		Long: `Copy to URL (file:///dir, s3://bucket/prefix?endpoint=...&region=...) every
block of <data-dir>/blocks.db the remote lacks, then add the local op heads to
the remote's, superseding the remote heads the local ones have moved past.
Blocks are re-hashed when read and again before they are stored; heads change
only after all their blocks are there. Run it again after an interruption: it
copies only what is still missing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			local, err := bsOpenRead(path())
			if err != nil {
				return err
			}
			defer local.Close()
			return replicate(cmd, args[0], jsonOut(), func(remote *blobblocks.Store, o *blobblocks.ReplicateOptions) (blobblocks.ReplicateStats, error) {
				return blobblocks.Replicate(cmd.Context(), local, remote, o)
			}, "pushed", "to")
		},
	}
	pull := &cobra.Command{
		Use:   "pull URL",
		Short: "Copy every block and the op heads of an object store into blocks.db",
		Long: `Copy from URL every block <data-dir>/blocks.db lacks, then add the remote's op
heads to the local ones, superseding the local heads the remote ones have moved
past. The reverse of push, with the same guarantees.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			local, err := bsOpen(path())
			if err != nil {
				return err
			}
			defer local.Close()
			return replicate(cmd, args[0], jsonOut(), func(remote *blobblocks.Store, o *blobblocks.ReplicateOptions) (blobblocks.ReplicateStats, error) {
				return blobblocks.Replicate(cmd.Context(), remote, local, o)
			}, "pulled", "from")
		},
	}
	verify := &cobra.Command{
		Use:   "verify-remote URL",
		Short: "Re-hash every block of an object store and check its heads and links",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, remote, err := openRemote(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer b.Close()
			var progress func(int, int64)
			if bar := replicaBar(cmd.ErrOrStderr(), jsonOut(), "verify", -1); bar != nil {
				defer bar.Finish()
				progress = func(n int, _ int64) { _ = bar.Set(n) }
			}
			rep, err := remote.Verify(cmd.Context(), progress)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut() {
				if err := bsWriteJSON(out, map[string]any{"ok": rep.OK(), "report": rep}); err != nil {
					return err
				}
			} else {
				for _, e := range rep.Corrupt {
					fmt.Fprintf(out, "corrupt %s: %s\n", e.Key, e.Problem)
				}
				for _, m := range rep.Missing {
					if m.LinkedFrom != nil {
						fmt.Fprintf(out, "missing block %s (linked from %s)\n", m.CID, m.LinkedFrom)
					} else {
						fmt.Fprintf(out, "missing block %s (a head)\n", m.CID)
					}
				}
				verdict := "ok"
				if !rep.OK() {
					verdict = "FAILED"
				}
				fmt.Fprintf(out, "verified %d blocks (%d bytes), %d op heads in %s: %s\n", rep.Blocks, rep.Bytes, rep.Heads, rep.Name, verdict)
			}
			if !rep.OK() {
				return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("verify: %d corrupt, %d missing in %s (push again from a good copy to repair)",
					len(rep.Corrupt), len(rep.Missing), rep.Name)}
			}
			return nil
		},
	}
	return []*cobra.Command{push, pull, verify}
}

// openRemote opens the object store at url and the blockstore in it. The
// caller closes the returned BlobStore.
func openRemote(ctx context.Context, url string) (engram.BlobStore, *blobblocks.Store, error) {
	b, err := blob.Open(ctx, url, nil)
	if err != nil {
		return nil, nil, err
	}
	s, err := blobblocks.Open(ctx, b, &blobblocks.Options{Name: url})
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, s, nil
}

// replicate runs one push or pull against url with a progress bar on a
// terminal, and prints the summary.
func replicate(cmd *cobra.Command, url string, jsonOut bool,
	run func(*blobblocks.Store, *blobblocks.ReplicateOptions) (blobblocks.ReplicateStats, error), verb, prep string) error {
	b, remote, err := openRemote(cmd.Context(), url)
	if err != nil {
		return err
	}
	defer b.Close()
	var bar *progressbar.ProgressBar
	defer func() {
		if bar != nil {
			bar.Finish()
		}
	}()
	o := &blobblocks.ReplicateOptions{Progress: func(p blobblocks.Progress) {
		if p.Blocks == 0 { // a pass begins: its total is known
			if bar != nil {
				bar.Finish()
			}
			bar = replicaBar(cmd.ErrOrStderr(), jsonOut, strings.TrimSuffix(verb, "ed"), p.Total) // "push", "pull"
		}
		if bar != nil {
			_ = bar.Set64(p.Blocks)
		}
		if replicaProgressHook != nil {
			replicaProgressHook(p)
		}
	}}
	st, err := run(remote, o)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if jsonOut {
		return bsWriteJSON(w, map[string]any{"url": url, "stats": st})
	}
	fmt.Fprintf(w, "%s %d blocks (%d bytes) %s %s; %d already there, %d deleted at the source meanwhile\n",
		verb, st.Blocks, st.Bytes, prep, url, st.Present, st.Vanished)
	fmt.Fprintf(w, "op heads: %d added, %d superseded; now %d\n", st.HeadsAdded, st.HeadsSuperseded, len(st.Heads))
	for _, h := range st.Heads {
		fmt.Fprintf(w, "head %s\n", h)
	}
	return nil
}

// replicaBar returns a bar on w when it is a terminal and the output is
// text; nil otherwise. total < 0 is unknown.
func replicaBar(w io.Writer, jsonOut bool, desc string, total int64) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || jsonOut || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionSetItsString("blocks"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}
