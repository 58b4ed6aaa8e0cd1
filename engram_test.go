package engram_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/engramhq/engram"
)

func TestUUIDRoundTrip(t *testing.T) {
	seen := map[engram.UUID]bool{}
	var prev engram.UUID
	for i := 0; i < 1000; i++ {
		u := engram.NewUUID()
		if seen[u] {
			t.Fatalf("duplicate uuid %s", u)
		}
		seen[u] = true
		s := u.String()
		if len(s) != 36 || s[14] != '7' || !strings.ContainsRune("89ab", rune(s[19])) {
			t.Fatalf("%s is not a version-7 RFC 9562 UUID", s)
		}
		for _, form := range []string{s, strings.ToUpper(s), "{" + s + "}", "urn:uuid:" + s} {
			got, err := engram.ParseUUID(form)
			if err != nil || got != u {
				t.Fatalf("parse %q = %s, %v", form, got, err)
			}
		}
		if i > 0 && strings.Compare(prev.String()[:13], s[:13]) > 0 {
			t.Fatalf("uuids not time-ordered: %s then %s", prev, s)
		}
		prev = u
	}
}

func TestErrParseUUID(t *testing.T) {
	for _, bad := range []string{"", "x", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g",
		"0190a1b2c3d47e5f8a9b0c1d2e3f4a5b6c7d", "0190a1b2-c3d4-7e5f-8a9b_0c1d2e3f4a5b", "{0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"} {
		if _, err := engram.ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) succeeded", bad)
		}
	}
	_, err := engram.ParseEpisodeID("nope")
	if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != "episode_id" {
		t.Fatalf("ParseEpisodeID error = %v", err)
	}
}

func TestEpisodeIDJSON(t *testing.T) {
	id := engram.NewEpisodeID()
	b, err := json.Marshal(struct {
		ID engram.EpisodeID `json:"id"`
	}{id})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"id":"`+id.String()+`"}` {
		t.Fatalf("marshal = %s", b)
	}
	var back struct {
		ID engram.EpisodeID `json:"id"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.ID != id {
		t.Fatalf("unmarshal = %v, %v", back.ID, err)
	}
	if err := json.Unmarshal([]byte(`{"id":"zzz"}`), &back); err == nil {
		t.Fatal("unmarshal of a bad id succeeded")
	}
}

func TestNamespace(t *testing.T) {
	for _, ok := range []string{"default", "a", "agent-7.prod_eu", strings.Repeat("n", 64)} {
		if _, err := engram.ParseNamespace(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"A", "a b", "a/b", "ü", strings.Repeat("n", 65), "a\x00"} {
		_, err := engram.ParseNamespace(bad)
		if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != "namespace" {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if ns, _ := engram.ParseNamespace(""); ns != engram.DefaultNamespace {
		t.Fatalf("empty namespace = %q", ns)
	}
}

func TestErrorMatching(t *testing.T) {
	err := engram.NotFound("episode", "x")
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, engram.ErrNotFound) || errors.Is(wrapped, engram.ErrConflict) {
		t.Fatal("errors.Is does not match by code")
	}
	if engram.ErrorCode(errors.New("plain")) != engram.EINTERNAL || engram.ErrorCode(nil) != "" {
		t.Fatal("ErrorCode of plain and nil errors")
	}
	e := engram.TooLarge("steps[0].parameters", 2<<20, engram.MaxStepPayloadBytes)
	if e.Error() != "steps[0].parameters: is 2097152 bytes; the limit is 1048576 bytes (1 MiB)" {
		t.Fatalf("message = %q", e.Error())
	}
}

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	ep := &engram.Episode{
		TaskDescription: "x",
		Tags:            []string{" Alpha ", "alpha", "BETA"},
		Steps:           []engram.Step{{Tool: "t", Action: "a"}, {StepNumber: 5, Tool: "t", Action: "a"}, {Tool: "t", Action: "a"}},
	}
	ep.Normalize(now)
	if ep.ID.IsZero() || ep.TaskType != engram.TaskOther || ep.Context.Domain != "general" || ep.Context.Complexity != "moderate" {
		t.Fatalf("defaults: %+v", ep)
	}
	if ep.StartTime.Location() != time.UTC || !ep.StartTime.Equal(now) {
		t.Fatalf("start time %v", ep.StartTime)
	}
	if strings.Join(ep.Tags, ",") != "alpha,beta" {
		t.Fatalf("tags %q", ep.Tags)
	}
	var nums []int
	for _, s := range ep.Steps {
		nums = append(nums, s.StepNumber)
	}
	if len(nums) != 3 || nums[0] != 1 || nums[1] != 5 || nums[2] != 6 {
		t.Fatalf("step numbers %v", nums)
	}
	if err := ep.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, c := range []struct {
		in, code, field, msg string
	}{
		{`{"task_description": 5}`, engram.EINVALID, "task_description", "want a string"},
		{`{"task_descripton": "x"}`, engram.EINVALID, "task_descripton", "not a known field"},
		{`{"steps": [{"latency_ms": "slow"}]}`, engram.EINVALID, "steps[0].latency_ms", "want an integer"},
		{"{\n  \"a\": }", engram.EINVALID, "", "line 2"},
		{`{"episode_id": "not-a-uuid"}`, engram.EINVALID, "episode_id", "not a UUID"},
		{`{"start_time": "yesterday"}`, engram.EINVALID, "start_time", "yesterday"},
		{`{} {}`, engram.EINVALID, "", "more than one JSON value"},
		{`   `, engram.EINVALID, "", "empty"},
		{`{"task_description": "x"`, engram.EINVALID, "", "unexpected end"},
	} {
		var ep engram.Episode
		err := engram.DecodeJSONBytes([]byte(c.in), &ep)
		if engram.ErrorCode(err) != c.code || engram.ErrorField(err) != c.field || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v (code %s, field %q); want code %s field %q containing %q", c.in, err, engram.ErrorCode(err), engram.ErrorField(err), c.code, c.field, c.msg)
		}
	}
	var ep engram.Episode
	err := engram.DecodeJSON(strings.NewReader(`{"task_description": "`+strings.Repeat("x", 100)+`"}`), &ep, 50)
	if engram.ErrorCode(err) != engram.ETOOLARGE {
		t.Fatalf("over-limit input: %v", err)
	}
}

func TestEmbeddingKeyRoundTrip(t *testing.T) {
	for _, k := range []engram.EmbeddingKey{
		{ItemType: engram.ItemEpisode, ItemID: engram.NewUUID(), Model: "default"},
		{ItemType: "note_v2", ItemID: engram.NewUUID(), Model: "org/model-name/v3"},
	} {
		got, err := engram.ParseEmbeddingKey(k.String())
		if err != nil || got != k {
			t.Fatalf("ParseEmbeddingKey(%q) = %+v, %v", k.String(), got, err)
		}
	}
	for _, bad := range []string{"", "episode", "episode/x/m", "Episode!/" + engram.NewUUID().String() + "/m", "episode/" + engram.NewUUID().String() + "/"} {
		if _, err := engram.ParseEmbeddingKey(bad); engram.ErrorCode(err) != engram.EINVALID {
			t.Errorf("ParseEmbeddingKey(%q) = %v, want EINVALID", bad, err)
		}
	}
}
