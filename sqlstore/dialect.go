package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/engramhq/engram"
)

// dialect is everything that differs between SQL databases. Queries elsewhere
// in the package are written once, with ? placeholders, in the SQL that
// SQLite and PostgreSQL share; rebind adapts the placeholders.
type dialect struct {
	name       string
	driver     string
	migrations fs.FS // NNNN_name.sql files, applied in order
	// migrationSteps are Go steps run after a migration's SQL, in its
	// transaction, by migration name (data changes SQL cannot express).
	migrationSteps map[string]func(t *tx) error
	// dsn builds the connection string for the writer or a reader.
	dsn func(o Options, reader bool) string
	// rebind rewrites ? placeholders into the dialect's form.
	rebind func(query string) string
	// classify turns a driver error into an *engram.Error where the driver
	// says what happened (constraint, busy, read-only, I/O, corrupt).
	classify func(err error, path string) error
	// ftsSearch returns (kind, ref_id, step_number, score, snippet) rows of
	// one namespace's search table, best first (score, then rowid), top-k
	// first: an inner query ranks the matches and keeps the best window
	// rows; only those are read for their kind, ref and snippet. Its
	// arguments are the MATCH expression, inner's kinds, the window,
	// outer's kinds, the limit and the MATCH expression again (without
	// ftsKindLookup: the MATCH expression, inner's kinds and the limit). A
	// kind filter is "" or " AND kind IN (?, ...)"; inner's filters before
	// ranking, outer's drops rows of the window.
	ftsSearch func(table, innerKinds, outerKinds string) string
	// ftsKindLookup says reading a search row's kind costs a lookup per row
	// (SQLite: an UNINDEXED FTS5 column is read from the content table), so
	// Search first ranks a window of matches of every kind and filters it,
	// and filters before ranking only when the window holds too few.
	ftsKindLookup bool
	// ftsCreate creates a namespace's search table if it does not exist.
	ftsCreate func(table string) string
	ftsQuery  func(words []string, any bool) string
	// integrity lists the statements `db check` runs; each returns rows of
	// problems, one text column, or the single row "ok".
	integrity []string

	// openDB opens the writer (reader false) or the reader pool; nil:
	// sql.Open(driver, dsn(o, reader)).
	openDB func(o Options, reader bool) (*sql.DB, error)
	// readTx are the options of a read transaction: every query in it must
	// see one snapshot.
	readTx *sql.TxOptions
	// lockWrites, if set, runs first in every write transaction; it must
	// serialise writers until commit (SQLite's write lock does it by itself).
	lockWrites string
	// greatest is the scalar maximum of two values (MAX / GREATEST).
	greatest string
	// seqHigh is an expression for the highest change seq ever committed
	// (or handed to the running transaction).
	seqHigh string
	// tableExists counts the tables named ?; tableList lists the names of
	// the search tables.
	tableExists, tableList string
	// durability reports the commit durability in force on the writer.
	durability func(ctx context.Context, s *Store) (string, error)
	// size is the bytes the database takes.
	size func(ctx context.Context, s *Store) int64
	// notify, if set, runs in every write transaction that appended to the
	// change feed, just before its commit (see Store.Listen).
	notify string
	// textOut undoes what the driver did to text going in (nil: nothing).
	textOut func(string) string
	// commitFailed classifies an error of COMMIT itself; nil: classify.
	commitFailed func(err error, where string) error
	// duplicateKey says whether err is an INSERT refused for a duplicate
	// primary or unique key.
	duplicateKey func(err error) bool
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

var sqliteDialect = &dialect{
	name:       "sqlite",
	driver:     "sqlite",
	migrations: mustSub(sqliteMigrations, "migrations/sqlite"),
	migrationSteps: map[string]func(t *tx) error{
		"0002_record_digests":       fillDigests,
		"0004_search_per_namespace": splitSearch,
		"0005_episode_documents":    episodeDocuments,
	},
	dsn:      sqliteDSN,
	rebind:   func(q string) string { return q },
	classify: sqliteClassify,
	ftsSearch: func(table, innerKinds, outerKinds string) string {
		// The score is the inner query's bm25: the outer MATCH is there for
		// snippet() alone, which reads one row's positions and text. CROSS
		// JOIN keeps top the outer loop, so FTS5 gets the MATCH and rowid =
		// top.id together and reads one row per hit (a plain JOIN let the
		// planner scan every match of f instead). outerKinds reads kind
		// (FTS5 stores column 1, kind, as c1 of the table's _content
		// shadow table, id = rowid) with a plain rowid lookup, so a row of
		// the window costs no FTS5 cursor of its own.
		return `SELECT f.kind, f.ref_id, f.step_number, -top.r AS score, snippet(f.` + table + `, 0, '[', ']', '...', 16)
		   FROM (SELECT w.id, w.r
		           FROM (SELECT rowid AS id, bm25(` + table + `) AS r FROM ` + table + `
		                  WHERE ` + table + ` MATCH ?` + innerKinds + ` ORDER BY r, rowid LIMIT ?) AS w
		           CROSS JOIN ` + table + `_content AS c ON c.id = w.id
		          WHERE 1 = 1` + strings.ReplaceAll(outerKinds, "kind", "c.c1") + `
		          ORDER BY w.r, w.id LIMIT ?) AS top
		   CROSS JOIN ` + table + ` AS f ON f.rowid = top.id
		  WHERE f.` + table + ` MATCH ?
		  ORDER BY top.r, top.id`
	},
	ftsKindLookup: true,
	ftsCreate: func(table string) string {
		return `CREATE VIRTUAL TABLE IF NOT EXISTS ` + table + ` USING fts5 (body, kind UNINDEXED, ref_id UNINDEXED, step_number UNINDEXED,
			tokenize = 'porter unicode61 remove_diacritics 2')`
	},
	ftsQuery: func(words []string, any bool) string {
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
		}
		if any {
			return strings.Join(quoted, " OR ")
		}
		return strings.Join(quoted, " AND ")
	},
	integrity: []string{
		`PRAGMA integrity_check`,
		`PRAGMA foreign_key_check`,
	},
	readTx:      &sql.TxOptions{ReadOnly: true},
	greatest:    "MAX",
	seqHigh:     `(SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'changes')`,
	tableExists: `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`,
	tableList:   `SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'search\_fts\_%' ESCAPE '\'`,
	durability:  sqliteSynchronous,
	duplicateKey: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE)
	},
	size: func(_ context.Context, s *Store) int64 {
		var n int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(s.opts.Path + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n
	},
}

