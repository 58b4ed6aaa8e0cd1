package engram

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestRecallQueryValidateNamesField(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name  string
		q     RecallQuery
		field string
		code  string
	}{
		{"NeitherVectorNorText", RecallQuery{Text: "  "}, "vector", EINVALID},
		{"NaNComponent", RecallQuery{Vector: []float32{1, nan}}, "vector[1]", EINVALID},
		{"InfComponent", RecallQuery{Vector: []float32{float32(math.Inf(1))}}, "vector[0]", EINVALID},
		{"TooManyDims", RecallQuery{Vector: make([]float32, MaxVectorDim+1)}, "vector", ETOOLARGE},
		{"LimitTooHigh", RecallQuery{Text: "x", Limit: MaxRecallLimit + 1}, "limit", EINVALID},
		{"UnknownItemType", RecallQuery{Text: "x", ItemTypes: []ItemType{ItemEpisode, "step"}}, "item_types[1]", EINVALID},
		{"DuplicateItemType", RecallQuery{Text: "x", ItemTypes: []ItemType{ItemEpisode, ItemEpisode}}, "item_types[1]", EINVALID},
		{"BadTag", RecallQuery{Text: "x", Filter: EpisodeFilter{Tags: []string{"ok", "a b"}}}, "filter.tags[1]", EINVALID},
		{"TooManyTags", RecallQuery{Text: "x", Filter: EpisodeFilter{Tags: make([]string, MaxFilterTags+1)}}, "filter.tags", ETOOLARGE},
		{"BadTaskType", RecallQuery{Text: "x", Filter: EpisodeFilter{TaskType: "nope"}}, "filter.task_type", EINVALID},
		{"UntilBeforeSince", RecallQuery{Text: "x", Filter: EpisodeFilter{Since: time.Unix(100, 0), Until: time.Unix(50, 0)}}, "filter.until", EINVALID},
		{"NearNoRadius", RecallQuery{Text: "x", Filter: EpisodeFilter{Near: &GeoRadius{Lat: 1, Lon: 2}}}, "filter.near.km", EINVALID},
		{"BoxLatInverted", RecallQuery{Text: "x", Filter: EpisodeFilter{Box: &GeoBox{MinLat: 10, MaxLat: 5}}}, "filter.box.min_lat", EINVALID},
		{"FilterLimit", RecallQuery{Text: "x", Filter: EpisodeFilter{Limit: 3}}, "filter.limit", EINVALID},
		{"NegativeHalfLife", RecallQuery{Text: "x", HalfLife: -time.Hour}, "half_life", EINVALID},
		{"UnknownFusion", RecallQuery{Text: "x", Fusion: "max"}, "fusion", EINVALID},
		{"NegativeWeight", RecallQuery{Text: "x", Weights: &RecallWeights{Vector: -1}}, "weights.vector", EINVALID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := c.q
			q.Normalize()
			err := q.Validate()
			if ErrorCode(err) != c.code || ErrorField(err) != c.field {
				t.Fatalf("got %v (code %q field %q); want code %q field %q", err, ErrorCode(err), ErrorField(err), c.code, c.field)
			}
		})
	}
	q := RecallQuery{Vector: []float32{1, 2}}
	q.Normalize()
	if err := q.Validate(); err != nil {
		t.Fatalf("valid query: %v", err)
	}
	if q.Limit != DefaultRecallLimit || q.Model != DefaultModel || q.Fusion != FusionRRF || q.RRFK != 60 || len(q.ItemTypes) != 1 || q.ItemTypes[0] != ItemEpisode {
		t.Fatalf("defaults: %+v", q)
	}
}

func TestRecallRequestRoundTrip(t *testing.T) {
	yes := true
	q := RecallQuery{Vector: []float32{0.5, -1}, Model: "m/1", Text: "fix the build", Limit: 7,
		ItemTypes: []ItemType{ItemEpisode, ItemPattern},
		Filter: EpisodeFilter{TaskType: TaskDebugging, Domain: "web", Tags: []string{"go"}, Metadata: map[string]string{"k": "v"},
			Complete: &yes, Since: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Until: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
			Near: &GeoRadius{Lat: 1, Lon: 2, KM: 3}, Box: &GeoBox{MinLat: -1, MinLon: 170, MaxLat: 1, MaxLon: -170}},
		HalfLife: 72 * time.Hour, Fusion: FusionWeighted, RRFK: 10, Weights: &RecallWeights{Vector: 2, Text: 1, Recency: 0.5}}
	b, err := json.Marshal(q.Request())
	if err != nil {
		t.Fatal(err)
	}
	var r RecallRequest
	if err := DecodeJSONBytes(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	got, err := r.Query()
	if err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got.Request())
	if string(gb) != string(b) {
		t.Fatalf("round trip:\n got %s\nwant %s", gb, b)
	}
	if !got.Filter.Since.Equal(q.Filter.Since) || got.HalfLife != q.HalfLife || got.Filter.Box.MinLon != 170 {
		t.Fatalf("fields lost: %+v", got)
	}
	for body, field := range map[string]string{
		`{"text":"x","half_life":"soon"}`:          "half_life",
		`{"text":"x","filter":{"since":"monday"}}`: "filter.since",
		`{"text":"x","filter":{"colour":"red"}}`:   "filter.colour",
	} {
		var r RecallRequest
		err := DecodeJSONBytes([]byte(body), &r)
		if err == nil {
			_, err = r.Query()
		}
		if ErrorCode(err) != EINVALID || ErrorField(err) != field {
			t.Errorf("%s: got %v (field %q); want EINVALID naming %s", body, err, ErrorField(err), field)
		}
	}
}

func TestRecallHitJSON(t *testing.T) {
	id := NewEpisodeID()
	h := RecallHit{ItemType: ItemEpisode, ItemID: id.UUID, Score: 0.5,
		Signals: RecallSignals{Vector: &SignalScore{Rank: 1, Score: 0.9}},
		Episode: &Episode{ID: id, TaskDescription: "t"}}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	for _, k := range []string{"item_type", "item_id", "score", "signals", "record"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("%s lacks %q", b, k)
		}
	}
	var back RecallHit
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Episode == nil || back.Episode.ID != id || back.Signals.Vector.Rank != 1 || back.Signals.Text != nil {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestMatchGeo(t *testing.T) {
	box := &GeoBox{MinLat: -10, MinLon: 170, MaxLat: 10, MaxLon: -170}
	if !InBox(box, 0, 175) || !InBox(box, 0, -175) || InBox(box, 0, 0) || InBox(box, 11, 175) {
		t.Fatal("antimeridian box")
	}
	// Paris to London is about 344 km.
	r := &GeoRadius{Lat: 48.8566, Lon: 2.3522, KM: 350}
	if !InRadius(r, 51.5074, -0.1278) {
		t.Fatal("London within 350 km of Paris")
	}
	r.KM = 330
	if InRadius(r, 51.5074, -0.1278) {
		t.Fatal("London not within 330 km of Paris")
	}
	if got := RecencyScore(72*time.Hour, 72*time.Hour); math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("one half-life: %v", got)
	}
}
