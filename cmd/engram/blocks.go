package main

// The blocks and heads commands. The root command (main.go) owns the global
// flags and passes them in as functions, read when a command runs.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blockstore"
	"github.com/engramhq/engram/dag"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// blocksFile is the blockstore's file name inside the data directory.
const blocksFile = "blocks.db"

// newBlocksCmd returns "engram blocks": put, get, has, stat, verify and gc
// on <data-dir>/blocks.db.
func newBlocksCmd(dataDir func() string, jsonOut func() bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blocks",
		Short: "Content-addressed blocks: put, get, verify, collect garbage",
		Long: `Blocks are immutable byte strings named by the hash of their content (a CID).
They live in <data-dir>/blocks.db together with the op heads.`,
	}
	path := func() string { return filepath.Join(dataDir(), blocksFile) }
	cmd.AddCommand(
		newBlocksPutCmd(path, jsonOut),
		newBlocksGetCmd(path, jsonOut),
		newBlocksHasCmd(path, jsonOut),
		newBlocksStatCmd(path, jsonOut),
		newBlocksVerifyCmd(path, jsonOut),
		newBlocksGCCmd(path, jsonOut),
		newBlocksSalvageCmd(path, jsonOut),
	)
	cmd.AddCommand(newBlocksReplicaCmds(path, jsonOut)...) // push, pull, verify-remote (blocks_replica.go)
	return cmd
}

// bsOpen opens the store for writing, creating it if needed.
func bsOpen(path string) (*blockstore.Store, error) {
	return blockstore.OpenOrInit(path, nil)
}

// bsOpenRead opens an existing store read-only; other readers may share it.
func bsOpenRead(path string) (*blockstore.Store, error) {
	return blockstore.OpenOrInit(path, &blockstore.Options{ReadOnly: true})
}

// bsWriteJSON prints v as the command's one JSON document.
func bsWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func bsParseCID(s string) (engram.CID, error) {
	return dag.ParseCID(s)
}

func bsCodecName(c engram.CID) string {
	switch c.Codec() {
	case engram.CodecRaw:
		return "raw"
	case engram.CodecDagCBOR:
		return "dag-cbor"
	}
	return fmt.Sprintf("0x%x", c.Codec())
}

func newBlocksPutCmd(path func() string, jsonOut func() bool) *cobra.Command {
	var codec, hash, file string
	cmd := &cobra.Command{
		Use:   "put [--codec raw|dag-cbor] [--hash sha2-256|blake3] [-f FILE|-]",
		Short: "Store a block and print its CID",
		Long: `Store the bytes of FILE (or standard input, with -f - or no -f) as one block
and print its CID. A dag-cbor block must be valid DAG-CBOR; its links
(CBOR tag 42) are what gc and verify follow.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var codecCode, hashCode uint64
			switch codec {
			case "raw":
				codecCode = engram.CodecRaw
			case "dag-cbor":
				codecCode = engram.CodecDagCBOR
			default:
				return engram.Invalid("codec", "%q is not a codec (want raw or dag-cbor)", codec)
			}
			switch hash {
			case "sha2-256":
				hashCode = engram.HashSHA2_256
			case "blake3":
				hashCode = engram.HashBLAKE3
			default:
				return engram.Invalid("hash", "%q is not a hash function (want sha2-256 or blake3)", hash)
			}
			in := cmd.InOrStdin()
			if file != "" && file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			data, err := io.ReadAll(io.LimitReader(in, engram.MaxBlockSize+1))
			if err != nil {
				return fmt.Errorf("read block: %w", err)
			}
			if len(data) > engram.MaxBlockSize {
				return engram.TooLarge("block", len(data), engram.MaxBlockSize)
			}
			c, err := dag.Sum(codecCode, hashCode, data)
			if err != nil {
				return err
			}
			s, err := bsOpen(path())
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Put(cmd.Context(), c, data); err != nil {
				return err
			}
			if jsonOut() {
				return bsWriteJSON(cmd.OutOrStdout(), map[string]any{"cid": c, "codec": codec, "size": len(data)})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), c)
			return err
		},
	}
	cmd.Flags().StringVar(&codec, "codec", "raw", "block format: raw or dag-cbor")
	cmd.Flags().StringVar(&hash, "hash", "sha2-256", "hash function: sha2-256 or blake3")
	cmd.Flags().StringVarP(&file, "file", "f", "-", "file to store; - for standard input")
	return cmd
}

func newBlocksGetCmd(path func() string, jsonOut func() bool) *cobra.Command {
	return &cobra.Command{
		Use:   "get CID",
		Short: "Write a block's bytes to standard output",
		Long: `Write the block's bytes to standard output, after checking they hash to CID.
With -o json, print {"cid", "codec", "size", "data" (base64)}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bsParseCID(args[0])
			if err != nil {
				return err
			}
			s, err := bsOpenRead(path())
			if err != nil {
				return err
			}
			defer s.Close()
			data, err := s.Get(cmd.Context(), c)
			if err != nil {
				return err
			}
			if jsonOut() {
				return bsWriteJSON(cmd.OutOrStdout(), map[string]any{"cid": c, "codec": bsCodecName(c), "size": len(data), "data": data})
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
}

func newBlocksHasCmd(path func() string, jsonOut func() bool) *cobra.Command {
	return &cobra.Command{
		Use:   "has CID",
		Short: "Print true if the block is stored, false if not",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bsParseCID(args[0])
			if err != nil {
				return err
			}
			ok := false
			s, err := bsOpenRead(path())
			switch {
			case errors.Is(err, engram.ErrNotFound): // no store yet: no blocks
			case err != nil:
				return err
			default:
				defer s.Close()
				if ok, err = s.Has(cmd.Context(), c); err != nil {
					return err
				}
			}
			if jsonOut() {
				return bsWriteJSON(cmd.OutOrStdout(), map[string]any{"cid": c, "present": ok})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), ok)
			return err
		},
	}
}

