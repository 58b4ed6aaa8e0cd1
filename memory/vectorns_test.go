package memory_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
)

// nsNode is a Memory on its own data directory over a shared durable file
// and object tier, its clock shared with the durable store.
func nsNode(t *testing.T, dbPath, url string, clk *clock.Manual) *memory.Memory {
	t.Helper()
	cfg := vtConfig(t.TempDir(), url, clk)
	cfg.SQL = sqlstore.Options{Path: dbPath, Now: clk.Now}
	cfg.Vectors.SweepInterval = -1
	return open(t, cfg)
}

// recallIDs recalls every episode of ns by vector q and returns the ids, sorted.
func vectorRecall(t *testing.T, m *memory.Memory, q []float32, limit int) ([]engram.UUID, engram.VectorTier) {
	t.Helper()
	res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: q, Limit: limit})
	must(t, err)
	ids := make([]engram.UUID, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ItemID
	}
	sortIDs(ids)
	return ids, res.Vector.Tier
}

func sortIDs(ids []engram.UUID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
}

// An embedding past its expiry is never returned by a read or a recall:
// before the sweep, from the hot index and from a cold (object tier)
// snapshot taken before it expired; after the sweep, from that same old
// snapshot loaded by another node.
func TestVectorExpiryNeverReturned(t *testing.T) {
	url := s3URL(t)
	clk := clock.NewManual(vtStart)
	db := filepath.Join(t.TempDir(), "engram.db")
	a := nsNode(t, db, url, clk)

	const n, dim = 20, 8
	eps := make([]*engram.Episode, n)
	for i := range eps {
		eps[i] = &engram.Episode{TaskType: engram.TaskType("analysis"), TaskDescription: fmt.Sprintf("task %d", i)}
	}
	must(t, a.CreateEpisodes(ctx(), "default", eps))
	var embs []*engram.Embedding
	var live, all []engram.UUID
	for i, ep := range eps {
		v := make([]float32, dim)
		v[i%dim], v[(i+1)%dim] = 1, float32(i)/n
		e := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: v}
		if i%3 == 0 {
			e.TTL = time.Minute // 0, 3, 6, ... expire
		} else {
			live = append(live, ep.ID.UUID)
		}
		all = append(all, ep.ID.UUID)
		embs = append(embs, e)
	}
	must(t, a.PutEmbeddings(ctx(), "default", embs))
	sortIDs(live)
	sortIDs(all)
	q := embs[0].Vector

	if got, _ := vectorRecall(t, a, q, n); !slices.Equal(got, all) {
		t.Fatalf("before expiry: recalled %d, want all %d", len(got), len(all))
	}
	must(t, a.FlushVectors(ctx())) // the object tier's snapshot holds the expiring vectors

	clk.Advance(time.Minute)
	if got, tier := vectorRecall(t, a, q, n); !slices.Equal(got, live) || tier != engram.VectorHot {
		t.Fatalf("at expiry, hot: recalled %v (%s), want the %d live ones", got, tier, len(live))
	}
	if _, err := a.GetEmbedding(ctx(), "default", embs[0].Key()); engram.ErrorCode(err) != engram.ENOTFOUND {
		t.Fatalf("get of an expired (cached) embedding: %v, want ENOTFOUND", err)
	}
	got, err := a.GetEmbeddings(ctx(), "default", []engram.EmbeddingKey{embs[0].Key(), embs[1].Key()})
	must(t, err)
	if got[0] != nil || got[1] == nil {
		t.Fatalf("batch get at expiry: %v", got)
	}

	// Another node, before the sweep: loads the old snapshot from the
	// object tier and still filters by the clock.
	b := nsNode(t, db, url, clk)
	if got, tier := vectorRecall(t, b, q, n); !slices.Equal(got, live) || tier != engram.VectorCold {
		t.Fatalf("before the sweep, cold: recalled %d (%s), want the %d live ones from cold", len(got), tier, len(live))
	}
	must(t, b.Close())

	swept, err := a.SweepExpired(ctx())
	must(t, err)
	if want := n - len(live); swept != want {
		t.Fatalf("swept %d, want %d", swept, want)
	}
	if c, err := a.Counts(ctx(), "default"); err != nil || c.Embeddings != int64(len(live)) {
		t.Fatalf("durable embeddings after the sweep: %+v %v, want %d", c, err, len(live))
	}
	if got, _ := vectorRecall(t, a, q, n); !slices.Equal(got, live) {
		t.Fatalf("after the sweep, hot: recalled %d, want %d", len(got), len(live))
	}
	// The object tier still has the snapshot of before the expiry (a has
	// not uploaded since): a third node loads it after the sweep.
	c := nsNode(t, db, url, clk)
	if got, tier := vectorRecall(t, c, q, n); !slices.Equal(got, live) || tier != engram.VectorCold {
		t.Fatalf("after the sweep, old cold snapshot: recalled %d (%s), want the %d live ones from cold", len(got), tier, len(live))
	}
}

