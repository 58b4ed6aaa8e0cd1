package memory_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/clock"
	"github.com/engramhq/engram/internal/s3test"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
)

// s3URL returns an s3:// URL of a new bucket on the shared versitygw, with
// its credentials in the environment (where blob's s3 store finds them).
func s3URL(t *testing.T) string {
	t.Helper()
	s := s3test.Shared(t)
	s.SetCredentialEnv(t)
	return s.URL(s.NewBucket(t, "vectors"), "engram")
}

var vtStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// vtConfig is a Memory on dir whose tiering runs only when asked
// (TierVectors), on a manual clock, with the object tier at url.
func vtConfig(dir, url string, clk clock.Clock) memory.Config {
	return memory.Config{DataDir: dir, Logger: quiet, Clock: clk,
		Vectors: memory.VectorTierConfig{URL: url, Interval: -1}}
}

func tierOf(t *testing.T, m *memory.Memory, tier engram.VectorTier) engram.VectorTierStatus {
	t.Helper()
	st, err := m.Status(ctx())
	must(t, err)
	for _, ts := range st.Vectors.Tiers {
		if ts.Tier == tier {
			return ts
		}
	}
	t.Fatalf("status has no vector tier %s: %+v", tier, st.Vectors)
	return engram.VectorTierStatus{}
}

func rebuilds(t *testing.T, m *memory.Memory) uint64 {
	t.Helper()
	st, err := m.Status(ctx())
	must(t, err)
	return st.Vectors.Rebuilds
}

// answerer runs fixed queries and returns their ids and the tier of the
// first one.
type answerer struct {
	t       *testing.T
	queries [][]float32
}

func (a answerer) answer(m *memory.Memory) ([][]engram.UUID, engram.VectorTier) {
	a.t.Helper()
	var out [][]engram.UUID
	var first engram.VectorTier
	for i, q := range a.queries {
		res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: q, Limit: 10})
		must(a.t, err)
		if res.Vector == nil {
			a.t.Fatal("a vector recall reports no vector tier")
		}
		if i == 0 {
			first = res.Vector.Tier
		} else if res.Vector.Tier != engram.VectorHot || res.Vector.LoadTime != 0 {
			a.t.Fatalf("query %d after the load: tier %s load %v, want hot 0", i, res.Vector.Tier, res.Vector.LoadTime)
		}
		ids := make([]engram.UUID, len(res.Hits))
		for j, h := range res.Hits {
			ids[j] = h.ItemID
		}
		out = append(out, ids)
	}
	return out, first
}

func groupDir(dataDir string) string {
	return filepath.Join(dataDir, "index", "default", "episode", "default")
}