func newBlocksStatCmd(path func() string, jsonOut func() bool) *cobra.Command {
	return &cobra.Command{
		Use:   "stat",
		Short: "Count blocks, bytes, heads, pins and KNN indexes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := bsOpenRead(path())
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Stat(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut() {
				return bsWriteJSON(cmd.OutOrStdout(), st)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(),
				"path         %s\nfile         %d bytes (%d in use; bbolt grows the file ahead of need)\nblocks       %d (%d raw, %d dag-cbor)\nblock bytes  %d\nop heads     %d\npins         %d\nknn indexes  %d\n",
				st.Path, st.FileBytes, st.UsedBytes, st.Blocks, st.RawBlocks, st.DagCBORBlocks, st.BlockBytes, st.Heads, st.Pins, st.KNNIndexes)
			return err
		},
	}
}

func newBlocksVerifyCmd(path func() string, jsonOut func() bool) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Re-hash every block and check heads and pins reach no missing block",
		Long: `Check bbolt's page structure, re-hash every block, decode every DAG-CBOR block,
check every block reachable from the op heads and pins is present, and check
every KNN index's checksum. Exits 1 if anything is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := bsOpenRead(path())
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.Verify(cmd.Context())
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
					fmt.Fprintf(out, "corrupt %s %s: %s\n", e.Kind, e.Key, e.Problem)
				}
				for _, m := range rep.Missing {
					if m.LinkedFrom != nil {
						fmt.Fprintf(out, "missing block %s (linked from %s)\n", m.CID, m.LinkedFrom)
					} else {
						fmt.Fprintf(out, "missing block %s (a head or pin)\n", m.CID)
					}
				}
				for _, p := range rep.Structure {
					fmt.Fprintf(out, "structure: %s\n", p)
				}
				verdict := "ok"
				if !rep.OK() {
					verdict = "FAILED"
				}
				fmt.Fprintf(out, "verified %d blocks (%d bytes), %d op heads, %d pins, %d knn indexes: %s\n",
					rep.Blocks, rep.Bytes, rep.Heads, rep.Pins, rep.KNNIndexes, verdict)
			}
			if !rep.OK() {
				hint := ""
				if len(rep.Structure) > 0 {
					hint = fmt.Sprintf("; copy every intact block to a new file with: engram blocks salvage %s NEW.db", s.Path())
				}
				return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("verify: %d corrupt, %d missing, %d structure problems in %s%s",
					len(rep.Corrupt), len(rep.Missing), len(rep.Structure), s.Path(), hint)}
			}
			return nil
		},
	}
}

func newBlocksGCCmd(path func() string, jsonOut func() bool) *cobra.Command {
	var dryRun bool
	var roots []string
	cmd := &cobra.Command{
		Use:   "gc [--dry-run] [--root CID]...",
		Short: "Delete blocks not reachable from the op heads, pins or --root",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := &blockstore.GCOptions{DryRun: dryRun}
			for _, r := range roots {
				c, err := bsParseCID(r)
				if err != nil {
					return err
				}
				opts.Roots = append(opts.Roots, c)
			}
			open := bsOpen
			if dryRun {
				open = bsOpenRead
			}
			s, err := open(path())
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.GC(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if jsonOut() {
				return bsWriteJSON(cmd.OutOrStdout(), map[string]any{"dry_run": dryRun, "stats": st})
			}
			verb := "swept"
			if dryRun {
				verb = "would sweep"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d roots reach %d blocks (%d bytes, %d missing); %s %d blocks (%d bytes), %d knn indexes\n",
				st.Roots, st.Reachable, st.ReachableBytes, st.Missing, verb, st.Swept, st.SweptBytes, st.KNNSwept)
			return err
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted; delete nothing")
	cmd.Flags().StringArrayVar(&roots, "root", nil, "also keep what this CID reaches (repeatable)")
	return cmd
}

// newHeadsCmd returns "engram heads": list and update the op heads in
// <data-dir>/blocks.db.
func newHeadsCmd(dataDir func() string, jsonOut func() bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "heads",
		Short: "The op heads: the operations that are current",
	}
	path := func() string { return filepath.Join(dataDir(), blocksFile) }
	printHeads := func(cmd *cobra.Command, heads []engram.CID) error {
		if jsonOut() {
			if heads == nil {
				heads = []engram.CID{}
			}
			return bsWriteJSON(cmd.OutOrStdout(), map[string]any{"heads": heads})
		}
		var b strings.Builder
		for _, h := range heads {
			b.WriteString(h.String())
			b.WriteByte('\n')
		}
		_, err := io.WriteString(cmd.OutOrStdout(), b.String())
		return err
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "Print the op heads, one CID a line, sorted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := bsOpenRead(path())
			if errors.Is(err, engram.ErrNotFound) {
				return printHeads(cmd, nil) // no store yet: no heads
			}
			if err != nil {
				return err
			}
			defer s.Close()
			heads, err := s.Current(cmd.Context())
			if err != nil {
				return err
			}
			return printHeads(cmd, heads)
		},
	}

	var add string
	var remove []string
	update := &cobra.Command{
		Use:   "update --add CID [--remove CID]...",
		Short: "Add a head and remove the heads it supersedes, atomically",
		Long: `Add CID to the op heads and remove every --remove CID in one transaction, then
