package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"

	"github.com/engramhq/engram"
)

// Snapshot writes a consistent copy of the database to a new SQLite file at
// path, while the store (and other processes) may go on writing. It uses
// SQLite's online backup API, copying every page in one step, so the copy
// is one committed state (as of the step's read transaction) and the
// writer is never blocked (WAL mode). Pages keep their numbers: the copy is
// the source file's layout, so two snapshots of a store that changed a
// little differ in the pages that changed, which is what lets backups
// deduplicate. (VACUUM INTO was tried first: it repacks every table and
// index, and 1% more records changed 11% of the pages.)
//
// path must not exist (EINVALID naming "path"). The file is fsynced before
// Snapshot returns. On failure nothing is left at path. The copy does not
// stop when ctx ends once it has started.
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
	err := s.backupTo(ctx, path)
	if err == nil {
		err = snapshotSync(path)
	}
	if err != nil {
		_ = os.Remove(path)
		_ = os.Remove(path + "-journal")
		return fmt.Errorf("sqlstore: snapshot %s to %s: %w", s.opts.Path, path, err)
	}
	return nil
}

type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// backupTo copies the database into a new file with the backup API, from
// one of the reader pool's connections (the copy only reads the source).
func (s *Store) backupTo(ctx context.Context, path string) error {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return sqliteClassify(err, s.opts.Path)
	}
	defer conn.Close()
	var dst strings.Builder
	dst.WriteString("file:")
	for _, c := range []byte(path) {
		switch c {
		case '?', '#', '%':
			fmt.Fprintf(&dst, "%%%02X", c)
		default:
			dst.WriteByte(c)
		}
	}
	return conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return fmt.Errorf("the SQLite driver (%T) has no backup API", dc)
		}
		bk, err := b.NewBackup(dst.String())
		if err != nil {
			return err
		}
		_, err = bk.Step(-1)
		if ferr := bk.Finish(); err == nil {
			err = ferr
		}
		if err != nil {
			return sqliteClassify(err, s.opts.Path)
		}
		return nil
	})
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
