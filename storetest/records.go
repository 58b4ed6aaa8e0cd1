package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram"
)

// SamplePatterns returns one pattern of every kind with every field set.
func SamplePatterns() []*engram.Pattern {
	used := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
	eff := engram.Effectiveness{TimesRetrieved: 9, TimesApplied: 4, SuccessWhenApplied: 3, FailureWhenApplied: 1, AvgRewardDelta: 0.25, LastUsed: &used}
	return []*engram.Pattern{
		{Kind: engram.PatternToolSequence, Tools: []string{"grep", "edit", "go test"}, AvgLatencyMS: 120.5,
			Domain: "web", Language: "go", Tags: []string{"tdd"}, SuccessRate: 0.8, OccurrenceCount: 12, Effectiveness: eff},
		{Kind: engram.PatternDecisionPoint, Condition: "tests fail after refactor", Action: "bisect the commits",
			OutcomeStats: &engram.OutcomeStats{SuccessCount: 5, FailureCount: 1, TotalCount: 6, AvgDurationSecs: 42},
			Domain:       "web", SuccessRate: 0.83, OccurrenceCount: 6},
		{Kind: engram.PatternErrorRecovery, ErrorType: "connection reset", RecoverySteps: []string{"retry with backoff", "check the proxy"},
			Domain: "infra", Tags: []string{"network"}, SuccessRate: 0.5, OccurrenceCount: 2},
		{Kind: engram.PatternContextPattern, ContextFeatures: []string{"monorepo", "bazel"}, RecommendedApproach: "build only the changed targets",
			Evidence: []engram.EpisodeID{engram.NewEpisodeID()}, Domain: "infra", SuccessRate: 1, OccurrenceCount: 1},
	}
}

func testPatterns(t *testing.T, open OpenStore) {
	s := open(t)
	ps := SamplePatterns()
	for _, p := range ps {
		must(t, s.PutPattern(ctx(), ns, p))
		got, err := s.GetPattern(ctx(), ns, p.ID)
		must(t, err)
		Equal(t, string(p.Kind)+" pattern", got, p)
	}
	t.Run("ReplaceKeepsCreatedAt", func(t *testing.T) {
		p := *ps[0]
		p.Tools = []string{"grep"}
		p.Tags = []string{"changed"}
		must(t, s.PutPattern(ctx(), ns, &p))
		got, err := s.GetPattern(ctx(), ns, p.ID)
		must(t, err)
		if !got.CreatedAt.Equal(ps[0].CreatedAt) || len(got.Tools) != 1 || got.UpdatedAt.Before(ps[0].UpdatedAt) {
			t.Fatalf("replaced pattern: %+v", got)
		}
		page, err := s.ListPatterns(ctx(), ns, engram.PatternFilter{Tag: "tdd"})
		must(t, err)
		if len(page.Patterns) != 0 {
			t.Fatal("old tag of a replaced pattern still matches")
		}
		ps[0] = got
	})
	t.Run("List", func(t *testing.T) {
		page, err := s.ListPatterns(ctx(), ns, engram.PatternFilter{Domain: "infra"})
		must(t, err)
		if len(page.Patterns) != 2 {
			t.Fatalf("domain filter: %d patterns", len(page.Patterns))
		}
		page, err = s.ListPatterns(ctx(), ns, engram.PatternFilter{Kind: engram.PatternDecisionPoint})
		must(t, err)
		if len(page.Patterns) != 1 || page.Patterns[0].ID != ps[1].ID {
			t.Fatalf("kind filter: %+v", page.Patterns)
		}
		page, err = s.ListPatterns(ctx(), ns, engram.PatternFilter{Tag: "Network"})
		must(t, err)
		if len(page.Patterns) != 1 || page.Patterns[0].ID != ps[2].ID {
			t.Fatalf("tag filter: %+v", page.Patterns)
		}
		seen := map[engram.PatternID]bool{}
		f := engram.PatternFilter{Limit: 1}
		for {
			page, err := s.ListPatterns(ctx(), ns, f)
			must(t, err)
			for _, p := range page.Patterns {
				if seen[p.ID] {
					t.Fatalf("pattern %s on two pages", p.ID)
				}
				seen[p.ID] = true
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if len(seen) != len(ps) {
			t.Fatalf("paging saw %d of %d patterns", len(seen), len(ps))
		}
	})
	t.Run("ErrFieldOfOtherKind", func(t *testing.T) {
		seq := lastSeq(t, s)
		for _, c := range []struct {
			p     engram.Pattern
			field string
		}{
			{engram.Pattern{Kind: "hunch"}, "kind"},
			{engram.Pattern{Kind: engram.PatternToolSequence}, "tools"},
			{engram.Pattern{Kind: engram.PatternToolSequence, Tools: []string{"a"}, Condition: "c"}, "condition"},
			{engram.Pattern{Kind: engram.PatternDecisionPoint, Condition: "c"}, "action"},
			{engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "e", Tools: []string{"a"}}, "tools"},
			{engram.Pattern{Kind: engram.PatternContextPattern, ContextFeatures: []string{"f"}}, "recommended_approach"},
			{engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "e", SuccessRate: 1.5}, "success_rate"},
			{engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "e", SuccessRate: math.NaN()}, "success_rate"},
			{engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "e", OccurrenceCount: -1}, "occurrence_count"},
		} {
			p := c.p
			WantCode(t, s.PutPattern(ctx(), ns, &p), engram.EINVALID, c.field)
		}
		unchanged(t, s, seq)
	})
	t.Run("Delete", func(t *testing.T) {
		must(t, s.DeletePattern(ctx(), ns, ps[3].ID))
		_, err := s.GetPattern(ctx(), ns, ps[3].ID)
		WantCode(t, err, engram.ENOTFOUND, "")
		WantCode(t, s.DeletePattern(ctx(), ns, ps[3].ID), engram.ENOTFOUND, "")
		hits, err := s.Search(ctx(), ns, engram.SearchQuery{Text: "bazel"})
		must(t, err)
		if len(hits) != 0 {
			t.Fatalf("deleted pattern still searchable: %+v", hits)
		}
	})
}

