package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/engramhq/engram"
)

func nan() float64 { return math.NaN() }

func ids(eps []*engram.Episode) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.ID.String()
	}
	return out
}

// listAll pages through f with the given page size and returns every episode.
func listAll(t *testing.T, s engram.Store, f engram.EpisodeFilter, pageSize int) []*engram.Episode {
	t.Helper()
	f.Limit = pageSize
	var all []*engram.Episode
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not terminate")
		}
		page, err := s.ListEpisodes(ctx(), ns, f)
		must(t, err)
		if len(page.Episodes) > pageSize {
			t.Fatalf("page of %d episodes, limit %d", len(page.Episodes), pageSize)
		}
		all = append(all, page.Episodes...)
		if page.NextCursor == "" {
			return all
		}
		f.Cursor = page.NextCursor
	}
}

func testList(t *testing.T, open OpenStore) {
	s := open(t)
	r := NewRand(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	domains := []string{"web", "data", "infra"}
	var all []*engram.Episode
	for i := 0; i < 60; i++ {
		ep := &engram.Episode{
			TaskType:        engram.TaskTypes[r.IntN(len(engram.TaskTypes))],
			TaskDescription: fmt.Sprintf("task %d", i),
			Context:         engram.TaskContext{Domain: domains[r.IntN(3)]},
			// Some share a start time, so paging must break ties by id.
			StartTime: base.Add(time.Duration(r.IntN(30)) * time.Hour),
			Metadata:  map[string]string{"shard": fmt.Sprint(i % 4)},
		}
		if r.IntN(2) == 0 {
			ep.Tags = []string{"red"}
		}
		if r.IntN(3) == 0 {
			ep.Context.Tags = []string{"blue"}
		}
		all = append(all, ep)
	}
	must(t, s.CreateEpisodes(ctx(), ns, all))
	for _, ep := range all[:20] {
		_, err := s.CompleteEpisode(ctx(), ns, ep.ID, &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeFailure, Reason: "gave up"}, EndTime: ptr(ep.StartTime.Add(time.Minute))})
		must(t, err)
		ep.EndTime = ptr(ep.StartTime.Add(time.Minute))
		ep.Outcome = &engram.Outcome{Type: engram.OutcomeFailure, Reason: "gave up"}
	}
	// want filters the model in memory and orders it as the contract says.
	want := func(keep func(*engram.Episode) bool) []string {
		var out []*engram.Episode
		for _, ep := range all {
			if keep(ep) {
				out = append(out, ep)
			}
		}
		slices.SortFunc(out, func(a, b *engram.Episode) int {
			if c := b.StartTime.Compare(a.StartTime); c != 0 {
				return c
			}
			return slices.Compare(b.ID.UUID[:], a.ID.UUID[:])
		})
		return ids(out)
	}
	yes, no := true, false
	since, until := base.Add(5*time.Hour), base.Add(20*time.Hour)
	for _, c := range []struct {
		name string
		f    engram.EpisodeFilter
		keep func(*engram.Episode) bool
	}{
		{"All", engram.EpisodeFilter{}, func(*engram.Episode) bool { return true }},
		{"TimeWindow", engram.EpisodeFilter{Since: since, Until: until}, func(e *engram.Episode) bool {
			return !e.StartTime.Before(since) && e.StartTime.Before(until)
		}},
		{"Domain", engram.EpisodeFilter{Domain: "data"}, func(e *engram.Episode) bool { return e.Context.Domain == "data" }},
		{"TaskType", engram.EpisodeFilter{TaskType: engram.TaskTesting}, func(e *engram.Episode) bool { return e.TaskType == engram.TaskTesting }},
		{"TagInTagsOrContext", engram.EpisodeFilter{Tags: []string{"BLUE"}}, func(e *engram.Episode) bool { return slices.Contains(e.AllTags(), "blue") }},
		{"EveryTag", engram.EpisodeFilter{Tags: []string{"red", "blue"}}, func(e *engram.Episode) bool {
			return slices.Contains(e.AllTags(), "blue") && slices.Contains(e.AllTags(), "red")
		}},
		{"Metadata", engram.EpisodeFilter{Metadata: map[string]string{"shard": "2"}}, func(e *engram.Episode) bool { return e.Metadata["shard"] == "2" }},
		{"Complete", engram.EpisodeFilter{Complete: &yes}, func(e *engram.Episode) bool { return e.Complete() }},
		{"Open", engram.EpisodeFilter{Complete: &no}, func(e *engram.Episode) bool { return !e.Complete() }},
		{"Combined", engram.EpisodeFilter{Complete: &no, Domain: "web", Since: since}, func(e *engram.Episode) bool {
			return !e.Complete() && e.Context.Domain == "web" && !e.StartTime.Before(since)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			exp := want(c.keep)
			for _, size := range []int{1, 7, 1000} {
				got := ids(listAll(t, s, c.f, size))
				Equal(t, fmt.Sprintf("ids with page size %d", size), got, exp)
			}
		})
	}
	t.Run("ListedEpisodesAreWhole", func(t *testing.T) {
		ep := SampleEpisode(99)
		must(t, s.CreateEpisode(ctx(), ns, ep))
		page, err := s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Metadata: map[string]string{"ticket": "OPS-17"}})
		must(t, err)
		if len(page.Episodes) != 1 {
			t.Fatalf("got %d episodes", len(page.Episodes))
		}
		Equal(t, "listed episode", page.Episodes[0], ep)
		must(t, s.DeleteEpisode(ctx(), ns, ep.ID))
	})
	t.Run("ErrBadArguments", func(t *testing.T) {
		_, err := s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Limit: engram.MaxQueryLimit + 1})
		WantCode(t, err, engram.EINVALID, "limit")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Limit: -1})
		WantCode(t, err, engram.EINVALID, "limit")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Cursor: "not-a-cursor"})
		WantCode(t, err, engram.EINVALID, "cursor")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Since: until, Until: since})
		WantCode(t, err, engram.EINVALID, "until")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Tags: []string{"a b"}})
		WantCode(t, err, engram.EINVALID, "tags[0]")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Since: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)})
		WantCode(t, err, engram.EINVALID, "since")
	})
	t.Run("ErrTooManyFilters", func(t *testing.T) {
		var tags []string
		meta := map[string]string{}
		for i := 0; i <= engram.MaxFilterTags; i++ {
			tags = append(tags, fmt.Sprintf("tag%d", i))
		}
		for i := 0; i <= engram.MaxFilterMetadata; i++ {
			meta[fmt.Sprintf("k%d", i)] = "v"
		}
		_, err := s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Tags: tags})
		WantCode(t, err, engram.ETOOLARGE, "tag")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Metadata: meta})
		WantCode(t, err, engram.ETOOLARGE, "metadata")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Tags: tags[:engram.MaxFilterTags]})
		must(t, err)
	})
	t.Run("DefaultLimit", func(t *testing.T) {
		extra := make([]*engram.Episode, engram.DefaultQueryLimit)
		for i := range extra {
			extra[i] = &engram.Episode{TaskDescription: "filler"}
		}
		must(t, s.CreateEpisodes(ctx(), ns, extra))
		page, err := s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{})
		must(t, err)
		if len(page.Episodes) != engram.DefaultQueryLimit || page.NextCursor == "" {
			t.Fatalf("default page: %d episodes, cursor %q", len(page.Episodes), page.NextCursor)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// haversineKM is the reference distance the radius filter is checked against.
func haversineKM(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dφ, dλ := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * engram.EarthRadiusKM * math.Asin(math.Min(1, math.Sqrt(a)))
}

func testGeo(t *testing.T, open OpenStore) {
	s := open(t)
	r := NewRand(t)
	var eps []*engram.Episode
	// Clusters near a pole, the antimeridian and mid-latitudes, plus noise.
	centres := [][2]float64{{89.5, 10}, {10, 179.9}, {10, -179.9}, {48.85, 2.35}, {-33.9, 151.2}}
	for i := 0; i < 300; i++ {
		var lat, lon float64
		if i%3 == 0 {
			lat, lon = r.Float64()*180-90, r.Float64()*360-180
		} else {
			c := centres[i%len(centres)]
			lat = math.Max(-90, math.Min(90, c[0]+r.NormFloat64()*2))
			lon = c[1] + r.NormFloat64()*2
			if lon > 180 {
				lon -= 360
			} else if lon < -180 {
				lon += 360
			}
		}
		eps = append(eps, &engram.Episode{TaskDescription: fmt.Sprintf("geo %d", i), Location: &engram.Location{Lat: lat, Lon: lon}})
	}
	eps = append(eps, &engram.Episode{TaskDescription: "nowhere"})
	for i := 0; i < len(eps); i += 100 {
		must(t, s.CreateEpisodes(ctx(), ns, eps[i:min(i+100, len(eps))]))
	}
	t.Run("RadiusMatchesHaversine", func(t *testing.T) {
		for q := 0; q < 40; q++ {
			var c engram.GeoRadius
			if q%2 == 0 {
				cc := centres[q%len(centres)]
				c = engram.GeoRadius{Lat: cc[0], Lon: cc[1], KM: 10 + r.Float64()*500}
			} else {
				c = engram.GeoRadius{Lat: r.Float64()*180 - 90, Lon: r.Float64()*360 - 180, KM: 100 + r.Float64()*5000}
			}
			got := map[string]bool{}
			for _, ep := range listAll(t, s, engram.EpisodeFilter{Near: &c}, 1000) {
				got[ep.ID.String()] = true
			}
			for _, ep := range eps {
				if ep.Location == nil {
					if got[ep.ID.String()] {
						t.Fatal("an episode without location matched a radius query")
					}
					continue
				}
				d := haversineKM(c.Lat, c.Lon, ep.Location.Lat, ep.Location.Lon)
				// Points within a metre of the boundary may fall either way.
				if math.Abs(d-c.KM) < 0.001 {
					continue
				}
				if (d <= c.KM) != got[ep.ID.String()] {
					t.Fatalf("radius %+v: episode at %+v, %.3f km away, matched=%v", c, *ep.Location, d, got[ep.ID.String()])
				}
			}
		}
	})
	t.Run("BoxIncludingAntimeridian", func(t *testing.T) {
		for _, b := range []engram.GeoBox{
			{MinLat: 40, MinLon: 0, MaxLat: 55, MaxLon: 5},
			{MinLat: 0, MinLon: 178, MaxLat: 20, MaxLon: -178}, // spans the antimeridian
			{MinLat: 85, MinLon: -180, MaxLat: 90, MaxLon: 180},
		} {
			got := map[string]bool{}
			for _, ep := range listAll(t, s, engram.EpisodeFilter{Box: &b}, 1000) {
				got[ep.ID.String()] = true
			}
			n := 0
			for _, ep := range eps {
				l := ep.Location
				in := l != nil && l.Lat >= b.MinLat && l.Lat <= b.MaxLat
				if in && b.MinLon <= b.MaxLon {
					in = l.Lon >= b.MinLon && l.Lon <= b.MaxLon
				} else if in {
					in = l.Lon >= b.MinLon || l.Lon <= b.MaxLon
				}
				if in != got[ep.ID.String()] {
					t.Fatalf("box %+v: episode at %+v matched=%v, want %v", b, l, got[ep.ID.String()], in)
				}
				if in {
					n++
				}
			}
			if n == 0 {
				t.Fatalf("box %+v holds no episode; the test proves nothing", b)
			}
		}
	})
	t.Run("ErrBadGeo", func(t *testing.T) {
		_, err := s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Near: &engram.GeoRadius{Lat: 0, Lon: 0, KM: 0}})
		WantCode(t, err, engram.EINVALID, "near.km")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Near: &engram.GeoRadius{Lat: 100, Lon: 0, KM: 1}})
		WantCode(t, err, engram.EINVALID, "near.lat")
		_, err = s.ListEpisodes(ctx(), ns, engram.EpisodeFilter{Box: &engram.GeoBox{MinLat: 10, MaxLat: 5}})
		WantCode(t, err, engram.EINVALID, "box.min_lat")
	})
}

