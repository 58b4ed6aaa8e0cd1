package fsync_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/engramhq/engram/internal/fsync"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	if err := fsync.Dir(dir); err != nil {
		t.Fatalf("Dir(%s): %v", dir, err)
	}
	if err := fsync.Dir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dir of a missing directory = %v, want fs.ErrNotExist", err)
	}
}
