package backup_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/backup"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/sqlstore"
)

// BenchmarkBackup backs up a store of ENGRAM_BENCH_BACKUP_MB (default 32)
// megabytes into a file:// store with the default chunk sizes, times
// `tar | zstd` of the same file in the same run (its output fsynced, as
// the file:// store fsyncs every chunk), then adds 1% more records and
// reports what the incremental backup uploads. ENGRAM_BENCH_BACKUP_AVG_KB
// sets the average chunk (min avg/2, max 8 avg; 1024 is restic's sizes),
// ENGRAM_BENCH_BACKUP_WORKERS the upload workers, ENGRAM_BENCH_BACKUP_STORE=mem
// backs up into mem:// instead (no storage cost: the chunking, hashing and
// compression alone).
//
//	ENGRAM_BENCH_BACKUP_MB=300 go test -run '^$' -bench BenchmarkBackup -benchtime 1x ./backup/
func BenchmarkBackup(b *testing.B) {
	mb, _ := strconv.Atoi(os.Getenv("ENGRAM_BENCH_BACKUP_MB"))
	if mb == 0 {
		mb = 32
	}
	var opts *backup.Options
	if avg, _ := strconv.Atoi(os.Getenv("ENGRAM_BENCH_BACKUP_AVG_KB")); avg > 0 {
		opts = &backup.Options{Chunks: backup.ChunkSizes{Min: avg << 10 / 2, Avg: avg << 10, Max: avg << 10 * 8}}
	}
	if w, _ := strconv.Atoi(os.Getenv("ENGRAM_BENCH_BACKUP_WORKERS")); w > 0 {
		if opts == nil {
			opts = &backup.Options{}
		}
		opts.Workers = w
	}
	ctx := context.Background()
	dir := b.TempDir()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(dir, "engram.db"), Synchronous: sqlstore.SyncOff})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	n := 0
	for {
		info, err := s.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.FileBytes >= int64(mb)<<20 {
			break
		}
		longEpisodes(b, s, n, 2000)
		n += 2000
	}
	snap := func(name string) string {
		p := filepath.Join(dir, name)
		if err := s.Snapshot(ctx, p); err != nil {
			b.Fatal(err)
		}
		return p
	}
	snap1 := snap("snap1.db")
	fi, _ := os.Stat(snap1)
	size := fi.Size()
	b.ResetTimer()
	for i := range b.N {
		var st engram.BlobStore
		if os.Getenv("ENGRAM_BENCH_BACKUP_STORE") == "mem" {
			st, err = blob.Open(ctx, "mem://", nil)
		} else {
			st, err = blob.OpenFile(filepath.Join(dir, fmt.Sprintf("repo%d", i)), nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		_, s1, err := backup.Create(ctx, st, []backup.Source{{Name: "engram.db", Path: snap1}}, opts)
		if err != nil {
			b.Fatal(err)
		}
		backupSecs := time.Since(t0).Seconds()

		t0 = time.Now()
		tarOut := filepath.Join(dir, fmt.Sprintf("out%d.tar.zst", i))
		cmd := exec.Command("sh", "-c", "tar -cf - -C "+dir+" snap1.db | zstd -q -3 -T0 -o "+tarOut+" && sync "+tarOut)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("tar | zstd: %v %s", err, out)
		}
		tarSecs := time.Since(t0).Seconds()
		tfi, _ := os.Stat(tarOut)

		b.StopTimer()
		longEpisodes(b, s, n+i*n/100, n/100)
		snap2 := snap(fmt.Sprintf("snap2-%d.db", i))
		_, s2, err := backup.Create(ctx, st, []backup.Source{{Name: "engram.db", Path: snap2}}, opts)
		if err != nil {
			b.Fatal(err)
		}
		fi2, _ := os.Stat(snap2)
		b.StartTimer()

		b.ReportMetric(float64(size)/1e6, "store_MB")
		b.ReportMetric(float64(size)/1e6/backupSecs, "backup_MB/s")
		b.ReportMetric(float64(size)/1e6/tarSecs, "tar_zstd_MB/s")
		b.ReportMetric(float64(s1.Uploaded)/1e6, "backup_stored_MB")
		b.ReportMetric(float64(tfi.Size())/1e6, "tar_zstd_MB")
		b.ReportMetric(100*float64(s2.Uploaded)/float64(fi2.Size()), "incr_uploaded_%")
		b.ReportMetric(100*float64(s2.NewBytes)/float64(fi2.Size()), "incr_new_raw_%")
		st.Close()
	}
}
