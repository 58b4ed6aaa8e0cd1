package memory_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/storetest"
)

// checkAgainstDurable reads every episode of ids through m, from whichever
// tier answers, and compares it with the durable store's copy: a cached
// record must equal the durable one, and one the durable store no longer
// has must not be served.
func checkAgainstDurable(t *testing.T, m *memory.Memory, durable engram.Store, ns engram.Namespace, ids []engram.EpisodeID, step int) {
	t.Helper()
	for _, id := range ids {
		want, derr := durable.GetEpisode(ctx(), ns, id)
		var ri engram.ReadInfo
		got, err := m.GetEpisode(engram.WithReadInfo(ctx(), &ri), ns, id)
		switch {
		case derr != nil && engram.ErrorCode(derr) == engram.ENOTFOUND:
			if err == nil {
				t.Fatalf("step %d: %s is deleted durably but the %s tier serves it", step, id, ri.Tier)
			}
		case derr != nil:
			t.Fatal(derr)
		default:
			must(t, err)
			storetest.Equal(t, fmt.Sprintf("step %d: episode %s from the %s tier", step, id, ri.Tier), got, want)
		}
	}
}

// TestRandomOperationsKeepTiersConsistent applies a seeded random sequence
// of writes and reads through memory and, after every operation, checks
// every episode's cached copy against the durable store.
func TestRandomOperationsKeepTiersConsistent(t *testing.T) {
	r := storetest.NewRand(t)
	m := open(t, memory.Config{Sync: memory.SyncConfig{ValidateChecksums: true}})
	durable := m.SQL()
	var ids []engram.EpisodeID
	pick := func() engram.EpisodeID { return ids[r.IntN(len(ids))] }
	for step := 0; step < 400; step++ {
		op := r.IntN(10)
		switch {
		case len(ids) == 0 || op < 2:
			ep := storetest.SampleEpisode(step)
			must(t, m.CreateEpisode(ctx(), "default", ep))
			ids = append(ids, ep.ID)
		case op < 4:
			err := m.AppendStep(ctx(), "default", pick(), &engram.Step{Tool: "t", Action: fmt.Sprint("step ", step)})
			if err != nil && engram.ErrorCode(err) != engram.ECONFLICT && engram.ErrorCode(err) != engram.ENOTFOUND {
				t.Fatal(err)
			}
		case op < 5:
			_, err := m.CompleteEpisode(ctx(), "default", pick(), &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeFailure, Reason: "r"}})
			if err != nil && engram.ErrorCode(err) != engram.ECONFLICT && engram.ErrorCode(err) != engram.ENOTFOUND {
				t.Fatal(err)
			}
		case op < 6:
			id := pick()
			ep, err := m.GetEpisode(ctx(), "default", id)
			if err == nil {
				ep.TaskDescription = fmt.Sprint("updated at step ", step)
				must(t, m.UpdateEpisode(ctx(), "default", ep))
			}
		case op < 7:
			err := m.DeleteEpisode(ctx(), "default", pick())
			if err != nil && engram.ErrorCode(err) != engram.ENOTFOUND {
				t.Fatal(err)
			}
		case op < 8:
			// Writes behind memory's back (another process): only a sync
			// brings them to the tiers.
			id := pick()
			if err := durable.AppendStep(ctx(), "default", id, &engram.Step{Tool: "other", Action: "elsewhere"}); err == nil {
				rep, err := m.Sync(ctx(), engram.SyncOptions{})
				must(t, err)
				if rep.WatermarkAfter <= rep.WatermarkBefore {
					t.Fatalf("step %d: sync did not advance: %+v", step, rep)
				}
			}
		default:
			_, err := m.GetEpisode(ctx(), "default", pick())
			if err != nil && engram.ErrorCode(err) != engram.ENOTFOUND {
				t.Fatal(err)
			}
		}
		checkAgainstDurable(t, m, durable, "default", ids, step)
	}
	rep, err := m.Sync(ctx(), engram.SyncOptions{Validate: true})
	must(t, err)
	if !rep.Validation.OK {
		t.Fatalf("validation after the random run: %s", dump(rep.Validation))
	}
}