// An HNSW index demoted by idle time to warm and then cold (its local
// files removed) is fetched from S3 and answers exactly as before, without
// a rebuild; promotions and demotions are counted per tier.
func TestVectorTierColdFromS3AnswersAsBefore(t *testing.T) {
	defer memory.SetIndexHNSWMin(100)()
	url := s3URL(t)
	dir := t.TempDir()
	clk := clock.NewManual(vtStart)
	m := open(t, vtConfig(dir, url, clk))
	rng := rand.New(rand.NewPCG(31, 32))
	seed(t, m, rng, 300, 16)
	a := answerer{t, clustered(rng, 8, 16, 8)}

	before, tier := a.answer(m)
	if tier != engram.VectorRebuilt || rebuilds(t, m) != 1 {
		t.Fatalf("first load: tier %s, %d rebuilds; want rebuilt, 1", tier, rebuilds(t, m))
	}
	st, _ := m.Status(ctx())
	if st.Indexes[0].Kind != "hnsw" {
		t.Fatalf("index kind %s, want hnsw", st.Indexes[0].Kind)
	}

	// Idle for less than hot_to_warm: stays hot (and is uploaded, never
	// having been).
	clk.Advance(59 * time.Minute)
	must(t, m.TierVectors(ctx()))
	if h := tierOf(t, m, engram.VectorHot); h.Indexes != 1 || h.Vectors != 300 {
		t.Fatalf("after 59 min idle: hot %+v, want 1 index of 300 vectors", h)
	}
	if st, _ := m.Status(ctx()); st.Vectors.Uploads != 1 || st.Vectors.UploadBytes == 0 {
		t.Fatalf("the never-uploaded index was not uploaded: %+v", st.Vectors)
	}
	// Past hot_to_warm: warm, files on disk.
	clk.Advance(2 * time.Minute)
	must(t, m.TierVectors(ctx()))
	if h, w := tierOf(t, m, engram.VectorHot), tierOf(t, m, engram.VectorWarm); h.Indexes != 0 || h.Demotions != 1 || w.Indexes != 1 || w.Bytes == 0 {
		t.Fatalf("after 61 min idle: hot %+v warm %+v; want the index warm", h, w)
	}
	got, tier := a.answer(m)
	if tier != engram.VectorWarm || !slices.EqualFunc(before, got, slices.Equal) {
		t.Fatalf("from warm: tier %s, answers equal %v", tier, slices.EqualFunc(before, got, slices.Equal))
	}
	if h := tierOf(t, m, engram.VectorHot); h.Promotions != 1 || h.Indexes != 1 {
		t.Fatalf("after the warm load: hot %+v, want 1 promotion", h)
	}
	// Idle past warm_to_cold: hot -> warm -> cold in one pass; the local
	// files are gone.
	clk.Advance(24*time.Hour + time.Minute)
	must(t, m.TierVectors(ctx()))
	if c := tierOf(t, m, engram.VectorCold); c.Indexes != 1 || c.Bytes == 0 {
		t.Fatalf("after a day idle: cold %+v, want the index cold", c)
	}
	if w := tierOf(t, m, engram.VectorWarm); w.Demotions != 1 || w.Indexes != 0 {
		t.Fatalf("after a day idle: warm %+v, want 1 demotion and no index", w)
	}
	if _, err := os.Stat(groupDir(dir)); !os.IsNotExist(err) {
		t.Fatalf("the cold index's local files remain: %v", err)
	}
	got, tier = a.answer(m)
	if tier != engram.VectorCold || !slices.EqualFunc(before, got, slices.Equal) {
		t.Fatalf("from cold: tier %s, answers equal %v\nbefore %v\nafter  %v", tier, slices.EqualFunc(before, got, slices.Equal), before, got)
	}
	if n := rebuilds(t, m); n != 1 {
		t.Fatalf("the cold load rebuilt: %d rebuilds, want 1", n)
	}
	if c := tierOf(t, m, engram.VectorCold); c.Hits != 1 || c.LastLoad <= 0 {
		t.Fatalf("cold tier after its load: %+v, want 1 hit with its load time", c)
	}
	vts, err := m.VectorTiers(ctx())
	must(t, err)
	if len(vts.Groups) != 1 || vts.Groups[0].Tier != engram.VectorHot || vts.Groups[0].Uploaded == 0 {
		t.Fatalf("groups: %+v", vts.Groups)
	}
}

