package main

import "testing"

// TestBenchHTTPClientList: --clients 2,3 makes one run per count, printed
// as a list, each with the load averages of its run.
func TestBenchHTTPClientList(t *testing.T) {
	c := newCLI(t)
	url := c.startServe("--log-level", "warn")
	var res []BenchResult
	c.json(&res, "", "--server", url, "bench", "http", "--op", "create-episode", "--clients", "2,3", "--requests", "12", "--duration", "1m")
	if len(res) != 2 {
		t.Fatalf("%d results, want one per client count: %+v", len(res), res)
	}
	for i, want := range []int{2, 3} {
		r := res[i]
		if r.Clients != want || r.Requests != 12 || r.Errors != 0 || r.P50 <= 0 || r.P50 > r.P99 || r.LoadStart == "" || r.LoadEnd == "" {
			t.Fatalf("run %d: %+v, want %d clients, 12 requests, percentiles and load averages", i, r, want)
		}
	}
	c.fails(exitUsage, "--clients", "", "--server", url, "bench", "http", "--clients", "2,0")
}
