package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func ctx() context.Context { return context.Background() }

// open opens a Memory on a fresh data directory unless cfg names one. At
// cleanup it closes it and checks the cache file (checkCacheFile).
func open(t testing.TB, cfg memory.Config) *memory.Memory {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	m, err := memory.Open(ctx(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		checkCacheFile(t, cfg)
	})
	return m
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T) engram.Store {
		return open(t, memory.Config{Sync: memory.SyncConfig{ValidateChecksums: true}})
	})
}

// readFrom reads an episode and reports which tier answered and whether it
// was marked stale.
func readFrom(t *testing.T, m *memory.Memory, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, readInfo, error) {
	t.Helper()
	var ri engram.ReadInfo
	ep, err := m.GetEpisode(engram.WithReadInfo(ctx(), &ri), ns, id)
	tier, stale := ri.Get()
	return ep, readInfo{Tier: tier, Stale: stale}, err
}

// readInfo is a copy of what an engram.ReadInfo was told.
type readInfo struct {
	Tier  engram.Tier
	Stale bool
}

func TestReadsFillFasterTiers(t *testing.T) {
	dir := t.TempDir()
	ep := storetest.SampleEpisode(1)
	// Write through a bare durable store, so no tier has it.
	s, err := sqlstore.Open(ctx(), sqlstore.Options{Path: filepath.Join(dir, sqlstore.DefaultFileName)})
	must(t, err)
	must(t, s.CreateEpisode(ctx(), "default", ep))
	s.Close()

	m := open(t, memory.Config{DataDir: dir})
	for i, want := range []engram.Tier{engram.TierDurable, engram.TierRAM, engram.TierRAM} {
		got, ri, err := readFrom(t, m, "default", ep.ID)
		must(t, err)
		storetest.Equal(t, "episode", got, ep)
		if ri.Tier != want || ri.Stale {
			t.Fatalf("read %d answered by %+v, want %s and not stale", i, ri, want)
		}
	}
	// Callers own what they read: changing it changes no tier.
	got, _, _ := readFrom(t, m, "default", ep.ID)
	got.TaskDescription = "scribbled over"
	got.Steps[0].Tool = "scribbled"
	again, _, _ := readFrom(t, m, "default", ep.ID)
	storetest.Equal(t, "episode after the caller changed its copy", again, ep)

	// A second Memory without a RAM tier reads the cache file the first filled.
	must(t, m.Close())
	m2 := open(t, memory.Config{DataDir: dir, NoRAM: true})
	got, ri, err := readFrom(t, m2, "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "episode from the cache file", got, ep)
	if ri.Tier != engram.TierCache {
		t.Fatalf("answered by %s, want the cache file", ri.Tier)
	}
}

func TestWritesKeepTiersCorrect(t *testing.T) {
	m := open(t, memory.Config{})
	ep := storetest.SampleEpisode(1)
	must(t, m.CreateEpisode(ctx(), "default", ep))
	_, ri, err := readFrom(t, m, "default", ep.ID)
	must(t, err)
	if ri.Tier != engram.TierRAM {
		t.Fatalf("a created episode is read from %s, want the RAM tier", ri.Tier)
	}
	// An append must never leave a tier serving the old step list.
	must(t, m.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "third"}))
	got, _, err := readFrom(t, m, "default", ep.ID)
	must(t, err)
	if len(got.Steps) != 3 {
		t.Fatalf("after an append the episode has %d steps, want 3", len(got.Steps))
	}
	done, err := m.CompleteEpisode(ctx(), "default", ep.ID, storetest.SampleCompletion(ep.StartTime.Add(1e9)))
	must(t, err)
	got, ri, err = readFrom(t, m, "default", ep.ID)
	must(t, err)
	storetest.Equal(t, "completed episode", got, done)
	if ri.Tier != engram.TierRAM {
		t.Fatalf("completed episode read from %s, want RAM", ri.Tier)
	}
	must(t, m.DeleteEpisode(ctx(), "default", ep.ID))
	_, _, err = readFrom(t, m, "default", ep.ID)
	if !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
}

// flaky wraps a real store and fails every call with EUNAVAILABLE while
// down is set, counting the calls that reach it.
type flaky struct {
	engram.Store
	down  atomic.Bool
	calls atomic.Int64
}

var errDown = &engram.Error{Code: engram.EUNAVAILABLE, Message: "test: durable store down"}

func (f *flaky) check() error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return nil
}

func (f *flaky) GetEpisode(ctx context.Context, ns engram.Namespace, id engram.EpisodeID) (*engram.Episode, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.GetEpisode(ctx, ns, id)
}

func (f *flaky) CreateEpisode(ctx context.Context, ns engram.Namespace, ep *engram.Episode) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.CreateEpisode(ctx, ns, ep)
}

func (f *flaky) AppendStep(ctx context.Context, ns engram.Namespace, id engram.EpisodeID, st *engram.Step) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.AppendStep(ctx, ns, id, st)
}

func (f *flaky) ListEpisodes(ctx context.Context, ns engram.Namespace, flt engram.EpisodeFilter) (engram.EpisodePage, error) {
	if err := f.check(); err != nil {
		return engram.EpisodePage{}, err
	}
	return f.Store.ListEpisodes(ctx, ns, flt)
}

func (f *flaky) LastSeq(ctx context.Context) (uint64, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return f.Store.LastSeq(ctx)
}

func (f *flaky) Changes(ctx context.Context, after uint64, limit int) ([]engram.Change, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Changes(ctx, after, limit)
}

func statusOf(t *testing.T, m *memory.Memory) *engram.Status {
	t.Helper()
	st, err := m.Status(ctx())
	must(t, err)
	return st
}

func tierState(st *engram.Status, tier engram.Tier) engram.TierStatus {
	for _, ts := range st.Tiers {
		if ts.Tier == tier {
			return ts
		}
	}
	return engram.TierStatus{}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