// A damaged object in the object tier fails its checksum on download: the
// index is rebuilt from the durable embeddings (and answers as before),
// never served from the damaged copy, and the reason names the object.
func TestVectorTierDamagedObjectRebuilds(t *testing.T) {
	url := s3URL(t)
	dir := t.TempDir()
	clk := clock.NewManual(vtStart)
	m := open(t, vtConfig(dir, url, clk))
	rng := rand.New(rand.NewPCG(41, 42))
	seed(t, m, rng, 150, 12)
	a := answerer{t, clustered(rng, 6, 12, 8)}
	before, _ := a.answer(m)
	must(t, m.FlushVectors(ctx()))

	// Flip one byte of the (only) snapshot object, keeping its name.
	b, err := blob.Open(ctx(), url, nil)
	must(t, err)
	defer b.Close()
	p, err := b.List(ctx(), engram.BlobListOptions{Prefix: "vectors/objects/"})
	must(t, err)
	if len(p.Items) != 1 {
		t.Fatalf("objects: %+v, want one", p.Items)
	}
	key := p.Items[0].Key
	r, err := b.Get(ctx(), key, 0, -1)
	must(t, err)
	data, err := io.ReadAll(r)
	r.Close()
	must(t, err)
	data[len(data)/2] ^= 0x10
	_, err = b.Put(ctx(), key, bytes.NewReader(data), engram.BlobPutOptions{})
	must(t, err)

	clk.Advance(25 * time.Hour)
	must(t, m.TierVectors(ctx()))
	if c := tierOf(t, m, engram.VectorCold); c.Indexes != 1 {
		t.Fatalf("not demoted to cold: %+v", c)
	}
	got, tier := a.answer(m)
	if tier != engram.VectorRebuilt || !slices.EqualFunc(before, got, slices.Equal) {
		t.Fatalf("after the damaged download: tier %s, answers equal %v", tier, slices.EqualFunc(before, got, slices.Equal))
	}
	st, err := m.Status(ctx())
	must(t, err)
	if st.Vectors.Rebuilds != 2 || st.Vectors.Corrupt != 1 {
		t.Fatalf("rebuilds %d corrupt %d, want 2 and 1", st.Vectors.Rebuilds, st.Vectors.Corrupt)
	}
	if c := tierOf(t, m, engram.VectorCold); c.State != "degraded" || !strings.Contains(c.Detail, key) {
		t.Fatalf("cold tier after the damaged download: %+v, want degraded naming %s", c, key)
	}
	if r := st.Indexes[0].RebuildReason; !strings.Contains(r, key) || !strings.Contains(r, "checksum") {
		t.Fatalf("rebuild reason %q, want one naming %s and its checksum", r, key)
	}
	// The rebuilt index is uploaded again under a new name, and a later
	// cold load is served from it.
	must(t, m.FlushVectors(ctx()))
	clk.Advance(25 * time.Hour)
	must(t, m.TierVectors(ctx()))
	if got, tier = a.answer(m); tier != engram.VectorCold || !slices.EqualFunc(before, got, slices.Equal) {
		t.Fatalf("after the re-upload: tier %s, answers equal %v", tier, slices.EqualFunc(before, got, slices.Equal))
	}
	if n := rebuilds(t, m); n != 2 {
		t.Fatalf("%d rebuilds after the good cold load, want 2", n)
	}
}

// A new node (a fresh data directory) on the same durable store and object
// tier loads the index from the object tier without a rebuild, and catches
// up from the change feed with changes made after the upload.
func TestVectorTierNewNodeStartsFromObjectTier(t *testing.T) {
	defer memory.SetIndexHNSWMin(100)()
	url := s3URL(t)
	dirA := t.TempDir()
	a := open(t, vtConfig(dirA, url, nil))
	rng := rand.New(rand.NewPCG(51, 52))
	s := seed(t, a, rng, 250, 16)
	q := answerer{t, clustered(rng, 8, 16, 8)}
	q.answer(a)
	must(t, a.FlushVectors(ctx()))
	// After the upload: one embedding deleted, one episode's vector replaced.
	must(t, a.DeleteEmbedding(ctx(), "default", engram.EmbeddingKey{ItemType: engram.ItemEpisode, ItemID: s.ids[3]}))
	must(t, a.PutEmbeddings(ctx(), "default", []*engram.Embedding{{ItemID: s.ids[7], ItemType: engram.ItemEpisode, Vector: q.queries[0]}}))
	want, _ := q.answer(a)
	if want[0][0] != s.ids[7] {
		t.Fatalf("node A: the replaced vector is not the best hit of its own query")
	}
	must(t, a.Close())

	b := open(t, memory.Config{DataDir: t.TempDir(), SQL: sqlstore.Options{Path: filepath.Join(dirA, sqlstore.DefaultFileName)},
		Logger: quiet, Vectors: memory.VectorTierConfig{URL: url, Interval: -1}})
	got, tier := q.answer(b)
	if tier != engram.VectorCold {
		t.Fatalf("new node loaded from %s, want cold", tier)
	}
	if n := rebuilds(t, b); n != 0 {
		t.Fatalf("new node rebuilt %d indexes, want 0", n)
	}
	if !slices.EqualFunc(want, got, slices.Equal) {
		t.Fatalf("new node answers differently:\nwant %v\ngot  %v", want, got)
	}
	st, err := b.Status(ctx())
	must(t, err)
	if st.Indexes[0].Lag != 0 || st.Indexes[0].Vectors != 249 {
		t.Fatalf("new node's index: %+v, want 249 vectors at lag 0", st.Indexes[0])
	}
}

