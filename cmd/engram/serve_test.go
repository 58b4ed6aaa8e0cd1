package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/pgtest"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// TestMain lets the tests run this binary as the engram command: with
// ENGRAM_TEST_EXEC_MAIN=1 it is main().
func TestMain(m *testing.M) {
	if os.Getenv("ENGRAM_TEST_EXEC_MAIN") == "1" {
		main()
		return
	}
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// listening reads log lines from r until the server says where it listens,
// and returns its URL. The rest of r is drained in the background until it
// closes.
func listening(t *testing.T, r io.Reader) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			go io.Copy(io.Discard, r)
			return line.URL
		}
	}
	t.Fatalf("the server ended without listening: %v", sc.Err())
	return ""
}

// startServe runs engram serve in-process on 127.0.0.1:0 and returns its
// URL; the server is stopped (as by SIGINT) when the test ends, and must
// exit 0.
func (c *cli) startServe(args ...string) string {
	c.t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	full := append([]string{"--data-dir", c.dataDir, "serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	var out bytes.Buffer
	go func() {
		code := run(ctx, full, strings.NewReader(""), &out, pw)
		pw.Close()
		done <- code
	}()
	url := listening(c.t, pr)
	c.t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			c.t.Errorf("engram serve exited %d", code)
		}
	})
	return url
}

// TestServeAndRemoteCLI runs engram serve and points the record commands at
// it with --server: the CLI works the same against files and a server.
func TestServeAndRemoteCLI(t *testing.T) {
	c := newCLI(t)
	url := c.startServe()
	remote := newCLI(t) // a data directory of its own, never used
	in, _ := json.Marshal(storetest.SampleEpisode(1))
	var added engram.Episode
	remote.json(&added, string(in), "--server", url, "episode", "add", "-n", "agent-a")
	var got engram.Episode
	remote.json(&got, "", "--server", url, "episode", "get", added.ID.String(), "-n", "agent-a")
	storetest.Equal(t, "episode over the server", got, added)
	var st engram.Step
	remote.json(&st, `{"tool":"go test","action":"rerun"}`, "--server", url, "step", "add", added.ID.String(), "-n", "agent-a")
	if st.StepNumber != 3 {
		t.Fatalf("step %d", st.StepNumber)
	}
	var list []engram.Episode
	remote.json(&list, "", "--server", url, "episode", "list", "--tag", "flaky", "--near", "52.5,13.4,10", "-n", "agent-a")
	if len(list) != 1 {
		t.Fatalf("list over the server: %d episodes", len(list))
	}
	t.Setenv("ENGRAM_SERVER", url)
	var hits []engram.SearchHit
	remote.json(&hits, "", "search", "retry", "loop", "-n", "agent-a")
	if len(hits) == 0 {
		t.Fatal("search over ENGRAM_SERVER found nothing")
	}
	remote.fails(exitError, "not found", "", "episode", "get", added.ID.String())
	remote.ok("", "demo", "-n", "demo")
	os.Unsetenv("ENGRAM_SERVER")
	// The writes are in the served data directory.
	var local engram.Episode
	c2 := &cli{t: t, dataDir: c.dataDir}
	c2.json(&local, "", "episode", "get", added.ID.String(), "-n", "agent-a")
	if len(local.Steps) != 3 {
		t.Fatalf("served data directory has the episode with %d steps", len(local.Steps))
	}
}

func TestServeTokens(t *testing.T) {
	c := newCLI(t)
	t.Setenv("ENGRAM_TOKENS", "agent-a-token-0123456789abcdef=agent-a,admin-token-0123456789abcdef=*")
	url := c.startServe()
	remote := newCLI(t)
	remote.fails(exitError, "bearer token", "", "--server", url, "episode", "list")
	t.Setenv("ENGRAM_TOKEN", "agent-a-token-0123456789abcdef")
	remote.ok("", "--server", url, "episode", "list", "-n", "agent-a")
	remote.fails(exitError, "may not use namespace", "", "--server", url, "episode", "list", "-n", "agent-b")
	remote.ok("", "--server", url, "--token", "admin-token-0123456789abcdef", "episode", "list", "-n", "agent-b")

	// A tokens file works the same, and bad tokens are a usage error.
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# agents\nshort=*\n"), 0o600)
	os.Unsetenv("ENGRAM_TOKENS")
	c.fails(exitUsage, "minimum is 16", "", "serve", "--listen", "127.0.0.1:0", "--tokens-file", file)
}

func TestServeRefusesOpenNonLoopback(t *testing.T) {
	c := newCLI(t)
	c.fails(exitUsage, "refusing to listen", "", "serve", "--listen", "0.0.0.0:0")
	c.fails(exitUsage, "--server does not apply", "", "serve", "--server", "http://127.0.0.1:1")
}

// engramCmd returns this test binary set up to run as the engram command.
func engramCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ENGRAM_TEST_EXEC_MAIN=1")
	for i, kv := range cmd.Env {
		if strings.HasPrefix(kv, "ENGRAM_") && !strings.HasPrefix(kv, "ENGRAM_TEST_") {
			cmd.Env[i] = "ENGRAM_IGNORED_" + kv
		}
	}
	return cmd
}

