//go:build unix

package boltfile

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// ErrLocked reports that another process held the lock for the whole wait.
var ErrLocked = errors.New("locked by another process")

// LockOptions say how Lock opens and locks a file.
type LockOptions struct {
	Flag      int           // os.OpenFile's flag (O_CREATE creates a missing file)
	Perm      os.FileMode   // for a file O_CREATE creates
	Shared    bool          // a shared (reader's) lock instead of an exclusive one
	Timeout   time.Duration // how long to wait for another process; <= 0: do not wait
	OnWaiting func()        // tests only: called once when the first try finds the file locked
}

// Lock opens path and takes the flock bbolt itself uses (bbolt later flocks
// the same open file description, which succeeds at once, so the file is
// never unlocked between this and bbolt's open). It waits up to o.Timeout,
// then fails with ErrLocked.
//
// A process that waited may get the lock on a file that was meanwhile
// renamed over or removed: it holds an inode nobody else will ever open, and
// would take itself for the file's owner. So once the lock is taken, Lock
// compares the open file with what path names now (device and inode) and,
// if they differ, closes it and starts again on the new file, within the same
// deadline.
func Lock(path string, o LockOptions) (*os.File, error) {
	deadline := time.Now().Add(max(o.Timeout, 0))
	how := syscall.LOCK_EX
	if o.Shared {
		how = syscall.LOCK_SH
	}
	wait := time.Millisecond
	waited := false
	for {
		f, err := os.OpenFile(path, o.Flag, o.Perm)
		if err != nil {
			return nil, err
		}
		for {
			err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
			if err == nil || (!errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR)) {
				break
			}
			left := time.Until(deadline)
			if left <= 0 {
				_ = f.Close()
				return nil, ErrLocked
			}
			if !waited && o.OnWaiting != nil {
				o.OnWaiting()
			}
			waited = true
			time.Sleep(min(wait, left))
			wait = min(2*wait, 50*time.Millisecond)
		}
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		same, err := isFileAt(f, path)
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		if same {
			return f, nil
		}
		_ = f.Close() // the lock of a file no longer at path
		if time.Until(deadline) <= 0 {
			return nil, ErrLocked
		}
	}
}

// isFileAt reports whether f is the file path names now.
func isFileAt(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}

// DiskFree returns the bytes available to unprivileged users on the file
// system holding path.
func DiskFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
