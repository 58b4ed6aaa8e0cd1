package memory_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/embed"
	"github.com/engramhq/engram/embed/embedtest"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// clustered returns n unit vectors of dim d drawn around a few centres
// (a low-dimensional structure, as real embeddings have).
func clustered(rng *rand.Rand, n, d, centres int) [][]float32 {
	cs := make([][]float64, centres)
	for i := range cs {
		cs[i] = make([]float64, d)
		for j := range cs[i] {
			cs[i][j] = rng.NormFloat64()
		}
	}
	out := make([][]float32, n)
	for i := range out {
		c := cs[rng.IntN(centres)]
		v := make([]float32, d)
		var norm float64
		for j := range v {
			x := c[j] + 0.6*rng.NormFloat64()
			v[j] = float32(x)
			norm += x * x
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(norm))
		}
		out[i] = v
	}
	return out
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// exactTop returns the ids of the k stored vectors most similar to q.
func exactTop(q []float32, ids []engram.UUID, vecs [][]float32, k int) []engram.UUID {
	idx := make([]int, len(ids))
	for i := range idx {
		idx[i] = i
	}
	sims := make([]float64, len(ids))
	for i := range ids {
		sims[i] = cosine(q, vecs[i])
	}
	sort.Slice(idx, func(a, b int) bool { return sims[idx[a]] > sims[idx[b]] })
	out := make([]engram.UUID, 0, k)
	for _, i := range idx[:k] {
		out = append(out, ids[i])
	}
	return out
}

type seeded struct {
	eps  []*engram.Episode
	ids  []engram.UUID
	vecs [][]float32
}

var taskTypes = []engram.TaskType{engram.TaskDebugging, engram.TaskTesting, engram.TaskAnalysis}
var words = []string{"parser", "network", "cache", "database", "render", "compiler"}

// seed stores n episodes of varied fields, each with an embedding of dim d.
func seed(t *testing.T, m *memory.Memory, rng *rand.Rand, n, d int) *seeded {
	t.Helper()
	s := &seeded{vecs: clustered(rng, n, d, 8)}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		ep := &engram.Episode{
			TaskType:        taskTypes[rng.IntN(len(taskTypes))],
			TaskDescription: fmt.Sprintf("fix the %s bug number %d", words[rng.IntN(len(words))], i),
			Context:         engram.TaskContext{Domain: []string{"web", "cli", "general"}[rng.IntN(3)]},
			StartTime:       base.Add(time.Duration(rng.IntN(1000)) * time.Hour),
			Metadata:        map[string]string{"team": []string{"a", "b"}[rng.IntN(2)]},
		}
		if rng.IntN(2) == 0 {
			ep.Tags = []string{"go"}
		}
		if rng.IntN(3) == 0 {
			ep.Context.Tags = []string{"urgent"}
		}
		if rng.IntN(2) == 0 {
			ep.Location = &engram.Location{Lat: rng.Float64()*20 + 40, Lon: rng.Float64()*20 - 10}
		}
		s.eps = append(s.eps, ep)
	}
	for i := 0; i < n; i += engram.MaxBatch {
		must(t, m.CreateEpisodes(ctx(), "default", s.eps[i:min(n, i+engram.MaxBatch)]))
	}
	var embs []*engram.Embedding
	for i, ep := range s.eps {
		if rng.IntN(3) == 0 {
			c, err := m.CompleteEpisode(ctx(), "default", ep.ID, &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}})
			must(t, err)
			s.eps[i] = c
		}
		s.ids = append(s.ids, ep.ID.UUID)
		embs = append(embs, &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: s.vecs[i]})
	}
	for i := 0; i < n; i += engram.MaxBatch {
		must(t, m.PutEmbeddings(ctx(), "default", embs[i:min(n, i+engram.MaxBatch)]))
	}
	return s
}

func recallIDs(t *testing.T, m *memory.Memory, q engram.RecallQuery) []engram.UUID {
	t.Helper()
	res, err := m.Recall(ctx(), "default", q)
	must(t, err)
	ids := make([]engram.UUID, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ItemID
	}
	return ids
}

