//go:build !unix

package boltfile

import (
	"errors"
	"os"
	"time"
)

// ErrLocked reports that another process held the lock for the whole wait.
var ErrLocked = errors.New("locked by another process")

// LockOptions say how Lock opens and locks a file.
type LockOptions struct {
	Flag      int
	Perm      os.FileMode
	Shared    bool
	Timeout   time.Duration
	OnWaiting func()
}

// Lock only opens the file where flock is missing: bbolt takes its own
// lock when it opens the file, and its timeout still bounds the wait.
func Lock(path string, o LockOptions) (*os.File, error) { return os.OpenFile(path, o.Flag, o.Perm) }

func DiskFree(string) (uint64, error) { return 0, errors.ErrUnsupported }

// SyncDir is a no-op where directories cannot be fsynced.
func SyncDir(string) error { return nil }
