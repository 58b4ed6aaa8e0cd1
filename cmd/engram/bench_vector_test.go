package main

import "testing"

// TestBenchVectorSmall runs the vector benchmark on a tiny data set (no
// hnswlib) and checks the report's shape and its recall figures, which do
// not depend on timing.
func TestBenchVectorSmall(t *testing.T) {
	c := newCLI(t)
	var res vectorBenchResult
	c.json(&res, "", "bench", "vector", "--n", "400", "--dim", "24", "--queries", "8", "--inserts", "20",
		"--ef", "16,64", "--build-threads", "1,2", "--ef-construction", "32", "--work-dir", t.TempDir())
	if res.N != 400 || res.Dim != 24 || res.Queries != 8 || res.K != 10 {
		t.Fatalf("report describes n=%d dim=%d queries=%d k=%d", res.N, res.Dim, res.Queries, res.K)
	}
	byName := map[string]benchRow{}
	for _, r := range res.Rows {
		byName[r.Name] = r
		if r.Recall < 0 || r.Recall > 1 || r.QPSWall <= 0 || r.QPSCPU <= 0 {
			t.Fatalf("row %+v out of range", r)
		}
	}
	if r := byName["exact f32 scan"]; r.Recall != 1 {
		t.Fatalf("exact scan recall = %v, want 1", r.Recall)
	}
	// The batched row answers the same queries as the one-query row
	// (SearchBatch gives Search's hits), so the recalls are equal.
	if b, one := byName["int8 flat, rerank 16, batches of 16"], byName["int8 flat, rerank 16"]; b.Recall != one.Recall || b.Recall < 0.9 {
		t.Fatalf("batched recall %v, one-query recall %v; want equal and >= 0.9", b.Recall, one.Recall)
	}
	if res.SumGBs <= 0 || res.CodesSumGBs <= 0 || res.VectorMB != 400*24*4/1e6 || res.CodesMB != 400*24/1e6 {
		t.Fatalf("sums %v / %v GB/s over %v / %v MB", res.SumGBs, res.CodesSumGBs, res.VectorMB, res.CodesMB)
	}
	if r := byName["hnsw ef=64"]; r.Recall < 0.9 {
		t.Fatalf("hnsw ef=64 recall on 400 vectors = %v, want >= 0.9", r.Recall)
	}
	for _, name := range []string{"filtered 10% (ef=64)", "filtered 1% (ef=64)"} {
		if r, ok := byName[name]; !ok || r.Recall != 1 || r.Plan != "flat-filter" {
			t.Fatalf("%s: %+v; want recall 1 by flat-filter (a handful of allowed vectors)", name, r)
		}
	}
	if len(res.BuildSeconds) != 2 || res.SnapshotMB <= 0 || res.OpenMS <= 0 || res.InsertsPerS <= 0 {
		t.Fatalf("build %v, snapshot %v MB, open %v ms, inserts %v/s", res.BuildSeconds, res.SnapshotMB, res.OpenMS, res.InsertsPerS)
	}
	if res.Hnswlib != nil {
		t.Fatalf("hnswlib ran without --hnswlib: %v", res.Hnswlib)
	}
	c.fails(exitUsage, "--ef", "", "bench", "vector", "--ef", "x")
}
