package main

// engram vectors ls|stats|count|export|import|clear|sweep: the namespace
// contract over embeddings (engram.VectorStore).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
)

// vectorStore opens the store and checks that it offers the contract.
func (a *app) vectorStore(ctx context.Context) (engram.VectorStore, engram.Store, error) {
	s, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	vs, ok := s.(engram.VectorStore)
	if !ok {
		return nil, nil, fmt.Errorf("this store has no vector namespace operations")
	}
	return vs, s, nil
}

func writeVectorStats(w io.Writer, list []engram.VectorNamespaceStats) {
	fmt.Fprintf(w, "%-24s %10s %9s %12s %10s  %s\n", "namespace", "count", "expiring", "dimensions", "bytes", "models")
	for _, st := range list {
		dims := make([]string, len(st.Dimensions))
		for i, d := range st.Dimensions {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(w, "%-24s %10d %9d %12s %10s  %s\n", st.Namespace, st.Count, st.Expiring, strings.Join(dims, ","),
			engram.FormatBytes(int(st.Bytes)), strings.Join(st.Models, " "))
	}
}

func (a *app) vectorNSCmds() []*cobra.Command {
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List every namespace holding embeddings, with count, dimensions and approximate size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vs, _, err := a.vectorStore(cmd.Context())
			if err != nil {
				return err
			}
			list, err := vs.VectorNamespaces(cmd.Context())
			if err != nil {
				return err
			}
			if list == nil {
				list = []engram.VectorNamespaceStats{}
			}
			return a.print(list, func(w io.Writer) { writeVectorStats(w, list) })
		},
	}
	stats := &cobra.Command{
		Use:   "stats",
		Short: "The namespace's (--namespace) embedding count, dimensions and approximate size; fails (not found) when it holds none",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vs, _, err := a.vectorStore(cmd.Context())
			if err != nil {
				return err
			}
			st, err := vs.VectorNamespace(cmd.Context(), a.ns)
			if err != nil {
				return err
			}
			return a.print(st, func(w io.Writer) { writeVectorStats(w, []engram.VectorNamespaceStats{*st}) })
		},
	}
	count := &cobra.Command{
		Use:   "count",
		Short: "How many unexpired embeddings the namespace holds (0 when none)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vs, _, err := a.vectorStore(cmd.Context())
			if err != nil {
				return err
			}
			var n int64
			st, err := vs.VectorNamespace(cmd.Context(), a.ns)
			switch {
			case engram.ErrorCode(err) == engram.ENOTFOUND:
			case err != nil:
				return err
			default:
				n = st.Count
			}
			return a.print(map[string]any{"namespace": a.ns, "count": n}, func(w io.Writer) { fmt.Fprintln(w, n) })
		},
	}
	var itemType, model string
	var page int
	export := &cobra.Command{
		Use:   "export",
		Short: "Write every unexpired embedding of the namespace to stdout as NDJSON, one per line, streamed (never the whole namespace in memory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vs, _, err := a.vectorStore(cmd.Context())
			if err != nil {
				return err
			}
			bw := bufio.NewWriter(cmd.OutOrStdout())
			enc := json.NewEncoder(bw)
			f := engram.EmbeddingFilter{ItemType: engram.ItemType(itemType), Model: model, Limit: page}
			if err := vs.EachEmbedding(cmd.Context(), a.ns, f, func(e *engram.Embedding) error { return enc.Encode(e) }); err != nil {
				bw.Flush()
				return err
			}
			return bw.Flush()
		},
	}
	export.Flags().StringVar(&itemType, "item-type", "", "only embeddings of items of this type")
	export.Flags().StringVar(&model, "model", "", "only embeddings of this model")
	export.Flags().IntVar(&page, "page", engram.MaxQueryLimit, "embeddings read per page (1-1000)")
	var batch int
	imp := &cobra.Command{
		Use:   "import [FILE]",
		Short: "Put the embeddings of an NDJSON file (or stdin), as export writes them, in batches of --batch; one dimension per item type and model",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 || batch > engram.MaxBatch {
				return usagef("--batch is %d; must be 1-%d", batch, engram.MaxBatch)
			}
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			_, s, err := a.vectorStore(cmd.Context())
			if err != nil {
				return err
			}
			p, ok := s.(interface {
				PutEmbeddingsSameDim(context.Context, engram.Namespace, []*engram.Embedding) error
			})
			if !ok {
				return fmt.Errorf("this store has no vector namespace operations")
			}
			dec := json.NewDecoder(bufio.NewReader(in))
			var pending []*engram.Embedding
			total, line := 0, 0
			flush := func() error {
				if len(pending) == 0 {
					return nil
				}
				if err := p.PutEmbeddingsSameDim(cmd.Context(), a.ns, pending); err != nil {
					return fmt.Errorf("embeddings %d-%d of the input: %w", total+1, total+len(pending), err)
				}
				total += len(pending)
				pending = pending[:0]
				return nil
			}
			for {
				var e engram.Embedding
				err := dec.Decode(&e)
				if errors.Is(err, io.EOF) {
					break
				}
				line++
				if err != nil {
					return usagef("input embedding %d: %v", line, err)
				}
				e.CreatedAt = e.CreatedAt.UTC() // set by the store
				pending = append(pending, &e)
				if len(pending) == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := flush(); err != nil {
				return err
			}
			return a.print(map[string]any{"namespace": a.ns, "put": total}, func(w io.Writer) { fmt.Fprintf(w, "put %d embeddings into %s\n", total, a.ns) })
		},
	}
	imp.Flags().IntVar(&batch, "batch", engram.MaxBatch, "embeddings per transaction (1-1000)")
	var yes bool
	clear := &cobra.Command{
		Use:   "clear",
		Short: "Delete every embedding of the namespace, durably and from every tier of the vector indexes; asks for the namespace's name unless --yes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vs, _, err := a.vectorStore(cmd.Context())
			if err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(cmd.ErrOrStderr(), "This deletes every embedding of namespace %q. Type the namespace to confirm: ", a.ns)
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(answer) != string(a.ns) {
					return usagef("not confirmed: nothing deleted (give --yes to skip the question)")
				}
			}
			n, err := vs.ClearEmbeddings(cmd.Context(), a.ns)
			if err != nil {
				return err
			}
			return a.print(map[string]any{"namespace": a.ns, "deleted": n}, func(w io.Writer) { fmt.Fprintf(w, "deleted %d embeddings of %s\n", n, a.ns) })
		},
	}
	clear.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	sweep := &cobra.Command{
		Use:   "sweep",
		Short: "Delete expired embeddings of every namespace now (serve does it every --vectors-sweep-interval)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			sw, ok := s.(interface {
				SweepExpired(context.Context) (int, error)
			})
			if !ok {
				return fmt.Errorf("this store does not sweep")
			}
			n, err := sw.SweepExpired(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(map[string]any{"swept": n}, func(w io.Writer) { fmt.Fprintf(w, "swept %d expired embeddings\n", n) })
		},
	}
	return []*cobra.Command{ls, stats, count, export, imp, clear, sweep}
}
