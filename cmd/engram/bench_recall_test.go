package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/vector/vectortest"
)

// TestBenchRecallSmall runs the whole benchmark on 100 episodes against
// engram serve as a process of this test binary: every run answers, its
// sampled answers (of two clients each) are checked and none breaks its filter; a second run on
// the same work directory reuses the data.
func TestBenchRecallSmall(t *testing.T) {
	dir := t.TempDir()
	cfg := recallBenchConfig{episodes: 100, seed: 7, workDir: dir, clients: []int{2}, duration: 100 * time.Millisecond,
		modes: recallModes, check: 3, batch: 100, engram: func(args ...string) *exec.Cmd { return engramCmd(t, args...) }}
	res, err := benchRecall(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Seeded || len(res.Runs) != len(recallModes) {
		t.Fatalf("seeded %v, %d runs; want a seeded run of each mode", res.Seeded, len(res.Runs))
	}
	for _, r := range res.Runs {
		if r.Requests == 0 || r.Errors != 0 || r.Checked == 0 || r.Hits == 0 || r.Violations != 0 || r.P50 <= 0 || r.P50 > r.P99 {
			t.Errorf("%s, %d clients: %+v", r.Op, r.Clients, r)
		}
	}
	var out bytes.Buffer
	res.writeText(&out)
	if !strings.Contains(out.String(), "hybrid  2 clients") || !strings.Contains(out.String(), "0 violations") {
		t.Errorf("text output:\n%s", out.String())
	}
	cfg.modes, cfg.clients = []string{"hybrid"}, []int{1}
	again, err := benchRecall(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Seeded || again.Runs[0].Hits == 0 || again.Runs[0].Violations != 0 {
		t.Fatalf("second run on the same work directory: seeded %v, %+v; want the data reused", again.Seeded, again.Runs[0])
	}
}

// TestBenchRecallCheckFails: the answer check flags a hit from another
// domain than the filter's, a record sent that does not pass the filter
// though its id is of the right domain, and an id not in the data set.
func TestBenchRecallCheckFails(t *testing.T) {
	d := newRecallData(3, 200)
	var inA, inB *engram.Episode
	for i := 0; i < 200 && (inA == nil || inB == nil); i++ {
		ep := recallEpisode(3, i)
		switch ep.Context.Domain {
		case recallDomains[0]:
			inA = ep
		case recallDomains[1]:
			inB = ep
		}
	}
	answer := func(eps ...*engram.Episode) []byte {
		type hit struct {
			ItemType engram.ItemType `json:"item_type"`
			ItemID   engram.UUID     `json:"item_id"`
			Record   *engram.Episode `json:"record"`
		}
		var hits []hit
		for _, ep := range eps {
			hits = append(hits, hit{engram.ItemEpisode, ep.ID.UUID, ep})
		}
		b, err := json.Marshal(map[string]any{"hits": hits})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	filterA := &engram.EpisodeFilter{Domain: recallDomains[0]}
	if n, bad, err := checkRecallAnswer(answer(inA), filterA, d.domains); err != nil || n != 1 || len(bad) != 0 {
		t.Fatalf("a hit in the filter's domain: %d hits, %v, %v; want 1 hit, no violation", n, bad, err)
	}
	if _, bad, _ := checkRecallAnswer(answer(inA, inB), filterA, d.domains); len(bad) != 1 || !strings.Contains(bad[0], inB.ID.String()) {
		t.Fatalf("a hit of domain %q under a filter on %q: violations %v, want one naming %s", inB.Context.Domain, filterA.Domain, bad, inB.ID)
	}
	lying := *inA
	lying.Context.Domain = recallDomains[1] // the id is of domain A; the record sent is not
	if _, bad, _ := checkRecallAnswer(answer(&lying), filterA, d.domains); len(bad) != 1 {
		t.Fatalf("a record that does not pass the filter: violations %v, want one", bad)
	}
	stranger := *inA
	stranger.ID = engram.EpisodeID{UUID: vectortest.Key(99, 0)}
	if _, bad, _ := checkRecallAnswer(answer(&stranger), nil, d.domains); len(bad) != 1 {
		t.Fatalf("an episode not in the data set, no filter: violations %v, want one", bad)
	}
}

// TestBenchRecallServer: against --server the data set is written through
// the batch API, and found there by the next run, which does not write it
// again.
func TestBenchRecallServer(t *testing.T) {
	c := newCLI(t)
	url := c.startServe("--log-level", "warn")
	cfg := recallBenchConfig{episodes: 60, seed: 5, server: url, clients: []int{1}, duration: 100 * time.Millisecond,
		modes: []string{"hybrid"}, check: 5, batch: 60}
	for i, wantSeeded := range []bool{true, false} {
		res, err := benchRecall(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Runs[0]; res.Seeded != wantSeeded || r.Hits == 0 || r.Violations != 0 || r.Errors != 0 {
			t.Fatalf("run %d: seeded %v (want %v), %+v", i, res.Seeded, wantSeeded, r)
		}
	}
	cl, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := cl.ListEpisodes(context.Background(), engram.DefaultNamespace, engram.EpisodeFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Episodes) != 60 {
		t.Fatalf("the server holds %d episodes, want the data set's 60 written once", len(page.Episodes))
	}
}
