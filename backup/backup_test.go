package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/backup"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// Small chunks, so that test files of a few MB have hundreds of them.
var testSizes = backup.ChunkSizes{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}

func testOpts() *backup.Options {
	return &backup.Options{Chunks: testSizes, Source: "test", EngramVersion: "test"}
}

// stores returns each kind of blob store the tests run on.
func stores(t *testing.T) map[string]func(t *testing.T) engram.BlobStore {
	return map[string]func(t *testing.T) engram.BlobStore{
		"file": func(t *testing.T) engram.BlobStore {
			s, err := blob.OpenFile(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"mem": func(t *testing.T) engram.BlobStore {
			s, err := blob.Open(context.Background(), "mem://", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e37))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func chunks(t *testing.T, data []byte, sizes backup.ChunkSizes) [][]byte {
	t.Helper()
	c, err := backup.NewChunker(bytes.NewReader(data), sizes)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		ch, err := c.Next()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatal(err)
			}
			return out
		}
		out = append(out, bytes.Clone(ch))
	}
}

// An insertion changes the chunks around it only: the chunker finds the
// same boundaries before and after it.
func TestChunkBoundariesStableUnderInsertion(t *testing.T) {
	data := randomBytes(1, 4<<20)
	before := chunks(t, data, testSizes)
	edited := append(append(append([]byte{}, data[:2<<20]...), []byte("an insertion of some bytes")...), data[2<<20:]...)
	after := chunks(t, edited, testSizes)
	if got := bytes.Join(after, nil); !bytes.Equal(got, edited) {
		t.Fatal("chunks do not add up to the input")
	}
	set := map[[32]byte]bool{}
	for _, c := range before {
		set[sha256.Sum256(c)] = true
	}
	changed := 0
	for _, c := range after {
		if !set[sha256.Sum256(c)] {
			changed++
		}
		if len(c) > testSizes.Max {
			t.Fatalf("chunk of %d bytes; max %d", len(c), testSizes.Max)
		}
	}
	for _, c := range after[:len(after)-1] {
		if len(c) < testSizes.Min {
			t.Fatalf("chunk of %d bytes before the last; min %d", len(c), testSizes.Min)
		}
	}
	if changed == 0 || changed > 2 {
		t.Fatalf("%d of %d chunks changed after one insertion; want 1 or 2", changed, len(after))
	}
	if mean := len(data) / len(before); mean < testSizes.Avg/2 || mean > testSizes.Avg*2 {
		t.Fatalf("mean chunk %d bytes; want near %d", mean, testSizes.Avg)
	}
}

func TestErrChunkSizes(t *testing.T) {
	for name, sz := range map[string]backup.ChunkSizes{
		"avg_chunk": {Min: 4096, Avg: 5000, Max: 1 << 20},
		"max_chunk": {Min: 4096, Avg: 8192, Max: 8192},
		"min_chunk": {Min: 10, Avg: 8192, Max: 1 << 20},
	} {
		_, err := backup.NewChunker(bytes.NewReader(nil), sz)
		var e *engram.Error
		if !errors.As(err, &e) || e.Field != name {
			t.Errorf("%+v: %v; want an error naming %s", sz, err, name)
		}
	}
}

// longEpisodes adds n episodes with descriptions of words drawn from a
// small vocabulary (text compresses as prose does, not as random bytes).
func longEpisodes(b testing.TB, s *sqlstore.Store, first, n int) {
	words := strings.Fields("the a retry loop client server cache flush timeout error request response token agent memory vector index page step reward outcome plan tool call shell build test fix deploy rollback query table row column")
	r := rand.New(rand.NewPCG(uint64(first), 7))
	var batch []*engram.Episode
	for i := first; i < first+n; i++ {
		ep := storetest.SampleEpisode(i)
		var sb strings.Builder
		for sb.Len() < 3000 {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteByte(' ')
		}
		ep.TaskDescription = sb.String()
		batch = append(batch, ep)
		if len(batch) == 500 || i == first+n-1 {
			if err := s.CreateEpisodes(context.Background(), "default", batch); err != nil {
				b.Fatal(err)
			}
			batch = nil
		}
	}
}

// fixture is one SQLite store of 1,000 long episodes, built once per test
// binary (inserting them is most of these tests' time, under -race above
// all) and copied into each test that uses it.
var fixture struct {
	once sync.Once
	dir  string
	err  error
}

const fixtureEpisodes = 1000

// fixtureCopy returns the path of a private copy of the fixture store.
func fixtureCopy(t *testing.T) string {
	t.Helper()
	path := filepath.Join(fixture.dir, "engram.db")
	fixture.once.Do(func() {
		s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path, Synchronous: sqlstore.SyncOff})
		if err != nil {
			fixture.err = err
			return
		}
		longEpisodes(t, s, 0, fixtureEpisodes)
		fixture.err = s.Close()
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	dst := filepath.Join(t.TempDir(), "engram.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func openSQL(t *testing.T, path string, readOnly bool) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path, Synchronous: sqlstore.SyncOff, ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// snapshot takes a consistent snapshot of s into a new file.
func snapshot(t *testing.T, s *sqlstore.Store) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "engram.db")
	if err := s.Snapshot(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// tableRows reads every row of every table of a SQLite file (digest columns
// included), each table's rows sorted, through a plain database/sql handle.
func tableRows(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, tb := range tables {
		r, err := db.Query(`SELECT * FROM "` + tb + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[tb] = append(out[tb], fmt.Sprintf("%q", vals))
		}
		r.Close()
		sort.Strings(out[tb])
	}
	return out
}

// A backup restored into a fresh directory is a store with the source's
// records, digests and all: every row of every table is equal, sqlstore's
// check (which re-hashes every record against its digest) is clean, and
// every episode reads back equal through sqlstore.
func TestRestoreYieldsTheSourceRecords(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			srcPath := fixtureCopy(t)
			src := openSQL(t, srcPath, false)
			other := randomBytes(2, 300<<10)
			otherPath := filepath.Join(t.TempDir(), "blocks.db")
			if err := os.WriteFile(otherPath, other, 0o600); err != nil {
				t.Fatal(err)
			}
			m, stats, err := backup.Create(ctx, st, []backup.Source{{Name: "engram.db", Path: snapshot(t, src)}, {Name: "blocks.db", Path: otherPath}}, testOpts())
			if err != nil {
				t.Fatal(err)
			}
			if stats.Files != 2 || stats.NewChunks == 0 || stats.Bytes != m.Size() {
				t.Fatalf("stats %+v for a backup of %d bytes", stats, m.Size())
			}
			dir := filepath.Join(t.TempDir(), "restored")
			n, err := backup.Restore(ctx, st, m.ID, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n != m.Size() {
				t.Fatalf("restored %d bytes of %d", n, m.Size())
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "blocks.db")); !bytes.Equal(got, other) {
				t.Fatal("blocks.db restored differs")
			}
			want, got := tableRows(t, srcPath), tableRows(t, filepath.Join(dir, "engram.db"))
			if len(want["episodes"]) != fixtureEpisodes {
				t.Fatalf("source has %d episode rows", len(want["episodes"]))
			}
			for tb, rows := range want {
				if strings.Join(rows, "\n") != strings.Join(got[tb], "\n") {
					t.Errorf("table %s: %d rows in the source, %d restored, or they differ", tb, len(rows), len(got[tb]))
				}
			}
			if len(got) != len(want) {
				t.Errorf("restored %d tables; source has %d", len(got), len(want))
			}
			restored := openSQL(t, filepath.Join(dir, "engram.db"), false)
			if problems, err := restored.Check(ctx); err != nil || len(problems) > 0 {
				t.Fatalf("check of the restored store: %v %v", problems, err)
			}
			page, err := src.ListEpisodes(ctx, "default", engram.EpisodeFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, ep := range page.Episodes {
				r, err := restored.GetEpisode(ctx, "default", ep.ID)
				if err != nil {
					t.Fatal(err)
				}
				storetest.Equal(t, "restored episode", r, ep)
			}
		})
	}
}

// After 1% more records, the next backup uploads at most 3% of the bytes it
// backs up: the rest are chunks the store has.
func TestIncrementalBackupUploadsLittle(t *testing.T) {
	ctx := context.Background()
	st := stores(t)["file"](t)
	src := openSQL(t, fixtureCopy(t), false)
	m1, s1, err := backup.Create(ctx, st, []backup.Source{{Name: "engram.db", Path: snapshot(t, src)}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	longEpisodes(t, src, fixtureEpisodes, fixtureEpisodes/100)
	m2, s2, err := backup.Create(ctx, st, []backup.Source{{Name: "engram.db", Path: snapshot(t, src)}}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first: %d bytes, uploaded %d; second: %d bytes, %d new in %d chunks, uploaded %d (%.2f%%)",
		m1.Size(), s1.Uploaded, m2.Size(), s2.NewBytes, s2.NewChunks, s2.Uploaded, 100*float64(s2.Uploaded)/float64(m2.Size()))
	if m2.Size() <= m1.Size() {
		t.Fatalf("second snapshot %d bytes, first %d: the records were not added", m2.Size(), m1.Size())
	}
	if s2.NewChunks == 0 || s2.NewChunks >= s2.Chunks/4 {
		t.Fatalf("incremental backup stored %d new chunks of %d", s2.NewChunks, s2.Chunks)
	}
	// The bytes sent to the store (compressed chunks and the manifest)
	// against the bytes backed up. Uncompressed, the new chunks are about
	// 7%: the pages SQLite changed are 3.3% of the file (appended records
	// and the index pages they touch), spread over many chunks.
	if s2.Uploaded*100 > m2.Size()*3 {
		t.Fatalf("incremental backup uploaded %d bytes of %d (%.1f%%); want <= 3%%", s2.Uploaded, m2.Size(), 100*float64(s2.Uploaded)/float64(m2.Size()))
	}
}