// TestMCPStdio runs engram mcp as an agent would, a subprocess speaking MCP
// on its standard input and output, through the SDK's client.
func TestMCPStdio(t *testing.T) {
	dir := t.TempDir()
	cmd := engramCmd(t, "mcp", "--data-dir", dir, "--namespace", "agent-a")
	client := mcp.NewClient(&mcp.Implementation{Name: "engram-test", Version: "0"}, nil)
	s, err := client.Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "create_episode", Arguments: map[string]any{"task_description": "over stdio"}})
	if err != nil || res.IsError {
		t.Fatalf("create_episode: %v %+v", err, res)
	}
	data, _ := json.Marshal(res.StructuredContent)
	var ep engram.Episode
	if err := json.Unmarshal(data, &ep); err != nil || ep.ID.IsZero() {
		t.Fatalf("created: %v %s", err, data)
	}
	res, err = s.CallTool(context.Background(), &mcp.CallToolParams{Name: "add_episode_step", Arguments: map[string]any{"episode_id": ep.ID, "tool": "t"}})
	if err != nil || !res.IsError {
		t.Fatalf("step without action: %v %+v", err, res)
	}
	if err := s.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	// The episode is in the data directory, in the agent's namespace.
	store, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, sqlstore.DefaultFileName)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.GetEpisode(context.Background(), "agent-a", ep.ID); err != nil {
		t.Fatalf("episode written over stdio: %v", err)
	}
}

// serveProcess starts engram serve as a subprocess and returns it with its URL.
func serveProcess(t *testing.T, dir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := engramCmd(t, append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, listening(t, stderr)
}

// halfRequest opens a connection and sends a create-episode request whose
// body stops halfway; finish sends the rest and reads the answer.
func halfRequest(t *testing.T, url string) (finish func() int) {
	t.Helper()
	addr := strings.TrimPrefix(url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := `{"task_description": "in flight at shutdown"}`
	fmt.Fprintf(conn, "POST /v1/episodes HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body[:10])
	// Another request completing shows the server is serving connections.
	if resp, err := http.Get(url + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	return func() int {
		fmt.Fprint(conn, body[10:])
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("the in-flight request got no answer: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
}

// waitRefused polls until the server refuses new connections.
func waitRefused(url string) {
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			return
		}
		c.Close()
	}
}

// TestSignalDrainsThenExits: SIGTERM stops accepting, lets the request in
// flight finish, closes the store and exits 0.
func TestSignalDrainsThenExits(t *testing.T) {
	dir := t.TempDir()
	cmd, url := serveProcess(t, dir)
	finish := halfRequest(t, url)
	cmd.Process.Signal(syscall.SIGTERM)
	waitRefused(url)
	if code := finish(); code != 201 {
		t.Fatalf("in-flight request: %d", code)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("engram serve after SIGTERM: %v", err)
	}
	store, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, sqlstore.DefaultFileName)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if problems, err := store.Check(context.Background()); err != nil || len(problems) > 0 {
		t.Fatalf("store after shutdown: %v %v", problems, err)
	}
	if n, err := store.Counts(context.Background(), "default"); err != nil || n.Episodes != 1 {
		t.Fatalf("the drained request's episode: %+v %v", n, err)
	}
}

// TestSecondSignalExitsAtOnce: while the first signal's drain waits on a
// request that will not finish (the timeouts are an hour), a second signal
// ends the process.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	cmd, url := serveProcess(t, t.TempDir(), "--shutdown-timeout", "1h", "--read-timeout", "1h")
	halfRequest(t, url)
	cmd.Process.Signal(os.Interrupt)
	waitRefused(url)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("engram serve after two signals: %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Fatalf("engram serve did not die of the second SIGINT: %v", err)
	}
}

func TestBenchHTTP(t *testing.T) {
	c := newCLI(t)
	url := c.startServe("--log-level", "warn")
	for _, op := range []string{"get-episode", "create-episode"} {
		var res BenchResult
		c.json(&res, "", "--server", url, "bench", "http", "--op", op, "--clients", "2", "--requests", "20", "--seed", "10", "--duration", "1m")
		if res.Requests != 20 || res.Errors != 0 || res.P99 <= 0 || res.P50 > res.P99 {
			t.Fatalf("%s: %+v", op, res)
		}
	}
	c.fails(exitUsage, "--op", "", "--server", url, "bench", "http", "--op", "delete-everything")
	c.fails(exitUsage, "needs --server", "", "bench", "http")
}

// TestServeConsole: engram serve answers / with the console's page, under
// its Content-Security-Policy, without a token even when tokens are set.
func TestServeConsole(t *testing.T) {
	c := newCLI(t)
	t.Setenv("ENGRAM_TOKENS", "admin-token-0123456789abcdef=*")
	url := c.startServe()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("GET /: Content-Security-Policy %q", csp)
	}
	if !strings.Contains(string(body), "<script type=\"module\"") && !strings.Contains(string(body), "<script src=") {
		t.Fatalf("GET / does not load the console's script:\n%s", body)
	}
}
