package client

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/engramhq/engram"
)

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:7437", "ftp://host", "http://", "://x"} {
		if _, err := New(u, Options{}); engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != "server" {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	if _, err := New("https://engram.example/base/", Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestErrorsFromTheWire: the server's error shape comes back as an
// *engram.Error with its code and field; anything else (a proxy's page, a
// refused connection) becomes a coded error too.
func TestErrorsFromTheWire(t *testing.T) {
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c, err := New(srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cs := range []struct {
		status      int
		body        string
		code, field string
	}{
		{404, `{"error":{"code":"not_found","message":"episode x not found"}}`, engram.ENOTFOUND, ""},
		{400, `{"error":{"code":"invalid","message":"is required","field":"task_description"}}`, engram.EINVALID, "task_description"},
		{403, `{"error":{"code":"forbidden","message":"no"}}`, "forbidden", ""},
		{502, `<html>bad gateway</html>`, engram.EUNAVAILABLE, ""},
		{500, `oops`, engram.EINTERNAL, ""},
	} {
		status, body = cs.status, cs.body
		_, err := c.GetEpisode(ctx, "default", engram.NewEpisodeID())
		var e *engram.Error
		if !errors.As(err, &e) || e.Code != cs.code || e.Field != cs.field {
			t.Errorf("HTTP %d %s: %#v", cs.status, cs.body, err)
		}
	}
	status, body = 404, `{"error":{"code":"not_found","message":"episode x not found"}}`
	if _, err := c.GetEpisode(ctx, "default", engram.NewEpisodeID()); !errors.Is(err, engram.ErrNotFound) {
		t.Fatalf("errors.Is(ErrNotFound): %v", err)
	}

	// Nothing listening: unavailable.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dead, _ := New("http://"+addr, Options{})
	if _, err := dead.Counts(ctx, "default"); !errors.Is(err, engram.ErrUnavailable) {
		t.Fatalf("dead server: %v", err)
	}
	// A cancelled context is the context's error, not the server's fault.
	cctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-cctx.Done()
	if _, err := c.Counts(cctx, "default"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestCheckEncodable: what JSON cannot carry is refused before sending, with
// the field the store would name.
func TestCheckEncodable(t *testing.T) {
	nan := math.NaN()
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, cs := range []struct {
		v      any
		prefix string
		field  string
	}{
		{&engram.Episode{TaskDescription: "bad \xff"}, "", "task_description"},
		{&engram.Episode{TaskDescription: "x", Steps: []engram.Step{{}, {Tool: "a\xc3"}}}, "", "steps[1].tool"},
		{&engram.Episode{TaskDescription: "x", Location: &engram.Location{Lon: nan}}, "", "location.lon"},
		{&engram.Episode{TaskDescription: "x", Metadata: map[string]string{"k": "\xff"}}, "", `metadata["k"]`},
		{&engram.Episode{TaskDescription: "x", StartTime: far}, "", "start_time"},
		{&engram.Step{Parameters: json.RawMessage(`{"a":`)}, "step", "step.parameters"},
		{&engram.Completion{Reward: &engram.Reward{Total: math.Inf(1)}}, "", "reward.total"},
		{&engram.Embedding{Vector: []float32{1, float32(nan)}}, "", "vector[1]"},
	} {
		err := checkEncodable(cs.v, cs.prefix)
		if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != cs.field {
			t.Errorf("%+v: %v, want EINVALID on %s", cs.v, err, cs.field)
		}
	}
	if err := checkEncodable(&engram.Episode{TaskDescription: "fine ✓", Steps: []engram.Step{{Parameters: json.RawMessage(`{}`)}}}, ""); err != nil {
		t.Fatal(err)
	}
}

func TestEpisodeQueryRefusesUnexpressibleMetadata(t *testing.T) {
	if _, err := EpisodeQuery(engram.EpisodeFilter{Metadata: map[string]string{"a=b": "c"}}); engram.ErrorCode(err) != engram.EINVALID {
		t.Fatalf("metadata key with '=': %v", err)
	}
}
