package ramcache

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/storetest"
)

// TestAppendEpisodeJSON checks the kept encoding: it is what encoding/json
// makes of the held record, appended after what dst held; it is weighed
// with the record; a put replaces it; an encoding made from a record that
// a put replaced meanwhile is dropped instead of being kept beside the new
// record; a miss appends nothing.
func TestAppendEpisodeJSON(t *testing.T) {
	ctx := context.Background()
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	ep := storetest.RandomEpisode(rng, 3)
	if err := c.PutEpisode(ctx, "default", ep); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := c.Stats(ctx)
	for i := range 2 {
		got, ok, err := c.AppendEpisodeJSON(ctx, "default", ep.ID, []byte("prefix"))
		if err != nil || !ok || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("read %d: %v %v\n got %s\nwant prefix%s", i, ok, err, got, want)
		}
	}
	after, _ := c.Stats(ctx)
	if after.Bytes < before.Bytes+int64(len(want)) {
		t.Fatalf("the kept encoding is not weighed: %d bytes before, %d after, encoding %d", before.Bytes, after.Bytes, len(want))
	}

	// A put replaces the record and its encoding.
	ep.TaskDescription = "changed"
	if err := c.PutEpisode(ctx, "default", ep); err != nil {
		t.Fatal(err)
	}
	want2, _ := json.Marshal(ep)
	got, ok, err := c.AppendEpisodeJSON(ctx, "default", ep.ID, nil)
	if err != nil || !ok || !bytes.Equal(got, want2) {
		t.Fatalf("after a put: %v %v\n got %s\nwant %s", ok, err, got, want2)
	}

	// An encoding of a record replaced since it was read is not kept.
	key := engram.EpisodeCacheKey("default", ep.ID)
	old, err := c.get(ctx, key)
	if err != nil || old == nil {
		t.Fatal(old, err)
	}
	ep.TaskDescription = "changed again"
	if err := c.PutEpisode(ctx, "default", ep); err != nil {
		t.Fatal(err)
	}
	c.keepJSON(key, old, want2)
	want3, _ := json.Marshal(ep)
	if got, ok, err := c.AppendEpisodeJSON(ctx, "default", ep.ID, nil); err != nil || !ok || !bytes.Equal(got, want3) {
		t.Fatalf("a stale encoding was kept: %v %v\n got %s\nwant %s", ok, err, got, want3)
	}

	if got, ok, err := c.AppendEpisodeJSON(ctx, "default", engram.NewEpisodeID(), []byte("x")); err != nil || ok || string(got) != "x" {
		t.Fatalf("a miss: %q %v %v", got, ok, err)
	}
}
