package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// A snapshot taken while a writer commits holds a committed state: its
// consistency check (digests included) is clean and it has at least the
// episodes committed before it started and at most those after it returned.
func TestSnapshotWhileWriting(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, sqlstore.Options{})
	var seventh *engram.Episode
	for i := range 50 {
		ep := storetest.SampleEpisode(i)
		if err := s.CreateEpisode(ctx, "default", ep); err != nil {
			t.Fatal(err)
		}
		if i == 7 {
			seventh = ep
		}
	}
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for i := 1000; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.CreateEpisode(ctx, "default", storetest.SampleEpisode(i)); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	path := filepath.Join(t.TempDir(), "snap.db")
	err := s.Snapshot(ctx, path)
	close(stop)
	written := <-done
	if err != nil {
		t.Fatal(err)
	}
	snap := openTemp(t, sqlstore.Options{Path: path, ReadOnly: true})
	info, err := snap.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Tables["episodes"]; got < 50 || got > int64(50+written) {
		t.Fatalf("snapshot holds %d episodes; want 50..%d", got, 50+written)
	}
	problems, err := snap.Check(ctx)
	if err != nil || len(problems) > 0 {
		t.Fatalf("check of snapshot: %v %v", problems, err)
	}
	got, err := snap.GetEpisode(ctx, "default", seventh.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Equal(t, "episode 7 in the snapshot", got, seventh)
}

func TestErrSnapshotTargetExists(t *testing.T) {
	s := openTemp(t, sqlstore.Options{})
	path := filepath.Join(t.TempDir(), "there.db")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Snapshot(context.Background(), path)
	var e *engram.Error
	if !errors.As(err, &e) || e.Code != engram.EINVALID || e.Field != "path" {
		t.Fatalf("snapshot onto an existing file: %v; want EINVALID naming path", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatalf("existing file changed: %q", b)
	}
}
