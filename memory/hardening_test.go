package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// Regression tests for the hardening issue: each wrapper injects one fault
// or pause into a real SQLite store.

// watchdog fails the test shortly before its deadline (go test -timeout) if
// done has not been closed: a call that waits for something it must not wait
// for shows as a failure naming what hung, not as a killed binary.
func watchdog(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	d, ok := t.Deadline()
	if !ok {
		return
	}
	go func() {
		select {
		case <-done:
		case <-time.After(time.Until(d) - 5*time.Second):
			panic("hung: " + what)
		}
	}()
}

// blockingWrites holds AppendStep and CreateEpisodes inside the durable
// call, before they reach the store, until release is closed.
type blockingWrites struct {
	engram.Store
	entered chan struct{} // receives once per blocked write
	release chan struct{}
}

func (b *blockingWrites) AppendStep(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, st *engram.Step) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.AppendStep(ctx, ns, id, st)
}

func (b *blockingWrites) CreateEpisodes(ctx context.Context, ns engram.Namespace, eps []*engram.Episode) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.CreateEpisodes(ctx, ns, eps)
}

// Reads answered by a cache tier complete while writes of the same and of
// other keys are stuck inside the durable store (a batch commit, or a store
// waiting out its busy timeout).
func TestCachedReadsDoNotWaitOnWriters(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  memory.Config
		tier engram.Tier
	}{
		{"RAM", memory.Config{}, engram.TierRAM},
		{"File", memory.Config{NoRAM: true}, engram.TierCache},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSQLite(t, dir)
			cfg := c.cfg
			cfg.DataDir = dir
			m := open(t, cfg)
			var cached []*engram.Episode
			for i := 0; i < 20; i++ {
				ep := storetest.SampleEpisode(i)
				must(t, m.CreateEpisode(ctx(), "default", ep))
				cached = append(cached, ep)
			}
			// Writes go through a blocking wrapper from here on: a second
			// Memory is not possible (one holds the file), so swap the
			// durable store under the same tiers by reopening.
			must(t, m.Close())
			b := &blockingWrites{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
			cfg.Durable = b
			m = open(t, cfg)
			for _, ep := range cached { // back into the RAM tier
				_, _, err := readFrom(t, m, "default", ep.ID)
				must(t, err)
			}
			var releaseOnce sync.Once
			release := func() { releaseOnce.Do(func() { close(b.release) }) }
			t.Cleanup(release) // before Close, if the test fails early

			var writes sync.WaitGroup
			writes.Add(2)
			go func() {
				defer writes.Done()
				if err := m.AppendStep(ctx(), "default", cached[0].ID, &engram.Step{Tool: "t", Action: "stuck"}); err != nil {
					t.Errorf("append: %v", err)
				}
			}()
			batch := make([]*engram.Episode, 1000)
			for i := range batch {
				batch[i] = storetest.SampleEpisode(100 + i)
			}
			go func() {
				defer writes.Done()
				if err := m.CreateEpisodes(ctx(), "default", batch); err != nil {
					t.Errorf("batch create: %v", err)
				}
			}()
			<-b.entered
			<-b.entered

			done := make(chan struct{})
			defer close(done)
			watchdog(t, "cached reads waiting on writers stuck in the durable store", done)
			for round := 0; round < 3; round++ {
				for _, ep := range cached { // cached[0] is the key being appended to
					got, ri, err := readFrom(t, m, "default", ep.ID)
					must(t, err)
					storetest.Equal(t, "cached episode during stuck writes", got, ep)
					if ri.Tier != c.tier {
						t.Fatalf("read of %s answered by %s, want %s", ep.ID, ri.Tier, c.tier)
					}
				}
			}
			release()
			writes.Wait()
			got, _, err := readFrom(t, m, "default", cached[0].ID)
			must(t, err)
			if n := len(got.Steps); n != len(cached[0].Steps)+1 {
				t.Fatalf("after the append finished the episode has %d steps, want %d", n, len(cached[0].Steps)+1)
			}
		})
	}
}

// pausedPut holds the first PutPattern after its durable commit until
// release is closed.
type pausedPut struct {
	engram.Store
	paused             atomic.Bool
	committed, release chan struct{}
}

func (p *pausedPut) PutPattern(ctx context.Context, ns engram.Namespace, pt *engram.Pattern) error {
	err := p.Store.PutPattern(ctx, ns, pt)
	if p.paused.CompareAndSwap(false, true) {
		close(p.committed)
		<-p.release
	}
	return err
}

