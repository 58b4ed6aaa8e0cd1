package engram_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/engramhq/engram"
)

// FuzzEpisodeJSON decodes arbitrary bytes as an episode, as the CLI and the
// HTTP API do. Decoding and validation must never panic, and an episode that
// validates must survive a JSON round trip unchanged and still validate.
func FuzzEpisodeJSON(f *testing.F) {
	f.Add([]byte(`{"task_description":"fix it","steps":[{"tool":"t","action":"a","parameters":{"x":1}}]}`))
	f.Add([]byte(`{"episode_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","task_type":"debugging","task_description":"d",` +
		`"context":{"language":"go","complexity":"complex","domain":"web","tags":["Ab"]},"start_time":"2026-01-01T00:00:00Z",` +
		`"end_time":"2026-01-01T01:00:00Z","outcome":{"type":"failure","reason":"r","error_details":"e"},` +
		`"reward":{"total":1},"reflection":{"insights":["i"]},"tags":["x1"],"metadata":{"k":"v"},"location":{"lat":1,"lon":2}}`))
	f.Add([]byte(`{"task_description":"x","steps":[{"step_number":2,"tool":"t","action":"a"},{"step_number":1,"tool":"t","action":"a"}]}`))
	f.Add([]byte(`{"task_description":"x","location":{"lat":1e999}}`))
	f.Add([]byte(`{"task_description":"\u0000","metadata":{"\u0000":"\ud800"}}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var ep engram.Episode
		if json.Unmarshal(data, &ep) != nil {
			return
		}
		ep.Normalize(now)
		if err := ep.Validate(); err != nil {
			if engram.ErrorCode(err) == engram.EINTERNAL || engram.ErrorField(err) == "" {
				t.Fatalf("validation error without code or field: %v", err)
			}
			return
		}
		b, err := json.Marshal(&ep)
		if err != nil {
			t.Fatalf("a valid episode does not marshal: %v", err)
		}
		var back engram.Episode
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("a valid episode does not unmarshal: %v\n%s", err, b)
		}
		back.Normalize(now)
		if err := back.Validate(); err != nil {
			t.Fatalf("valid episode invalid after round trip: %v\n%s", err, b)
		}
		b2, _ := json.Marshal(&back)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed the episode\n%s\n%s", b, b2)
		}
	})
}

// FuzzStepJSON does the same for a single step, as `engram step add` reads it.
func FuzzStepJSON(f *testing.F) {
	f.Add([]byte(`{"tool":"t","action":"a","parameters":{"q":[1,2]},"result":{"type":"success","output":"o"},"latency_ms":3}`))
	f.Add([]byte(`{"step_number":-1,"tool":"t","action":"a","result":{"type":"error","output":"x"}}`))
	f.Add([]byte(`{"tool":"t","action":"a","parameters":" {\"a\" : 1} "}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var st engram.Step
		if json.Unmarshal(data, &st) != nil {
			return
		}
		if st.StepNumber == 0 {
			st.StepNumber = 1
		}
		st.Normalize(now)
		if err := st.Validate(); err != nil {
			if engram.ErrorField(err) == "" {
				t.Fatalf("validation error without field: %v", err)
			}
			return
		}
		b, err := json.Marshal(&st)
		if err != nil {
			t.Fatalf("a valid step does not marshal: %v", err)
		}
		var back engram.Step
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		back.Normalize(now)
		if err := back.Validate(); err != nil {
			t.Fatalf("valid step invalid after round trip: %v\n%s", err, b)
		}
	})
}

