package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
)

// migrateBatch is how many records one import transaction carries.
const migrateBatch = 200

// maxMismatchesNamed bounds how many differing records a report names.
const maxMismatchesNamed = 20

// MigrateReport is what engram db migrate prints.
type MigrateReport struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Copied   int64  `json:"copied"`
	Skipped  int64  `json:"skipped"`  // already on the destination with an equal digest
	Verified int64  `json:"verified"` // records whose digests were compared afterwards
	// Mismatches names the records whose digests differ between the two
	// stores, or that one side lacks (at most maxMismatchesNamed).
	Mismatches []string `json:"mismatches"`
	Differ     int64    `json:"differ"` // records that differ, all of them counted
}

// migrateOptions tune migrate; the zero value copies everything.
type migrateOptions struct {
	progress func(done int64) // records copied or skipped so far
	// afterBatch, if set, runs after each committed import batch with the
	// number of records copied so far (tests interrupt the copy here).
	afterBatch func(copied int64)
}

func (a *app) dbMigrateCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to URL",
		Short: "Copy every record of the durable store into another, resumably, and verify both sides' digests",
		Long: `Copy every record of the durable store (the data directory's SQLite file, or
the one --durable names) into the store --to names: postgres://... to move a
SQLite store onto PostgreSQL, sqlite:PATH to come back. Episodes with their
steps, patterns, heuristics, embeddings and relationships are copied with
their ids and timestamps; blocks are separate (engram blocks), and
idempotency keys are not copied (a retry after the move is a new request).

Resumable: a record already on the destination with an equal digest is
skipped, so a copy that was interrupted can be run again. Afterwards the
digest of every record (SHA-256 of the record as each store returns it) is
compared on both sides; a record that differs, or is missing on either side,
is named and the command exits 1.`,
		Example: `  engram db migrate --to postgres://engram:secret@db.internal:5432/engram
  engram --durable postgres://... db migrate --to sqlite:./engram.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usagef("engram db migrate needs --to (postgres://... or sqlite:PATH)")
			}
			dstFlags := durableFlags{url: to, insecure: a.durable.insecure}
			if err := dstFlags.check(); err != nil {
				return usagef("%s", strings.Replace(err.Error(), "--durable", "--to", 1))
			}
			if !strings.HasPrefix(to, "sqlite:") && !sqlstore.IsPostgresURL(to) {
				return usagef("--to: want postgres://... or sqlite:PATH")
			}
			ctx := cmd.Context()
			src, err := a.openSQL(ctx)
			if err != nil {
				return err
			}
			var o sqlstore.Options
			dstFlags.apply(&o)
			if o.Path != "" && o.Path == src.Path() || o.URL != "" && o.URL == a.durable.url {
				return usagef("--to names the store being copied")
			}
			dst, err := sqlstore.Open(ctx, o)
			if err != nil {
				return err
			}
			defer dst.Close()
			var opts migrateOptions
			if bar := a.progressBar("migrate"); bar != nil {
				if total, err := countAll(ctx, src); err == nil {
					bar.ChangeMax64(total)
				}
				opts.progress = func(done int64) { bar.Set64(done) }
				defer bar.Finish()
			}
			rep, err := migrate(ctx, src, dst, opts)
			if err != nil {
				return err
			}
			if err := a.print(rep, func(w io.Writer) {
				fmt.Fprintf(w, "copied %d records from %s to %s (%d already there)\n", rep.Copied, rep.From, rep.To, rep.Skipped)
				fmt.Fprintf(w, "verified %d records: ", rep.Verified)
				if len(rep.Mismatches) == 0 {
					fmt.Fprintln(w, "every digest equal on both sides")
				} else {
					fmt.Fprintf(w, "%d differ\n", rep.Differ)
				}
				for _, m := range rep.Mismatches {
					fmt.Fprintln(w, "mismatch:", m)
				}
			}); err != nil {
				return err
			}
			if len(rep.Mismatches) > 0 {
				return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("%d records differ between %s and %s (first: %s)", rep.Differ, rep.From, rep.To, rep.Mismatches[0])}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the destination store: postgres://user:password@host:port/db or sqlite:PATH")
	return cmd
}

// countAll is the number of records migrate copies from s.
func countAll(ctx context.Context, s *sqlstore.Store) (int64, error) {
	nss, err := s.Namespaces(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, ns := range nss {
		c, err := s.Counts(ctx, ns)
		if err != nil {
			return 0, err
		}
		n += c.Episodes + c.Patterns + c.Heuristics + c.Embeddings + c.Relationships
	}
	return n, nil
}

// digestOf is a record's digest for comparing stores: SHA-256 of its JSON
// encoding as the store returned it (every field, an episode's steps
// included). Encoding a Go value is deterministic, so two stores holding
// the same record give the same digest.
func digestOf(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:]), nil
}

// record is one record of a store, named as the change feed names it.
type record struct {
	name   string // "episode <id>", "pattern <id>", ...
	digest string
	batch  func(b *sqlstore.ImportBatch) // adds the record to an import batch
}

// kind lists every record of one kind in a namespace, calling fn per
// record in the store's order.
type kind struct {
	name string
	list func(ctx context.Context, s *sqlstore.Store, ns engram.Namespace, fn func(record) error) error
}

// kinds in copy order: a relationship's episodes are copied before it.
var kinds = []kind{
	{"episodes", listEpisodes},
	{"patterns", func(ctx context.Context, s *sqlstore.Store, ns engram.Namespace, fn func(record) error) error {
		f := engram.PatternFilter{Limit: engram.MaxQueryLimit}
		for {
			page, err := s.ListPatterns(ctx, ns, f)
			if err != nil {
				return err
			}
			for _, p := range page.Patterns {
				d, err := digestOf(p)
				if err != nil {
					return err
				}
				if err := fn(record{"pattern " + p.ID.String(), d, func(b *sqlstore.ImportBatch) { b.Patterns = append(b.Patterns, p) }}); err != nil {
					return err
				}
			}
			if page.NextCursor == "" {
				return nil
			}
			f.Cursor = page.NextCursor
		}
	}},
	{"heuristics", func(ctx context.Context, s *sqlstore.Store, ns engram.Namespace, fn func(record) error) error {
		f := engram.HeuristicFilter{Limit: engram.MaxQueryLimit}
		for {
			page, err := s.ListHeuristics(ctx, ns, f)
			if err != nil {
				return err
			}
			for _, h := range page.Heuristics {
				d, err := digestOf(h)
				if err != nil {
					return err
				}
				if err := fn(record{"heuristic " + h.ID.String(), d, func(b *sqlstore.ImportBatch) { b.Heuristics = append(b.Heuristics, h) }}); err != nil {
					return err
				}
			}
			if page.NextCursor == "" {
				return nil
			}
			f.Cursor = page.NextCursor
		}
	}},
	{"embeddings", func(ctx context.Context, s *sqlstore.Store, ns engram.Namespace, fn func(record) error) error {
		f := engram.EmbeddingFilter{Limit: engram.MaxQueryLimit}
		for {
			page, err := s.ListEmbeddings(ctx, ns, f)
			if err != nil {
				return err
			}
			for _, e := range page.Embeddings {
				d, err := digestOf(e)
				if err != nil {
					return err
				}
				if err := fn(record{"embedding " + e.Key().String(), d, func(b *sqlstore.ImportBatch) { b.Embeddings = append(b.Embeddings, e) }}); err != nil {
					return err
				}
			}
			if page.NextCursor == "" {
				return nil
			}
			f.Cursor = page.NextCursor
		}
	}},
	{"relationships", func(ctx context.Context, s *sqlstore.Store, ns engram.Namespace, fn func(record) error) error {
		// By each episode's outgoing relationships: every relationship once.
		return listEpisodes(ctx, s, ns, func(r record) error {
			id, err := engram.ParseEpisodeID(strings.TrimPrefix(r.name, "episode "))
			if err != nil {
				return err
			}
			rels, err := s.ListRelationships(ctx, ns, engram.RelationshipFilter{Episode: id, Direction: engram.Outgoing})
			if err != nil {
				return err
			}
			for i := range rels {
				rel := &rels[i]
				d, err := digestOf(rel)
				if err != nil {
					return err
				}
				if err := fn(record{"relationship " + rel.String(), d, func(b *sqlstore.ImportBatch) { b.Relationships = append(b.Relationships, rel) }}); err != nil {
					return err
				}
			}
			return nil
		})
	}},
}

func listEpisodes(ctx context.Context, s *sqlstore.Store, ns engram.Namespace, fn func(record) error) error {
	f := engram.EpisodeFilter{Limit: engram.MaxQueryLimit}
	for {
		page, err := s.ListEpisodes(ctx, ns, f)
		if err != nil {
			return err
		}
		for _, ep := range page.Episodes {
			d, err := digestOf(ep)
			if err != nil {
				return err
			}
			if err := fn(record{"episode " + ep.ID.String(), d, func(b *sqlstore.ImportBatch) { b.Episodes = append(b.Episodes, ep) }}); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		f.Cursor = page.NextCursor
	}
}

// digests lists the digest of every record of kind k in ns of s, by name.
func digests(ctx context.Context, s *sqlstore.Store, ns engram.Namespace, k kind) (map[string]string, error) {
	out := map[string]string{}
	err := k.list(ctx, s, ns, func(r record) error {
		out[r.name] = r.digest
		return nil
	})
	return out, err
}

// migrate copies every record of src that dst lacks into dst, a batch per
// transaction, then compares every record's digest on both sides. A
// record dst holds already is skipped when its digest is equal and named as
// a mismatch when not (it is never overwritten).
func migrate(ctx context.Context, src, dst *sqlstore.Store, opts migrateOptions) (*MigrateReport, error) {
	rep := &MigrateReport{From: src.Path(), To: dst.Path(), Mismatches: []string{}}
	mismatch := func(format string, args ...any) {
		rep.Differ++
		if len(rep.Mismatches) < maxMismatchesNamed {
			rep.Mismatches = append(rep.Mismatches, fmt.Sprintf(format, args...))
		}
	}
	nss, err := src.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		for _, k := range kinds {
			have, err := digests(ctx, dst, ns, k)
			if err != nil {
				return nil, fmt.Errorf("migrate: list the destination's %s in %s: %w", k.name, ns, err)
			}
			var b sqlstore.ImportBatch
			flush := func() error {
				if b.Len() == 0 {
					return nil
				}
				if err := dst.Import(ctx, ns, &b); err != nil {
					return fmt.Errorf("migrate: copy %d %s of namespace %s: %w", b.Len(), k.name, ns, err)
				}
				rep.Copied += int64(b.Len())
				b = sqlstore.ImportBatch{}
				if opts.afterBatch != nil {
					opts.afterBatch(rep.Copied)
				}
				return ctx.Err()
			}
			err = k.list(ctx, src, ns, func(r record) error {
				switch d, ok := have[r.name]; {
				case ok && d == r.digest:
					rep.Skipped++
				case ok:
					mismatch("%s in namespace %s: on %s with another digest (left as it is)", r.name, ns, dst.Path())
					rep.Skipped++
				default:
					r.batch(&b)
					if b.Len() == migrateBatch {
						if err := flush(); err != nil {
							return err
						}
					}
				}
				if opts.progress != nil {
					opts.progress(rep.Copied + int64(b.Len()) + rep.Skipped)
				}
				return nil
			})
			if err == nil {
				err = flush()
			}
			if err != nil {
				return nil, err
			}
		}
	}
	// Verify: every record of either side, by digest.
	rep.Mismatches, rep.Differ = rep.Mismatches[:0], 0
	dstNSs, err := dst.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	all := slices.Compact(slices.Sorted(slices.Values(append(nss, dstNSs...))))
	for _, ns := range all {
		for _, k := range kinds {
			a, err := digests(ctx, src, ns, k)
			if err != nil {
				return nil, fmt.Errorf("migrate: verify: list %s's %s in %s: %w", src.Path(), k.name, ns, err)
			}
			b, err := digests(ctx, dst, ns, k)
			if err != nil {
				return nil, fmt.Errorf("migrate: verify: list %s's %s in %s: %w", dst.Path(), k.name, ns, err)
			}
			for _, name := range slices.Sorted(maps.Keys(a)) {
				d := a[name]
				rep.Verified++
				switch bd, ok := b[name]; {
				case !ok:
					mismatch("%s in namespace %s: missing on %s", name, ns, dst.Path())
				case bd != d:
					mismatch("%s in namespace %s: digest %.12s on %s, %.12s on %s", name, ns, d, src.Path(), bd, dst.Path())
				}
			}
			for _, name := range slices.Sorted(maps.Keys(b)) {
				if _, ok := a[name]; !ok {
					rep.Verified++
					mismatch("%s in namespace %s: on %s only", name, ns, dst.Path())
				}
			}
		}
	}
	return rep, nil
}