func testSearch(t *testing.T, open OpenStore) {
	s := open(t)
	a := &engram.Episode{TaskDescription: "Debugging the tokenizer crash in the parser", Tags: []string{"parser"}}
	b := &engram.Episode{TaskDescription: "Write release notes", Steps: []engram.Step{
		{Tool: "shell", Action: "run linter", Result: &engram.StepResult{Type: engram.ResultError, Message: "tokenizer: unexpected EOF"}},
	}}
	c := &engram.Episode{TaskDescription: "Refactor the HTTP router"}
	must(t, s.CreateEpisodes(ctx(), ns, []*engram.Episode{a, b, c}))
	p := &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "tokenizer overflow", RecoverySteps: []string{"shrink the buffer"}}
	must(t, s.PutPattern(ctx(), ns, p))

	hits, err := s.Search(ctx(), ns, engram.SearchQuery{Text: "tokenizer"})
	must(t, err)
	found := map[string]bool{}
	for _, h := range hits {
		switch {
		case h.Kind == engram.SearchEpisode && *h.EpisodeID == a.ID:
			found["episode"] = true
		case h.Kind == engram.SearchStep && *h.EpisodeID == b.ID && h.StepNumber == 1:
			found["step"] = true
		case h.Kind == engram.SearchPattern && *h.PatternID == p.ID:
			found["pattern"] = true
		case h.EpisodeID != nil && *h.EpisodeID == c.ID:
			t.Fatalf("unrelated episode matched: %+v", h)
		}
		if h.Snippet == "" {
			t.Fatalf("hit without snippet: %+v", h)
		}
	}
	if len(found) != 3 || len(hits) != 3 {
		t.Fatalf("search found %v in %d hits, want episode, step and pattern", found, len(hits))
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Fatalf("hits not ordered by score: %+v", hits)
		}
	}
	t.Run("Stemming", func(t *testing.T) {
		hits, err := s.Search(ctx(), ns, engram.SearchQuery{Text: "debug parsers"})
		must(t, err)
		if len(hits) != 1 || *hits[0].EpisodeID != a.ID {
			t.Fatalf("stemmed search: %+v", hits)
		}
	})
	t.Run("AllVersusAny", func(t *testing.T) {
		hits, err := s.Search(ctx(), ns, engram.SearchQuery{Text: "router release"})
		must(t, err)
		if len(hits) != 0 {
			t.Fatalf("all-words search matched %d", len(hits))
		}
		hits, err = s.Search(ctx(), ns, engram.SearchQuery{Text: "router release", Any: true})
		must(t, err)
		if len(hits) != 2 {
			t.Fatalf("any-word search matched %d, want 2", len(hits))
		}
	})
	t.Run("KindFilter", func(t *testing.T) {
		hits, err := s.Search(ctx(), ns, engram.SearchQuery{Text: "tokenizer", Kinds: []engram.SearchKind{engram.SearchStep}})
		must(t, err)
		if len(hits) != 1 || hits[0].Kind != engram.SearchStep {
			t.Fatalf("kind filter: %+v", hits)
		}
	})
	t.Run("QuerySyntaxIsText", func(t *testing.T) {
		for _, q := range []string{`"tokenizer`, `tokenizer*`, `tokenizer OR NOT x`, `NEAR(tokenizer parser)`, `tokenizer'); DROP TABLE episodes; --`, `col:tokenizer`, `^tokenizer`} {
			if _, err := s.Search(ctx(), ns, engram.SearchQuery{Text: q}); err != nil {
				t.Fatalf("query %q: %v", q, err)
			}
		}
		if _, err := s.GetEpisode(ctx(), ns, a.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrEmptyQuery", func(t *testing.T) {
		_, err := s.Search(ctx(), ns, engram.SearchQuery{Text: " !? "})
		WantCode(t, err, engram.EINVALID, "query")
	})
	t.Run("FollowsCompletion", func(t *testing.T) {
		_, err := s.CompleteEpisode(ctx(), ns, c.ID, &engram.Completion{Outcome: engram.Outcome{Type: engram.OutcomeSuccess, Verdict: "router simplified with trie"}})
		must(t, err)
		hits, err := s.Search(ctx(), ns, engram.SearchQuery{Text: "trie"})
		must(t, err)
		if len(hits) != 1 || *hits[0].EpisodeID != c.ID {
			t.Fatalf("search after completion: %+v", hits)
		}
	})
}

