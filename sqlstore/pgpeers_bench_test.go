package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/latency"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// BenchmarkDurablePeers runs, in one run and on the same 6-step episodes,
// engram's creates on SQLite (FULL) and on PostgreSQL (fsync on) beside what
// a user could do by hand on the same PostgreSQL: an INSERT loop of one row
// per episode (its JSON document, id, namespace, task type, start time and
// digest) through pgx, and COPY of the same rows. "single" is one episode per
// commit (p50 reported), "batch" 1,000 per commit (episodes/s reported).
//
//	scripts/pg-run.sh go test -run '^$' -bench DurablePeers -benchtime 5x ./sqlstore/
func BenchmarkDurablePeers(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	episodes := func(n int) []*engram.Episode {
		out := make([]*engram.Episode, n)
		for i := range out {
			out[i] = storetest.RandomEpisode(rng, 6)
			out[i].ID = engram.NewEpisodeID()
		}
		return out
	}
	ctx := context.Background()
	for _, engine := range []string{"sqlite", "postgres"} {
		open := func(b *testing.B) *sqlstore.Store {
			if engine == "sqlite" {
				return benchStore(b, sqlstore.SyncFull)
			}
			return openPostgres(b, sqlstore.Options{})
		}
		b.Run("engram-"+engine+"/single", func(b *testing.B) {
			s := open(b)
			eps := episodes(b.N)
			var rec latency.Recorder
			l := rec.Local()
			rec.Start(b)
			for _, ep := range eps {
				l.Time(func() {
					if err := s.CreateEpisode(ctx, "default", ep); err != nil {
						b.Fatal(err)
					}
				})
			}
			l.Flush()
			rec.Report(b, "", b.N)
		})
		b.Run("engram-"+engine+"/batch", func(b *testing.B) {
			s := open(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				batch := episodes(1000)
				b.StartTimer()
				if err := s.CreateEpisodes(ctx, "default", batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "episodes/s")
		})
	}

	// rawRows encodes eps as the hand-written peers store them.
	rawRows := func(b *testing.B, eps []*engram.Episode) [][]any {
		rows := make([][]any, len(eps))
		for i, ep := range eps {
			doc, err := json.Marshal(ep)
			if err != nil {
				b.Fatal(err)
			}
			sum := sha256.Sum256(doc)
			rows[i] = []any{"default", ep.ID.String(), string(ep.TaskType), ep.StartTime.UnixNano(), string(doc), sum[:]}
		}
		return rows
	}
	rawConn := func(b *testing.B) *pgx.Conn {
		conn, err := pgx.Connect(ctx, sqlstore.PostgresURL(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, `CREATE TABLE raw_episodes (namespace TEXT NOT NULL, episode_id UUID NOT NULL,
			task_type TEXT NOT NULL, start_time BIGINT NOT NULL, doc TEXT NOT NULL, digest BYTEA NOT NULL,
			PRIMARY KEY (namespace, episode_id))`); err != nil {
			b.Fatal(err)
		}
		return conn
	}
	columns := []string{"namespace", "episode_id", "task_type", "start_time", "doc", "digest"}
	const insert = `INSERT INTO raw_episodes (namespace, episode_id, task_type, start_time, doc, digest) VALUES ($1, $2, $3, $4, $5, $6)`

	b.Run("pgx-insert/single", func(b *testing.B) {
		conn := rawConn(b)
		rows := rawRows(b, episodes(b.N))
		var rec latency.Recorder
		l := rec.Local()
		rec.Start(b)
		for _, r := range rows {
			l.Time(func() {
				if _, err := conn.Exec(ctx, insert, r...); err != nil {
					b.Fatal(err)
				}
			})
		}
		l.Flush()
		rec.Report(b, "", b.N)
	})
	b.Run("pgx-insert/batch", func(b *testing.B) {
		conn := rawConn(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			rows := rawRows(b, episodes(1000))
			b.StartTimer()
			tx, err := conn.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rows {
				if _, err := tx.Exec(ctx, insert, r...); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "episodes/s")
	})
	b.Run("pgx-copy/batch", func(b *testing.B) {
		conn := rawConn(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			rows := rawRows(b, episodes(1000))
			b.StartTimer()
			n, err := conn.CopyFrom(ctx, pgx.Identifier{"raw_episodes"}, columns, pgx.CopyFromRows(rows))
			if err != nil || n != int64(len(rows)) {
				b.Fatalf("COPY: %d rows, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "episodes/s")
	})
}