func TestIncrementalSyncAppliesOtherWriters(t *testing.T) {
	dir := t.TempDir()
	a := open(t, memory.Config{DataDir: dir})
	// b shares the durable store but has its own cache file, as a second
	// node with its own disk would.
	b := open(t, memory.Config{DataDir: dir, CachePath: t.TempDir() + "/b-cache.db"})
	ep := storetest.SampleEpisode(1)
	must(t, a.CreateEpisode(ctx(), "default", ep))
	got, err := b.GetEpisode(ctx(), "default", ep.ID) // b caches it
	must(t, err)
	storetest.Equal(t, "episode in b", got, ep)
	p := storetest.SamplePatterns()[0]
	must(t, a.PutPattern(ctx(), "default", p))
	must(t, a.AppendStep(ctx(), "default", ep.ID, &engram.Step{Tool: "t", Action: "from a"}))
	emb := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1, 2, 3}}
	must(t, a.PutEmbeddings(ctx(), "default", []*engram.Embedding{emb}))

	// b still serves its cached copy: it has not synced.
	var ri engram.ReadInfo
	got, err = b.GetEpisode(engram.WithReadInfo(ctx(), &ri), "default", ep.ID)
	must(t, err)
	if len(got.Steps) != 2 || ri.Tier != engram.TierRAM {
		t.Fatalf("before sync b has %d steps from %s", len(got.Steps), ri.Tier)
	}
	rep, err := b.Sync(ctx(), engram.SyncOptions{Validate: true})
	must(t, err)
	if rep.Episodes < 1 || rep.Patterns != 1 || rep.Embeddings != 1 || !rep.Validation.OK {
		t.Fatalf("sync report: %s", dump(rep))
	}
	got, err = b.GetEpisode(engram.WithReadInfo(ctx(), &ri), "default", ep.ID)
	must(t, err)
	if len(got.Steps) != 3 || ri.Tier == engram.TierDurable {
		t.Fatalf("after one sync b has %d steps from %s, want 3 from a cache tier", len(got.Steps), ri.Tier)
	}
	// Deletes travel too.
	must(t, a.DeleteEpisode(ctx(), "default", ep.ID))
	rep, err = b.Sync(ctx(), engram.SyncOptions{})
	must(t, err)
	if rep.Deletions < 2 { // the episode and its embedding
		t.Fatalf("deletions synced: %s", dump(rep))
	}
	_, err = b.GetEpisode(ctx(), "default", ep.ID)
	storetest.WantCode(t, err, engram.ENOTFOUND, "")
	_, err = b.GetEmbedding(ctx(), "default", emb.Key())
	storetest.WantCode(t, err, engram.ENOTFOUND, "")
}

func TestFullSync(t *testing.T) {
	dir := t.TempDir()
	m := open(t, memory.Config{DataDir: dir, Sync: memory.SyncConfig{MaxEpisodesCache: 30, BatchSize: 7, ValidateChecksums: true}})
	r := rand.New(rand.NewPCG(1, 2))
	for _, ns := range []engram.Namespace{"alpha", "beta", "gamma"} {
		batch := make([]*engram.Episode, 20)
		for i := range batch {
			batch[i] = storetest.SampleEpisode(r.IntN(100000))
		}
		must(t, m.SQL().CreateEpisodes(ctx(), ns, batch))
		must(t, m.SQL().PutPattern(ctx(), ns, storetest.SamplePatterns()[0]))
	}
	var progress [][2]int64
	rep, err := m.Sync(ctx(), engram.SyncOptions{Full: true, Validate: true, Progress: func(done, total int64) {
		progress = append(progress, [2]int64{done, total})
	}})
	must(t, err)
	if rep.Episodes != 30 || rep.Patterns != 3 || !rep.Validation.OK || rep.WatermarkAfter == 0 {
		t.Fatalf("full sync report: %s", dump(rep))
	}
	last := progress[len(progress)-1]
	if last[0] != last[1] || last[1] != 33 {
		t.Fatalf("progress ended at %v, want 33 of 33", last)
	}
	st := statusOf(t, m)
	if st.Lag != 0 || st.LastSync == nil {
		t.Fatalf("status after full sync: %s", dump(st))
	}
	// The 30 newest episodes (across namespaces) are in the cache file.
	m.Close()
	m2 := open(t, memory.Config{DataDir: dir, NoRAM: true, Sync: memory.SyncConfig{MaxEpisodesCache: 30}})
	fromCache := 0
	for _, ns := range []engram.Namespace{"alpha", "beta", "gamma"} {
		page, err := m2.ListEpisodes(ctx(), ns, engram.EpisodeFilter{})
		must(t, err)
		for _, ep := range page.Episodes {
			var ri engram.ReadInfo
			_, err := m2.GetEpisode(engram.WithReadInfo(ctx(), &ri), ns, ep.ID)
			must(t, err)
			if ri.Tier == engram.TierCache {
				fromCache++
			}
		}
	}
	if fromCache != 30 {
		t.Fatalf("%d episodes came from the cache file after a full sync of 30", fromCache)
	}
	// A dry run counts without writing.
	dry, err := m2.Sync(ctx(), engram.SyncOptions{Full: true, DryRun: true})
	must(t, err)
	if dry.Episodes != 30 || !dry.DryRun || dry.WatermarkAfter != dry.WatermarkBefore {
		t.Fatalf("dry run: %s", dump(dry))
	}
}