func testHeuristics(t *testing.T, open OpenStore) {
	s := open(t)
	hs := []*engram.Heuristic{
		{Condition: "a test is flaky", Action: "run it 50 times under -race", Confidence: 0.9, Domain: "testing",
			Evidence: engram.Evidence{EpisodeIDs: []engram.EpisodeID{engram.NewEpisodeID()}, SuccessRate: 0.75, SampleSize: 8}},
		{Condition: "the build is slow", Action: "profile the linker", Confidence: 0.4},
	}
	for _, h := range hs {
		must(t, s.PutHeuristic(ctx(), ns, h))
		got, err := s.GetHeuristic(ctx(), ns, h.ID)
		must(t, err)
		Equal(t, "heuristic", got, h)
	}
	page, err := s.ListHeuristics(ctx(), ns, engram.HeuristicFilter{Domain: "testing"})
	must(t, err)
	if len(page.Heuristics) != 1 || page.Heuristics[0].ID != hs[0].ID {
		t.Fatalf("domain filter: %+v", page.Heuristics)
	}
	page, err = s.ListHeuristics(ctx(), ns, engram.HeuristicFilter{MinConfidence: 0.5})
	must(t, err)
	if len(page.Heuristics) != 1 || page.Heuristics[0].ID != hs[0].ID {
		t.Fatalf("confidence filter: %+v", page.Heuristics)
	}
	upd := *hs[1]
	upd.Confidence = 0.6
	must(t, s.PutHeuristic(ctx(), ns, &upd))
	got, err := s.GetHeuristic(ctx(), ns, upd.ID)
	must(t, err)
	if got.Confidence != 0.6 || !got.CreatedAt.Equal(hs[1].CreatedAt) {
		t.Fatalf("replaced heuristic: %+v", got)
	}
	seq := lastSeq(t, s)
	WantCode(t, s.PutHeuristic(ctx(), ns, &engram.Heuristic{Condition: "c", Action: "a", Confidence: 2}), engram.EINVALID, "confidence")
	WantCode(t, s.PutHeuristic(ctx(), ns, &engram.Heuristic{Action: "a"}), engram.EINVALID, "condition")
	WantCode(t, s.PutHeuristic(ctx(), ns, &engram.Heuristic{Condition: "c", Action: "a", Evidence: engram.Evidence{SampleSize: -3}}), engram.EINVALID, "evidence.sample_size")
	unchanged(t, s, seq)
	must(t, s.DeleteHeuristic(ctx(), ns, hs[0].ID))
	WantCode(t, s.DeleteHeuristic(ctx(), ns, hs[0].ID), engram.ENOTFOUND, "")
	c, err := s.Counts(ctx(), ns)
	must(t, err)
	if c.Heuristics != 1 {
		t.Fatalf("heuristics count %d, want 1", c.Heuristics)
	}
}

