package memory_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// Regression tests for races and lifecycle gaps a review found. Each
// wrapper pauses or hooks one durable call of a real store to open the
// window deterministically.

func openSQLite(t *testing.T, dir string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, sqlstore.DefaultFileName)})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// pausedCreate holds CreateEpisode after the durable commit until released.
type pausedCreate struct {
	engram.Store
	committed, release chan struct{}
}

func (p *pausedCreate) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	err := p.Store.CreateEpisode(ctx, ns, ep)
	close(p.committed)
	<-p.release
	return err
}

// A step appended while a create of the same episode is between its commit
// and its tier update must not be overwritten by the create's copy.
func TestCreateOrderedBeforeRacingAppend(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	p := &pausedCreate{Store: s, committed: make(chan struct{}), release: make(chan struct{})}
	m := open(t, memory.Config{DataDir: dir, Durable: p})
	ep := &engram.Episode{TaskDescription: "created while a step races it"}
	created := make(chan error, 1)
	go func() { created <- m.CreateEpisode(ctx(), "default", ep) }()
	<-p.committed
	appended := make(chan error, 1)
	go func() {
		appended <- m.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "raced"})
	}()
	close(p.release)
	must(t, <-created)
	must(t, <-appended)
	got, err := m.GetEpisode(ctx(), "default", ep.ID)
	must(t, err)
	if len(got.Steps) != 1 {
		t.Fatalf("the tiers serve %d steps; the durable store has the appended one", len(got.Steps))
	}
}

// With embeddings kept out of the cache, a put must still drop a copy a
// read put in the tiers.
func TestSkippedEmbeddingsDoNotGoStale(t *testing.T) {
	m := open(t, memory.Config{Sync: memory.SyncConfig{SkipEmbeddings: true}})
	id := engram.NewUUID()
	must(t, m.PutEmbeddings(ctx(), "default", []*engram.Embedding{{ItemType: engram.ItemPattern, ItemID: id, Vector: []float32{1}}}))
	key := engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: id}
	_, err := m.GetEmbedding(ctx(), "default", key) // fills the tiers
	must(t, err)
	must(t, m.PutEmbeddings(ctx(), "default", []*engram.Embedding{{ItemType: engram.ItemPattern, ItemID: id, Vector: []float32{9}}}))
	got, err := m.GetEmbedding(ctx(), "default", key)
	must(t, err)
	if got.Vector[0] != 9 {
		t.Fatalf("read after a put returns %v, want [9]", got.Vector)
	}
}

// With no cache tier at all, recovering from an outage clears the stale
// flag: a sync has nothing to do and succeeds.
func TestNoTiersRecoverFromOutage(t *testing.T) {
	dir := t.TempDir()
	f := &flaky{Store: openSQLite(t, dir)}
	m := open(t, memory.Config{DataDir: dir, Durable: f, NoCache: true, NoRAM: true})
	f.down.Store(true)
	_, err := m.GetEpisode(ctx(), "default", engram.NewEpisodeID())
	storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
	if !statusOf(t, m).Stale {
		t.Fatal("not stale during the outage")
	}
	f.down.Store(false)
	_, err = m.GetEpisode(ctx(), "default", engram.NewEpisodeID())
	storetest.WantCode(t, err, engram.ENOTFOUND, "")
	eventually(t, "the stale flag to clear", func() bool { return !statusOf(t, m).Stale })
}

// hookedList runs hook once, after the first ListEpisodes.
type hookedList struct {
	engram.Store
	once sync.Once
	hook func()
}

func (h *hookedList) ListEpisodes(ctx context.Context, ns engram.Namespace, f engram.EpisodeFilter) (engram.EpisodePage, error) {
	p, err := h.Store.ListEpisodes(ctx, ns, f)
	h.once.Do(h.hook)
	return p, err
}

// A full sync without a cache file rebuilds the RAM tier while it is in
// use; a write during the fill must not be overwritten by what the fill read.
func TestRAMRebuildKeepsConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	h := &hookedList{Store: openSQLite(t, dir)}
	m := open(t, memory.Config{DataDir: dir, Durable: h, NoCache: true})
	ep := &engram.Episode{TaskDescription: "appended to during a rebuild"}
	must(t, m.CreateEpisode(ctx(), "default", ep))
	h.hook = func() {
		must(t, m.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "during the fill"}))
	}
	rep, err := m.Sync(ctx(), engram.SyncOptions{Full: true})
	must(t, err)
	if rep.WatermarkAfter != 2 {
		t.Fatalf("rebuild ended at watermark %d, want 2 (the create and the append)", rep.WatermarkAfter)
	}
	got, err := m.GetEpisode(ctx(), "default", ep.ID)
	must(t, err)
	if len(got.Steps) != 1 {
		t.Fatalf("RAM serves %d steps after an append during its rebuild, want 1", len(got.Steps))
	}
}

// hookedChanges runs hook on its n-th Changes call.
type hookedChanges struct {
	engram.Store
	calls atomic.Int64
	at    int64
	hook  func()
}

func (h *hookedChanges) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	if h.calls.Add(1) == h.at {
		h.hook()
	}
	return h.Store.Changes(ctx, after, limit)
}

// Another process opening the data directory while a full sync runs (it
// cannot get the cache file) must not disturb the rebuild or the swap.
func TestOtherProcessOpeningDuringFullSync(t *testing.T) {
	dir := t.TempDir()
	h := &hookedChanges{Store: openSQLite(t, dir)}
	m := open(t, memory.Config{DataDir: dir, Durable: h})
	for i := 0; i < 5; i++ {
		must(t, m.CreateEpisode(ctx(), "default", storetest.SampleEpisode(i)))
	}
	for _, at := range []int64{1, 2, 3} { // the catch-ups outside and inside the swap
		h.calls.Store(0)
		h.at = at
		h.hook = func() {
			other, err := memory.Open(ctx(), memory.Config{DataDir: dir, Logger: quiet, Cache: boltOptionsNoWait()})
			if err != nil {
				t.Errorf("the other process's open: %v", err)
				return
			}
			other.Close()
		}
		rep, err := m.Sync(ctx(), engram.SyncOptions{Full: true, Validate: true})
		if err != nil || !rep.Validation.OK {
			t.Fatalf("full sync with another open at Changes call %d: %v %s", at, err, dump(rep))
		}
		if ts := tierState(statusOf(t, m), engram.TierCache); ts.State != "ok" {
			t.Fatalf("cache tier after the sync: %+v", ts)
		}
	}
}

// A process that finds the cache file behind the change feed (others wrote
// while it was closed) catches it up before serving from it.
func TestOpenCatchesUpAStaleFile(t *testing.T) {
	dir := t.TempDir()
	ep := &engram.Episode{TaskDescription: "changed while the cache was closed"}
	a := open(t, memory.Config{DataDir: dir})
	must(t, a.CreateEpisode(ctx(), "default", ep))
	_, err := a.GetEpisode(ctx(), "default", ep.ID)
	must(t, err)
	must(t, a.Close())
	s := openSQLite(t, dir)
	must(t, s.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "behind its back"}))
	b := open(t, memory.Config{DataDir: dir, NoRAM: true})
	got, err := b.GetEpisode(ctx(), "default", ep.ID)
	must(t, err)
	if len(got.Steps) != 1 {
		t.Fatalf("the reopened cache serves %d steps; the durable store has 1", len(got.Steps))
	}
	if st := statusOf(t, b); st.Lag != 0 {
		t.Fatalf("lag %d after open", st.Lag)
	}
}
