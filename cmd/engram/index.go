package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
)

// indexCmd operates the vector indexes recall searches. They live in the
// data directory, so these commands do not work with --server (its status
// lists them).
func (a *app) indexCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Vector indexes of the data directory: status, rebuild, verify",
		Long: `engram keeps one vector index per namespace, item type, embedding model and
dimension under DATA_DIR/index, built from the durable embeddings and kept in
step with the change feed. A missing, stale or damaged snapshot is rebuilt on
first use; these commands do it on demand. --namespace limits them to one
namespace (default: every namespace).`,
	}
	var allNS bool
	run := func(do func(ctx context.Context, m *memory.Memory, ns engram.Namespace) (any, func(io.Writer), error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			if a.server != "" {
				return usagef("index commands work on the data directory, not --server (GET /v1/status lists a server's indexes)")
			}
			m, err := a.openMemory(cmd.Context())
			if err != nil {
				return err
			}
			ns := a.ns
			if allNS || !cmd.Flags().Changed("namespace") {
				ns = ""
			}
			v, text, err := do(cmd.Context(), m, ns)
			if err != nil {
				return err
			}
			return a.print(v, text)
		}
	}
	status := &cobra.Command{Use: "status", Short: "Load every index (from its snapshot, or rebuilt) and print its size, lag and last rebuild", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, m *memory.Memory, ns engram.Namespace) (any, func(io.Writer), error) {
			st, err := m.LoadIndexes(ctx, ns)
			return nonNil(st), func(w io.Writer) { writeIndexes(w, st) }, err
		})}
	rebuild := &cobra.Command{Use: "rebuild", Short: "Rebuild every index from the durable embeddings and rewrite its snapshot", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, m *memory.Memory, ns engram.Namespace) (any, func(io.Writer), error) {
			st, err := m.RebuildIndexes(ctx, ns)
			return nonNil(st), func(w io.Writer) { writeIndexes(w, st) }, err
		})}
	var verifyFailed bool
	verify := &cobra.Command{Use: "verify", Short: "Check every index against the durable embeddings (exit 1 on a problem)", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, m *memory.Memory, ns engram.Namespace) (any, func(io.Writer), error) {
			ps, err := m.VerifyIndexes(ctx, ns)
			if err == nil && len(ps) > 0 {
				verifyFailed = true
			}
			return ps, func(w io.Writer) {
				if len(ps) == 0 {
					fmt.Fprintln(w, "ok: every index holds every durable embedding")
				}
				for _, p := range ps {
					fmt.Fprintf(w, "%s/%s/%s: %s\n", p.Group.Namespace, p.Group.ItemType, p.Group.Model, p.Problem)
				}
			}, err
		})}
	verify.PostRunE = func(*cobra.Command, []string) error {
		if verifyFailed {
			return fmt.Errorf("engram: index verify found problems; run engram index rebuild")
		}
		return nil
	}
	for _, c := range []*cobra.Command{status, rebuild, verify} {
		c.Flags().BoolVar(&allNS, "all-namespaces", false, "every namespace (the default unless --namespace is given)")
		cmd.AddCommand(c)
	}
	return cmd
}

func writeIndexes(w io.Writer, st []engram.IndexStatus) {
	if len(st) == 0 {
		fmt.Fprintln(w, "no vector indexes (no embeddings stored, or none loaded yet)")
		return
	}
	for _, s := range st {
		fmt.Fprintf(w, "index %s/%s/%s dim=%d %s vectors=%d bytes=%s lag=%d", s.Namespace, s.ItemType, s.Model, s.Dim, s.Kind, s.Vectors, engram.FormatBytes(int(s.Bytes)), s.Lag)
		if s.LastRebuild != nil {
			fmt.Fprintf(w, " built=%s", s.LastRebuild.UTC().Format(time.RFC3339))
		}
		if s.RebuildReason != "" {
			fmt.Fprintf(w, " rebuilt: %s", s.RebuildReason)
		}
		if s.SnapshotError != "" {
			fmt.Fprintf(w, " snapshot failed: %s", s.SnapshotError)
		}
		fmt.Fprintln(w)
	}
}
