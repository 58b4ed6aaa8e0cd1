package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
)

func testEpisodes(t *testing.T, open OpenStore) {
	t.Run("RoundTripEveryField", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		if ep.ID.IsZero() || ep.CreatedAt.IsZero() || ep.UpdatedAt.IsZero() {
			t.Fatalf("create did not fill id and times: %+v", ep)
		}
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		Equal(t, "episode read back", got, ep)
		// The defaults and canonical forms the contract promises.
		if got.Context.Tags[1] != "retry" {
			t.Fatalf("context tag not lower-cased: %q", got.Context.Tags)
		}
		if string(got.Steps[0].Parameters) != `{"pattern":"retry","paths":["./client"],"n":3}` {
			t.Fatalf("parameters = %s", got.Steps[0].Parameters)
		}
	})
	t.Run("DefaultsFilled", func(t *testing.T) {
		s := open(t)
		ep := &engram.Episode{TaskDescription: "write docs"}
		must(t, s.CreateEpisode(ctx(), ns, ep))
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		if got.TaskType != engram.TaskOther || got.Context.Complexity != engram.ComplexityModerate ||
			got.Context.Domain != engram.DefaultDomain || got.StartTime.IsZero() || got.Steps == nil || len(got.Steps) != 0 {
			t.Fatalf("defaults not filled: %+v", got)
		}
		if got.Complete() {
			t.Fatal("a new episode without outcome reads as complete")
		}
	})
	t.Run("ErrConflictOnDuplicateID", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		seq := lastSeq(t, s)
		dup := SampleEpisode(2)
		dup.ID = ep.ID
		WantCode(t, s.CreateEpisode(ctx(), ns, dup), engram.ECONFLICT, "episode_id")
		unchanged(t, s, seq)
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		if got.TaskDescription != ep.TaskDescription {
			t.Fatal("a conflicting create overwrote the stored episode")
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		s := open(t)
		id := engram.NewEpisodeID()
		_, err := s.GetEpisode(ctx(), ns, id)
		WantCode(t, err, engram.ENOTFOUND, "")
		WantCode(t, s.DeleteEpisode(ctx(), ns, id), engram.ENOTFOUND, "")
		WantCode(t, s.AppendStep(ctx(), ns, id, &engram.Step{Tool: "x", Action: "y"}), engram.ENOTFOUND, "")
		_, err = s.CompleteEpisode(ctx(), ns, id, SampleCompletion(time.Now()))
		WantCode(t, err, engram.ENOTFOUND, "")
		WantCode(t, s.UpdateEpisode(ctx(), ns, &engram.Episode{ID: id, TaskDescription: "x"}), engram.ENOTFOUND, "")
		if lastSeq(t, s) != 0 {
			t.Fatal("operations on a missing episode wrote to the change feed")
		}
	})
	t.Run("UpdateKeepsStepsAndCreatedAt", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		upd := *ep
		upd.Steps = nil
		upd.TaskDescription = "rewritten description"
		upd.Tags = []string{"rewritten"}
		upd.Metadata = map[string]string{"repo": "other"}
		upd.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		must(t, s.UpdateEpisode(ctx(), ns, &upd))
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		if got.TaskDescription != "rewritten description" || len(got.Steps) != 2 || !got.CreatedAt.Equal(ep.CreatedAt) {
			t.Fatalf("update: description %q, %d steps, created %v (want %v)", got.TaskDescription, len(got.Steps), got.CreatedAt, ep.CreatedAt)
		}
		if got.UpdatedAt.Before(ep.UpdatedAt) {
			t.Fatal("updated_at went backwards")
		}
		// The index rows follow the update.
		page, err := s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Tags: []string{"flaky"}})
		must(t, err)
		if len(page.Episodes) != 0 {
			t.Fatal("old tag still matches after update")
		}
		page, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Tags: []string{"rewritten"}, Metadata: map[string]string{"repo": "other"}})
		must(t, err)
		if len(page.Episodes) != 1 {
			t.Fatalf("new tag and metadata match %d episodes, want 1", len(page.Episodes))
		}
	})
	t.Run("DeleteCascades", func(t *testing.T) {
		s := open(t)
		a, b := SampleEpisode(1), SampleEpisode(2)
		must(t, s.CreateEpisodes(ctx(), ns, []*engram.Episode{a, b}))
		must(t, s.PutEmbeddings(ctx(), ns, []*engram.Embedding{{ItemID: a.ID.UUID, ItemType: engram.ItemEpisode, Vector: []float32{1, 2}}}))
		must(t, s.AddRelationship(ctx(), ns, &engram.Relationship{From: a.ID, To: b.ID, Type: engram.RelFollows}))
		must(t, s.DeleteEpisode(ctx(), ns, a.ID))
		_, err := s.GetEpisode(ctx(), ns, a.ID)
		WantCode(t, err, engram.ENOTFOUND, "")
		c, err := s.Counts(ctx(), ns)
		must(t, err)
		want := engram.Counts{Episodes: 1, Steps: 2}
		if c != want {
			t.Fatalf("counts after delete = %+v, want %+v", c, want)
		}
		hits, err := s.Search(ctx(), ns, engram.SearchQuery{Text: "case 1"})
		must(t, err)
		for _, h := range hits {
			if h.EpisodeID != nil && *h.EpisodeID == a.ID {
				t.Fatalf("search still finds the deleted episode: %+v", h)
			}
		}
		rels, err := s.ListRelationships(ctx(), ns, engram.RelationshipFilter{Episode: b.ID})
		must(t, err)
		if len(rels) != 0 {
			t.Fatalf("relationships of a deleted episode remain: %+v", rels)
		}
	})
	t.Run("BatchIsAllOrNothing", func(t *testing.T) {
		s := open(t)
		good, bad := SampleEpisode(1), SampleEpisode(2)
		bad.TaskDescription = ""
		err := s.CreateEpisodes(ctx(), ns, []*engram.Episode{good, bad})
		WantCode(t, err, engram.EINVALID, "task_description")
		if !strings.Contains(err.Error(), "episodes[1]") {
			t.Fatalf("batch error does not say which episode: %v", err)
		}
		c, err := s.Counts(ctx(), ns)
		must(t, err)
		if c.Episodes != 0 {
			t.Fatalf("a failed batch stored %d episodes", c.Episodes)
		}
		unchanged(t, s, 0)

		dup := SampleEpisode(3)
		dup2 := SampleEpisode(4)
		dup2.ID = engram.NewEpisodeID()
		dup.ID = dup2.ID
		WantCode(t, s.CreateEpisodes(ctx(), ns, []*engram.Episode{dup, dup2}), engram.ECONFLICT, "")
		unchanged(t, s, 0)

		many := make([]*engram.Episode, 50)
		for i := range many {
			many[i] = SampleEpisode(i)
		}
		must(t, s.CreateEpisodes(ctx(), ns, many))
		for _, ep := range many {
			got, err := s.GetEpisode(ctx(), ns, ep.ID)
			must(t, err)
			Equal(t, "batched episode", got, ep)
		}
	})
}

