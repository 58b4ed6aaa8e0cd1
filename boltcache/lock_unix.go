//go:build unix

package boltcache

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// errWouldBlock reports that another process holds the lock.
var errWouldBlock = errors.New("locked by another process")

// lockFile takes the exclusive flock bbolt itself uses, waiting up to
// timeout. bbolt later flocks the same open file description, which succeeds
// at once, so the file is never unlocked between the check and bbolt's open.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return errWouldBlock
		}
		time.Sleep(min(wait, left))
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// diskFree returns the bytes available to unprivileged users on the file
// system holding path.
func diskFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
