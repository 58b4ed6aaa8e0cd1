package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
)

func (a *app) patternCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "pattern",
		Aliases: []string{"patterns"},
		Short:   "Store, read, list and delete learned patterns",
	}
	var file string
	add := &cobra.Command{
		Use:   "add [-f FILE|-]",
		Short: "Store (create or replace) a pattern read as JSON",
		Long: `Store a pattern read as a JSON object. "kind" decides the other fields:
  tool_sequence    tools (required), avg_latency_ms
  decision_point   condition, action (required), outcome_stats
  error_recovery   error_type (required), recovery_steps
  context_pattern  context_features, recommended_approach (required), evidence
Common fields: pattern_id (to replace), domain, language, tags, success_rate,
occurrence_count, effectiveness.

Example:
  echo '{"kind":"tool_sequence","tools":["grep","edit","go test"],"domain":"web"}' |
    engram pattern add`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var p engram.Pattern
			if err := a.readJSON(file, &p); err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.PutPattern(cmd.Context(), a.ns, &p); err != nil {
				return err
			}
			return a.print(&p, func(w io.Writer) { writePatterns(w, []*engram.Pattern{&p}) })
		},
	}
	add.Flags().StringVarP(&file, "file", "f", "-", "JSON file to read, - for standard input")

	get := &cobra.Command{
		Use:   "get ID",
		Short: "Print one pattern",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParsePatternID(args[0]))
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			p, err := s.GetPattern(cmd.Context(), a.ns, id)
			if err != nil {
				return err
			}
			return a.print(p, func(w io.Writer) { writePatterns(w, []*engram.Pattern{p}) })
		},
	}

	var f engram.PatternFilter
	var kind string
	list := &cobra.Command{
		Use:   "list",
		Short: "List patterns, most recently updated first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.Kind = engram.PatternKind(kind)
			if kind != "" && !slices.Contains(engram.PatternKinds, f.Kind) {
				return usagef("--kind %q: want one of %s", kind, joinTypes(engram.PatternKinds))
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			page, err := s.ListPatterns(cmd.Context(), a.ns, f)
			if err != nil {
				return err
			}
			if page.NextCursor != "" {
				fmt.Fprintf(a.stderr, "more patterns: --cursor %s\n", page.NextCursor)
			}
			return a.print(page.Patterns, func(w io.Writer) { writePatterns(w, page.Patterns) })
		},
	}
	list.Flags().StringVar(&f.Domain, "domain", "", "only patterns of this domain")
	list.Flags().StringVar(&kind, "kind", "", "only patterns of this kind ("+joinTypes(engram.PatternKinds)+")")
	list.Flags().StringVar(&f.Tag, "tag", "", "only patterns with this tag")
	list.Flags().IntVar(&f.Limit, "limit", engram.DefaultQueryLimit, fmt.Sprintf("patterns per page (1-%d)", engram.MaxQueryLimit))
	list.Flags().StringVar(&f.Cursor, "cursor", "", "continue from a previous page")

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a pattern",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParsePatternID(args[0]))
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.DeletePattern(cmd.Context(), a.ns, id); err != nil {
				return err
			}
			return a.print(map[string]any{"deleted": id}, func(w io.Writer) { fmt.Fprintf(w, "deleted pattern %s\n", id) })
		},
	}
	cmd.AddCommand(add, get, list, del)
	return cmd
}

func (a *app) heuristicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "heuristic",
		Aliases: []string{"heuristics"},
		Short:   "Store, read, list and delete heuristics (when condition, do action)",
	}
	var file string
	add := &cobra.Command{
		Use:   "add [-f FILE|-]",
		Short: "Store (create or replace) a heuristic read as JSON",
		Long: `Store a heuristic read as a JSON object: condition and action are required;
confidence (0-1), domain and evidence (the ids of the episodes it was learned
from, their success rate and the sample size) are optional.

Example:
  echo '{"condition": "a test is flaky", "action": "run it 50 times under -race",
    "confidence": 0.8, "domain": "testing",
    "evidence": {"episode_ids": ["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"], "success_rate": 0.75, "sample_size": 8}}' |
    engram heuristic add`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var h engram.Heuristic
			if err := a.readJSON(file, &h); err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.PutHeuristic(cmd.Context(), a.ns, &h); err != nil {
				return err
			}
			return a.print(&h, func(w io.Writer) { writeHeuristics(w, []*engram.Heuristic{&h}) })
		},
	}
	add.Flags().StringVarP(&file, "file", "f", "-", "JSON file to read, - for standard input")

	get := &cobra.Command{
		Use:   "get ID",
		Short: "Print one heuristic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParseHeuristicID(args[0]))
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			h, err := s.GetHeuristic(cmd.Context(), a.ns, id)
			if err != nil {
				return err
			}
			return a.print(h, func(w io.Writer) { writeHeuristics(w, []*engram.Heuristic{h}) })
		},
	}

	var f engram.HeuristicFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List heuristics, most recently updated first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			page, err := s.ListHeuristics(cmd.Context(), a.ns, f)
			if err != nil {
				return err
			}
			if page.NextCursor != "" {
				fmt.Fprintf(a.stderr, "more heuristics: --cursor %s\n", page.NextCursor)
			}
			return a.print(page.Heuristics, func(w io.Writer) { writeHeuristics(w, page.Heuristics) })
		},
	}
	list.Flags().StringVar(&f.Domain, "domain", "", "only heuristics of this domain")
	list.Flags().Float64Var(&f.MinConfidence, "min-confidence", 0, "only heuristics at least this confident (0-1)")
	list.Flags().IntVar(&f.Limit, "limit", engram.DefaultQueryLimit, fmt.Sprintf("heuristics per page (1-%d)", engram.MaxQueryLimit))
	list.Flags().StringVar(&f.Cursor, "cursor", "", "continue from a previous page")

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a heuristic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParseHeuristicID(args[0]))
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.DeleteHeuristic(cmd.Context(), a.ns, id); err != nil {
				return err
			}
			return a.print(map[string]any{"deleted": id}, func(w io.Writer) { fmt.Fprintf(w, "deleted heuristic %s\n", id) })
		},
	}
	cmd.AddCommand(add, get, list, del)
	return cmd
}

func (a *app) searchCmd() *cobra.Command {
	var q engram.SearchQuery
	var kinds []string
	cmd := &cobra.Command{
		Use:   "search TEXT...",
		Short: "Keyword search over episodes, steps and patterns (BM25)",
		Long: `Rank episodes (description, tags, outcome, reflection), steps (tool, action,
output) and patterns by keyword relevance. Words are stemmed ("debugging"
matches "debug"); by default a hit has every word, with --any at least one.
Punctuation is ignored: the text is never read as query syntax.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Text = strings.Join(args, " ")
			for _, k := range kinds {
				switch sk := engram.SearchKind(k); sk {
				case engram.SearchEpisode, engram.SearchStep, engram.SearchPattern:
					q.Kinds = append(q.Kinds, sk)
				default:
					return usagef("--kind %q: want episode, step or pattern", k)
				}
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			hits, err := s.Search(cmd.Context(), a.ns, q)
			if err != nil {
				return err
			}
			return a.print(hits, func(w io.Writer) { writeHits(w, hits) })
		},
	}
	cmd.Flags().IntVar(&q.Limit, "limit", engram.DefaultQueryLimit, fmt.Sprintf("most hits to return (1-%d)", engram.MaxQueryLimit))
	cmd.Flags().BoolVar(&q.Any, "any", false, "match any word instead of every word")
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "only hits of these kinds (episode, step, pattern)")
	return cmd
}
