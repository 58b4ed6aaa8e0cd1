package sqlstore

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriteChoices measures what each choice of the batch-insert path
// gives, one variant at a time against "kept" (what the package does), in
// one run: batches of 1,000 storetest.RandomEpisode with 6 steps
// (synchronous=FULL, search on). Besides episodes/s it reports the CPU
// microseconds per episode, which a loaded machine distorts less.
func BenchmarkWriteChoices(b *testing.B) {
	type variant struct {
		name   string
		ns     engram.Namespace
		ftsDDL func(table string) string
		dsn    func(o Options, reader bool) string
		tune   func()
	}
	kept := writeTuning
	variants := []variant{
		{name: "kept"},
		{name: "single-row-inserts", tune: func() { writeTuning.rowsPerInsert, writeTuning.ftsRowsPerInsert = 1, 1 }},
		{name: "fts-rows-per-insert-1024", tune: func() { writeTuning.ftsRowsPerInsert = 1024 }},
		{name: "no-step-rows", tune: func() { writeTuning.stepRows = false }},
		{name: "temp-store-file", dsn: func(o Options, reader bool) string {
			return strings.Replace(sqliteDSN(o, reader), "temp_store%282%29", "temp_store%281%29", 1)
		}},
		{name: "contentless-fts", ftsDDL: func(table string) string {
			return `CREATE VIRTUAL TABLE IF NOT EXISTS ` + table + ` USING fts5 (body, kind UNINDEXED, ref_id UNINDEXED, step_number UNINDEXED,
				content='', contentless_delete=1, tokenize = 'porter unicode61 remove_diacritics 2')`
		}},
		{name: "namespace-1-byte", ns: "d"},
		{name: "namespace-40-bytes", ns: engram.Namespace(strings.Repeat("tenant", 6) + "-abc")},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			d := *sqliteDialect
			if v.ftsDDL != nil {
				d.ftsCreate = v.ftsDDL
			}
			if v.dsn != nil {
				d.dsn = v.dsn
			}
			writeTuning = kept
			if v.tune != nil {
				v.tune()
			}
			defer func() { writeTuning = kept }()
			ns := v.ns
			if ns == "" {
				ns = "default"
			}
			ctx := context.Background()
			s, err := open(ctx, Options{Path: filepath.Join(b.TempDir(), "engram.db"), Synchronous: SyncFull}, &d)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				batch := make([]*engram.Episode, 1000)
				for j := range batch {
					batch[j] = storetest.RandomEpisode(rng, 6)
				}
				c0 := cpuTime(b)
				b.StartTimer()
				if err := s.CreateEpisodes(ctx, ns, batch); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime(b) - c0
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "episodes/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*1000), "cpu-µs/episode")
		})
	}
}
