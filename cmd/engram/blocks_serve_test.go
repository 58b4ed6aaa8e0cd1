package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/engramhq/engram"
)

// serveLogged runs engram serve in-process like startServe and returns its
// URL, its JSON log lines as they come, and stop, which shuts it down (as
// by SIGINT) and checks it exited 0.
func serveLogged(t *testing.T, dataDir string, args ...string) (string, <-chan map[string]any, func()) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	full := append([]string{"--data-dir", dataDir, "serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	var out bytes.Buffer
	go func() {
		code := run(ctx, full, strings.NewReader(""), &out, pw)
		pw.Close()
		done <- code
	}()
	lines := make(chan map[string]any, 100)
	urls := make(chan string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			if l["msg"] == "listening" {
				urls <- l["url"].(string)
				continue
			}
			select {
			case lines <- l:
			default: // nobody is waiting for this many
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var url string
	select {
	case url = <-urls:
	case code := <-done:
		t.Fatalf("engram serve exited %d without listening", code)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("engram serve exited %d", code)
		}
	}
	t.Cleanup(stop)
	return url, lines, stop
}

// waitLog returns the first log line with message msg.
func waitLog(t *testing.T, lines <-chan map[string]any, msg string) map[string]any {
	t.Helper()
	for l := range lines {
		if l["msg"] == msg {
			return l
		}
		if l["level"] == "WARN" {
			t.Logf("server warning: %v", l)
		}
	}
	t.Fatalf("the server's log ended without %q", msg)
	return nil
}

func serverStatus(t *testing.T, url string) *engram.Status {
	t.Helper()
	resp, err := http.Get(url + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st engram.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// engram serve --blocks-replica copies blocks.db to the object store at
// start (status says so), and a later serve copies only what was added
// since: replication resumes, never starts over.
func TestServeBlocksReplica(t *testing.T) {
	c := newCLI(t)
	head1, n1 := fillBlocks(t, c.dataDir, 20)
	remote := "file://" + t.TempDir()
	url, lines, stop := serveLogged(t, c.dataDir, "--blocks-replica", remote, "--blocks-replica-interval", "1h")
	l := waitLog(t, lines, "blocks replicated")
	if l["blocks"] != float64(n1) {
		t.Fatalf("first round copied %v blocks, want %d", l["blocks"], n1)
	}
	if got, heads := countRemote(t, remote); got != n1 || !slices.Equal(heads, []engram.CID{head1}) {
		t.Fatalf("remote holds %d blocks, heads %v; want %d, [%s]", got, heads, n1, head1)
	}
	st := serverStatus(t, url)
	var rs *engram.TierStatus
	for i := range st.Tiers {
		if st.Tiers[i].Tier == TierBlocksReplica {
			rs = &st.Tiers[i]
		}
	}
	if rs == nil || rs.State != "ok" || rs.Stats["rounds"] != float64(1) || rs.Stats["blocks_copied"] != float64(n1) || rs.Detail != remote {
		t.Fatalf("status of the replication: %+v", rs)
	}
	stop()

	// More blocks (fillBlocks' operations encode maps in random key order,
	// so some of the first 20 operations come out as new blocks too).
	head2, _ := fillBlocks(t, c.dataDir, 30)
	n2 := countLocal(t, c.dataDir)
	_, lines, _ = serveLogged(t, c.dataDir, "--blocks-replica", remote, "--blocks-replica-interval", "1h")
	l = waitLog(t, lines, "blocks replicated")
	if want := n2 - n1; l["blocks"] != float64(want) || l["present"] != float64(n1) {
		t.Fatalf("second serve copied %v blocks (%v present), want %d (%d)", l["blocks"], l["present"], want, n1)
	}
	got, heads := countRemote(t, remote)
	slices.SortFunc(heads, func(a, b engram.CID) int { return strings.Compare(a.String(), b.String()) })
	want := []engram.CID{head1, head2}
	slices.SortFunc(want, func(a, b engram.CID) int { return strings.Compare(a.String(), b.String()) })
	if got != n2 || !slices.Equal(heads, want) {
		t.Fatalf("remote holds %d blocks, heads %v; want %d, %v", got, heads, n2, want)
	}
}

func countLocal(t *testing.T, dir string) int {
	t.Helper()
	s, err := bsOpenRead(filepath.Join(dir, blocksFile))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for _, err := range s.AllCIDs(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func TestServeBlocksReplicaBadURL(t *testing.T) {
	c := newCLI(t)
	c.fails(exitError, "url", "", "serve", "--listen", "127.0.0.1:0", "--blocks-replica", "ftp://nowhere")
}