func TestRecallVectorMatchesExactSearch(t *testing.T) {
	m := open(t, memory.Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	s := seed(t, m, rng, 600, 32)
	queries := clustered(rand.New(rand.NewPCG(3, 4)), 20, 32, 8)
	found, total := 0, 0
	for _, q := range queries {
		got := recallIDs(t, m, engram.RecallQuery{Vector: q, Limit: 10})
		want := exactTop(q, s.ids, s.vecs, 10)
		for _, id := range want {
			if slices.Contains(got, id) {
				found++
			}
		}
		total += len(want)
	}
	if r := float64(found) / float64(total); r < 0.95 {
		t.Fatalf("recall@10 = %.3f against exact search; want >= 0.95", r)
	}
	res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: queries[0], Limit: 3})
	must(t, err)
	for i, h := range res.Hits {
		if h.Signals.Vector == nil || h.Signals.Vector.Rank != i+1 || h.Episode == nil || h.Episode.ID.UUID != h.ItemID || h.Signals.Text != nil {
			t.Fatalf("hit %d: %+v", i, h)
		}
		if want := 1.0 / float64(60+i+1); math.Abs(h.Score-want) > 1e-12 {
			t.Fatalf("hit %d: RRF score %v, want 1/(60+%d) = %v", i, h.Score, i+1, want)
		}
	}
}

// randomFilter draws a filter from the fields seed varies.
func randomFilter(rng *rand.Rand) engram.EpisodeFilter {
	var f engram.EpisodeFilter
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for f2 := 0; f2 < 1+rng.IntN(3); f2++ {
		switch rng.IntN(9) {
		case 0:
			f.TaskType = taskTypes[rng.IntN(len(taskTypes))]
		case 1:
			f.Domain = []string{"web", "cli", "general"}[rng.IntN(3)]
		case 2:
			f.Tags = append(f.Tags, []string{"go", "urgent"}[rng.IntN(2)])
		case 3:
			f.Metadata = map[string]string{"team": []string{"a", "b"}[rng.IntN(2)]}
		case 4:
			b := rng.IntN(2) == 0
			f.Complete = &b
		case 5:
			f.Since = base.Add(time.Duration(rng.IntN(1000)) * time.Hour)
			f.Until = time.Time{}
		case 6:
			f.Until = base.Add(time.Duration(500+rng.IntN(600)) * time.Hour)
			f.Since = time.Time{}
		case 7:
			f.Near = &engram.GeoRadius{Lat: 50, Lon: 0, KM: float64(100 + rng.IntN(800))}
		case 8:
			f.Box = &engram.GeoBox{MinLat: 42, MaxLat: 42 + rng.Float64()*20, MinLon: -10 + rng.Float64()*10, MaxLon: 10}
		}
	}
	return f
}

func TestRecallFiltersMatchListEpisodes(t *testing.T) {
	m := open(t, memory.Config{})
	seedN := time.Now().UnixNano()
	t.Logf("seed %d", seedN)
	rng := rand.New(rand.NewPCG(uint64(seedN), 7))
	s := seed(t, m, rng, 150, 16)
	all, err := m.ListEpisodes(ctx(), "default", engram.EpisodeFilter{Limit: engram.MaxQueryLimit})
	must(t, err)
	for i := 0; i < 25; i++ {
		f := randomFilter(rng)
		// The matcher agrees with ListEpisodes on every stored episode.
		f.Limit = engram.MaxQueryLimit
		page, err := m.ListEpisodes(ctx(), "default", f)
		must(t, err)
		f.Limit = 0
		listed := map[engram.UUID]bool{}
		for _, ep := range page.Episodes {
			listed[ep.ID.UUID] = true
		}
		for _, ep := range all.Episodes {
			if got := engram.MatchEpisode(ep, &f); got != listed[ep.ID.UUID] {
				t.Fatalf("filter %+v: MatchEpisode(%s) = %v, ListEpisodes lists it: %v", f, ep.ID, got, listed[ep.ID.UUID])
			}
		}
		// Recall returns only listed episodes, and as many as it can.
		res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: s.vecs[rng.IntN(len(s.vecs))], Text: words[rng.IntN(len(words))], Limit: 20, Filter: f})
		must(t, err)
		for _, h := range res.Hits {
			if !listed[h.ItemID] || !engram.MatchEpisode(h.Episode, &f) {
				t.Fatalf("filter %+v: recalled %s, which does not match", f, h.ItemID)
			}
		}
		if want := min(20, len(listed)); len(res.Hits) != want {
			t.Fatalf("filter %+v: %d hits; %d episodes match and all have embeddings, want %d", f, len(res.Hits), len(listed), want)
		}
	}
}