// The hot tier holds at most HotMaxVectors: loading a second group demotes
// the least recently used one to warm, and querying it promotes it back.
// Without an object tier nothing goes cold, however long it is idle.
func TestVectorTierHotCapacityLRU(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewManual(vtStart)
	cfg := memory.Config{DataDir: dir, Logger: quiet, Clock: clk, Vectors: memory.VectorTierConfig{HotMaxVectors: 150, Interval: -1}}
	m := open(t, cfg)
	rng := rand.New(rand.NewPCG(61, 62))
	s := seed(t, m, rng, 100, 8)
	var embs []*engram.Embedding
	for i, id := range s.ids {
		embs = append(embs, &engram.Embedding{ItemID: id, ItemType: engram.ItemEpisode, Model: "second", Vector: s.vecs[(i+1)%len(s.vecs)]})
	}
	must(t, m.PutEmbeddings(ctx(), "default", embs))
	query := func(model string) *engram.RecallVectorInfo {
		t.Helper()
		res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: s.vecs[0], Model: model, Limit: 3})
		must(t, err)
		return res.Vector
	}
	hotModels := func() []string {
		t.Helper()
		vts, err := m.VectorTiers(ctx())
		must(t, err)
		var out []string
		for _, g := range vts.Groups {
			out = append(out, g.Model+"="+string(g.Tier))
		}
		return out
	}
	if v := query("default"); v.Tier != engram.VectorRebuilt {
		t.Fatalf("first load of default: %+v", v)
	}
	clk.Advance(time.Second)
	if v := query("second"); v.Tier != engram.VectorRebuilt {
		t.Fatalf("first load of second: %+v", v)
	}
	if got, want := hotModels(), []string{"default=warm", "second=hot"}; !slices.Equal(got, want) {
		t.Fatalf("after loading a second group over the budget: %v, want %v", got, want)
	}
	clk.Advance(time.Second)
	if v := query("default"); v.Tier != engram.VectorWarm || v.LoadTime <= 0 {
		t.Fatalf("default again: %+v, want warm with a load time", v)
	}
	if got, want := hotModels(), []string{"default=hot", "second=warm"}; !slices.Equal(got, want) {
		t.Fatalf("after querying the warm group: %v, want %v", got, want)
	}
	if h := tierOf(t, m, engram.VectorHot); h.Demotions != 2 || h.Promotions != 1 || h.Vectors != 100 || h.MaxVectors != 150 {
		t.Fatalf("hot tier: %+v", h)
	}
	clk.Advance(48 * time.Hour)
	must(t, m.TierVectors(ctx()))
	if got, want := hotModels(), []string{"default=warm", "second=warm"}; !slices.Equal(got, want) {
		t.Fatalf("after two idle days without an object tier: %v, want %v", got, want)
	}
	if c := tierOf(t, m, engram.VectorCold); c.State != "disabled" || c.Indexes != 0 {
		t.Fatalf("cold tier without an object tier: %+v", c)
	}
	if n := rebuilds(t, m); n != 2 {
		t.Fatalf("%d rebuilds, want 2 (one per group)", n)
	}
}

