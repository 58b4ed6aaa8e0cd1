package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/latency"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// The benchmarks use real files with the default durability
// (synchronous=FULL) unless the name says otherwise.

func benchStore(b *testing.B, sync sqlstore.Synchronous) *sqlstore.Store {
	b.Helper()
	return openTemp(b, sqlstore.Options{Synchronous: sync})
}

// benchEngines are the stores the write benchmarks run on: SQLite at each
// durability, and PostgreSQL (the test server, fsync on).
var benchEngines = []struct {
	name string
	open func(b *testing.B) *sqlstore.Store
}{
	{string(sqlstore.SyncFull), func(b *testing.B) *sqlstore.Store { return benchStore(b, sqlstore.SyncFull) }},
	{string(sqlstore.SyncNormal), func(b *testing.B) *sqlstore.Store { return benchStore(b, sqlstore.SyncNormal) }},
	{"postgres", func(b *testing.B) *sqlstore.Store { return openPostgres(b, sqlstore.Options{}) }},
}

func BenchmarkCreateEpisode(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine.name, func(b *testing.B) {
			s := engine.open(b)
			ctx := context.Background()
			var rec latency.Recorder
			l := rec.Local()
			rec.Start(b)
			for i := 0; i < b.N; i++ {
				ep := storetest.SampleEpisode(i)
				l.Time(func() {
					if err := s.CreateEpisode(ctx, "default", ep); err != nil {
						b.Fatal(err)
					}
				})
			}
			l.Flush()
			rec.Report(b, "", b.N)
		})
	}
}

// BenchmarkCreateEpisodesBatch1000 stores batches of 1,000 episodes of three
// shapes: "rich" is storetest.SampleEpisode (2 steps, 4 tags, 2 metadata
// entries, a location: about 1.6 KB of JSON and 3 search rows); "rich6" is
// storetest.RandomEpisode with 6 steps (every field set, about 3.5 KB of
// JSON, 7 search rows); "plain" is a 2 KB task description with one tag and
// no steps.
func BenchmarkCreateEpisodesBatch1000(b *testing.B) {
	desc := strings.Repeat("refactor the retry loop of the http client; ", 45)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, shape := range []struct {
		name string
		make func(i int) *engram.Episode
	}{
		{"rich", storetest.SampleEpisode},
		{"rich6", func(int) *engram.Episode { return storetest.RandomEpisode(rng, 6) }},
		{"plain", func(i int) *engram.Episode {
			return &engram.Episode{TaskType: engram.TaskRefactoring, TaskDescription: desc, Tags: []string{"http"}}
		}},
	} {
		for _, engine := range []string{"", "postgres-"} {
			b.Run(engine+shape.name, func(b *testing.B) {
				var s *sqlstore.Store
				if engine == "" {
					s = benchStore(b, sqlstore.SyncFull)
				} else {
					s = openPostgres(b, sqlstore.Options{})
				}
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					batch := make([]*engram.Episode, 1000)
					for j := range batch {
						batch[j] = shape.make(j)
					}
					b.StartTimer()
					if err := s.CreateEpisodes(ctx, "default", batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "episodes/s")
			})
		}
	}
}

// seeded returns a store holding n sample episodes and their ids.
func seeded(b *testing.B, n int) (*sqlstore.Store, []engram.EpisodeID) {
	b.Helper()
	s := benchStore(b, sqlstore.SyncNormal)
	ctx := context.Background()
	var ids []engram.EpisodeID
	for i := 0; i < n; i += 1000 {
		batch := make([]*engram.Episode, min(1000, n-i))
		for j := range batch {
			batch[j] = storetest.SampleEpisode(i + j)
			batch[j].TaskDescription = fmt.Sprintf("%s; keyword%d", batch[j].TaskDescription, (i+j)%100)
		}
		if err := s.CreateEpisodes(ctx, "default", batch); err != nil {
			b.Fatal(err)
		}
		for _, ep := range batch {
			ids = append(ids, ep.ID)
		}
	}
	return s, ids
}

func BenchmarkGetEpisode(b *testing.B) {
	s, ids := seeded(b, 10000)
	ctx := context.Background()
	var rec latency.Recorder
	l := rec.Local()
	rec.Start(b)
	for i := 0; i < b.N; i++ {
		id := ids[(i*7919)%len(ids)]
		l.Time(func() {
			if _, err := s.GetEpisode(ctx, "default", id); err != nil {
				b.Fatal(err)
			}
		})
	}
	l.Flush()
	rec.Report(b, "", b.N)
}

