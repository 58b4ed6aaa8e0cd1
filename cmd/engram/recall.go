package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
)

func (a *app) recallCmd() *cobra.Command {
	var (
		q          engram.RecallQuery
		ff         episodeFilterFlags
		vectorFile string
		halfLife   time.Duration
		itemTypes  []string
	)
	cmd := &cobra.Command{
		Use:   "recall [TEXT...]",
		Short: "Recall the records most like a text and/or a vector, filtered, favouring recent ones",
		Long: `Recall episodes (or, with --item-type, patterns and heuristics) by any of:
the words of --text (or the arguments), ranked by BM25; a query vector from
--vector-file (a JSON array of numbers, or numbers separated by commas or
white space; "-" reads standard input), compared with the stored embeddings
of --model; filters as "episode list" takes them; and with --half-life a
recency signal. The signals are fused by reciprocal rank fusion (--fusion
rrf, k=60) or weighted scores (--fusion weighted). Each hit prints its fused
score and every signal's rank and score. Works with --server too.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if q.Text != "" {
					return usagef("give the text as --text or as arguments, not both")
				}
				q.Text = strings.Join(args, " ")
			}
			if vectorFile != "" {
				v, err := readVector(vectorFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				q.Vector = v
			}
			if q.Text == "" && len(q.Vector) == 0 {
				return usagef("recall needs --text (or words as arguments), --vector-file, or both")
			}
			for _, t := range itemTypes {
				q.ItemTypes = append(q.ItemTypes, engram.ItemType(t))
			}
			if err := ff.fill(&q.Filter); err != nil {
				return err
			}
			if halfLife < 0 {
				return usagef("--half-life %v: must be positive", halfLife)
			}
			q.HalfLife = halfLife
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			rc, ok := s.(engram.Recaller)
			if !ok {
				return fmt.Errorf("engram: this store cannot recall")
			}
			res, err := rc.Recall(cmd.Context(), a.ns, q)
			if err != nil {
				return err
			}
			return a.print(res, func(w io.Writer) { writeRecall(w, res) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Text, "text", "", "words to rank by keyword relevance (BM25; any word may match)")
	fl.StringVar(&vectorFile, "vector-file", "", `a query vector: a JSON array or numbers separated by commas or spaces ("-": standard input)`)
	fl.StringVar(&q.Model, "model", "", "the embedding model the vector belongs to (default: default)")
	fl.IntVar(&q.Limit, "limit", engram.DefaultRecallLimit, fmt.Sprintf("most hits (1-%d)", engram.MaxRecallLimit))
	fl.StringSliceVar(&itemTypes, "item-type", nil, "kinds of record to recall: episode (default), pattern, heuristic")
	ff.register(fl, &q.Filter, "records")
	fl.DurationVar(&halfLife, "half-life", 0, "add a recency signal with this half-life (72h); 0: none")
	fl.StringVar(&q.Fusion, "fusion", engram.FusionRRF, "how signals combine: rrf or weighted")
	return cmd
}

// readVector reads a vector as a JSON array or as numbers separated by
// commas or white space.
func readVector(path string, stdin io.Reader) ([]float32, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, usagef("--vector-file: %v", err)
	}
	s := strings.TrimSpace(string(b))
	var v []float32
	if strings.HasPrefix(s, "[") {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, usagef("--vector-file %s: not a JSON array of numbers: %v", path, err)
		}
		return v, nil
	}
	for i, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		x, err := strconv.ParseFloat(f, 32)
		if err != nil {
			return nil, usagef("--vector-file %s: number %d, %q, is not a number", path, i, f)
		}
		v = append(v, float32(x))
	}
	if len(v) == 0 {
		return nil, usagef("--vector-file %s holds no numbers", path)
	}
	return v, nil
}

func writeRecall(w io.Writer, res *engram.RecallResult) {
	if len(res.Hits) == 0 {
		fmt.Fprintln(w, "no hits")
	}
	for _, h := range res.Hits {
		what := ""
		switch {
		case h.Episode != nil:
			what = clip(h.Episode.TaskDescription, 60)
		case h.Pattern != nil:
			what = patternSummary(h.Pattern)
		case h.Heuristic != nil:
			what = clip(h.Heuristic.Condition+" -> "+h.Heuristic.Action, 60)
		}
		var sig []string
		for _, s := range []struct {
			name string
			v    *engram.SignalScore
		}{{"vector", h.Signals.Vector}, {"text", h.Signals.Text}, {"recency", h.Signals.Recency}} {
			if s.v != nil {
				sig = append(sig, fmt.Sprintf("%s #%d %s", s.name, s.v.Rank, formatScore(s.v.Score)))
			}
		}
		fmt.Fprintf(w, "%-9s %s  %s  %s  (%s)\n", h.ItemType, h.ItemID, formatScore(h.Score), what, strings.Join(sig, ", "))
	}
	if res.Stale {
		fmt.Fprintln(w, "(stale: some tier may be behind the durable store)")
	}
}