// The background loop runs on the injected clock: advancing it past
// hot_to_warm demotes the idle index without any call, and Close stops the
// loop.
func TestVectorTierLoopOnManualClock(t *testing.T) {
	clk := clock.NewManual(vtStart)
	cfg := memory.Config{DataDir: t.TempDir(), Logger: quiet, Clock: clk, Vectors: memory.VectorTierConfig{Interval: time.Minute}}
	m := open(t, cfg)
	passes := make(chan struct{}, 1)
	memory.SetVectorTierHook(m, func() {
		select {
		case passes <- struct{}{}:
		default:
		}
	})
	rng := rand.New(rand.NewPCG(71, 72))
	s := seed(t, m, rng, 40, 8)
	if _, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: s.vecs[0]}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	<-passes
	if h := tierOf(t, m, engram.VectorHot); h.Indexes != 1 {
		t.Fatalf("after a minute: hot %+v, want the index still hot", h)
	}
	clk.Advance(time.Hour)
	<-passes
	if h := tierOf(t, m, engram.VectorHot); h.Indexes != 0 || h.Demotions != 1 {
		t.Fatalf("after an idle hour: hot %+v, want the index demoted by the loop", h)
	}
}

// Queries and direct updates racing demotions and promotions (file://
// object tier): every answer equals the exact one, nothing reads a closed
// index (run with -race).
func TestVectorTierConcurrentDemotion(t *testing.T) {
	clk := clock.NewManual(vtStart)
	m := open(t, vtConfig(t.TempDir(), "file://"+t.TempDir(), clk))
	rng := rand.New(rand.NewPCG(81, 82))
	s := seed(t, m, rng, 120, 8)
	q := answerer{t, clustered(rng, 4, 8, 8)}
	want, _ := q.answer(m)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				qi := i % len(q.queries)
				res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: q.queries[qi], Limit: 10})
				if err != nil {
					errs <- err
					return
				}
				for j, h := range res.Hits {
					if h.ItemID != want[qi][j] {
						errs <- &engram.Error{Code: engram.EINTERNAL, Message: "a racing recall answered differently"}
						return
					}
				}
				// A direct update of an item that is in no answer.
				if err := m.PutEmbeddings(ctx(), "default", []*engram.Embedding{{ItemID: s.ids[0], ItemType: engram.ItemEpisode, Vector: s.vecs[0]}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 30; i++ {
		clk.Advance(25 * time.Hour)
		must(t, m.TierVectors(ctx()))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Snapshots left on disk by an earlier process are found at open as warm
// groups, names with escaped characters included.
func TestVectorTierWarmFoundAtOpen(t *testing.T) {
	dir := t.TempDir()
	cfg := memory.Config{DataDir: dir, Logger: quiet, Vectors: memory.VectorTierConfig{Interval: -1}}
	m := open(t, cfg)
	rng := rand.New(rand.NewPCG(91, 92))
	s := seed(t, m, rng, 20, 4)
	const model = "org/model:v1.5 %"
	var embs []*engram.Embedding
	for i, id := range s.ids {
		embs = append(embs, &engram.Embedding{ItemID: id, ItemType: engram.ItemEpisode, Model: model, Vector: s.vecs[i]})
	}
	must(t, m.PutEmbeddings(ctx(), "default", embs))
	res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: s.vecs[0], Model: model})
	must(t, err)
	if res.Vector.Tier != engram.VectorRebuilt {
		t.Fatalf("first load: %+v", res.Vector)
	}
	must(t, m.Close())
	m = open(t, cfg)
	vts, err := m.VectorTiers(ctx())
	must(t, err)
	if len(vts.Groups) != 1 || vts.Groups[0].Model != model || vts.Groups[0].Tier != engram.VectorWarm || vts.Groups[0].Bytes == 0 {
		t.Fatalf("groups after reopening: %+v", vts.Groups)
	}
	res, err = m.Recall(ctx(), "default", engram.RecallQuery{Vector: s.vecs[0], Model: model})
	must(t, err)
	if res.Vector.Tier != engram.VectorWarm || res.Hits[0].ItemID != s.ids[0] {
		t.Fatalf("after reopening: %+v", res.Vector)
	}
}

// A damaged warm snapshot (caught when it opens) is replaced by the object
// tier's copy instead of being rebuilt from SQL.
func TestVectorTierDamagedWarmRefetched(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewManual(vtStart)
	m := open(t, vtConfig(dir, "file://"+t.TempDir(), clk))
	rng := rand.New(rand.NewPCG(101, 102))
	seed(t, m, rng, 60, 8)
	a := answerer{t, clustered(rng, 4, 8, 8)}
	before, _ := a.answer(m)
	must(t, m.FlushVectors(ctx()))
	clk.Advance(61 * time.Minute)
	must(t, m.TierVectors(ctx()))
	snap := filepath.Join(groupDir(dir), "8.flat")
	b, err := os.ReadFile(snap)
	must(t, err)
	off, n := snapshotSection(t, b, 2) // the int8 codes, checked at open
	b[off+n/2] ^= 0x40
	must(t, os.WriteFile(snap, b, 0o644))
	got, tier := a.answer(m)
	if tier != engram.VectorCold || !slices.EqualFunc(before, got, slices.Equal) {
		t.Fatalf("after damaging the warm snapshot: tier %s, answers equal %v", tier, slices.EqualFunc(before, got, slices.Equal))
	}
	if n := rebuilds(t, m); n != 1 {
		t.Fatalf("%d rebuilds, want 1 (the first load only)", n)
	}
}

// A recall while the durable store is down must not take the local warm
// snapshot for damaged: it stays where it is (not deleted and fetched again
// from the object tier, whose copy may be older), and once the store is back
// the group opens from it.
func TestVectorTierOutageKeepsWarmSnapshot(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, "engram.db")})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	f := &flaky{Store: s}
	clk := clock.NewManual(vtStart)
	cfg := vtConfig(dir, "file://"+t.TempDir(), clk)
	cfg.Durable = flakySearch{f}
	m := open(t, cfg)
	rng := rand.New(rand.NewPCG(111, 112))
	sd := seed(t, m, rng, 60, 8)
	a := answerer{t, clustered(rng, 4, 8, 8)}
	a.answer(m)
	must(t, m.FlushVectors(ctx())) // the object tier's copy
	clk.Advance(61 * time.Minute)
	must(t, m.TierVectors(ctx())) // warm
	snap := filepath.Join(groupDir(dir), "8.flat")
	before, err := os.Stat(snap)
	must(t, err)

	f.down.Store(true)
	_, err = m.Recall(ctx(), "default", engram.RecallQuery{Vector: sd.vecs[0], Limit: 5})
	if engram.ErrorCode(err) != engram.EUNAVAILABLE {
		t.Fatalf("recall with the durable store down: %v, want unavailable", err)
	}
	after, err := os.Stat(snap)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the warm snapshot was replaced during the outage (%v): it was taken for damaged", err)
	}
	f.down.Store(false)
	res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: sd.vecs[0], Limit: 5})
	must(t, err)
	if res.Vector == nil || res.Vector.Tier != engram.VectorWarm {
		t.Fatalf("after the outage the group loaded from %+v, want warm", res.Vector)
	}
	if n := rebuilds(t, m); n != 1 {
		t.Fatalf("%d rebuilds, want 1 (the first load only)", n)
	}
}

// A group uploaded to the object tier and then demoted is no longer
// referenced by the tiering state: its in-memory index is freed, so the hot
// tier's bounds bound the memory held.
func TestVectorTierDemotedGroupIsReleased(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewManual(vtStart)
	m := open(t, vtConfig(dir, "file://"+t.TempDir(), clk))
	rng := rand.New(rand.NewPCG(121, 122))
	seed(t, m, rng, 60, 8)
	answerer{t, clustered(rng, 2, 8, 8)}.answer(m)
	must(t, m.FlushVectors(ctx()))
	clk.Advance(2 * time.Hour)
	must(t, m.TierVectors(ctx()))
	if st := tierOf(t, m, engram.VectorWarm); st.Indexes != 1 {
		t.Fatalf("after 2 h idle: warm tier %+v, want the group", st)
	}
	if n := memory.DemotedGroupsHeld(m); n != 0 {
		t.Fatalf("%d demoted group(s) still referenced by the tiering state", n)
	}
}
