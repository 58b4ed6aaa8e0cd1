package sqlstore_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/internal/testenv"
	"github.com/engramhq/engram/sqlstore"
	"github.com/engramhq/engram/storetest"
)

// mountTmpfs mounts a tmpfs of the given size (as mount(8) reads it, e.g.
// "4m") on a new directory and unmounts it at cleanup. Needs root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "cannot mount a tmpfs (needs root): "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v %s", dir, mode, err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyDataDirectory: on a read-only mount, a database closed
// cleanly (no WAL) and one left with commits only in its WAL both open for
// reading; every read answers, every write is EUNAVAILABLE naming the file
// and saying it is not writable, and a database that cannot be created
// names the directory.
func TestReadOnlyDataDirectory(t *testing.T) {
	ctx := context.Background()
	mnt := mountTmpfs(t, "16m")
	clean, unclean := filepath.Join(mnt, "clean"), filepath.Join(mnt, "unclean")
	must(t, os.Mkdir(unclean, 0o755))
	ep := storetest.SampleEpisode(1)
	{
		s, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(clean, "engram.db")})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		must(t, s.CreateEpisode(ctx, "default", ep))
		must(t, s.Close())
	}
	walOnly := storetest.SampleEpisode(2)
	{
		// A copy of a live database's files: its last commit is only in the WAL.
		s, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(mnt, "live", "engram.db")})
		must(t, err)
		t.Cleanup(func() { s.Close() })
		must(t, s.CreateEpisode(ctx, "default", storetest.SampleEpisode(1)))
		must(t, s.CreateEpisode(ctx, "default", walOnly))
		for _, suffix := range []string{"", "-wal", "-shm"} {
			copyFile(t, filepath.Join(mnt, "live", "engram.db"+suffix), filepath.Join(unclean, "engram.db"+suffix))
		}
		must(t, s.Close())
		if fi, err := os.Stat(filepath.Join(unclean, "engram.db-wal")); err != nil || fi.Size() == 0 {
			t.Fatalf("the copied WAL is empty (%v): the test would prove nothing", err)
		}
	}
	remount(t, mnt, "ro")
	t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", mnt).Run() })

	for _, c := range []struct {
		dir  string
		want []*engram.Episode
	}{{clean, []*engram.Episode{ep}}, {unclean, []*engram.Episode{walOnly}}} {
		path := filepath.Join(c.dir, "engram.db")
		s, err := sqlstore.Open(ctx, sqlstore.Options{Path: path})
		if err != nil {
			t.Fatalf("open %s on a read-only mount: %v", path, err)
		}
		t.Cleanup(func() { s.Close() })
		if !strings.Contains(s.ReadOnly(), "not writable") {
			t.Fatalf("ReadOnly() = %q, want the reason", s.ReadOnly())
		}
		for _, want := range c.want {
			got, err := s.GetEpisode(ctx, "default", want.ID)
			must(t, err)
			storetest.Equal(t, "episode read from "+path, got, want)
		}
		page, err := s.ListEpisodes(ctx, "default", engram.EpisodeFilter{})
		must(t, err)
		if want := map[string]int{clean: 1, unclean: 2}[c.dir]; len(page.Episodes) != want {
			t.Fatalf("%s: listed %d episodes, want %d", path, len(page.Episodes), want)
		}
		hits, err := s.Search(ctx, "default", engram.SearchQuery{Text: "flaky retry"})
		must(t, err)
		if len(hits) == 0 {
			t.Fatalf("%s: search found nothing", path)
		}
		problems, err := s.Check(ctx)
		if err != nil || len(problems) > 0 {
			t.Fatalf("%s: check: %v %v", path, problems, err)
		}
		err = s.CreateEpisode(ctx, "default", storetest.SampleEpisode(3))
		storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not writable") {
			t.Fatalf("write on a read-only mount: %v, want the path and why", err)
		}
		must(t, s.Close())
	}
	_, err := sqlstore.Open(ctx, sqlstore.Options{Path: filepath.Join(mnt, "new.db")})
	storetest.WantCode(t, err, engram.EUNAVAILABLE, "")
	if !strings.Contains(err.Error(), mnt+" is not writable") {
		t.Fatalf("creating a database on a read-only mount: %v, want the directory named as not writable", err)
	}
}

// freeBytes is what an unprivileged write may still use on dir's file system.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	must(t, syscall.Statfs(dir, &st))
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestDiskFull fills a small real file system: the write that does not fit
// is ENOSPACE naming the file system's file, reads go on answering while
// it is full, and once space is freed the same store writes again.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	mnt := mountTmpfs(t, "4m")
	path := filepath.Join(mnt, "engram.db")
	s := openTemp(t, sqlstore.Options{Path: path})
	first := storetest.SampleEpisode(0)
	must(t, s.CreateEpisode(ctx, "default", first))
	// Leave room for a few episodes only.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	must(t, err)
	if _, err := f.Write(make([]byte, freeBytes(t, mnt)-256<<10)); err != nil {
		t.Fatal(err)
	}
	must(t, f.Close())

	var full error
	written := 0
	for i := 1; i < 200 && full == nil; i++ {
		ep := storetest.SampleEpisode(i)
		ep.TaskDescription = strings.Repeat("padding ", 1000)
		if err := s.CreateEpisode(ctx, "default", ep); err != nil {
			full = err
		} else {
			written++
		}
	}
	storetest.WantCode(t, full, engram.ENOSPACE, "")
	if !errorsIs(full, engram.ErrNoSpace) || !strings.Contains(full.Error(), path) || !strings.Contains(full.Error(), "full") {
		t.Fatalf("disk-full error: %v, want ENOSPACE naming %s", full, path)
	}
	if written == 0 {
		t.Fatal("no write fitted before the disk was full: the test proves nothing about reads of new data")
	}
	got, err := s.GetEpisode(ctx, "default", first.ID)
	must(t, err)
	storetest.Equal(t, "episode read while the disk is full", got, first)
	page, err := s.ListEpisodes(ctx, "default", engram.EpisodeFilter{Limit: 500})
	must(t, err)
	if len(page.Episodes) != written+1 {
		t.Fatalf("listed %d episodes while full, want %d", len(page.Episodes), written+1)
	}
	if hits, err := s.Search(ctx, "default", engram.SearchQuery{Text: "flaky"}); err != nil || len(hits) == 0 {
		t.Fatalf("search while full: %d hits, %v", len(hits), err)
	}

	must(t, os.Remove(filler))
	after := storetest.SampleEpisode(500)
	must(t, s.CreateEpisode(ctx, "default", after))
	got, err = s.GetEpisode(ctx, "default", after.ID)
	must(t, err)
	storetest.Equal(t, "episode written after space was freed", got, after)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
