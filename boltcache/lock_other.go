//go:build !unix

package boltcache

import (
	"errors"
	"os"
	"time"
)

var errWouldBlock = errors.New("locked by another process")

// lockFile is a no-op where flock is missing: bbolt takes its own lock when
// it opens the file, and its timeout still bounds the wait.
func lockFile(*os.File, time.Duration) error { return nil }

func diskFree(string) (uint64, error) { return 0, errors.ErrUnsupported }