func BenchmarkAppendStep(b *testing.B) {
	for _, sync := range []sqlstore.Synchronous{sqlstore.SyncFull, sqlstore.SyncNormal} {
		b.Run(string(sync), func(b *testing.B) {
			s := benchStore(b, sync)
			ctx := context.Background()
			var ep *engram.Episode
			var rec latency.Recorder
			l := rec.Local()
			rec.Start(b)
			for i := 0; i < b.N; i++ {
				if i%engram.MaxSteps == 0 {
					b.StopTimer()
					ep = &engram.Episode{TaskDescription: "many steps"}
					if err := s.CreateEpisode(ctx, "default", ep); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				st := &engram.Step{Tool: "go test", Action: "run", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: "ok"}}
				l.Time(func() {
					if err := s.AppendStep(ctx, "default", ep.ID, st); err != nil {
						b.Fatal(err)
					}
				})
			}
			l.Flush()
			rec.Report(b, "", b.N)
		})
	}
}

func BenchmarkListByTimeRange(b *testing.B) {
	s, _ := seeded(b, 10000)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var rec latency.Recorder
	l := rec.Local()
	rec.Start(b)
	for i := 0; i < b.N; i++ {
		from := base.Add(time.Duration(i%9000) * time.Minute)
		l.Time(func() {
			page, err := s.ListEpisodes(ctx, "default", engram.EpisodeFilter{Since: from, Until: from.Add(time.Hour), Limit: 100})
			if err != nil || len(page.Episodes) != 60 {
				b.Fatalf("%d episodes, %v", len(page.Episodes), err)
			}
		})
	}
	l.Flush()
	rec.Report(b, "", b.N)
}

func BenchmarkSearch(b *testing.B) {
	s, _ := seeded(b, 10000)
	ctx := context.Background()
	var rec latency.Recorder
	l := rec.Local()
	rec.Start(b)
	for i := 0; i < b.N; i++ {
		q := engram.SearchQuery{Text: fmt.Sprintf("flaky retry keyword%d", i%100), Limit: 10}
		l.Time(func() {
			hits, err := s.Search(ctx, "default", q)
			if err != nil || len(hits) == 0 {
				b.Fatalf("%d hits, %v", len(hits), err)
			}
		})
	}
	l.Flush()
	rec.Report(b, "", b.N)
}

// BenchmarkRebuildRead reads every episode of a store of 100,000 6-step
// episodes (storetest.RandomEpisode) the way a cache rebuild does: newest
// first, through ListEpisodes in pages of 1,000 (every document's digest
// verified and decoded). "select-doc" is the ceiling in the same run: the
// same rows' documents read with a plain SELECT over database/sql, neither
// verified nor decoded.
func BenchmarkRebuildRead(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "engram.db")
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path, Synchronous: sqlstore.SyncOff})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < n; i += engram.MaxBatch {
		batch := make([]*engram.Episode, min(engram.MaxBatch, n-i))
		for j := range batch {
			batch[j] = storetest.RandomEpisode(rng, 6)
		}
		if err := s.CreateEpisodes(ctx, "default", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("list", func(b *testing.B) {
		c0 := cpuTime(b)
		for i := 0; i < b.N; i++ {
			got, cursor := 0, ""
			for {
				page, err := s.ListEpisodes(ctx, "default", engram.EpisodeFilter{Limit: 1000, Cursor: cursor})
				if err != nil {
					b.Fatal(err)
				}
				for _, ep := range page.Episodes {
					if len(ep.Steps) != 6 {
						b.Fatalf("episode %s has %d steps, want 6", ep.ID, len(ep.Steps))
					}
				}
				got += len(page.Episodes)
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			if got != n {
				b.Fatalf("listed %d episodes, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "episodes/s")
		b.ReportMetric(float64((cpuTime(b)-c0).Microseconds())/float64(n*b.N), "cpu-µs/episode")
	})
	b.Run("select-doc", func(b *testing.B) {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		b.ResetTimer()
		c0 := cpuTime(b)
		for i := 0; i < b.N; i++ {
			rows, err := db.QueryContext(ctx, `SELECT doc FROM episodes WHERE namespace = 'default' ORDER BY start_time DESC, episode_id DESC`)
			if err != nil {
				b.Fatal(err)
			}
			got, bytes := 0, 0
			var doc []byte
			for rows.Next() {
				if err := rows.Scan(&doc); err != nil {
					b.Fatal(err)
				}
				got++
				bytes += len(doc)
			}
			if err := rows.Err(); err != nil || got != n {
				b.Fatalf("read %d documents (%d bytes), want %d: %v", got, bytes, n, err)
			}
			rows.Close()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "episodes/s")
		b.ReportMetric(float64((cpuTime(b)-c0).Microseconds())/float64(n*b.N), "cpu-µs/episode")
	})
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