func testEmbeddings(t *testing.T, open OpenStore) {
	s := open(t)
	item := engram.NewUUID()
	// Values whose bits must survive exactly.
	vec := []float32{0, float32(math.Copysign(0, -1)), 1e-45, math.MaxFloat32, -3.25, 0.1}
	e := &engram.Embedding{ItemID: item, ItemType: engram.ItemPattern, Vector: vec}
	must(t, s.PutEmbeddings(ctx(), ns, []*engram.Embedding{e}))
	if e.Model != engram.DefaultModel || e.CreatedAt.IsZero() {
		t.Fatalf("put did not fill model and time: %+v", e)
	}
	got, err := s.GetEmbedding(ctx(), ns, engram.EmbeddingKey{ItemType: engram.ItemPattern, ItemID: item})
	must(t, err)
	for i := range vec {
		if math.Float32bits(got.Vector[i]) != math.Float32bits(vec[i]) {
			t.Fatalf("component %d: got bits %x, want %x", i, math.Float32bits(got.Vector[i]), math.Float32bits(vec[i]))
		}
	}
	// A second model for the same item, and a replace.
	e2 := &engram.Embedding{ItemID: item, ItemType: engram.ItemPattern, Model: "mini-lm", Vector: make([]float32, engram.MaxVectorDim)}
	must(t, s.PutEmbeddings(ctx(), ns, []*engram.Embedding{e2}))
	e3 := &engram.Embedding{ItemID: item, ItemType: engram.ItemPattern, Vector: []float32{7}}
	must(t, s.PutEmbeddings(ctx(), ns, []*engram.Embedding{e3}))
	got, err = s.GetEmbedding(ctx(), ns, e3.Key())
	must(t, err)
	if len(got.Vector) != 1 || got.Vector[0] != 7 || !got.CreatedAt.Equal(e.CreatedAt) {
		t.Fatalf("replaced embedding: %+v", got)
	}
	page, err := s.ListEmbeddings(ctx(), ns, engram.EmbeddingFilter{ItemType: engram.ItemPattern, ItemID: item})
	must(t, err)
	if len(page.Embeddings) != 2 || page.Embeddings[0].Model != engram.DefaultModel || page.Embeddings[1].Model != "mini-lm" {
		t.Fatalf("list by item: %+v", page.Embeddings)
	}
	t.Run("Paging", func(t *testing.T) {
		var batch []*engram.Embedding
		for i := 0; i < 25; i++ {
			batch = append(batch, &engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemEpisode, Vector: []float32{float32(i)}})
		}
		must(t, s.PutEmbeddings(ctx(), ns, batch))
		seen := map[string]bool{}
		f := engram.EmbeddingFilter{Limit: 4}
		for {
			page, err := s.ListEmbeddings(ctx(), ns, f)
			must(t, err)
			for _, e := range page.Embeddings {
				if seen[e.Key().String()] {
					t.Fatalf("%s on two pages", e.Key())
				}
				seen[e.Key().String()] = true
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if len(seen) != 27 {
			t.Fatalf("paging saw %d embeddings, want 27", len(seen))
		}
	})
	t.Run("ErrInvalidVectorNothingStored", func(t *testing.T) {
		seq := lastSeq(t, s)
		before, err := s.Counts(ctx(), ns)
		must(t, err)
		good := &engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemEpisode, Vector: []float32{1}}
		for _, c := range []struct {
			e     engram.Embedding
			field string
		}{
			{engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemEpisode, Vector: []float32{1, float32(math.NaN())}}, "vector[1]"},
			{engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemEpisode, Vector: []float32{float32(math.Inf(-1))}}, "vector[0]"},
			{engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemEpisode, Vector: nil}, "vector"},
			{engram.Embedding{ItemID: engram.NewUUID(), ItemType: engram.ItemEpisode, Vector: make([]float32, engram.MaxVectorDim+1)}, "vector"},
			{engram.Embedding{ItemType: engram.ItemEpisode, Vector: []float32{1}}, "item_id"},
			{engram.Embedding{ItemID: engram.NewUUID(), ItemType: "Episode!", Vector: []float32{1}}, "item_type"},
		} {
			bad := c.e
			err := s.PutEmbeddings(ctx(), ns, []*engram.Embedding{good, &bad})
			code := engram.EINVALID
			if len(bad.Vector) > engram.MaxVectorDim {
				code = engram.ETOOLARGE // a count limit
			}
			WantCode(t, err, code, c.field)
			if !strings.Contains(err.Error(), "embeddings[1]") {
				t.Fatalf("batch error does not name the embedding: %v", err)
			}
		}
		unchanged(t, s, seq)
		after, err := s.Counts(ctx(), ns)
		must(t, err)
		if after != before {
			t.Fatalf("a rejected batch changed counts: %+v -> %+v", before, after)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		must(t, s.DeleteEmbedding(ctx(), ns, e2.Key()))
		_, err := s.GetEmbedding(ctx(), ns, e2.Key())
		WantCode(t, err, engram.ENOTFOUND, "")
		WantCode(t, s.DeleteEmbedding(ctx(), ns, e2.Key()), engram.ENOTFOUND, "")
	})
}

