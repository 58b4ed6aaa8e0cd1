package blob_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/clock"
)

func TestOpenErrBadURLs(t *testing.T) {
	for _, c := range []struct{ url, field string }{
		{"", "url"},
		{"/no/scheme", "url"},
		{"ftp://host/x", "url"},
		{"file://host/dir", "url"},
		{"file:relative", "url"},
		{"mem://?x=1", "url"},
		{"file:///tmp/x?y=1", "url"},
		{"s3:///prefix", "url"},
		{"s3://AKIDSECRET:hunter2secret@bucket/p", "url"},
		{"s3://bucket/p?endpoint=http://AK:hunter2secret@host", "url"},
		{"s3://bucket/p?endpoint=ftp://host", "url"},
		{"s3://bucket/p?region=a&region=b", "url"},
		{"s3://bucket/p?bogus=1", "url"},
		{"s3://bucket/a/../b", "url"},
	} {
		_, err := blob.Open(t.Context(), c.url, nil)
		if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != c.field {
			t.Errorf("Open(%q) = %v, want EINVALID naming %q", c.url, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("Open(%q): the error shows the secret: %v", c.url, err)
		}
	}
}

func TestOpenErrBadOptions(t *testing.T) {
	for _, c := range []struct {
		o     blob.Options
		field string
	}{
		{blob.Options{PartSize: blob.MinPartSize - 1}, "part_size"},
		{blob.Options{Timeout: time.Second, AttemptTimeout: 2 * time.Second}, "attempt_timeout"},
		{blob.Options{MaxAttempts: -1}, "max_attempts"},
		{blob.Options{RetryBase: time.Second, RetryMax: time.Millisecond}, "retry_max"},
	} {
		_, err := blob.Open(t.Context(), "s3://bucket/p?endpoint=http://127.0.0.1:1", &c.o)
		if engram.ErrorCode(err) != engram.EINVALID || engram.ErrorField(err) != c.field {
			t.Errorf("Open with %+v = %v, want EINVALID naming %q", c.o, err, c.field)
		}
	}
}

func TestFileOpenRemovesOnlyStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewManual(time.Now())
	s, err := blob.OpenFile(dir, &blob.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	tmp := filepath.Join(dir, "tmp")
	for _, name := range []string{"put-old", "put-new"} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := clk.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(tmp, "put-old"), old, old); err != nil {
		t.Fatal(err)
	}
	s, err = blob.OpenFile(dir, &blob.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(tmp, "put-old")); !os.IsNotExist(err) {
		t.Fatalf("a temp file two hours old survived Open: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "put-new")); err != nil {
		t.Fatalf("a fresh temp file (a live Put's) was removed: %v", err)
	}
}

func TestFileLayoutAndStrayFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(t.Context(), "a/b", strings.NewReader("ab"), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "objects", "a", "b"))
	if err != nil || string(got) != "ab" {
		t.Fatalf("objects/a/b = %q, %v", got, err)
	}
	// Files a person or another program left that are not valid keys are
	// not listed; temp files are gone after a Put.
	if err := os.WriteFile(filepath.Join(dir, "objects", "a", "bad\x01name"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(t.Context(), blob.ListOptions{})
	if err != nil || len(page.Items) != 1 || page.Items[0].Key != "a/b" {
		t.Fatalf("List = %+v, %v", page, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Fatalf("temp files left: %v", entries)
	}
	// Delete prunes emptied directories.
	os.Remove(filepath.Join(dir, "objects", "a", "bad\x01name"))
	if err := s.Delete(t.Context(), "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "objects", "a")); !os.IsNotExist(err) {
		t.Fatalf("emptied directory objects/a kept: %v", err)
	}
}

// TestFileErrDiskFull runs the store on a 1 MiB tmpfs (root only): a Put
// that does not fit fails with ENOSPACE, leaves no temp file and keeps the
// old object; reads go on, and writes work again once space is freed.
func TestFileErrDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: cannot mount a tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	s, err := blob.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(t.Context(), "keep", bytes.NewReader(make([]byte, 600<<10)), blob.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(t.Context(), "keep", bytes.NewReader(make([]byte, 600<<10)), blob.PutOptions{})
	if engram.ErrorCode(err) != engram.ENOSPACE || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Put on a full disk: %v (code %s), want no_space naming the file", err, engram.ErrorCode(err))
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Fatalf("the failed Put left temp files: %v", entries)
	}
	if got := getAll(t, s, "keep"); len(got) != 600<<10 {
		t.Fatalf("reading on a full disk: %d bytes", len(got))
	}
	if err := s.Delete(t.Context(), "keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(t.Context(), "again", bytes.NewReader(make([]byte, 600<<10)), blob.PutOptions{}); err != nil {
		t.Fatalf("Put once space was freed: %v", err)
	}
}

// TestFilePutRacingThePruneOfItsDirectory: a Delete prunes the directory it
// emptied while another Put is about to rename into it; the Put retries its
// mkdir and succeeds.
func TestFilePutRacingThePruneOfItsDirectory(t *testing.T) {
	s, err := blob.OpenFile(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			key := fmt.Sprintf("p/q/%d", w)
			for i := range 150 {
				if _, err := s.Put(ctx, key, strings.NewReader("x"), blob.PutOptions{IfAbsent: i%2 == 0}); err != nil {
					t.Errorf("Put(%s) #%d: %v", key, i, err)
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					t.Errorf("Delete(%s): %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