// Two puts of one key whose durable calls overlap: the first commits, then
// the second runs start to finish, then the first updates the tiers. The
// first's older record must not end up in any tier.
func TestOverlappingWritesLeaveNoOlderVersion(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  memory.Config
	}{{"RAM", memory.Config{NoCache: true}}, {"File", memory.Config{NoRAM: true}}, {"Both", memory.Config{}}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := &pausedPut{Store: openSQLite(t, dir), committed: make(chan struct{}), release: make(chan struct{})}
			cfg := c.cfg
			cfg.DataDir, cfg.Durable = dir, p
			m := open(t, cfg)
			id := engram.NewPatternID()
			first := make(chan error, 1)
			go func() {
				first <- m.PutPattern(ctx(), "default", pattern(id, "v1"))
			}()
			<-p.committed
			must(t, m.PutPattern(ctx(), "default", pattern(id, "v2")))
			close(p.release)
			must(t, <-first)
			for i := 0; i < 2; i++ { // from the durable store, then from the tier it filled
				got, err := m.GetPattern(ctx(), "default", id)
				must(t, err)
				if got.Condition != "v2" {
					t.Fatalf("read %d serves %q; the durable store holds v2", i, got.Condition)
				}
			}
		})
	}
}

// pattern is a decision-point pattern whose condition names its version.
func pattern(id engram.PatternID, version string) *engram.Pattern {
	return &engram.Pattern{ID: id, Kind: engram.PatternDecisionPoint, Condition: version, Action: "act"}
}

// Many goroutines write, read (filling tiers) and sync one key at once; when
// they are done, every tier serves the durable record.
func TestRacingWritesAndFillsOfOneKey(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  memory.Config
	}{{"RAM", memory.Config{NoCache: true}}, {"File", memory.Config{NoRAM: true}}, {"Both", memory.Config{}}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSQLite(t, dir)
			cfg := c.cfg
			cfg.DataDir, cfg.Durable = dir, s
			m := open(t, cfg)
			id := engram.NewPatternID()
			must(t, m.PutPattern(ctx(), "default", pattern(id, "v0")))
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 15; i++ {
						if err := m.PutPattern(ctx(), "default", pattern(id, fmt.Sprintf("w%d-%d", w, i))); err != nil {
							t.Errorf("put: %v", err)
							return
						}
					}
				}()
			}
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for r := 0; r < 4; r++ {
				readers.Add(1)
				go func() {
					defer readers.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := m.GetPattern(ctx(), "default", id); err != nil {
							t.Errorf("get: %v", err)
							return
						}
					}
				}()
			}
			readers.Add(1)
			go func() {
				defer readers.Done()
				for i := 0; i < 5; i++ {
					if _, err := m.Sync(ctx(), engram.SyncOptions{}); err != nil {
						t.Errorf("sync: %v", err)
						return
					}
				}
			}()
			wg.Wait()
			close(stop)
			readers.Wait()
			want, err := s.GetPattern(ctx(), "default", id)
			must(t, err)
			for i := 0; i < 2; i++ {
				got, err := m.GetPattern(ctx(), "default", id)
				must(t, err)
				if got.Condition != want.Condition {
					t.Fatalf("read %d serves %q; the durable store holds %q", i, got.Condition, want.Condition)
				}
			}
		})
	}
}

// gatedMisses holds reads of ids in missing inside the durable store until
// gate is closed, counting how many are held.
type gatedMisses struct {
	engram.Store
	missing map[engram.EpisodeID]bool
	gate    chan struct{}
	held    atomic.Int64
}

func (g *gatedMisses) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	if g.missing[id] {
		g.held.Add(1)
		<-g.gate
	}
	return g.Store.GetEpisode(ctx, ns, id)
}