func testRelationships(t *testing.T, open OpenStore) {
	s := open(t)
	a, b, c := SampleEpisode(1), SampleEpisode(2), SampleEpisode(3)
	must(t, s.CreateEpisodes(ctx(), ns, []*engram.Episode{a, b, c}))
	ab := &engram.Relationship{From: a.ID, To: b.ID, Type: engram.RelParentChild}
	cb := &engram.Relationship{From: c.ID, To: b.ID, Type: engram.RelBlocks, Weight: 0.5}
	must(t, s.AddRelationship(ctx(), ns, ab))
	must(t, s.AddRelationship(ctx(), ns, cb))
	if ab.Weight != 1 {
		t.Fatalf("default weight %v, want 1", ab.Weight)
	}
	list := func(f engram.RelationshipFilter) []engram.Relationship {
		rels, err := s.ListRelationships(ctx(), ns, f)
		must(t, err)
		return rels
	}
	Equal(t, "incoming of b", list(engram.RelationshipFilter{Episode: b.ID, Direction: engram.Incoming}), []engram.Relationship{*ab, *cb})
	Equal(t, "outgoing of a", list(engram.RelationshipFilter{Episode: a.ID, Direction: engram.Outgoing}), []engram.Relationship{*ab})
	if n := len(list(engram.RelationshipFilter{Episode: b.ID, Direction: engram.Outgoing})); n != 0 {
		t.Fatalf("b has %d outgoing, want 0", n)
	}
	Equal(t, "blocks of b", list(engram.RelationshipFilter{Episode: b.ID, Type: engram.RelBlocks}), []engram.Relationship{*cb})

	seq := lastSeq(t, s)
	missing := engram.NewEpisodeID()
	WantCode(t, s.AddRelationship(ctx(), ns, &engram.Relationship{From: a.ID, To: missing, Type: engram.RelFollows}), engram.ENOTFOUND, "to")
	WantCode(t, s.AddRelationship(ctx(), ns, &engram.Relationship{From: a.ID, To: a.ID, Type: engram.RelFollows}), engram.EINVALID, "to")
	WantCode(t, s.AddRelationship(ctx(), ns, &engram.Relationship{From: a.ID, To: b.ID, Type: "likes"}), engram.EINVALID, "type")
	WantCode(t, s.AddRelationship(ctx(), ns, &engram.Relationship{From: a.ID, To: b.ID, Type: engram.RelFollows, Weight: 2}), engram.EINVALID, "weight")
	unchanged(t, s, seq)

	must(t, s.RemoveRelationship(ctx(), ns, a.ID, b.ID, engram.RelParentChild))
	WantCode(t, s.RemoveRelationship(ctx(), ns, a.ID, b.ID, engram.RelParentChild), engram.ENOTFOUND, "")
	Equal(t, "incoming of b after remove", list(engram.RelationshipFilter{Episode: b.ID}), []engram.Relationship{*cb})
}

