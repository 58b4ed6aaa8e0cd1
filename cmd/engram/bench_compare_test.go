package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/testenv"
	"github.com/engramhq/engram/sqlstore"
)

// needRedis starts redis-server for a test; without the binary the test is
// skipped, except under CI=true (scripts/test-deps.sh installs it).
func needRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.SkipOrFail(t, "no redis-server on PATH (scripts/test-deps.sh installs it)")
	}
	addr, stop, err := startRedis(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// TestCompareRedisRoundTrip: the values the Redis loop reads are the bytes
// it stored, read back by a client of its own, and stopping the server
// ends it.
func TestCompareRedisRoundTrip(t *testing.T) {
	addr := needRedis(t)
	values := [][]byte{[]byte(`{"episode_id":"a"}`), {0, 1, 2, 255, '\r', '\n'}, bytes.Repeat([]byte("x"), 3000)}
	st, err := redisHits(context.Background(), addr, values, 30)
	if err != nil {
		t.Fatal(err)
	}
	if st.rate <= 0 || st.p50 <= 0 {
		t.Fatalf("stats %+v", st)
	}
	rc := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer rc.Close()
	for i, v := range values {
		got, err := rc.Get(context.Background(), "engram-bench:"+string(rune('0'+i))).Bytes()
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("value %d: %q %v, want %q", i, got, err, v)
		}
	}
}

// TestCompareRedisStops: stop ends the server it started.
func TestCompareRedisStops(t *testing.T) {
	needRedis(t) // skips or fails as the others do
	addr, stop, err := startRedis(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stop()
	rc := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true, MaxRetries: -1, DialTimeout: time.Second})
	defer rc.Close()
	if err := rc.Ping(context.Background()).Err(); err == nil {
		t.Fatal("redis-server still answers after stop")
	}
}

// TestComparePlainServer: engram bench http's get-episode loop runs against
// the plain handler (seeding it as it seeds engram), and every GET returns
// exactly the bytes it was given.
func TestComparePlainServer(t *testing.T) {
	body := []byte(`{"episode_id":"0193a6d2-0000-7000-8000-000000000001","task_description":"same bytes"}`)
	srv := httptest.NewServer(plainHandler(body))
	defer srv.Close()
	res, err := benchHTTP(context.Background(), benchConfig{server: srv.URL, ns: engram.DefaultNamespace, op: "get-episode",
		clients: 2, duration: time.Minute, maxRequests: 40, seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 40 || res.Errors != 0 {
		t.Fatalf("%d requests, %d errors; want 40, 0", res.Requests, res.Errors)
	}
	resp, err := http.Get(srv.URL + "/v1/episodes/anything?namespace=default")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET answered %q (%s), want %q", got, resp.Header.Get("Content-Type"), body)
	}
}

// TestCompareSQLitePeer runs the C SQLite side on a few episodes and checks
// that it wrote what engram's store writes for the same episodes: as many
// rows in every table, documents of the same size (engram's differ only in
// created_at and updated_at, set by the store) and the same search text.
func TestCompareSQLitePeer(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		testenv.SkipOrFail(t, "no python3 (its sqlite3 module is the C SQLite peer)")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	eps := make([]*engram.Episode, 12)
	for i := range eps {
		eps[i] = compareEpisode(rng, time.Date(2026, 1, 1, 0, 0, i, 5, time.UTC))
	}
	p, err := runSQLitePeer(context.Background(), "python3", t.TempDir(), eps, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if p.Single != 3 || p.SelectRows != 12 || p.SingleSeconds <= 0 || p.BatchSeconds <= 0 || p.SelectSeconds <= 0 {
		t.Errorf("report %+v", p)
	}

	path := filepath.Join(t.TempDir(), sqlstore.DefaultFileName)
	// The peer's documents have created_at = updated_at = start_time;
	// engram's clock here gives times of the same length.
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC) }
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path, Synchronous: sqlstore.SyncOff, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]*engram.Episode, len(eps))
	for i, ep := range eps {
		batch[i] = ep.Clone()
	}
	if err := s.CreateEpisodes(context.Background(), engram.DefaultNamespace, batch); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		t.Helper()
		var n sql.NullInt64
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return int(n.Int64)
	}
	fts := "search_fts_" + hex.EncodeToString([]byte(engram.DefaultNamespace))
	for table, n := range map[string]int{
		"episodes": count(`SELECT count(*) FROM episodes`), "steps": count(`SELECT count(*) FROM steps`),
		"episode_tags": count(`SELECT count(*) FROM episode_tags`), "episode_metadata": count(`SELECT count(*) FROM episode_metadata`),
		"spatiotemporal_index": count(`SELECT count(*) FROM spatiotemporal_index`),
		"search_fts":           count(`SELECT count(*) FROM ` + fts), "changes": count(`SELECT count(*) FROM changes`),
	} {
		if p.Rows[table] != n || n == 0 {
			t.Errorf("%s: C SQLite wrote %d rows, engram %d", table, p.Rows[table], n)
		}
	}
	if want := count(`SELECT sum(length(CAST(body AS BLOB))) FROM ` + fts); p.SearchBytes != want {
		t.Errorf("C SQLite indexed %d bytes of text, engram %d", p.SearchBytes, want)
	}
	if want := count(`SELECT sum(length(CAST(doc AS BLOB))) FROM episodes`); p.DocBytes != want {
		t.Errorf("C SQLite stored %d bytes of documents, engram %d", p.DocBytes, want)
	}
}

