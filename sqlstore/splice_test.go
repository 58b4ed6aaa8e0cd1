package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// TestSpliceStepMatchesEncode: for random episodes (every field filled,
// none, or the sample shapes; 0 to 12 steps; text with quotes, brackets,
// backslashes, HTML and non-ASCII characters), splicing a random step into
// the encoded document gives exactly the bytes of encoding the episode
// with the step appended and the new updated_at, and the scan reports the
// step count, the last step number and completeness of the episode.
func TestSpliceStepMatchesEncode(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	tricky := []string{`a "quoted" ] } [ { word`, `back\slash\\"`, `<b>&amp;</b>`, "ünïcødé \u2028 tab\t nl\n", ""}
	for i := 0; i < 300; i++ {
		var ep *engram.Episode
		switch i % 3 {
		case 0:
			ep = storetest.RandomEpisode(rng, rng.IntN(13))
		case 1:
			ep = new(engram.Episode)
			storetest.FillRandom(ep, rng)
			ep.Steps = ep.Steps[:rng.IntN(len(ep.Steps)+1)]
		default:
			ep = storetest.SampleEpisode(i)
			ep.CreatedAt, ep.UpdatedAt = ep.StartTime, ep.StartTime
			if rng.IntN(2) == 0 {
				ep.Steps = nil
			}
		}
		ep.TaskDescription += tricky[rng.IntN(len(tricky))]
		if rng.IntN(2) == 0 {
			ep.EndTime, ep.Outcome = nil, nil
		}
		enc, err := encodeEpisode(ep)
		if err != nil {
			t.Fatal(err)
		}
		sp, ok := scanEpisodeDoc(enc.doc)
		if !ok {
			t.Fatalf("episode %d: scan refused its own encoding %s", i, enc.doc)
		}
		last, ok := sp.lastStepNumber()
		wantLast := 0
		if n := len(ep.Steps); n > 0 {
			wantLast = ep.Steps[n-1].StepNumber
		}
		if !ok || sp.steps != len(ep.Steps) || last != wantLast || sp.complete != ep.Complete() {
			t.Fatalf("episode %d: scan says %d steps, last %d (%v), complete %v; want %d, %d, %v",
				i, sp.steps, last, ok, sp.complete, len(ep.Steps), wantLast, ep.Complete())
		}
		var st engram.Step
		storetest.FillRandom(&st, rng)
		st.Action += tricky[rng.IntN(len(tricky))]
		if rng.IntN(2) == 0 {
			st.Parameters, st.Result, st.Metadata, st.TokensUsed = nil, nil, nil, 0
		}
		now := time.Unix(0, rng.Int64N(4e18)).UTC()
		stepJSON, err := json.Marshal(&st)
		if err != nil {
			t.Fatal(err)
		}
		nowJSON, err := json.Marshal(now)
		if err != nil {
			t.Fatal(err)
		}
		got := spliceStep(enc.doc, &sp, stepJSON, nowJSON)
		ep.Steps = append(ep.Steps, st)
		ep.UpdatedAt = now
		want, err := encodeEpisode(ep)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.doc) {
			t.Fatalf("episode %d: spliced\n%s\nwant\n%s", i, got, want.doc)
		}
	}
}

// TestScanEpisodeDocRefusesOtherShapes: documents the splice cannot place
// a step in are refused (AppendStep then decodes them the long way, which
// reports real damage), never spliced wrongly.
func TestScanEpisodeDocRefusesOtherShapes(t *testing.T) {
	for _, doc := range []string{
		``, `[]`, `{}`, `{"steps":[]}`, `{"updated_at":"x"}`,
		`{"updated_at":"2026-01-01T00:00:00Z","steps":[]}`,                 // updated_at before the steps
		`{"steps":[{"step_number":1}],"updated_at":"2026-01-01T00:00:00Z"`, // not closed
		`{"steps":[{"step_number":1}] ,"updated_at":"x"}`,                  // not compact
		`{"steps":{},"updated_at":"x"}`,
		`{"steps":[{"step_number":1},],"updated_at":"x"}`,
		`{"steps":[],"updated_at":"x"}trailing`,
		`{"task_description":"unterminated,"steps":[],"updated_at":"x"}`,
	} {
		if _, ok := scanEpisodeDoc([]byte(doc)); ok {
			t.Errorf("scan accepted %q", doc)
		}
	}
}

// TestAppendStepToADocumentTheSpliceRefuses: a stored document the scan
// does not recognise (valid JSON, its digest right, but indented) is
// decoded and re-encoded whole: the append succeeds and reads back with
// every step.
func TestAppendStepToADocumentTheSpliceRefuses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engram.db")
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ep := storetest.SampleEpisode(1)
	ep.EndTime, ep.Outcome = nil, nil
	if err := s.CreateEpisode(ctx, "default", ep); err != nil {
		t.Fatal(err)
	}
	var doc []byte
	key := idBytes(ep.ID.UUID)
	if err := s.r.QueryRowContext(ctx, `SELECT doc FROM episodes WHERE episode_id = ?`, key).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	if _, ok := scanEpisodeDoc(indented.Bytes()); ok {
		t.Fatal("the scan accepted an indented document")
	}
	if err := s.write(ctx, "damage", func(t *tx) error {
		_, err := t.exec(`UPDATE episodes SET doc = ?, digest = ? WHERE episode_id = ?`, indented.Bytes(), docDigest(indented.Bytes()), key)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendStep(ctx, "default", ep.ID, &engram.Step{Tool: "go", Action: "vet"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetEpisode(ctx, "default", ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Steps) != len(ep.Steps)+1 || got.Steps[len(ep.Steps)].Action != "vet" || got.Steps[len(ep.Steps)].StepNumber != ep.Steps[len(ep.Steps)-1].StepNumber+1 {
		t.Fatalf("after the append: %+v", got.Steps)
	}
}