func testNamespaces(t *testing.T, open OpenStore) {
	s := open(t)
	const other engram.Namespace = "agent-b"
	ep := SampleEpisode(1)
	must(t, s.CreateEpisode(ctx(), ns, ep))
	p := SamplePatterns()[0]
	must(t, s.PutPattern(ctx(), ns, p))
	h := &engram.Heuristic{Condition: "c", Action: "a"}
	must(t, s.PutHeuristic(ctx(), ns, h))
	emb := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1}}
	must(t, s.PutEmbeddings(ctx(), ns, []*engram.Embedding{emb}))

	_, err := s.GetEpisode(ctx(), other, ep.ID)
	WantCode(t, err, engram.ENOTFOUND, "")
	_, err = s.GetPattern(ctx(), other, p.ID)
	WantCode(t, err, engram.ENOTFOUND, "")
	_, err = s.GetHeuristic(ctx(), other, h.ID)
	WantCode(t, err, engram.ENOTFOUND, "")
	_, err = s.GetEmbedding(ctx(), other, emb.Key())
	WantCode(t, err, engram.ENOTFOUND, "")
	WantCode(t, s.DeleteEpisode(ctx(), other, ep.ID), engram.ENOTFOUND, "")
	WantCode(t, s.AppendStep(ctx(), other, ep.ID, &engram.Step{Tool: "t", Action: "a"}), engram.ENOTFOUND, "")
	page, err := s.ListEpisodes(ctx(), other, engram.EpisodeFilter{})
	must(t, err)
	if len(page.Episodes) != 0 {
		t.Fatal("listing another namespace shows episodes")
	}
	hits, err := s.Search(ctx(), other, engram.SearchQuery{Text: "retry"})
	must(t, err)
	if len(hits) != 0 {
		t.Fatalf("searching another namespace finds %d hits", len(hits))
	}
	c, err := s.Counts(ctx(), other)
	must(t, err)
	if c != (engram.Counts{}) {
		t.Fatalf("another namespace counts %+v", c)
	}
	// The same id may exist in two namespaces independently.
	twin := SampleEpisode(2)
	twin.ID = ep.ID
	must(t, s.CreateEpisode(ctx(), other, twin))
	must(t, s.DeleteEpisode(ctx(), other, twin.ID))
	got, err := s.GetEpisode(ctx(), ns, ep.ID)
	must(t, err)
	Equal(t, "episode after its twin in another namespace was deleted", got, ep)
	// A relationship cannot cross namespaces.
	x := SampleEpisode(3)
	must(t, s.CreateEpisode(ctx(), other, x))
	nss, err := s.Namespaces(ctx())
	must(t, err)
	Equal(t, "namespaces", nss, []engram.Namespace{"agent-b", ns})
	WantCode(t, s.AddRelationship(ctx(), other, &engram.Relationship{From: x.ID, To: ep.ID, Type: engram.RelRelatedTo}), engram.ENOTFOUND, "to")
}

// hostile holds text that breaks naive SQL, JSON, LIKE patterns and FTS.
var hostile = []string{
	`it's "quoted"`, `100% LIKE _x_`, "nul\x00byte", `'); DROP TABLE episodes; --`, `SELECT * FROM changes`,
	`\\backslash\\`, "tab\tnewline\n", `ünïcödé ✓ 日本語`, `{"json": true}`, `NEAR(a b) OR "x" AND NOT y*`,
}