// TestDecodeJSONStrict: member names match exactly (no case folding, no
// Unicode folding such as the Kelvin sign for k), a member named twice is an
// error naming it, invalid UTF-8 is an error naming the field (never turned
// into U+FFFD), and a bad UUID or time inside a body names its field.
func TestDecodeJSONStrict(t *testing.T) {
	for _, c := range []struct {
		name, in, field, msg string
	}{
		{"ErrUpperCaseName", `{"TASK_DESCRIPTION":"x"}`, "TASK_DESCRIPTION", "not a known field"},
		{"ErrKelvinSignName", "{\"tas\u212a_type\":\"debugging\",\"task_description\":\"x\"}", "tas\u212a_type", "not a known field"},
		{"ErrDuplicateKey", `{"task_description":"a","task_description":"b"}`, "task_description", "more than once"},
		{"ErrDuplicateNestedKey", `{"task_description":"a","steps":[{"tool":"t","action":"a","tool":"u"}]}`, "steps[0].tool", "more than once"},
		{"ErrInvalidUTF8", "{\"task_description\":\"a\xffb\"}", "task_description", "UTF-8"},
		{"ErrInvalidUTF8InMetadata", "{\"task_description\":\"a\",\"metadata\":{\"k\":\"\xc3\"}}", "metadata.k", "UTF-8"},
		{"ErrBadUUID", `{"task_description":"x","episode_id":"nope"}`, "episode_id", "not a UUID"},
		{"ErrBadUUIDInList", `{"condition":"c","action":"a","evidence":{"episode_ids":["nope"]}}`, "evidence.episode_ids[0]", "not a UUID"},
		{"ErrBadTime", `{"task_description":"x","start_time":"yesterday"}`, "start_time", "RFC 3339"},
		{"ErrWrongType", `{"task_description":"x","steps":[{"tool":1}]}`, "steps[0].tool", "want a string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v any = new(engram.Episode)
			if strings.Contains(c.in, "condition") {
				v = new(engram.Heuristic)
			}
			err := engram.DecodeJSONBytes([]byte(c.in), v)
			if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != c.field || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v (code %q, field %q), want EINVALID on %s saying %q", err, engram.ErrorCode(err), engram.ErrorField(err), c.field, c.msg)
			}
		})
	}
	var ep engram.Episode
	if err := engram.DecodeJSONBytes([]byte(`{"task_description":"caf\u00e9 ok","metadata":{"K":"v"}}`), &ep); err != nil || ep.TaskDescription != "café ok" {
		t.Fatalf("a valid episode: %v %+v", err, ep)
	}
}

// FuzzDecodeJSON feeds arbitrary bytes to the strict decoder every user input
// goes through: it must return a coded *Error or nil, never panic; what it
// accepts is valid UTF-8 without a duplicate member name (jsontext's own
// check), and what it rejects for a name or an encoding names the field.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"task_description":"x"}`))
	f.Add([]byte(`{"task_description":1}`))
	f.Add([]byte(`{"nope":1}`))
	f.Add([]byte(`{"episode_id":"bad"}`))
	f.Add([]byte(`{"start_time":"yesterday"}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte("{\n\"a\":"))
	f.Add([]byte(`{"TASK_DESCRIPTION":"x"}`))
	f.Add([]byte("{\"tas\u212a_type\":\"debugging\"}"))
	f.Add([]byte(`{"task_description":"a","task_description":"b"}`))
	f.Add([]byte("{\"task_description\":\"a\xffb\"}"))
	f.Add([]byte(`{"metadata":{"a":"1","a":"2"}}`))
	f.Add([]byte(`{"steps":[{"parameters":{"x":1,"x":2}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ep engram.Episode
		err := engram.DecodeJSONBytes(data, &ep)
		if err == nil {
			if !utf8.Valid(data) {
				t.Fatalf("accepted invalid UTF-8: %q", data)
			}
			if !jsontext.Value(data).IsValid() {
				t.Fatalf("accepted a document with a duplicate name or bad encoding: %q", data)
			}
			return
		}
		if c := engram.ErrorCode(err); c != engram.EINVALID {
			t.Fatalf("decode error has code %q: %v", c, err)
		}
		if (strings.Contains(err.Error(), "is not a known field") || strings.Contains(err.Error(), "more than once")) && engram.ErrorField(err) == "" {
			t.Fatalf("error without a field: %v", err)
		}
	})
}
