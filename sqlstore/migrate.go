package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/engramhq/engram"
)

// migration is one forward-only schema step, from a file NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3, ... without gaps", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest schema this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations(sqliteDialect.migrations)
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate applies every migration newer than the database's version, each in
// its own transaction with its row in schema_migrations. A database whose
// version is newer than this binary's is refused: it was written by a newer
// engram and this one could misread it.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.d.migrations)
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	if s.readOnly != "" {
		applied, err := s.appliedVersion(ctx)
		if err != nil {
			return err
		}
		if applied != len(ms) {
			return &engram.Error{Code: engram.EUNAVAILABLE, Field: "schema_version", Message: fmt.Sprintf(
				"%s; its schema version is %d and this engram needs %d, which it cannot migrate to without writing", s.readOnly, applied, len(ms))}
		}
		return nil
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`
	if s.d.lockWrites != "" {
		// Several nodes may start at once: create it under the write lock.
		if err := s.write(ctx, "open "+s.opts.Path, func(t *tx) error {
			t.migrating = true
			_, err := t.tx.ExecContext(ctx, create)
			return err
		}); err != nil {
			return err
		}
	} else if _, err := s.w.ExecContext(ctx, create); err != nil {
		return s.wrap("open "+s.opts.Path, err)
	}
	for {
		applied, err := s.appliedVersion(ctx)
		if err != nil {
			return err
		}
		if applied > len(ms) {
			return &engram.Error{Code: engram.EINVALID, Field: "schema_version",
				Message: fmt.Sprintf("database %s has schema version %d, newer than this engram knows (%d); use a newer engram", s.opts.Path, applied, len(ms))}
		}
		if applied == len(ms) {
			return nil
		}
		m := ms[applied]
		err = s.write(ctx, "migrate to "+m.name, func(t *tx) error {
			t.migrating = true
			// Another process may have applied it since we looked.
			var v int
			if err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
				return err
			}
			if v >= m.version {
				return nil
			}
			if _, err := t.tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if step := s.d.migrationSteps[m.name]; step != nil {
				if err := step(t); err != nil {
					return err
				}
			}
			_, err := t.tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, t.now.UnixNano())
			return err
		})
		if err != nil {
			return err
		}
	}
}

func (s *Store) appliedVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, s.wrap("read schema version", err)
	}
	return v, nil
}

// PostgresSchemaVersion is the newest PostgreSQL schema this binary knows.
func PostgresSchemaVersion() int {
	ms, err := loadMigrations(postgresDialect.migrations)
	if err != nil {
		return 0
	}
	return len(ms)
}