func testHostileText(t *testing.T, open OpenStore) {
	s := open(t)
	for i, txt := range hostile {
		t.Run(fmt.Sprintf("Text%d", i), func(t *testing.T) {
			ep := &engram.Episode{
				TaskDescription: txt,
				Context:         engram.TaskContext{Domain: txt, Language: txt},
				Metadata:        map[string]string{txt: txt},
				Steps:           []engram.Step{{Tool: txt, Action: txt, Result: &engram.StepResult{Type: engram.ResultSuccess, Output: txt}}},
			}
			must(t, s.CreateEpisode(ctx(), ns, ep))
			got, err := s.GetEpisode(ctx(), ns, ep.ID)
			must(t, err)
			if got.TaskDescription != txt || got.Context.Domain != txt || got.Metadata[txt] != txt || got.Steps[0].Result.Output != txt {
				t.Fatalf("text %q did not round-trip: %+v", txt, got)
			}
			page, err := s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Domain: txt, Metadata: map[string]string{txt: txt}})
			must(t, err)
			if len(page.Episodes) != 1 || page.Episodes[0].ID != ep.ID {
				t.Fatalf("filtering by text %q found %d episodes", txt, len(page.Episodes))
			}
			p := &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: txt, Domain: txt}
			must(t, s.PutPattern(ctx(), ns, p))
			gp, err := s.GetPattern(ctx(), ns, p.ID)
			must(t, err)
			if gp.ErrorType != txt {
				t.Fatalf("pattern text %q came back as %q", txt, gp.ErrorType)
			}
			if _, err := s.Search(ctx(), ns, engram.SearchQuery{Text: txt}); err != nil && engram.ErrorField(err) != "query" {
				t.Fatalf("search for %q: %v", txt, err)
			}
		})
	}
}

func testChangeFeed(t *testing.T, open OpenStore) {
	s := open(t)
	ep := SampleEpisode(1)
	must(t, s.CreateEpisode(ctx(), ns, ep))
	must(t, s.AppendStep(ctx(), ns, ep.ID, &engram.Step{Tool: "t", Action: "a"}))
	_, err := s.CompleteEpisode(ctx(), ns, ep.ID, &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}})
	must(t, err)
	p := SamplePatterns()[0]
	must(t, s.PutPattern(ctx(), "other", p))
	must(t, s.PutPattern(ctx(), "other", p))
	emb := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1}}
	must(t, s.PutEmbeddings(ctx(), ns, []*engram.Embedding{emb}))
	must(t, s.DeleteEpisode(ctx(), ns, ep.ID))

	type entry struct {
		NS   engram.Namespace
		Kind engram.RecordKind
		Key  string
		Op   engram.ChangeOp
	}
	want := []entry{
		{ns, engram.KindEpisode, ep.ID.String(), engram.OpInsert},
		{ns, engram.KindEpisode, ep.ID.String(), engram.OpUpdate},
		{ns, engram.KindEpisode, ep.ID.String(), engram.OpUpdate},
		{"other", engram.KindPattern, p.ID.String(), engram.OpInsert},
		{"other", engram.KindPattern, p.ID.String(), engram.OpUpdate},
		{ns, engram.KindEmbedding, emb.Key().String(), engram.OpInsert},
		{ns, engram.KindEmbedding, emb.Key().String(), engram.OpDelete},
		{ns, engram.KindEpisode, ep.ID.String(), engram.OpDelete},
	}
	var got []entry
	var prev uint64
	for after := uint64(0); ; {
		batch, err := s.Changes(ctx(), after, 3)
		must(t, err)
		if len(batch) == 0 {
			break
		}
		for _, c := range batch {
			if c.Seq <= prev {
				t.Fatalf("seq %d after %d: not increasing", c.Seq, prev)
			}
			if c.At.IsZero() {
				t.Fatalf("change %d has no time", c.Seq)
			}
			prev = c.Seq
			got = append(got, entry{c.Namespace, c.Kind, c.Key, c.Op})
		}
		after = batch[len(batch)-1].Seq
	}
	Equal(t, "change feed", got, want)
	if seq := lastSeq(t, s); seq != prev {
		t.Fatalf("LastSeq %d, last change %d", seq, prev)
	}
}

