package memory_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/latency"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// seedDurable writes n episodes of about 2 KB (storetest.RandomEpisode with
// 6 steps) straight into a SQLite store in dir and returns their ids.
func seedDurable(b *testing.B, dir string, n int) []engram.EpisodeID {
	b.Helper()
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, sqlstore.DefaultFileName), Synchronous: sqlstore.SyncOff})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	ids := make([]engram.EpisodeID, 0, n)
	for i := 0; i < n; i += engram.MaxBatch {
		batch := make([]*engram.Episode, min(engram.MaxBatch, n-i))
		for j := range batch {
			batch[j] = storetest.RandomEpisode(rng, 6)
		}
		if err := s.CreateEpisodes(ctx(), "default", batch); err != nil {
			b.Fatal(err)
		}
		for _, ep := range batch {
			ids = append(ids, ep.ID)
		}
	}
	return ids
}

// BenchmarkFullRebuild rebuilds the cache from 100,000 episodes; reports
// episodes/s.
func BenchmarkFullRebuild(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	seedDurable(b, dir, n)
	m := open(b, memory.Config{DataDir: dir, NoRAM: true, Sync: memory.SyncConfig{MaxEpisodesCache: n, BatchSize: 1000}})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := m.Sync(ctx(), engram.SyncOptions{Full: true})
		if err != nil || rep.Episodes != n {
			b.Fatalf("%v %+v", err, rep)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "episodes/s")
}

// BenchmarkSyncLag measures how long an incremental sync takes to apply a
// burst of new episodes written by another process (here, straight to the
// durable store): the lag a reader on another node sees, on top of the sync
// interval.
func BenchmarkSyncLag(b *testing.B) {
	for _, burst := range []int{100, 1000} {
		b.Run(fmt.Sprint("burst", burst), func(b *testing.B) {
			dir := b.TempDir()
			seedDurable(b, dir, 2000)
			m := open(b, memory.Config{DataDir: dir, Sync: memory.SyncConfig{BatchSize: 500}})
			if _, err := m.Sync(ctx(), engram.SyncOptions{Full: true}); err != nil {
				b.Fatal(err)
			}
			s := m.SQL()
			rng := rand.New(rand.NewPCG(2, 2))
			var rec latency.Recorder
			l := rec.Local()
			rec.Start(b)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := 0; j < burst; j++ {
					if err := s.CreateEpisode(ctx(), "default", storetest.RandomEpisode(rng, 6)); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start := time.Now()
				rep, err := m.Sync(ctx(), engram.SyncOptions{})
				if err != nil || rep.WatermarkAfter-rep.WatermarkBefore != uint64(burst) {
					b.Fatalf("%v %+v", err, rep)
				}
				l.Add(time.Since(start))
			}
			l.Flush()
			rec.Report(b, "", b.N)
		})
	}
}

// BenchmarkGetEpisode reads through memory: from the RAM tier, from the
// cache file (RAM off), and from the durable store (both caches off).
func BenchmarkGetEpisode(b *testing.B) {
	dir := b.TempDir()
	ids := seedDurable(b, dir, 10_000)
	for _, c := range []struct {
		name string
		cfg  memory.Config
		tier engram.Tier
	}{
		{"RAMHit", memory.Config{}, engram.TierRAM},
		{"RAMHitShared", memory.Config{ShareRecords: true}, engram.TierRAM},
		{"CacheFileHit", memory.Config{NoRAM: true}, engram.TierCache},
		{"DurableMiss", memory.Config{NoRAM: true, NoCache: true}, engram.TierDurable},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := c.cfg
			cfg.DataDir = dir
			cfg.Sync.MaxEpisodesCache = len(ids)
			m := open(b, cfg)
			if c.tier != engram.TierDurable {
				for _, id := range ids { // warm the tier under test
					if _, err := m.GetEpisode(ctx(), "default", id); err != nil {
						b.Fatal(err)
					}
				}
			}
			var rec latency.Recorder
			l := rec.Local()
			rec.Start(b)
			for i := 0; i < b.N; i++ {
				id := ids[(i*7919)%len(ids)]
				var ri engram.ReadInfo
				l.Time(func() {
					if _, err := m.GetEpisode(engram.WithReadInfo(ctx(), &ri), "default", id); err != nil {
						b.Fatal(err)
					}
				})
				if ri.Tier != c.tier {
					b.Fatalf("read answered by %s, want %s", ri.Tier, c.tier)
				}
			}
			l.Flush()
			rec.Report(b, "", b.N)
			m.Close()
		})
	}
}

// BenchmarkRAMHit reads one episode of about 2 KB (6 steps) from the RAM tier
// through memory's default API, the way a library user does: a plain
// context, the result owned by the caller (Owned) or the tier's own record
// (Shared, Config.ShareRecords). The tier of every read is checked from the
// RAM tier's hit counter after the loop.
func BenchmarkRAMHit(b *testing.B) {
	dir := b.TempDir()
	ids := seedDurable(b, dir, 1000)
	for _, c := range []struct {
		name  string
		share bool
	}{{"Owned", false}, {"Shared", true}} {
		b.Run(c.name, func(b *testing.B) {
			m := open(b, memory.Config{DataDir: dir, ShareRecords: c.share, Sync: memory.SyncConfig{MaxEpisodesCache: len(ids)}})
			for _, id := range ids {
				if _, err := m.GetEpisode(ctx(), "default", id); err != nil {
					b.Fatal(err)
				}
			}
			before := ramHits(b, m)
			var rec latency.Recorder
			l := rec.Local()
			rec.Start(b)
			c := ctx()
			for i := 0; i < b.N; i++ {
				id := ids[(i*7919)%len(ids)]
				start := time.Now()
				if _, err := m.GetEpisode(c, "default", id); err != nil {
					b.Fatal(err)
				}
				l.Add(time.Since(start))
			}
			l.Flush()
			rec.Report(b, "", b.N)
			b.StopTimer()
			if hits := ramHits(b, m) - before; hits != uint64(b.N) {
				b.Fatalf("%d of %d reads were RAM hits", hits, b.N)
			}
			m.Close()
		})
	}
}

// ramHits returns the RAM tier's hit counter from m's status.
func ramHits(b *testing.B, m *memory.Memory) uint64 {
	b.Helper()
	st, err := m.Status(ctx())
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range st.Tiers {
		if t.Tier == engram.TierRAM {
			if h, ok := t.Stats["hits"].(float64); ok {
				return uint64(h)
			}
		}
	}
	b.Fatalf("no RAM hit counter in %+v", st.Tiers)
	return 0
}
