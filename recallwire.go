package engram

import (
	"time"
)

// RecallRequest is RecallQuery's JSON form, the body of POST /v1/recall:
// times as RFC 3339 or a date, the half-life as a Go duration ("72h").
// Every field is optional but one of vector and text.
type RecallRequest struct {
	Vector    []float32      `json:"vector,omitempty"`
	Model     string         `json:"model,omitempty"`
	Text      string         `json:"text,omitempty"`
	Limit     int            `json:"limit,omitempty"`
	ItemTypes []ItemType     `json:"item_types,omitempty"`
	Filter    *RecallFilter  `json:"filter,omitempty"`
	HalfLife  string         `json:"half_life,omitempty"`
	Fusion    string         `json:"fusion,omitempty"`
	RRFK      int            `json:"rrf_k,omitempty"`
	Weights   *RecallWeights `json:"weights,omitempty"`
}

// RecallFilter is EpisodeFilter's JSON form in a RecallRequest.
type RecallFilter struct {
	TaskType TaskType          `json:"task_type,omitempty"`
	Domain   string            `json:"domain,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Complete *bool             `json:"complete,omitempty"`
	Since    string            `json:"since,omitempty"`
	Until    string            `json:"until,omitempty"`
	Near     *RecallNear       `json:"near,omitempty"`
	Box      *RecallBox        `json:"box,omitempty"`
}

// RecallNear is a GeoRadius in JSON.
type RecallNear struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	KM  float64 `json:"km"`
}

// RecallBox is a GeoBox in JSON.
type RecallBox struct {
	MinLat float64 `json:"min_lat"`
	MinLon float64 `json:"min_lon"`
	MaxLat float64 `json:"max_lat"`
	MaxLon float64 `json:"max_lon"`
}

// Query converts the request into a RecallQuery (not yet normalised or
// validated); a bad time or duration is EINVALID naming its field.
func (r *RecallRequest) Query() (RecallQuery, error) {
	q := RecallQuery{Vector: r.Vector, Model: r.Model, Text: r.Text, Limit: r.Limit, ItemTypes: r.ItemTypes,
		Fusion: r.Fusion, RRFK: r.RRFK, Weights: r.Weights}
	if r.Limit < 0 {
		return q, Invalid("limit", "is %d; must be 1-%d", r.Limit, MaxRecallLimit)
	}
	if r.HalfLife != "" {
		d, err := time.ParseDuration(r.HalfLife)
		if err != nil {
			return q, Invalid("half_life", "%q is not a duration such as 72h or 30m", truncate(r.HalfLife, 40))
		}
		if d <= 0 {
			return q, Invalid("half_life", "is %v; must be positive", d)
		}
		q.HalfLife = d
	}
	if f := r.Filter; f != nil {
		q.Filter = EpisodeFilter{TaskType: f.TaskType, Domain: f.Domain, Tags: f.Tags, Metadata: f.Metadata, Complete: f.Complete}
		var err error
		if q.Filter.Since, err = parseTimeOrDate("filter.since", f.Since); err != nil {
			return q, err
		}
		if q.Filter.Until, err = parseTimeOrDate("filter.until", f.Until); err != nil {
			return q, err
		}
		if n := f.Near; n != nil {
			q.Filter.Near = &GeoRadius{Lat: n.Lat, Lon: n.Lon, KM: n.KM}
		}
		if b := f.Box; b != nil {
			q.Filter.Box = &GeoBox{MinLat: b.MinLat, MinLon: b.MinLon, MaxLat: b.MaxLat, MaxLon: b.MaxLon}
		}
	}
	return q, nil
}

// Request returns q's JSON form; Request().Query() gives q back.
func (q *RecallQuery) Request() *RecallRequest {
	r := &RecallRequest{Vector: q.Vector, Model: q.Model, Text: q.Text, Limit: q.Limit, ItemTypes: q.ItemTypes,
		Fusion: q.Fusion, RRFK: q.RRFK, Weights: q.Weights}
	if q.HalfLife > 0 {
		r.HalfLife = q.HalfLife.String()
	}
	if f := &q.Filter; !FilterIsEmpty(f) {
		rf := &RecallFilter{TaskType: f.TaskType, Domain: f.Domain, Tags: f.Tags, Metadata: f.Metadata, Complete: f.Complete}
		if !f.Since.IsZero() {
			rf.Since = f.Since.Format(time.RFC3339Nano)
		}
		if !f.Until.IsZero() {
			rf.Until = f.Until.Format(time.RFC3339Nano)
		}
		if n := f.Near; n != nil {
			rf.Near = &RecallNear{Lat: n.Lat, Lon: n.Lon, KM: n.KM}
		}
		if b := f.Box; b != nil {
			rf.Box = &RecallBox{MinLat: b.MinLat, MinLon: b.MinLon, MaxLat: b.MaxLat, MaxLon: b.MaxLon}
		}
		r.Filter = rf
	}
	return r
}

// parseTimeOrDate reads RFC 3339 (with optional fractional seconds) or a
// date ("2026-01-02", midnight UTC); "" is the zero time.
func parseTimeOrDate(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, Invalid(field, "%q is not an RFC 3339 time (2026-01-02T15:04:05Z) or a date (2026-01-02)", truncate(s, 40))
}