// IdempotentStore is the optional capability the Idempotency cases need: a
// store that honours engram.WithIdempotencyKey through to its commit says so
// (true). A store that does not implement it skips those cases, saying why:
// the HTTP client implements it once it sends the Idempotency-Key header.
type IdempotentStore interface{ HonoursIdempotencyKeys() bool }

// clone returns a deep copy of v through JSON: the same request again.
func clone[T any](t *testing.T, v *T) *T {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	out := new(T)
	must(t, json.Unmarshal(b, out))
	return out
}

func keyed(key string) context.Context { return engram.WithIdempotencyKey(ctx(), key) }

func testIdempotency(t *testing.T, open OpenStore) {
	s := open(t)
	if c, ok := s.(IdempotentStore); !ok || !c.HonoursIdempotencyKeys() {
		t.Skipf("%T does not report HonoursIdempotencyKeys", s)
	}
	template := SampleEpisode(1) // no id: the store assigns it
	t.Run("RepeatReturnsOriginal", func(t *testing.T) {
		first := clone(t, template)
		must(t, s.CreateEpisode(keyed("create-1"), ns, first))
		seq := lastSeq(t, s)
		again := clone(t, template)
		must(t, s.CreateEpisode(keyed("create-1"), ns, again))
		Equal(t, "repeated create, filled from the original", again, first)
		unchanged(t, s, seq)
		c, err := s.Counts(ctx(), ns)
		must(t, err)
		if c.Episodes != 1 {
			t.Fatalf("%d episodes after a repeated create, want 1", c.Episodes)
		}
	})
	t.Run("ErrConflictDifferentRequest", func(t *testing.T) {
		other := clone(t, template)
		other.TaskDescription = "another task"
		seq := lastSeq(t, s)
		err := s.CreateEpisode(keyed("create-1"), ns, other)
		WantCode(t, err, engram.ECONFLICT, "idempotency_key")
		if !strings.Contains(err.Error(), "create-1") {
			t.Fatalf("conflict does not name the key: %v", err)
		}
		unchanged(t, s, seq)
		err = s.DeleteEpisode(keyed("create-1"), ns, engram.NewEpisodeID())
		WantCode(t, err, engram.ECONFLICT, "idempotency_key")
	})
	t.Run("KeysAreScopedToTheNamespace", func(t *testing.T) {
		ep := clone(t, template)
		must(t, s.CreateEpisode(keyed("create-1"), "other", ep))
		if _, err := s.GetEpisode(ctx(), "other", ep.ID); err != nil {
			t.Fatalf("keyed create in a second namespace: %v", err)
		}
	})
	t.Run("FailedWriteKeepsNoKey", func(t *testing.T) {
		bad := clone(t, template)
		bad.TaskDescription = ""
		WantCode(t, s.CreateEpisode(keyed("create-2"), ns, bad), engram.EINVALID, "task_description")
		good := clone(t, template)
		must(t, s.CreateEpisode(keyed("create-2"), ns, good))
	})
	t.Run("ErrInvalidKey", func(t *testing.T) {
		WantCode(t, s.CreateEpisode(keyed("has space"), ns, clone(t, template)), engram.EINVALID, "idempotency_key")
	})
	t.Run("EveryWrite", func(t *testing.T) {
		ep := clone(t, template)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		step := &engram.Step{Tool: "t", Action: "once"}
		must(t, s.AppendStep(keyed("step-1"), ns, ep.ID, clone(t, step)))
		again := clone(t, step)
		must(t, s.AppendStep(keyed("step-1"), ns, ep.ID, again))
		if again.StepNumber != 3 {
			t.Fatalf("repeated append filled step number %d, want the original's 3", again.StepNumber)
		}
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		if len(got.Steps) != 3 {
			t.Fatalf("%d steps after a repeated append, want 3", len(got.Steps))
		}
		comp := &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}}
		done, err := s.CompleteEpisode(keyed("complete-1"), ns, ep.ID, clone(t, comp))
		must(t, err)
		doneAgain, err := s.CompleteEpisode(keyed("complete-1"), ns, ep.ID, clone(t, comp))
		must(t, err)
		Equal(t, "repeated completion", doneAgain, done)

		p := SamplePatterns()[0]
		p.ID = engram.PatternID{}
		p1, p2 := clone(t, p), clone(t, p)
		must(t, s.PutPattern(keyed("pattern-1"), ns, p1))
		must(t, s.PutPattern(keyed("pattern-1"), ns, p2))
		Equal(t, "repeated put", p2, p1)
		h := &engram.Heuristic{Condition: "c", Action: "a", Confidence: 0.5}
		h1, h2 := clone(t, h), clone(t, h)
		must(t, s.PutHeuristic(keyed("heuristic-1"), ns, h1))
		must(t, s.PutHeuristic(keyed("heuristic-1"), ns, h2))
		Equal(t, "repeated put", h2, h1)
		emb := &engram.Embedding{ItemID: ep.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1, 2}}
		e1, e2 := clone(t, emb), clone(t, emb)
		must(t, s.PutEmbeddings(keyed("emb-1"), ns, []*engram.Embedding{e1}))
		must(t, s.PutEmbeddings(keyed("emb-1"), ns, []*engram.Embedding{e2}))
		Equal(t, "repeated put", e2, e1)
		seq := lastSeq(t, s)
		must(t, s.DeleteHeuristic(keyed("del-h"), ns, h1.ID))
		must(t, s.DeleteHeuristic(keyed("del-h"), ns, h1.ID)) // the original outcome, not ENOTFOUND
		if got := lastSeq(t, s); got != seq+1 {
			t.Fatalf("a repeated delete moved the feed from %d to %d, want %d", seq, got, seq+1)
		}
		c, err := s.Counts(ctx(), ns)
		must(t, err)
		if c.Patterns != 1 || c.Heuristics != 0 || c.Embeddings != 1 {
			t.Fatalf("counts after repeated writes: %+v", c)
		}
	})
}