func testSteps(t *testing.T, open OpenStore) {
	t.Run("AppendAssignsNextNumber", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		st := &engram.Step{Tool: "edit", Action: "patch", Result: &engram.StepResult{Type: engram.ResultTimeout, Message: "took too long"}}
		must(t, s.AppendStep(ctx(), ns, ep.ID, st))
		if st.StepNumber != 3 || st.Timestamp.IsZero() {
			t.Fatalf("appended step got number %d, timestamp %v", st.StepNumber, st.Timestamp)
		}
		st5 := &engram.Step{StepNumber: 5, Tool: "edit", Action: "patch again", Parameters: json.RawMessage(` { "a" : [1, 2] } `)}
		must(t, s.AppendStep(ctx(), ns, ep.ID, st5))
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		nums := []int{}
		for _, s := range got.Steps {
			nums = append(nums, s.StepNumber)
		}
		Equal(t, "step numbers", nums, []int{1, 2, 3, 5})
		Equal(t, "appended step", got.Steps[2], st)
		if string(got.Steps[3].Parameters) != `{"a":[1,2]}` {
			t.Fatalf("parameters = %s", got.Steps[3].Parameters)
		}
		if !got.UpdatedAt.After(ep.UpdatedAt) && !got.UpdatedAt.Equal(ep.UpdatedAt) {
			t.Fatal("updated_at not advanced by append")
		}
	})
	t.Run("ErrStepNumberNotIncreasing", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		seq := lastSeq(t, s)
		WantCode(t, s.AppendStep(ctx(), ns, ep.ID, &engram.Step{StepNumber: 2, Tool: "a", Action: "b"}), engram.ECONFLICT, "step.step_number")
		WantCode(t, s.AppendStep(ctx(), ns, ep.ID, &engram.Step{StepNumber: -1, Tool: "a", Action: "b"}), engram.EINVALID, "step.step_number")
		unchanged(t, s, seq)
	})
	t.Run("ErrStepInvalid", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		seq := lastSeq(t, s)
		for _, c := range []struct {
			step  engram.Step
			code  string
			field string
		}{
			{engram.Step{Action: "b"}, engram.EINVALID, "step.tool"},
			{engram.Step{Tool: "a", Action: "b", Parameters: json.RawMessage(`[1]`)}, engram.EINVALID, "step.parameters"},
			{engram.Step{Tool: "a", Action: "b", Parameters: json.RawMessage(`{"a":`)}, engram.EINVALID, "step.parameters"},
			{engram.Step{Tool: "a", Action: "b", Parameters: json.RawMessage(`{"a":"` + strings.Repeat("x", engram.MaxStepPayloadBytes) + `"}`)}, engram.ETOOLARGE, "step.parameters"},
			{engram.Step{Tool: "a", Action: "b", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: strings.Repeat("x", engram.MaxStepPayloadBytes+1)}}, engram.ETOOLARGE, "step.result.output"},
			{engram.Step{Tool: "a", Action: "b", Result: &engram.StepResult{Type: "crashed"}}, engram.EINVALID, "step.result.type"},
			{engram.Step{Tool: "a", Action: "b", Result: &engram.StepResult{Type: engram.ResultError, Output: "x"}}, engram.EINVALID, "step.result.output"},
			{engram.Step{Tool: "a", Action: "b", LatencyMS: -1}, engram.EINVALID, "step.latency_ms"},
			{engram.Step{Tool: "a\xff", Action: "b"}, engram.EINVALID, "step.tool"},
		} {
			st := c.step
			WantCode(t, s.AppendStep(ctx(), ns, ep.ID, &st), c.code, c.field)
		}
		unchanged(t, s, seq)
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		if len(got.Steps) != 2 {
			t.Fatalf("rejected steps were stored: %d steps", len(got.Steps))
		}
	})
	t.Run("ErrTooManySteps", func(t *testing.T) {
		s := open(t)
		ep := &engram.Episode{TaskDescription: "long task"}
		for i := 1; i < engram.MaxSteps; i++ {
			ep.Steps = append(ep.Steps, engram.Step{StepNumber: i, Tool: "t", Action: "a"})
		}
		must(t, s.CreateEpisode(ctx(), ns, ep))
		must(t, s.AppendStep(ctx(), ns, ep.ID, &engram.Step{Tool: "t", Action: "last allowed"}))
		WantCode(t, s.AppendStep(ctx(), ns, ep.ID, &engram.Step{Tool: "t", Action: "one too many"}), engram.ETOOLARGE, "steps")
		tooMany := &engram.Episode{TaskDescription: "too long"}
		for i := 1; i <= engram.MaxSteps+1; i++ {
			tooMany.Steps = append(tooMany.Steps, engram.Step{Tool: "t", Action: "a"})
		}
		WantCode(t, s.CreateEpisode(ctx(), ns, tooMany), engram.ETOOLARGE, "steps")
	})
	t.Run("ErrEpisodeTooLarge", func(t *testing.T) {
		s := open(t)
		ep := &engram.Episode{TaskDescription: "big outputs"}
		out := strings.Repeat("o", engram.MaxStepPayloadBytes-100)
		for i := 0; i < 9; i++ {
			ep.Steps = append(ep.Steps, engram.Step{Tool: "t", Action: "a", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: out}})
		}
		must(t, s.CreateEpisode(ctx(), ns, ep))
		must(t, s.AppendStep(ctx(), ns, ep.ID, &engram.Step{Tool: "t", Action: "a", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: strings.Repeat("o", engram.MaxStepPayloadBytes/2)}}))
		seq := lastSeq(t, s)
		err := s.AppendStep(ctx(), ns, ep.ID, &engram.Step{Tool: "t", Action: "a", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: out}})
		WantCode(t, err, engram.ETOOLARGE, "episode")
		if !strings.Contains(err.Error(), "10 MiB") {
			t.Fatalf("size error does not name the limit: %v", err)
		}
		unchanged(t, s, seq)
		big := &engram.Episode{TaskDescription: "too big"}
		for i := 0; i < 11; i++ {
			big.Steps = append(big.Steps, engram.Step{Tool: "t", Action: "a", Result: &engram.StepResult{Type: engram.ResultSuccess, Output: out}})
		}
		WantCode(t, s.CreateEpisode(ctx(), ns, big), engram.ETOOLARGE, "episode")
		unchanged(t, s, seq)
	})
}