// The sweep loop runs on the clock, is stopped by Close, and deletes
// expired embeddings durably.
func TestVectorSweepLoopOnManualClock(t *testing.T) {
	clk := clock.NewManual(vtStart)
	cfg := vtConfig(t.TempDir(), "", clk)
	cfg.SQL.Now = clk.Now
	cfg.Vectors.SweepInterval = time.Minute
	m := open(t, cfg)
	passes := make(chan int, 10)
	memory.SetSweepHook(m, func(n int, err error) {
		if err != nil {
			t.Errorf("sweep: %v", err)
		}
		passes <- n
	})
	e := &engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemPattern, Vector: []float32{1}, TTL: 30 * time.Second}
	keep := &engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemPattern, Vector: []float32{2}}
	must(t, m.PutEmbeddings(ctx(), "default", []*engram.Embedding{e, keep}))
	clk.Advance(time.Minute)
	if n := <-passes; n != 1 {
		t.Fatalf("the sweep pass deleted %d, want 1", n)
	}
	if c, err := m.Counts(ctx(), "default"); err != nil || c.Embeddings != 1 {
		t.Fatalf("after the sweep: %+v %v, want 1 embedding", c, err)
	}
}

// Clearing a namespace deletes its embeddings durably and removes its
// indexes from every tier (hot, local snapshots, the object tier's
// manifests); another namespace keeps its embeddings, indexes and copies.
func TestVectorNamespaceClearAllTiers(t *testing.T) {
	url := s3URL(t)
	clk := clock.NewManual(vtStart)
	dir := t.TempDir()
	cfg := vtConfig(dir, url, clk)
	cfg.Vectors.SweepInterval = -1
	m := open(t, cfg)
	put := func(ns engram.Namespace, n int) map[engram.EmbeddingKey][]float32 {
		want := map[engram.EmbeddingKey][]float32{}
		var batch []*engram.Embedding
		for i := range n {
			e := &engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemPattern, Model: "m1", Vector: []float32{float32(i), 1, 2}}
			batch = append(batch, e)
			want[e.Key()] = slices.Clone(e.Vector)
		}
		must(t, m.PutEmbeddingsSameDim(ctx(), ns, batch))
		return want
	}
	wantA, wantB := put("a", 300), put("b", 40)
	for _, ns := range []engram.Namespace{"a", "b"} {
		_, err := m.LoadIndexes(ctx(), ns)
		must(t, err)
	}
	must(t, m.FlushVectors(ctx()))
	obj, err := blob.Open(ctx(), url, nil)
	must(t, err)
	defer obj.Close()
	manifests := func() []string {
		p, err := obj.List(ctx(), engram.BlobListOptions{Prefix: "vectors/groups/"})
		must(t, err)
		var keys []string
		for _, it := range p.Items {
			keys = append(keys, it.Key)
		}
		return keys
	}
	if got := manifests(); !slices.Equal(got, []string{"vectors/groups/a/pattern/m1.json", "vectors/groups/b/pattern/m1.json"}) {
		t.Fatalf("object tier before the clear: %v", got)
	}
	if got := streamOf(t, m, "a"); len(got) != len(wantA) {
		t.Fatalf("a before the clear: %d, want %d", len(got), len(wantA))
	}

	n, err := m.ClearEmbeddings(ctx(), "a")
	must(t, err)
	if n != int64(len(wantA)) {
		t.Fatalf("clear deleted %d, want %d", n, len(wantA))
	}
	if got := manifests(); !slices.Equal(got, []string{"vectors/groups/b/pattern/m1.json"}) {
		t.Fatalf("object tier after the clear: %v, want b's manifest alone", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "index", "a")); !os.IsNotExist(err) {
		t.Fatalf("a's local snapshots remain: %v", err)
	}
	vts, err := m.VectorTiers(ctx())
	must(t, err)
	for _, g := range vts.Groups {
		if g.Namespace == "a" {
			t.Fatalf("a's index group is still in a tier: %+v", g)
		}
	}
	if _, err := m.VectorNamespace(ctx(), "a"); engram.ErrorCode(err) != engram.ENOTFOUND {
		t.Fatalf("a after the clear: %v, want ENOTFOUND", err)
	}
	if got := streamOf(t, m, "a"); len(got) != 0 {
		t.Fatalf("a streams %d after the clear", len(got))
	}
	got := streamOf(t, m, "b")
	if len(got) != len(wantB) {
		t.Fatalf("b after clearing a: %d, want %d", len(got), len(wantB))
	}
	for k, v := range wantB {
		if !slices.Equal(got[k], v) {
			t.Fatalf("b's %s is %v, want %v", k, got[k], v)
		}
	}
	st, err := m.LoadIndexes(ctx(), "b")
	must(t, err)
	if len(st) != 1 || st[0].Vectors != len(wantB) {
		t.Fatalf("b's index after clearing a: %+v", st)
	}
	// A's index loads again empty (rebuilt from the durable store), and
	// takes new embeddings.
	put("a", 2)
	st, err = m.LoadIndexes(ctx(), "a")
	must(t, err)
	if len(st) != 1 || st[0].Vectors != 2 {
		t.Fatalf("a's index after the clear and 2 puts: %+v", st)
	}
}

func streamOf(t *testing.T, m *memory.Memory, ns engram.Namespace) map[engram.EmbeddingKey][]float32 {
	t.Helper()
	got := map[engram.EmbeddingKey][]float32{}
	must(t, m.EachEmbedding(ctx(), ns, engram.EmbeddingFilter{Limit: 50}, func(e *engram.Embedding) error {
		got[e.Key()] = slices.Clone(e.Vector)
		return nil
	}))
	return got
}