// testFeedVisibility: concurrent writers and a reader that always resumes
// from the highest seq it has seen. The feed's invariant is that no entry
// with a seq at or below one already seen ever appears later, so the reader
// must end up with exactly the entries a full read returns, each once.
func testFeedVisibility(t *testing.T, open OpenStore) {
	s := open(t)
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ep := &engram.Episode{TaskDescription: fmt.Sprintf("writer %d episode %d", w, i)}
				if err := s.CreateEpisode(ctx(), ns, ep); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	seen := map[uint64]bool{}
	var high uint64
	read := func() error {
		batch, err := s.Changes(ctx(), high, 7)
		if err != nil {
			return err
		}
		for _, c := range batch {
			if c.Seq <= high {
				return fmt.Errorf("entry %d returned after resuming from %d", c.Seq, high)
			}
			high = c.Seq
			seen[c.Seq] = true
		}
		return nil
	}
	var rerr error
	reader := make(chan struct{})
	go func() {
		defer close(reader)
		for {
			select {
			case <-done:
				return
			default:
			}
			if rerr = read(); rerr != nil {
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	<-reader
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	for { // catch up with what the writers left
		before := high
		must(t, read())
		if high == before {
			break
		}
	}
	var all []uint64
	for after := uint64(0); ; {
		batch, err := s.Changes(ctx(), after, 100)
		must(t, err)
		if len(batch) == 0 {
			break
		}
		for _, c := range batch {
			all = append(all, c.Seq)
		}
		after = batch[len(batch)-1].Seq
	}
	if len(all) != writers*each {
		t.Fatalf("feed holds %d entries, want %d", len(all), writers*each)
	}
	for _, seq := range all {
		if !seen[seq] {
			t.Fatalf("entry %d appeared below the seq the reader had already passed (it saw %d entries, the feed holds %d)", seq, len(seen), len(all))
		}
	}
	if len(seen) != len(all) {
		t.Fatalf("the reader saw %d entries, the feed holds %d", len(seen), len(all))
	}
}