func TestRecallNeverReturnsDeleted(t *testing.T) {
	m := open(t, memory.Config{})
	rng := rand.New(rand.NewPCG(5, 6))
	s := seed(t, m, rng, 100, 8)
	q := s.vecs[0]
	if got := recallIDs(t, m, engram.RecallQuery{Vector: q, Limit: 1}); len(got) != 1 || got[0] != s.ids[0] {
		t.Fatalf("nearest to its own vector: %v, want %s", got, s.ids[0])
	}
	// Deleting the embedding (episode kept) and, for another, the episode.
	must(t, m.DeleteEmbedding(ctx(), "default", engram.EmbeddingKey{ItemType: engram.ItemEpisode, ItemID: s.ids[0]}))
	must(t, m.DeleteEpisode(ctx(), "default", engram.EpisodeID{UUID: s.ids[1]}))
	for _, v := range [][]float32{s.vecs[0], s.vecs[1]} {
		for _, id := range recallIDs(t, m, engram.RecallQuery{Vector: v, Limit: 100}) {
			if id == s.ids[0] || id == s.ids[1] {
				t.Fatalf("recalled %s after its embedding or episode was deleted", id)
			}
		}
	}
	// Text finds the embedding-less episode, not the deleted one.
	got := recallIDs(t, m, engram.RecallQuery{Text: s.eps[0].TaskDescription + " " + s.eps[1].TaskDescription, Limit: 100})
	if !slices.Contains(got, s.ids[0]) || slices.Contains(got, s.ids[1]) {
		t.Fatalf("text recall: has kept %v, has deleted %v", slices.Contains(got, s.ids[0]), slices.Contains(got, s.ids[1]))
	}
}

func TestRecallSeesOtherProcessAfterSync(t *testing.T) {
	dir := t.TempDir()
	a := open(t, memory.Config{DataDir: dir, CachePath: filepath.Join(t.TempDir(), "a.db")})
	b := open(t, memory.Config{DataDir: dir, CachePath: filepath.Join(t.TempDir(), "b.db")})
	rng := rand.New(rand.NewPCG(8, 9))
	s := seed(t, a, rng, 50, 8)
	// b loads its index now.
	if got := recallIDs(t, b, engram.RecallQuery{Vector: s.vecs[3], Limit: 1}); len(got) != 1 || got[0] != s.ids[3] {
		t.Fatalf("b before: %v", got)
	}
	ep := &engram.Episode{TaskType: engram.TaskTesting, TaskDescription: "a new one"}
	must(t, a.CreateEpisode(ctx(), "default", ep))
	v := make([]float32, 8)
	v[0], v[5] = 3, -2 // far from the clustered data
	must(t, a.PutEmbeddings(ctx(), "default", []*engram.Embedding{{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: v}}))
	if got := recallIDs(t, a, engram.RecallQuery{Vector: v, Limit: 1}); len(got) != 1 || got[0] != ep.ID.UUID {
		t.Fatalf("a (the writer) does not recall its write at once: %v", got)
	}
	_, err := b.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if got := recallIDs(t, b, engram.RecallQuery{Vector: v, Limit: 1}); len(got) != 1 || got[0] != ep.ID.UUID {
		t.Fatalf("b after sync: %v, want %s", got, ep.ID)
	}
	must(t, a.DeleteEpisode(ctx(), "default", ep.ID))
	_, err = b.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if got := recallIDs(t, b, engram.RecallQuery{Vector: v, Limit: 1}); len(got) == 1 && got[0] == ep.ID.UUID {
		t.Fatal("b recalls a deleted episode after sync")
	}
	st, err := b.Status(ctx())
	must(t, err)
	if len(st.Indexes) != 1 || st.Indexes[0].Vectors != 50 || st.Indexes[0].Lag != 0 || st.Indexes[0].Dim != 8 {
		t.Fatalf("b's index status: %+v", st.Indexes)
	}
}