func testComplete(t *testing.T, open OpenStore) {
	t.Run("RecordsOutcome", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		end := ep.StartTime.Add(time.Hour)
		c := SampleCompletion(end)
		done, err := s.CompleteEpisode(ctx(), ns, ep.ID, c)
		must(t, err)
		if !done.Complete() || !done.EndTime.Equal(end) || len(done.Steps) != 2 {
			t.Fatalf("completed episode: complete=%v end=%v steps=%d", done.Complete(), done.EndTime, len(done.Steps))
		}
		Equal(t, "outcome", done.Outcome, c.Outcome)
		Equal(t, "reward", done.Reward, c.Reward)
		Equal(t, "reflection", done.Reflection, c.Reflection)
		got, err := s.GetEpisode(ctx(), ns, ep.ID)
		must(t, err)
		Equal(t, "completed episode read back", got, done)
		seq := lastSeq(t, s)
		_, err = s.CompleteEpisode(ctx(), ns, ep.ID, c)
		WantCode(t, err, engram.ECONFLICT, "")
		WantCode(t, s.AppendStep(ctx(), ns, ep.ID, &engram.Step{Tool: "t", Action: "late"}), engram.ECONFLICT, "")
		unchanged(t, s, seq)
	})
	t.Run("DefaultEndTime", func(t *testing.T) {
		s := open(t)
		ep := &engram.Episode{TaskDescription: "quick"}
		must(t, s.CreateEpisode(ctx(), ns, ep))
		done, err := s.CompleteEpisode(ctx(), ns, ep.ID, &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeAbstained, Reason: "unsafe", StoppedAtStep: 0}})
		must(t, err)
		if done.EndTime == nil || done.EndTime.Before(done.StartTime) {
			t.Fatalf("end_time = %v", done.EndTime)
		}
	})
	t.Run("ErrInvalidCompletion", func(t *testing.T) {
		s := open(t)
		ep := SampleEpisode(1)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		seq := lastSeq(t, s)
		early := ep.StartTime.Add(-time.Hour)
		for _, c := range []struct {
			c     engram.Completion
			field string
		}{
			{engram.Completion{Outcome: engram.Outcome{Type: "won"}}, "outcome.type"},
			{engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess}}, "outcome.verdict"},
			{engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeFailure, Verdict: "x", Reason: "y"}}, "outcome.verdict"},
			{engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok", StoppedAtStep: 3}}, "outcome.stopped_at_step"},
			{engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}, Reward: &engram.Reward{Total: nan()}}, "reward.total"},
			{engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "ok"}, EndTime: &early}, "end_time"},
		} {
			cp := c.c
			_, err := s.CompleteEpisode(ctx(), ns, ep.ID, &cp)
			WantCode(t, err, engram.EINVALID, c.field)
		}
		unchanged(t, s, seq)
	})
}