// A full sync's swap happens while 16 readers of missing ids keep reading
// (and stay inside the durable store during the swap), and the new file
// serves afterwards.
func TestFullSyncSwapsUnderConcurrentMisses(t *testing.T) {
	dir := t.TempDir()
	g := &gatedMisses{Store: openSQLite(t, dir), missing: map[engram.EpisodeID]bool{}, gate: make(chan struct{})}
	m := open(t, memory.Config{DataDir: dir, Durable: g})
	ep := storetest.SampleEpisode(1)
	must(t, m.CreateEpisode(ctx(), "default", ep))
	var ids []engram.EpisodeID
	for i := 0; i < 16; i++ {
		id := engram.NewEpisodeID()
		g.missing[id] = true
		ids = append(ids, id)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for _, id := range ids {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.GetEpisode(ctx(), "default", id); !errors.Is(err, engram.ErrNotFound) {
					t.Errorf("read of a missing id: %v", err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	watchdog(t, "a full sync's swap waiting on readers", done)
	rep, err := m.Sync(ctx(), engram.SyncOptions{Full: true})
	close(done)
	close(stop)
	close(g.gate)
	readers.Wait()
	must(t, err)
	if g.held.Load() == 0 {
		t.Fatal("no reader was inside the durable store during the sync")
	}
	if rep.Episodes != 1 {
		t.Fatalf("full sync cached %d episodes, want 1: %s", rep.Episodes, dump(rep))
	}
	// The swap cleared the RAM tier: the new file answers.
	got, ri, err := readFrom(t, m, "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "episode after the swap", got, ep)
	if ri.Tier != engram.TierCache {
		t.Fatalf("after the swap the episode is read from %s, want the new cache file", ri.Tier)
	}
}

// A sync's parallel fetches must not write the caller's ReadInfo: they are
// not the caller's reads (and, before ReadInfo had a mutex, they raced).
func TestSyncLeavesCallersReadInfoAlone(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	m := open(t, memory.Config{DataDir: dir, Durable: s, Sync: memory.SyncConfig{Concurrency: 8}})
	must(t, m.CreateEpisode(ctx(), "default", storetest.SampleEpisode(100))) // the cache is in use
	for i := 0; i < 48; i++ {                                                // behind memory's back: the sync fetches each
		must(t, s.CreateEpisode(ctx(), "default", storetest.SampleEpisode(i)))
	}
	var ri engram.ReadInfo
	rep, err := m.Sync(engram.WithReadInfo(ctx(), &ri), engram.SyncOptions{})
	must(t, err)
	if rep.Full || rep.Episodes < 48 {
		t.Fatalf("sync: %s", dump(rep))
	}
	if tier, stale := ri.Get(); tier != "" || stale {
		t.Fatalf("the sync reported into the caller's ReadInfo: tier %q stale %v", tier, stale)
	}
}

// A cache whose watermark lies past the durable feed's end (the durable
// store was replaced or restored from a backup) is discarded and rebuilt:
// nothing it holds is served.
func TestWatermarkPastFeedEndRebuilds(t *testing.T) {
	dir := t.TempDir()
	m := open(t, memory.Config{DataDir: dir})
	var old []*engram.Episode
	for i := 0; i < 5; i++ {
		ep := storetest.SampleEpisode(i)
		must(t, m.CreateEpisode(ctx(), "default", ep))
		old = append(old, ep)
	}
	_, err := m.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	must(t, m.Close())
	// A different durable store with a shorter feed.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(dir, sqlstore.DefaultFileName+suffix))
	}
	s := openSQLite(t, dir)
	kept := storetest.SampleEpisode(9)
	must(t, s.CreateEpisode(ctx(), "default", kept))
	must(t, s.Close())

	m = open(t, memory.Config{DataDir: dir})
	for _, ep := range old {
		if _, _, err := readFrom(t, m, "default", ep.ID); !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("an episode the durable store does not have is served: %v", err)
		}
	}
	got, _, err := readFrom(t, m, "default", kept.ID)
	must(t, err)
	storetest.Equal(t, "the durable store's episode", got, kept)
	st := statusOf(t, m)
	if st.Stale || st.LastSyncError != "" || st.Watermark != 1 {
		t.Fatalf("status after the rebuild: %s", dump(st))
	}
	if ts := tierState(st, engram.TierCache); ts.State != "ok" {
		t.Fatalf("cache tier after the rebuild: %+v", ts)
	}
}

// A cache file found empty (new, lost, or recreated because it was damaged)
// while the durable store has data is rebuilt by the next sync.
func TestRecreatedCacheFileGetsFullSync(t *testing.T) {
	dir := t.TempDir()
	m := open(t, memory.Config{DataDir: dir})
	ep := storetest.SampleEpisode(1)
	must(t, m.CreateEpisode(ctx(), "default", ep))
	must(t, m.Close())
	// Damage the file's first page: the cache file's open recreates it.
	f, err := os.OpenFile(filepath.Join(dir, memory.DefaultCacheFileName), os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte("not a bolt file "), 4096), 0)
	must(t, err)
	must(t, f.Close())

	m = open(t, memory.Config{DataDir: dir, NoRAM: true})
	rep, err := m.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if !rep.Full || rep.Episodes != 1 {
		t.Fatalf("the sync after a recreated file: %s", dump(rep))
	}
	got, ri, err := readFrom(t, m, "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "episode", got, ep)
	if ri.Tier != engram.TierCache {
		t.Fatalf("read from %s, want the rebuilt cache file", ri.Tier)
	}
	rep, err = m.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if rep.Full {
		t.Fatal("every sync after a rebuild is a full one")
	}
}

// retention answers EGONE for Changes below its horizon, as a store whose
// feed dropped old entries does.
type retention struct {
	engram.Store
	horizon atomic.Uint64
}

func (r *retention) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	if h := r.horizon.Load(); after < h {
		return nil, fmt.Errorf("test: changes after %d: %w", after, &engram.Error{Code: engram.EGONE, Message: fmt.Sprintf("the feed starts at %d", h)})
	}
	return r.Store.Changes(ctx, after, limit)
}

// When the feed no longer holds the changes after the cache's watermark,
// sync rebuilds the cache instead of failing.
func TestChangesGoneRebuilds(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	r := &retention{Store: s}
	m := open(t, memory.Config{DataDir: dir, Durable: r})
	gone, kept := storetest.SampleEpisode(1), storetest.SampleEpisode(2)
	must(t, m.CreateEpisode(ctx(), "default", gone))
	must(t, m.CreateEpisode(ctx(), "default", kept))
	_, err := m.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	// Behind memory's back: a delete and an append the cache has not seen,
	// then the feed drops everything up to now.
	must(t, s.DeleteEpisode(ctx(), "default", gone.ID))
	must(t, s.AppendStep(ctx(), "default", kept.ID, &engram.Step{Tool: "t", Action: "unseen"}))
	last, err := s.LastSeq(ctx())
	must(t, err)
	r.horizon.Store(last)

	rep, err := m.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if !rep.Full || rep.WatermarkAfter != last {
		t.Fatalf("sync over a feed that dropped its entries: %s", dump(rep))
	}
	if _, _, err := readFrom(t, m, "default", gone.ID); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("a deleted episode is served after the rebuild: %v", err)
	}
	got, _, err := readFrom(t, m, "default", kept.ID)
	must(t, err)
	if len(got.Steps) != len(kept.Steps)+1 {
		t.Fatalf("the rebuilt cache serves %d steps, want %d", len(got.Steps), len(kept.Steps)+1)
	}
	if st := statusOf(t, m); st.Stale || st.LastSyncError != "" {
		t.Fatalf("status after the rebuild: %s", dump(st))
	}
}

// countingLists counts the episodes ListEpisodes returns.
type countingLists struct {
	engram.Store
	rows atomic.Int64
}

func (c *countingLists) ListEpisodes(ctx context.Context, ns engram.Namespace, f engram.EpisodeFilter) (engram.EpisodePage, error) {
	p, err := c.Store.ListEpisodes(ctx, ns, f)
	c.rows.Add(int64(len(p.Episodes)))
	return p, err
}

// A full sync over many namespaces reads about what it caches, not a page
// per namespace: at most twice the episodes it caches plus one per
// namespace (the head each namespace's listing starts with).
func TestFullSyncReadsWhatItCaches(t *testing.T) {
	const namespaces, perNS, maxCached = 60, 20, 50
	dir := t.TempDir()
	s := openSQLite(t, dir)
	for n := 0; n < namespaces; n++ {
		eps := make([]*engram.Episode, perNS)
		for i := range eps {
			eps[i] = storetest.SampleEpisode(n*perNS + i)
		}
		must(t, s.CreateEpisodes(ctx(), engram.Namespace(fmt.Sprintf("ns-%02d", n)), eps))
	}
	c := &countingLists{Store: s}
	m := open(t, memory.Config{DataDir: dir, Durable: c, Sync: memory.SyncConfig{MaxEpisodesCache: maxCached, SkipPatterns: true, SkipEmbeddings: true}})
	c.rows.Store(0)
	rep, err := m.Sync(ctx(), engram.SyncOptions{Full: true, Validate: true})
	must(t, err)
	if rep.Episodes != maxCached || !rep.Validation.OK {
		t.Fatalf("full sync: %s", dump(rep))
	}
	if read, limit := c.rows.Load(), int64(2*maxCached+namespaces); read > limit {
		t.Fatalf("the full sync read %d episodes to cache %d (limit %d)", read, maxCached, limit)
	}
}

// noSpace fails every write with ENOSPACE while full is set.
type noSpace struct {
	engram.Store
	full atomic.Bool
}

var errFull = &engram.Error{Code: engram.ENOSPACE, Message: "sqlstore: commit: no space left on device"}

func (n *noSpace) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if n.full.Load() {
		return errFull
	}
	return n.Store.CreateEpisode(ctx, ns, ep)
}