func TestRecallPersistedIndexReopened(t *testing.T) {
	dir := t.TempDir()
	cfg := memory.Config{DataDir: dir, Logger: quiet}
	m, err := memory.Open(ctx(), cfg)
	must(t, err)
	rng := rand.New(rand.NewPCG(10, 11))
	s := seed(t, m, rng, 200, 16)
	queries := clustered(rng, 10, 16, 8)
	answer := func(m *memory.Memory) [][]engram.UUID {
		var out [][]engram.UUID
		for _, q := range queries {
			out = append(out, recallIDs(t, m, engram.RecallQuery{Vector: q, Limit: 10}))
		}
		return out
	}
	answer(m) // loads the index, which saves its first snapshot
	st, _ := m.Status(ctx())
	if st.Indexes[0].RebuildReason != "no snapshot" {
		t.Fatalf("first load: %+v", st.Indexes[0])
	}
	// A change after the snapshot the load wrote is replayed at reopen.
	must(t, m.DeleteEmbedding(ctx(), "default", engram.EmbeddingKey{ItemType: engram.ItemEpisode, ItemID: s.ids[5]}))
	before := answer(m)
	must(t, m.Close())
	snap := filepath.Join(dir, "index", "default", "episode", "default", "16.flat")
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot at %s: %v", snap, err)
	}

	m = open(t, cfg)
	if after := answer(m); !slices.EqualFunc(before, after, slices.Equal) {
		t.Fatalf("reopened index answers differently:\nbefore %v\nafter  %v", before, after)
	}
	st, _ = m.Status(ctx())
	if st.Indexes[0].RebuildReason != "" || st.Indexes[0].Vectors != 199 {
		t.Fatalf("reopened index was not opened from its snapshot: %+v", st.Indexes[0])
	}
	must(t, m.Close())

	// Damage (docs/vector.md has the format): a flipped byte in the int8
	// codes is caught when the snapshot opens, and one in every float32
	// vector when a search first reads one; either way the index is rebuilt
	// from the durable embeddings and answers as before.
	for _, c := range []struct {
		what    string
		section uint32 // 1 vectors, 2 codes
		stride  int    // 0: one byte; else every stride bytes
	}{{"codes", 2, 0}, {"every vector", 1, 16 * 4}} {
		b, err := os.ReadFile(snap)
		must(t, err)
		off, n := snapshotSection(t, b, c.section)
		if c.stride == 0 {
			b[off+n/2] ^= 0x40
		} else {
			for i := off + 3; i < off+n; i += c.stride {
				b[i] ^= 0x40
			}
		}
		must(t, os.WriteFile(snap, b, 0o644))
		m = open(t, cfg)
		if after := answer(m); !slices.EqualFunc(before, after, slices.Equal) {
			t.Fatalf("damaged %s: rebuilt index answers differently:\nbefore %v\nafter  %v", c.what, before, after)
		}
		st, _ = m.Status(ctx())
		if r := st.Indexes[0].RebuildReason; r == "" || !containsStr(r, snap) || st.Indexes[0].Vectors != 199 {
			t.Fatalf("damaged %s: rebuild reason %q, want one naming %s; %+v", c.what, r, snap, st.Indexes[0])
		}
		must(t, m.Close())
	}
}

// snapshotSection finds section kind in a vector snapshot's section table
// (96-byte header, then 32-byte entries {kind u32, 0, offset u64, length u64, ...}).
func snapshotSection(t *testing.T, b []byte, kind uint32) (off, n int) {
	t.Helper()
	sections := int(binary.LittleEndian.Uint32(b[64:]))
	for i := 0; i < sections; i++ {
		e := b[96+32*i:]
		if binary.LittleEndian.Uint32(e) == kind {
			return int(binary.LittleEndian.Uint64(e[8:])), int(binary.LittleEndian.Uint64(e[16:]))
		}
	}
	t.Fatalf("snapshot has no section %d", kind)
	return 0, 0
}