func testValidation(t *testing.T, open OpenStore) {
	s := open(t)
	cases := []struct {
		name  string
		edit  func(*engram.Episode)
		code  string
		field string
	}{
		{"ErrDescriptionMissing", func(e *engram.Episode) { e.TaskDescription = "  " }, engram.EINVALID, "task_description"},
		{"ErrDescriptionTooLong", func(e *engram.Episode) { e.TaskDescription = strings.Repeat("d", engram.MaxTaskDescriptionBytes+1) }, engram.ETOOLARGE, "task_description"},
		{"ErrTaskType", func(e *engram.Episode) { e.TaskType = "gardening" }, engram.EINVALID, "task_type"},
		{"ErrComplexity", func(e *engram.Episode) { e.Context.Complexity = "hard" }, engram.EINVALID, "context.complexity"},
		{"ErrTagTooShort", func(e *engram.Episode) { e.Tags = []string{"ok", "x"} }, engram.EINVALID, "tags[1]"},
		{"ErrTagCharacters", func(e *engram.Episode) { e.Tags = []string{"no spaces"} }, engram.EINVALID, "tags[0]"},
		{"ErrTagTooLong", func(e *engram.Episode) { e.Context.Tags = []string{strings.Repeat("t", 101)} }, engram.EINVALID, "context.tags[0]"},
		{"ErrStepNumbersOutOfOrder", func(e *engram.Episode) { e.Steps[1].StepNumber = 1 }, engram.EINVALID, "steps[1].step_number"},
		{"ErrStepParametersNotObject", func(e *engram.Episode) { e.Steps[0].Parameters = json.RawMessage(`"str"`) }, engram.EINVALID, "steps[0].parameters"},
		{"ErrEndBeforeStart", func(e *engram.Episode) { t := e.StartTime.Add(-time.Second); e.EndTime = &t }, engram.EINVALID, "end_time"},
		{"ErrLatitude", func(e *engram.Episode) { e.Location.Lat = 91 }, engram.EINVALID, "location.lat"},
		{"ErrTimeBeyondStorage", func(e *engram.Episode) { e.StartTime = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, engram.EINVALID, "start_time"},
		{"ErrTimeBeforeStorage", func(e *engram.Episode) { e.StartTime = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }, engram.EINVALID, "start_time"},
		{"ErrLongitudeNaN", func(e *engram.Episode) { e.Location.Lon = nan() }, engram.EINVALID, "location.lon"},
		{"ErrInvalidUTF8", func(e *engram.Episode) { e.TaskDescription = "bad \xc3\x28 bytes" }, engram.EINVALID, "task_description"},
		{"ErrMetadataValueTooLong", func(e *engram.Episode) { e.Metadata["k"] = strings.Repeat("v", engram.MaxTextBytes+1) }, engram.ETOOLARGE, `metadata["k"]`},
		{"ErrOutcomeFieldOfOtherType", func(e *engram.Episode) {
			e.Outcome = &engram.Outcome{Type: engram.OutcomeFailure, Reason: "x", Artifacts: []string{"a"}}
		}, engram.EINVALID, "outcome.artifacts"},
		{"ErrTooManyTags", func(e *engram.Episode) {
			e.Tags = nil
			for i := 0; i <= engram.MaxTags; i++ {
				e.Tags = append(e.Tags, "tag"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26)))
			}
		}, engram.ETOOLARGE, "tags"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep := SampleEpisode(1)
			c.edit(ep)
			seq := lastSeq(t, s)
			err := s.CreateEpisode(ctx(), ns, ep)
			WantCode(t, err, c.code, c.field)
			unchanged(t, s, seq)
		})
	}
	t.Run("ErrInvalidNamespace", func(t *testing.T) {
		for _, bad := range []engram.Namespace{"", "Upper", "with space", "x/../y", engram.Namespace(strings.Repeat("n", 65))} {
			WantCode(t, s.CreateEpisode(ctx(), bad, SampleEpisode(1)), engram.EINVALID, "namespace")
			_, err := s.GetEpisode(ctx(), bad, engram.NewEpisodeID())
			WantCode(t, err, engram.EINVALID, "namespace")
		}
	})
	c, err := s.Counts(ctx(), ns)
	must(t, err)
	if c.Episodes != 0 {
		t.Fatalf("invalid episodes were stored: %+v", c)
	}
}
