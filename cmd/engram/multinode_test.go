package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/pgtest"
	"github.com/engramhq/engram/storetest"
)

// httpDo sends a JSON request and decodes a 2xx answer into out (when not
// nil); it returns the status code.
func httpDo(t *testing.T, method, url string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, data)
		}
	}
	return resp.StatusCode
}

// httpGet decodes a 200 answer into out and returns the status code (0
// when the request failed); safe off the test's goroutine.
func httpGet(url string, out any) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(out) != nil {
		return 0
	}
	return resp.StatusCode
}

// pct returns the q-quantile of sorted durations.
func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// TestThreeNodes runs three engram serve processes on one PostgreSQL
// schema, each with its own data directory (cache file), and a sync
// interval of an hour, so only LISTEN/NOTIFY moves changes between them:
//   - a step acknowledged on A is served by B and C (which had the episode
//     cached without it), for 50 steps; the lag's p50/p99 are logged;
//   - after A deletes the episode and B syncs, B never serves it;
//   - kill -9 of C while writes to it are acknowledged loses none of them:
//     restarted on its data directory, C serves every one.
func TestThreeNodes(t *testing.T) {
	pg := pgtest.Schema(t, "engram_nodes")
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")}
	args := []string{"--durable", pg, "--sync-interval", "1h", "--log-level", "warn"}
	var urls []string
	var cmds = map[string]func(){}
	for _, d := range dirs {
		cmd, u := serveProcess(t, d, args...)
		urls = append(urls, u)
		cmds[u] = func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }
	}
	a, b, c := urls[0], urls[1], urls[2]
	began := time.Now()
	phase := func(what string) {
		t.Logf("%s: %v since the nodes started", what, time.Since(began).Round(time.Millisecond))
	}

	var ep engram.Episode
	if code := httpDo(t, "POST", a+"/v1/episodes", storetest.SampleEpisode(1), &ep); code != 201 {
		t.Fatalf("create on A: %d", code)
	}
	for _, u := range []string{b, c} {
		var got engram.Episode
		if code := httpDo(t, "GET", u+"/v1/episodes/"+ep.ID.String(), nil, &got); code != 200 || got.ID != ep.ID {
			t.Fatalf("GET on %s of an episode acknowledged on A: %d", u, code)
		}
	}

	// Visibility: each step acknowledged on A, then read on B and C until
	// they serve it (the hang guard is the test's timeout).
	const writes = 50
	steps := len(ep.Steps)
	lags := map[string][]time.Duration{}
	var mu sync.Mutex
	for i := range writes {
		var st engram.Step
		if code := httpDo(t, "POST", a+"/v1/episodes/"+ep.ID.String()+"/steps", map[string]any{"tool": "t", "action": fmt.Sprint("step ", i)}, &st); code != 201 {
			t.Fatalf("append step %d on A: %d", i, code)
		}
		acked := time.Now()
		steps++
		var wg sync.WaitGroup
		errs := make(chan string, 2)
		for _, u := range []string{b, c} {
			wg.Go(func() {
				for {
					var got engram.Episode
					if code := httpGet(u+"/v1/episodes/"+ep.ID.String(), &got); code != 200 {
						errs <- fmt.Sprintf("GET on %s: %d", u, code)
						return
					}
					if len(got.Steps) >= steps {
						if len(got.Steps) > steps || got.Steps[steps-1].Action != st.Action {
							errs <- fmt.Sprintf("%s serves %d steps (last %q), want %d (last %q)", u, len(got.Steps), got.Steps[len(got.Steps)-1].Action, steps, st.Action)
						}
						break
					}
				}
				mu.Lock()
				lags[u] = append(lags[u], time.Since(acked))
				mu.Unlock()
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
	}
	for name, u := range map[string]string{"B": b, "C": c} {
		l := slices.Clone(lags[u])
		slices.Sort(l)
		t.Logf("cross-node visibility lag A->%s over %d writes (NOTIFY, 1h polling): p50 %v, p99 %v, max %v", name, len(l), pct(l, 0.50), pct(l, 0.99), l[len(l)-1])
	}

	phase("visibility")
	// Delete on A: after B's next sync, B never serves the episode.
	if code := httpDo(t, "DELETE", a+"/v1/episodes/"+ep.ID.String(), nil, nil); code/100 != 2 {
		t.Fatalf("delete on A: %d", code)
	}
	if code := httpDo(t, "POST", b+"/v1/sync", map[string]any{}, nil); code != 200 {
		t.Fatalf("sync on B: %d", code)
	}
	for i := range 20 {
		if code := httpDo(t, "GET", b+"/v1/episodes/"+ep.ID.String(), nil, nil); code != 404 {
			t.Fatalf("read %d on B after its sync of A's delete: %d, want 404", i, code)
		}
	}

	phase("delete")

	// The benchmarks of many nodes run against them too.
	cl := newCLI(t)
	var lag LagResult
	cl.json(&lag, "", "--server", a, "bench", "lag", "--nodes", b+","+c, "--writes", "5")
	if lag.Writes != 5 || lag.Nodes != 2 || lag.P50 <= 0 || lag.P50 > lag.Max {
		t.Fatalf("bench lag: %+v", lag)
	}
	var res BenchResult
	cl.json(&res, "", "--server", a, "bench", "http", "--nodes", b+","+c, "--op", "get-episode", "--clients", "3", "--requests", "30", "--seed", "10")
	if res.Nodes != 3 || res.Requests != 30 || res.Errors != 0 {
		t.Fatalf("bench http on 3 nodes: %+v", res)
	}
	phase("bench")
	// kill -9 of C during writes to C: every acknowledged write survives.
	var acked []engram.Episode
	stop := make(chan struct{})
	done := make(chan struct{})
	enough := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b, _ := json.Marshal(storetest.SampleEpisode(100 + i))
			resp, err := http.Post(c+"/v1/episodes", "application/json", bytes.NewReader(b))
			if err != nil {
				return // C is gone
			}
			var got engram.Episode
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 || json.Unmarshal(data, &got) != nil {
				continue
			}
			mu.Lock()
			acked = append(acked, got)
			if len(acked) == 50 {
				close(enough)
			}
			mu.Unlock()
		}
	}()
	<-enough
	cmds[c]()
	close(stop)
	<-done
	phase("kill")
	_, c2 := serveProcess(t, dirs[2], args...)
	phase("restart")
	for _, u := range []string{c2, a} {
		for _, want := range acked {

			var got engram.Episode
			if code := httpDo(t, "GET", u+"/v1/episodes/"+want.ID.String(), nil, &got); code != 200 {
				t.Fatalf("episode %s, acknowledged by C before kill -9, on %s: %d", want.ID, u, code)
			}
			storetest.Equal(t, "episode acknowledged before kill -9", got, want)
		}
	}
	t.Logf("%d writes acknowledged by C before kill -9, all served after its restart", len(acked))
}