func containsStr(s, sub string) bool { return indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestRecallHybridAndErrors(t *testing.T) {
	m := open(t, memory.Config{})
	rng := rand.New(rand.NewPCG(12, 13))
	s := seed(t, m, rng, 60, 8)
	// An episode both signals rank first gets 2/(60+1).
	target := s.eps[7]
	res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: s.vecs[7], Text: target.TaskDescription, Limit: 5, HalfLife: 72 * time.Hour})
	must(t, err)
	h := res.Hits[0]
	if h.ItemID != target.ID.UUID || h.Signals.Vector.Rank != 1 || h.Signals.Text.Rank != 1 || h.Signals.Recency == nil {
		t.Fatalf("top hit: %+v (want %s first on vector and text)", h, target.ID)
	}
	want := 2.0/61 + 1.0/float64(60+h.Signals.Recency.Rank)
	if math.Abs(h.Score-want) > 1e-12 {
		t.Fatalf("score %v, want %v", h.Score, want)
	}
	// Weighted: text alone, normalised by the best text score.
	res, err = m.Recall(ctx(), "default", engram.RecallQuery{Text: target.TaskDescription, Fusion: engram.FusionWeighted, Limit: 1})
	must(t, err)
	if res.Hits[0].ItemID != target.ID.UUID || res.Hits[0].Score != 1 || res.Hits[0].Signals.Vector != nil {
		t.Fatalf("weighted text-only top hit: %+v", res.Hits[0])
	}
	_, err = m.Recall(ctx(), "default", engram.RecallQuery{Vector: make([]float32, 9)})
	if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != "vector" {
		t.Fatalf("wrong dimension: %v", err)
	}
	_, err = m.Recall(ctx(), "default", engram.RecallQuery{Vector: []float32{1, float32(math.NaN()), 0, 0, 0, 0, 0, 0}})
	if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != "vector[1]" {
		t.Fatalf("NaN: %v", err)
	}
}

func TestRecallWithEmbedder(t *testing.T) {
	srv := embedtest.Start(t, 64, "tok")
	e, err := embed.New(embed.Options{URL: srv.URL, Model: "bag-64", Token: "tok"})
	must(t, err)
	m := open(t, memory.Config{Embedder: e})
	descs := []string{"parser crashes on unicode input", "dashboard renders slowly", "network retries time out"}
	var eps []*engram.Episode
	for _, d := range descs {
		ep := &engram.Episode{TaskType: engram.TaskDebugging, TaskDescription: d}
		must(t, m.CreateEpisode(ctx(), "default", ep))
		eps = append(eps, ep)
	}
	// Each episode got its task description's embedding, under the model.
	for i, ep := range eps {
		got, err := m.GetEmbedding(ctx(), "default", engram.EmbeddingKey{ItemType: engram.ItemEpisode, ItemID: ep.ID.UUID, Model: "bag-64"})
		must(t, err)
		if !slices.Equal(got.Vector, srv.Vector(descs[i])) {
			t.Fatalf("episode %d: stored vector is not the service's", i)
		}
	}
	// A text-only recall gets a vector signal from the embedded text: words
	// the keyword search cannot match ("slow" is not "slowly") still share
	// the "dashboard" bucket.
	res, err := m.Recall(ctx(), "default", engram.RecallQuery{Text: "dashboard slow", Limit: 1})
	must(t, err)
	if len(res.Hits) != 1 || res.Hits[0].ItemID != eps[1].ID.UUID || res.Hits[0].Signals.Vector == nil || res.Hits[0].Signals.Vector.Rank != 1 {
		t.Fatalf("text-only recall with an embedder: %+v", res.Hits)
	}
	// A service that is down leaves creates acknowledged and recall by text.
	e2, _ := embed.New(embed.Options{URL: "http://127.0.0.1:1", Model: "bag-64"})
	m2 := open(t, memory.Config{Embedder: e2})
	ep := &engram.Episode{TaskType: engram.TaskDebugging, TaskDescription: "dashboard offline"}
	must(t, m2.CreateEpisode(ctx(), "default", ep))
	res, err = m2.Recall(ctx(), "default", engram.RecallQuery{Text: "offline", Limit: 1})
	must(t, err)
	if len(res.Hits) != 1 || res.Hits[0].ItemID != ep.ID.UUID || res.Hits[0].Signals.Vector != nil {
		t.Fatalf("recall with the embedder down: %+v", res.Hits)
	}
}

