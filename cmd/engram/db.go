package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
)

func (a *app) dbCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Inspect and check the durable store",
	}
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Rows per table, episodes per namespace, file size, schema version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openSQL(cmd.Context())
			if err != nil {
				return err
			}
			info, err := s.Info(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(info, func(w io.Writer) {
				fmt.Fprintf(w, "database        %s (%s)\n", info.Path, info.Dialect)
				fmt.Fprintf(w, "size            %s\n", humanBytes(info.FileBytes))
				fmt.Fprintf(w, "schema version  %d\n", info.SchemaVersion)
				fmt.Fprintf(w, "synchronous     %s\n", info.Synchronous)
				if info.ReadOnly != "" {
					fmt.Fprintf(w, "read-only       %s\n", info.ReadOnly)
				}
				fmt.Fprintf(w, "change feed     %d\n", info.LastSeq)
				names := make([]string, 0, len(info.Tables))
				for t := range info.Tables {
					names = append(names, t)
				}
				sort.Strings(names)
				fmt.Fprintln(w, "rows:")
				for _, t := range names {
					fmt.Fprintf(w, "  %-22s %d\n", t, info.Tables[t])
				}
				if len(info.Namespaces) > 0 {
					fmt.Fprintln(w, "episodes per namespace:")
					nss := make([]string, 0, len(info.Namespaces))
					for ns := range info.Namespaces {
						nss = append(nss, string(ns))
					}
					sort.Strings(nss)
					for _, ns := range nss {
						fmt.Fprintf(w, "  %-22s %d\n", ns, info.Namespaces[engram.Namespace(ns)])
					}
				}
			})
		},
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Run the database's integrity checks and engram's consistency checks",
		Long: `Check the durable store: SQLite's integrity_check and foreign_key_check, and
engram's own invariants (step counters match steps, every search row points at a
record). Exits 1 when a problem is found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openSQL(cmd.Context())
			if err != nil {
				return err
			}
			problems, err := s.Check(cmd.Context())
			if err != nil {
				return err
			}
			if problems == nil {
				problems = []string{}
			}
			if err := a.print(map[string]any{"ok": len(problems) == 0, "problems": problems}, func(w io.Writer) {
				if len(problems) == 0 {
					fmt.Fprintln(w, "ok: no problems found")
				}
				for _, p := range problems {
					fmt.Fprintln(w, "problem:", p)
				}
			}); err != nil {
				return err
			}
			if len(problems) > 0 {
				return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("%d problems found", len(problems))}
			}
			return nil
		},
	}
	cmd.AddCommand(stats, check, a.dbMigrateCmd())
	return cmd
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// checkSQLiteFlags rejects --sqlite-* values the store would refuse, as
// usage errors naming the flag.
func checkSQLiteFlags(a *app) error {
	switch sqlstore.Synchronous(a.synchronous) {
	case sqlstore.SyncFull, sqlstore.SyncNormal, sqlstore.SyncOff:
	default:
		return usagef("--sqlite-synchronous %q: want full, normal or off", a.synchronous)
	}
	return nil
}
