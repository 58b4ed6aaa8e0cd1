package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
)

func (a *app) episodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "episode",
		Aliases: []string{"episodes", "ep"},
		Short:   "Add, read, list, complete and delete episodes",
	}
	cmd.AddCommand(a.episodeAddCmd(), a.episodeGetCmd(), a.episodeListCmd(), a.episodeDeleteCmd(), a.episodeCompleteCmd())
	return cmd
}

func (a *app) episodeAddCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "add [-f FILE|-]",
		Short: "Store an episode read as JSON; prints it with its id",
		Long: `Store one episode, read as a JSON object from FILE or standard input.
Only task_description is required; episode_id, start_time, task_type (other),
context.complexity (moderate) and context.domain (general) are filled in.

Example:
  echo '{"task_type":"debugging","task_description":"Fix the flaky retry test",
         "context":{"language":"go","domain":"web-api"},"tags":["flaky"]}' |
    engram episode add`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ep engram.Episode
			if err := a.readJSON(file, &ep); err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.CreateEpisode(cmd.Context(), a.ns, &ep); err != nil {
				return err
			}
			return a.print(&ep, func(w io.Writer) { writeEpisode(w, &ep) })
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "-", "JSON file to read, - for standard input")
	return cmd
}

func (a *app) episodeGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Print one episode with its steps",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParseEpisodeID(args[0]))
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			ep, err := s.GetEpisode(cmd.Context(), a.ns, id)
			if err != nil {
				return err
			}
			return a.print(ep, func(w io.Writer) { writeEpisode(w, ep) })
		},
	}
}

func (a *app) episodeDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an episode with its steps, tags, embeddings and relationships",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParseEpisodeID(args[0]))
			if err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.DeleteEpisode(cmd.Context(), a.ns, id); err != nil {
				return err
			}
			return a.print(map[string]any{"deleted": id}, func(w io.Writer) { fmt.Fprintf(w, "deleted episode %s\n", id) })
		},
	}
}

func (a *app) episodeCompleteCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "complete ID [-f FILE|-]",
		Short: "Record an episode's outcome, reward and reflection",
		Long: `Complete an open episode. The input is a JSON object:
  {"outcome": {"type": "success", "verdict": "..."},
   "reward": {"total": 0.9, ...}, "reflection": {"insights": ["..."]},
   "end_time": "2026-01-02T15:04:05Z"}
Only outcome is required; end_time defaults to now.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParseEpisodeID(args[0]))
			if err != nil {
				return err
			}
			var c engram.Completion
			if err := a.readJSON(file, &c); err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			ep, err := s.CompleteEpisode(cmd.Context(), a.ns, id, &c)
			if err != nil {
				return err
			}
			return a.print(ep, func(w io.Writer) { writeEpisode(w, ep) })
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "-", "JSON file to read, - for standard input")
	return cmd
}

func (a *app) stepCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "step",
		Aliases: []string{"steps"},
		Short:   "Append steps to open episodes",
	}
	var file string
	add := &cobra.Command{
		Use:   "add EPISODE_ID [-f FILE|-]",
		Short: "Append one step, read as JSON, to an open episode",
		Long: `Append one step to an open episode. The input is a JSON object:
  {"tool": "grep", "action": "find call sites", "parameters": {"q": "retry"},
   "result": {"type": "success", "output": "..."}, "latency_ms": 12}
step_number is optional: the next number is assigned.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := argID(engram.ParseEpisodeID(args[0]))
			if err != nil {
				return err
			}
			var st engram.Step
			if err := a.readJSON(file, &st); err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.AppendStep(cmd.Context(), a.ns, id, &st); err != nil {
				return err
			}
			return a.print(&st, func(w io.Writer) {
				fmt.Fprintf(w, "appended step %d to episode %s: %s: %s\n", st.StepNumber, id, st.Tool, clip(st.Action, 80))
			})
		},
	}
	add.Flags().StringVarP(&file, "file", "f", "-", "JSON file to read, - for standard input")
	cmd.AddCommand(add)
	return cmd
}

func (a *app) episodeListCmd() *cobra.Command {
	var (
		ff  episodeFilterFlags
		f   engram.EpisodeFilter
		all bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List episodes, newest first, with filters",
		Long: `List episodes in the namespace, newest start_time first.

Times (--since, --until) are RFC 3339 ("2026-01-02T15:04:05Z"), a date
("2026-01-02") or an age ("36h", "7d": that long ago). Every filter given must
match. Pages hold --limit episodes (default 100, at most 1000); the cursor of
the next page is printed on standard error; --all follows every page.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ff.fill(&f); err != nil {
				return err
			}
			s, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			var eps []*engram.Episode
			for {
				page, err := s.ListEpisodes(cmd.Context(), a.ns, f)
				if err != nil {
					return err
				}
				eps = append(eps, page.Episodes...)
				if page.NextCursor == "" {
					break
				}
				if !all {
					fmt.Fprintf(a.stderr, "more episodes: --cursor %s\n", page.NextCursor)
					break
				}
				f.Cursor = page.NextCursor
			}
			if eps == nil {
				eps = []*engram.Episode{}
			}
			return a.print(eps, func(w io.Writer) { writeEpisodeList(w, eps) })
		},
	}
	fl := cmd.Flags()
	ff.register(fl, &f, "episodes")
	fl.IntVar(&f.Limit, "limit", engram.DefaultQueryLimit, fmt.Sprintf("episodes per page (1-%d)", engram.MaxQueryLimit))
	fl.StringVar(&f.Cursor, "cursor", "", "continue from a previous page")
	fl.BoolVar(&all, "all", false, "follow every page")
	return cmd
}

func joinTypes[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, "|")
}

// parseWhen reads a time as RFC 3339, a date, or an age before now.
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
			return time.Now().Add(-time.Duration(n * 24 * float64(time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, usagef("%s %q: want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or an age (36h, 7d)", flag, s)
}

func parseFloats(flag, s string, n int, form string) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, usagef("%s %q: want %s", flag, s, form)
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, usagef("%s %q: want %s", flag, s, form)
		}
		out[i] = v
	}
	return out, nil
}
