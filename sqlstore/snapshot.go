package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/engramhq/engram"
)

// Snapshot writes a consistent copy of the database to a new SQLite file at
// path, while the store (and other processes) may go on writing: SQLite's
// VACUUM INTO, run in one read transaction on a reader connection, so it
// sees one committed state and never blocks the writer. The copy is compact
// (free pages dropped) and holds every committed row with its digest as of
// the transaction's start. path must not exist (EINVALID naming "path");
// the file is fsynced before Snapshot returns. On failure nothing is left
// at path.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	if s.d.driver != "sqlite" {
		return engram.Invalid("path", "snapshots to a file are SQLite's; this store is %s", s.d.driver)
	}
	if path == "" {
		return engram.Invalid("path", "is required")
	}
	if _, err := os.Lstat(path); err == nil {
		return engram.Invalid("path", "%s already exists", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sqlstore: snapshot to %s: %w", path, err)
	}
	// The reader pool's connections are query_only, which refuses VACUUM
	// INTO, so the snapshot has a connection of its own: a reader's without
	// that pragma (read-only stores keep mode=ro). It writes only to path.
	dsn := strings.Replace(s.d.dsn(s.opts, true), "&_pragma=query_only%281%29", "", 1)
	db, err := sql.Open(s.d.driver, dsn)
	if err != nil {
		return fmt.Errorf("sqlstore: snapshot %s: %w", s.opts.Path, err)
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", path)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("sqlstore: snapshot %s to %s: %w", s.opts.Path, path, sqliteClassify(err, s.opts.Path))
	}
	if err := snapshotSync(path); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("sqlstore: snapshot to %s: %w", path, err)
	}
	return nil
}

// snapshotSync fsyncs the file at path and the directory holding it.
func snapshotSync(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