func (n *noSpace) AppendStep(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, st *engram.Step) error {
	if n.full.Load() {
		return errFull
	}
	return n.Store.AppendStep(ctx, ns, id, st)
}

// Writes failing on a full disk show in Status and keep the breaker closed,
// so reads of stored and cached records keep working; the next successful
// write clears it.
func TestFailingWritesShowInStatus(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	n := &noSpace{Store: s}
	m := open(t, memory.Config{DataDir: dir, Durable: n, BreakerFailures: 3})
	cached, stored := storetest.SampleEpisode(1), storetest.SampleEpisode(2)
	must(t, m.CreateEpisode(ctx(), "default", cached))
	must(t, s.CreateEpisode(ctx(), "default", stored)) // in no tier
	n.full.Store(true)
	for i := 0; i < 10; i++ {
		err := m.AppendStep(ctx(), "default", cached.ID, &engram.Step{Tool: "t", Action: "refused"})
		storetest.WantCode(t, err, engram.ENOSPACE, "")
	}
	for _, ep := range []*engram.Episode{cached, stored} {
		got, _, err := readFrom(t, m, "default", ep.ID)
		must(t, err)
		storetest.Equal(t, "episode while writes fail", got, ep)
	}
	st := statusOf(t, m)
	ds := tierState(st, engram.TierDurable)
	if ds.State != "degraded" || !containsAll(ds.Detail, "writes failing", "no space left on device") {
		t.Fatalf("durable tier while every write fails: %+v", ds)
	}
	if ds.Stats["breaker"] != "closed" || st.Stale {
		t.Fatalf("a full disk opened the breaker or marked the memory stale: %s", dump(st))
	}
	n.full.Store(false)
	must(t, m.AppendStep(ctx(), "default", cached.ID, &engram.Step{Tool: "t", Action: "accepted"}))
	if ds := tierState(statusOf(t, m), engram.TierDurable); ds.State != "ok" {
		t.Fatalf("durable tier after a successful write: %+v", ds)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// replaying answers a create carrying an idempotency key it has seen with
// the record as the first call left it, the way the durable store does.
type replaying struct {
	engram.Store
	mu    sync.Mutex
	first map[string]*engram.Episode
	ran   atomic.Int64 // creates that reached the store
}

func (r *replaying) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	key := engram.IdempotencyKey(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if orig, ok := r.first[key]; ok && key != "" {
		*ep = *orig.Clone()
		return nil
	}
	r.ran.Add(1)
	if err := r.Store.CreateEpisode(ctx, ns, ep); err != nil {
		return err
	}
	if key != "" {
		r.first[key] = ep.Clone()
	}
	return nil
}

// A retried create (same idempotency key) that the durable store answers
// with the original record must not put that record, now older than what is
// stored, in the tiers, and must not create a second episode.
func TestIdempotentReplayKeepsTiersCorrect(t *testing.T) {
	dir := t.TempDir()
	r := &replaying{Store: openSQLite(t, dir), first: map[string]*engram.Episode{}}
	m := open(t, memory.Config{DataDir: dir, Durable: r})
	kctx := engram.WithIdempotencyKey(ctx(), "create-1")
	ep := storetest.SampleEpisode(1)
	must(t, m.CreateEpisode(kctx, "default", ep))
	must(t, m.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "after the create"}))

	retry := storetest.SampleEpisode(1) // the client's retry: the same request
	must(t, m.CreateEpisode(kctx, "default", retry))
	if retry.ID != ep.ID || r.ran.Load() != 1 {
		t.Fatalf("the retry created a second episode (%s, first %s; %d creates ran)", retry.ID, ep.ID, r.ran.Load())
	}
	for i := 0; i < 2; i++ {
		got, _, err := readFrom(t, m, "default", ep.ID)
		must(t, err)
		if len(got.Steps) != len(ep.Steps)+1 {
			t.Fatalf("read %d after the replay serves %d steps; the durable store has %d", i, len(got.Steps), len(ep.Steps)+1)
		}
	}
	c, err := m.Counts(ctx(), "default")
	must(t, err)
	if c.Episodes != 1 {
		t.Fatalf("%d episodes after a replayed create, want 1", c.Episodes)
	}
}