// open opens the writer (reader false) or the reader pool.
func (d *dialect) open(o Options, reader bool) (*sql.DB, error) {
	if d.openDB != nil {
		return d.openDB(o, reader)
	}
	return sql.Open(d.driver, d.dsn(o, reader))
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embed pattern above guarantees dir exists
	}
	return sub
}

// sqliteDSN builds a file: URI. The path is escaped so that '?', '#' and '%'
// in a directory name cannot be read as URI syntax.
func sqliteDSN(o Options, reader bool) string {
	var p strings.Builder
	for _, c := range []byte(o.Path) {
		switch c {
		case '?', '#', '%':
			fmt.Fprintf(&p, "%%%02X", c)
		default:
			p.WriteByte(c)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if reader || o.ReadOnly {
		q.Add("_pragma", "query_only(1)")
		if o.ReadOnly {
			q.Set("mode", "ro")
		}
		if o.immutable {
			q.Set("immutable", "1")
		}
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+strings.ToUpper(string(o.Synchronous))+")")
		// Statement and savepoint journals in memory rather than a
		// temporary file: they are never needed after a crash. Writing them
		// was an eighth of a batch insert's CPU (BENCHMARKS.md, "One
		// document per record"), and group commit runs each write in a
		// savepoint whose sub-journal is then emptied at each release
		// instead of growing in a temporary file.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + p.String() + "?" + q.Encode()
}

// sqliteClassify maps SQLite's extended result codes to engram's error
// codes. path is the database file, named in the messages a user acts on.
func sqliteClassify(err error, path string) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_IOERR_FSYNC, sqlite3.SQLITE_IOERR_DIR_FSYNC:
		// The commit's pages were handed to the file system but not
		// confirmed on disk: after a crash they may or may not be there (SQLite
		// replays whatever WAL frames survived). Never report that as "not
		// written". A failed write(2) (SQLITE_IOERR_WRITE) is different: the
		// commit frame goes last, so without it recovery finds no commit.
		return &engram.Error{Code: engram.EUNKNOWN, Message: fmt.Sprintf(
			"outcome unknown: syncing %s to disk failed after the commit was written; retry with the same idempotency key", path), Err: err}
	case sqlite3.SQLITE_READONLY_DIRECTORY, sqlite3.SQLITE_READONLY_CANTINIT, sqlite3.SQLITE_READONLY_CANTLOCK:
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf(
			"database %s is read-only here: its directory is not writable", path), Err: err}
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CONSTRAINT:
		return &engram.Error{Code: engram.ECONFLICT, Message: "constraint violated", Err: err}
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: "database is busy (another writer holds the lock)", Err: err}
	case sqlite3.SQLITE_FULL:
		// SQLite's unix VFS reports a write's ENOSPC as SQLITE_FULL. The
		// transaction rolled back; reads go on, and the next write succeeds
		// once there is space again.
		return &engram.Error{Code: engram.ENOSPACE, Message: fmt.Sprintf(
			"the file system holding %s is full; reads keep working, writes resume once space is freed", path), Err: err}
	case sqlite3.SQLITE_READONLY:
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("database %s is read-only here", path), Err: err}
	case sqlite3.SQLITE_CANTOPEN:
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("cannot open database %s%s", path, writableHint(path)), Err: err}
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM, sqlite3.SQLITE_NOLFS, sqlite3.SQLITE_PROTOCOL:
		return &engram.Error{Code: engram.EUNAVAILABLE, Message: fmt.Sprintf("database %s unavailable", path), Err: err}
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return &engram.Error{Code: engram.ECORRUPT, Message: fmt.Sprintf("database file %s is corrupt", path), Err: err}
	case sqlite3.SQLITE_TOOBIG:
		return &engram.Error{Code: engram.ETOOLARGE, Message: "value too large for the database", Err: err}
	}
	return err
}