// TestComparePlainSelect reads back exactly the episodes engram stored.
func TestComparePlainSelect(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlstore.DefaultFileName)
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: path, Synchronous: sqlstore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 7; i++ {
		if err := s.CreateEpisode(context.Background(), "default", compareEpisode(rng, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	n, d, err := plainSelect(context.Background(), path)
	if err != nil || n != 7 || d <= 0 {
		t.Fatalf("plainSelect: %d episodes in %s, %v; want 7", n, d, err)
	}
}

// TestBenchCompareSmall runs the whole comparison on tiny sizes, with
// engram serve and the plain server as processes of this test binary, and
// checks every row has both figures and a ratio (the Redis rows may be
// skipped where redis-server is missing, outside CI).
func TestBenchCompareSmall(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		testenv.SkipOrFail(t, "no python3 (its sqlite3 module is the C SQLite peer)")
	}
	res, err := benchCompare(context.Background(), compareConfig{workDir: t.TempDir(), python: "python3",
		episodes: 20, single: 2, batch: 10, hits: 50, httpFor: 200 * time.Millisecond, httpClients: []int{2},
		engram: func(args ...string) *exec.Cmd { return engramCmd(t, args...) }})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"durable insert, 1 episode per commit", "durable insert, 10 episodes per commit",
		"full rebuild vs plain SELECT of its rows", "cache hit, RAM tier", "cache hit, cache file", "HTTP get-episode, 2 clients"}
	if len(res.Rows) != len(names) {
		t.Fatalf("%d rows, want %d: %+v", len(res.Rows), len(names), res.Rows)
	}
	for i, r := range res.Rows {
		if r.Name != names[i] {
			t.Errorf("row %d is %q, want %q", i, r.Name, names[i])
		}
		if r.EngramRate <= 0 {
			t.Errorf("%s: engram rate %v", r.Name, r.EngramRate)
		}
		if r.Skipped != "" && (os.Getenv("CI") == "true" || !strings.HasPrefix(r.Name, "cache hit")) {
			t.Errorf("%s skipped: %s", r.Name, r.Skipped)
		}
		if r.Skipped == "" && (r.PeerRate <= 0 || r.Ratio != r.EngramRate/r.PeerRate) {
			t.Errorf("%s: peer rate %v, ratio %v", r.Name, r.PeerRate, r.Ratio)
		}
	}
	if res.LoadStart == "" || res.LoadEnd == "" || res.Cores < 1 || res.CPU == "" {
		t.Errorf("machine: %+v", res)
	}
	var out bytes.Buffer
	res.writeText(&out)
	if !strings.Contains(out.String(), "HTTP get-episode, 2 clients") || !strings.Contains(out.String(), "load average: ") {
		t.Errorf("text output:\n%s", out.String())
	}
}