func TestRecallHNSWIndexPersisted(t *testing.T) {
	defer memory.SetIndexHNSWMin(100)()
	dir := t.TempDir()
	cfg := memory.Config{DataDir: dir, Logger: quiet}
	m, err := memory.Open(ctx(), cfg)
	must(t, err)
	rng := rand.New(rand.NewPCG(20, 21))
	s := seed(t, m, rng, 400, 24)
	st, err := m.RebuildIndexes(ctx(), "")
	must(t, err)
	if len(st) != 1 || st[0].Kind != "hnsw" || st[0].Vectors != 400 {
		t.Fatalf("rebuild above the threshold: %+v", st)
	}
	queries := clustered(rand.New(rand.NewPCG(22, 23)), 15, 24, 8)
	var before [][]engram.UUID
	found, total := 0, 0
	for _, q := range queries {
		got := recallIDs(t, m, engram.RecallQuery{Vector: q, Limit: 10})
		before = append(before, got)
		for _, id := range exactTop(q, s.ids, s.vecs, 10) {
			if slices.Contains(got, id) {
				found++
			}
			total++
		}
	}
	if r := float64(found) / float64(total); r < 0.95 {
		t.Fatalf("HNSW recall@10 = %.3f against exact search; want >= 0.95", r)
	}
	// A filter allowing few episodes stays exact over them.
	f := engram.EpisodeFilter{TaskType: engram.TaskAnalysis, Domain: "cli"}
	res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: queries[0], Limit: 5, Filter: f})
	must(t, err)
	var allowedIDs []engram.UUID
	var allowedVecs [][]float32
	for i, ep := range s.eps {
		if engram.MatchEpisode(ep, &f) {
			allowedIDs, allowedVecs = append(allowedIDs, s.ids[i]), append(allowedVecs, s.vecs[i])
		}
	}
	want := exactTop(queries[0], allowedIDs, allowedVecs, min(5, len(allowedIDs)))
	for i, h := range res.Hits {
		if h.ItemID != want[i] {
			t.Fatalf("filtered hit %d: %s, exact search says %s", i, h.ItemID, want[i])
		}
	}
	must(t, m.Close())
	if _, err := os.Stat(filepath.Join(dir, "index", "default", "episode", "default", "24.hnsw")); err != nil {
		t.Fatal(err)
	}
	m = open(t, cfg)
	for i, q := range queries {
		if got := recallIDs(t, m, engram.RecallQuery{Vector: q, Limit: 10}); !slices.Equal(got, before[i]) {
			t.Fatalf("query %d: reopened graph answers %v, before %v", i, got, before[i])
		}
	}
	st2, _ := m.Status(ctx())
	if st2.Indexes[0].Kind != "hnsw" || st2.Indexes[0].RebuildReason != "" {
		t.Fatalf("reopened: %+v", st2.Indexes[0])
	}
}

func TestRecallDuringOutage(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, "engram.db")})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	f := &flaky{Store: s}
	m := open(t, memory.Config{DataDir: dir, Durable: flakySearch{f}})
	rng := rand.New(rand.NewPCG(30, 31))
	sd := seed(t, m, rng, 40, 8)
	q := engram.RecallQuery{Vector: sd.vecs[4], Text: "parser", Limit: 5, Filter: engram.EpisodeFilter{Domain: sd.eps[4].Context.Domain}}
	vq := q
	vq.Text = ""
	want := recallIDs(t, m, vq) // loads the index; what the index alone answers
	if len(want) == 0 || want[0] != sd.ids[4] {
		t.Fatalf("before the outage: %v", want)
	}
	f.down.Store(true)
	res, err := m.Recall(ctx(), "default", q)
	must(t, err)
	got := make([]engram.UUID, len(res.Hits))
	for i, h := range res.Hits {
		got[i] = h.ItemID
		if h.Signals.Text != nil {
			t.Fatalf("a text signal while the durable store is down: %+v", h.Signals)
		}
	}
	if !res.Stale || !slices.Equal(got, want) {
		t.Fatalf("during the outage: stale %v, hits %v; want the index's answer %v from cached records, marked stale", res.Stale, got, want)
	}
	for _, h := range res.Hits {
		if h.Episode.Context.Domain != q.Filter.Domain {
			t.Fatalf("during the outage a hit fails the filter: %+v", h.Episode.Context)
		}
	}
	_, err = m.Recall(ctx(), "default", engram.RecallQuery{Text: "parser"})
	storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
}