// testSearchIsolation: a namespace's search scores are a function of its
// own records. Another namespace writing the same words (which, with one
// index and shared statistics, would move every score) changes nothing.
func testSearchIsolation(t *testing.T, open OpenStore) {
	s := open(t)
	var eps []*engram.Episode
	for i := 0; i < 5; i++ {
		eps = append(eps, &engram.Episode{TaskDescription: fmt.Sprintf("retry the flaky upload %d times with backoff", i+1)})
	}
	eps = append(eps, &engram.Episode{TaskDescription: "rotate the signing keys"})
	must(t, s.CreateEpisodes(ctx(), ns, eps))
	q := engram.SearchQuery{Text: "flaky upload backoff", Any: true}
	before, err := s.Search(ctx(), ns, q)
	must(t, err)
	if len(before) != 5 {
		t.Fatalf("%d hits, want 5", len(before))
	}
	var noise []*engram.Episode
	for i := 0; i < 60; i++ {
		noise = append(noise, &engram.Episode{TaskDescription: fmt.Sprintf("flaky flaky upload number %d, no backoff at all in tenant b", i)})
	}
	must(t, s.CreateEpisodes(ctx(), "tenant-b", noise))
	must(t, s.PutPattern(ctx(), "tenant-b", &engram.Pattern{Kind: engram.PatternErrorRecovery, ErrorType: "flaky upload", RecoverySteps: []string{"backoff"}}))
	after, err := s.Search(ctx(), ns, q)
	must(t, err)
	Equal(t, "scores after another namespace wrote", after, before)
	other, err := s.Search(ctx(), "tenant-b", q)
	must(t, err)
	if len(other) == 0 {
		t.Fatal("the other namespace's search found nothing")
	}
	for _, h := range other {
		if h.EpisodeID != nil && slices.ContainsFunc(eps, func(e *engram.Episode) bool { return e.ID == *h.EpisodeID }) {
			t.Fatalf("a search in tenant-b returned an episode of %s", ns)
		}
	}
}