print the heads. The added CID must name a stored block.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if add == "" {
				return engram.Invalid("add", "is required")
			}
			a, err := bsParseCID(add)
			if err != nil {
				return err
			}
			var sup []engram.CID
			for _, r := range remove {
				c, err := bsParseCID(r)
				if err != nil {
					return err
				}
				sup = append(sup, c)
			}
			s, err := bsOpen(path())
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Update(cmd.Context(), a, sup); err != nil {
				return err
			}
			heads, err := s.Current(cmd.Context())
			if err != nil {
				return err
			}
			return printHeads(cmd, heads)
		},
	}
	update.Flags().StringVar(&add, "add", "", "the CID to add (required)")
	update.Flags().StringArrayVar(&remove, "remove", nil, "a CID the new head supersedes (repeatable)")
	cmd.AddCommand(list, update)
	return cmd
}

func newBlocksSalvageCmd(path func() string, jsonOut func() bool) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "salvage [SRC] DST | salvage [SRC] --to DST",
		Short: "Copy every intact block of a damaged blocks file into a new file",
		Long: `Read SRC (default <data-dir>/blocks.db) page by page without trusting its
structure, and copy every block whose bytes still hash to its CID into the new
file DST (which must not exist), with the op heads and pins that name a copied
block and the KNN indexes that pass their checksum. SRC is not changed; stop
any process using it first. Then check DST (engram blocks verify) and move it
into place, keeping SRC until you are satisfied. Blocks deleted earlier may
come back (their pages were not reused yet); engram blocks gc removes them.`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := path()
			switch {
			case to != "" && len(args) <= 1:
				if len(args) == 1 {
					src = args[0]
				}
			case to == "" && len(args) == 2:
				src, to = args[0], args[1]
			case to == "" && len(args) == 1:
				to = args[0]
			default:
				return engram.Invalid("to", "give the new file once: salvage [SRC] DST or salvage [SRC] --to DST")
			}
			var progress func(done, total int64)
			if bar := bsProgressBar(cmd.ErrOrStderr(), jsonOut()); bar != nil {
				defer bar.Finish()
				progress = func(done, total int64) {
					bar.ChangeMax64(total)
					_ = bar.Set64(done)
				}
			}
			rep, err := blockstore.Salvage(cmd.Context(), src, to, progress)
			if err != nil {
				return err
			}
			if jsonOut() {
				return bsWriteJSON(cmd.OutOrStdout(), rep)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "salvaged %d blocks (%d bytes) from %s into %s\n", rep.Blocks, rep.Bytes, rep.Source, rep.Dest)
			fmt.Fprintf(w, "pages read   %d\n", rep.Pages)
			fmt.Fprintf(w, "bad values   %d (stored under a CID, failing it)\n", rep.BadValues)
			fmt.Fprintf(w, "op heads     %d copied, %d dropped (block not recovered)\n", rep.Heads, rep.HeadsDropped)
			fmt.Fprintf(w, "pins         %d copied, %d dropped\n", rep.Pins, rep.PinsDropped)
			fmt.Fprintf(w, "knn indexes  %d copied, %d dropped\n", rep.KNNIndexes, rep.KNNDropped)
			fmt.Fprintf(w, "tables       %s\n", rep.Tree)
			for _, m := range rep.Missing {
				fmt.Fprintf(w, "missing      %s (reachable from a head or pin, not recovered)\n", m)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the new file to write (must not exist)")
	return cmd
}

// bsProgressBar returns a bar on w when it is a terminal and the output is
// text; nil otherwise.
func bsProgressBar(w io.Writer, jsonOut bool) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || jsonOut || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("salvage"),
		progressbar.OptionShowCount(), progressbar.OptionSetItsString("pages"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
}