// flakySearch is flaky whose keyword search and embedding reads fail too.
type flakySearch struct{ *flaky }

func (f flakySearch) Search(ctx context.Context, ns engram.Namespace, q engram.SearchQuery) ([]engram.SearchHit, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Search(ctx, ns, q)
}

func (f flakySearch) ListEmbeddings(ctx context.Context, ns engram.Namespace, fl engram.EmbeddingFilter) (engram.EmbeddingPage, error) {
	if err := f.check(); err != nil {
		return engram.EmbeddingPage{}, err
	}
	return f.Store.ListEmbeddings(ctx, ns, fl)
}

// childRecall opens its own Memory (its own cache file) on DATA and answers
// the parent's lines: "recall v1,v2,..." prints "hits ID,ID,..." (the 3
// nearest), "sync" syncs and prints "synced".
func childRecall() {
	m, err := memory.Open(ctx(), memory.Config{DataDir: os.Getenv("DATA"), CachePath: os.Getenv("CACHE"), Logger: quiet})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	defer m.Close()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "sync":
			if _, err := m.Sync(ctx(), engram.SyncOptions{}); err != nil {
				fmt.Println("error", err)
				return
			}
			fmt.Println("synced")
		case "recall":
			var v []float32
			for _, f := range strings.Split(arg, ",") {
				x, _ := strconv.ParseFloat(f, 32)
				v = append(v, float32(x))
			}
			res, err := m.Recall(ctx(), "default", engram.RecallQuery{Vector: v, Limit: 3})
			if err != nil {
				fmt.Println("error", err)
				return
			}
			ids := make([]string, len(res.Hits))
			for i, h := range res.Hits {
				ids[i] = h.ItemID.String()
			}
			fmt.Println("hits " + strings.Join(ids, ","))
		}
	}
}

func TestRecallInAnotherProcessAfterSync(t *testing.T) {
	dir := t.TempDir()
	a := open(t, memory.Config{DataDir: dir})
	rng := rand.New(rand.NewPCG(50, 51))
	s := seed(t, a, rng, 30, 4)
	csv := func(v []float32) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
		return strings.Join(parts, ",")
	}
	_, in, out := child(t, "recall", "DATA="+dir, "CACHE="+filepath.Join(t.TempDir(), "b.db"))
	expectLine(t, out, "ready")
	fmt.Fprintln(in, "recall "+csv(s.vecs[2]))
	if got := expectLine(t, out, "hits"); !strings.HasPrefix(got, "hits "+s.ids[2].String()) {
		t.Fatalf("child's first recall: %q, want %s first", got, s.ids[2])
	}
	// A writes an episode whose vector is the opposite of every seeded one's
	// neighbourhood; the child's index has it after one sync.
	v := []float32{9, -9, 9, -9}
	ep := &engram.Episode{TaskType: engram.TaskTesting, TaskDescription: "written by a"}
	must(t, a.CreateEpisode(ctx(), "default", ep))
	must(t, a.PutEmbeddings(ctx(), "default", []*engram.Embedding{{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: v}}))
	fmt.Fprintln(in, "sync")
	expectLine(t, out, "synced")
	fmt.Fprintln(in, "recall "+csv(v))
	if got := expectLine(t, out, "hits"); !strings.HasPrefix(got, "hits "+ep.ID.String()) {
		t.Fatalf("child after sync: %q, want %s first", got, ep.ID)
	}
	must(t, a.DeleteEpisode(ctx(), "default", ep.ID))
	fmt.Fprintln(in, "sync")
	expectLine(t, out, "synced")
	fmt.Fprintln(in, "recall "+csv(v))
	if got := expectLine(t, out, "hits"); strings.Contains(got, ep.ID.String()) {
		t.Fatalf("child recalls the deleted episode after sync: %q", got)
	}
}
