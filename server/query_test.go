package server_test

import (
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/server"
)

// FuzzEpisodeFilterRoundTrip: a filter the client renders as a query comes
// back from the server's parser as the same filter, so every filter of the
// Store interface is expressible over HTTP.
func FuzzEpisodeFilterRoundTrip(f *testing.F) {
	f.Add(int64(1767225600), int64(0), "web", "testing", "red", "k", "v", 1, 52.5, 13.4, 25.0, 7, "cursor")
	f.Add(int64(0), int64(-5), "", "", "", "", "", 0, 0.0, 0.0, 0.0, 0, "")
	f.Add(int64(1<<40), int64(1<<30), "a b&c=d", "x", "%2F", "k=", "v=w", 2, -90.0, 180.0, 1e-9, -3, "a+b")
	f.Fuzz(func(t *testing.T, since, until int64, domain, taskType, tag, mk, mv string, complete int, lat, lon, km float64, limit int, cursor string) {
		in := engram.EpisodeFilter{Domain: domain, TaskType: engram.TaskType(taskType), Limit: limit, Cursor: cursor}
		if since != 0 {
			in.Since = time.Unix(since%(1<<36), since%1e9).UTC()
		}
		if until != 0 {
			in.Until = time.Unix(until%(1<<36), 0).UTC()
		}
		if tag != "" {
			in.Tags = []string{tag}
		}
		if mk != "" {
			in.Metadata = map[string]string{mk: mv}
		}
		if complete%3 != 0 {
			b := complete%3 == 1
			in.Complete = &b
		}
		if km != 0 {
			in.Near = &engram.GeoRadius{Lat: lat, Lon: lon, KM: km}
		}
		q, err := client.EpisodeQuery(in)
		if err != nil {
			if engram.ErrorCode(err) != engram.EINVALID {
				t.Fatal(err)
			}
			return
		}
		out, err := server.ParseEpisodeFilterForTest(q.Encode())
		if engram.ErrorCode(err) == engram.EINVALID && (in.Since.Year() > 9999 || in.Until.Year() > 9999 || in.Since.Year() < 0 || in.Until.Year() < 0 || km != km || lat != lat || lon != lon) {
			return // not representable in RFC 3339, or not finite
		}
		if err != nil {
			t.Fatalf("%+v -> %s: %v", in, q.Encode(), err)
		}
		if !out.Since.Equal(in.Since) || !out.Until.Equal(in.Until) || out.Domain != in.Domain || out.TaskType != in.TaskType ||
			len(out.Tags) != len(in.Tags) || len(out.Metadata) != len(in.Metadata) || out.Limit != in.Limit || out.Cursor != in.Cursor ||
			(out.Complete == nil) != (in.Complete == nil) || (out.Near == nil) != (in.Near == nil) {
			t.Fatalf("round trip\n in: %+v\nout: %+v\n  q: %s", in, out, q.Encode())
		}
		if in.Complete != nil && *in.Complete != *out.Complete {
			t.Fatal("complete changed")
		}
		if in.Near != nil && *in.Near != *out.Near {
			t.Fatalf("near %+v became %+v", *in.Near, *out.Near)
		}
		if in.Metadata != nil && out.Metadata[mk] != mv {
			t.Fatalf("metadata %q=%q became %v", mk, mv, out.Metadata)
		}
		if in.Tags != nil && out.Tags[0] != tag {
			t.Fatalf("tag %q became %q", tag, out.Tags[0])
		}
	})
}
