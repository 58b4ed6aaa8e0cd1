//go:build unix

package sqlstore

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// writable reports whether this process may write path, asking the kernel
// (access(2)): it sees read-only mounts and immutable files, which bind
// root too.
func writable(path string) error {
	const wOK = 2 // W_OK
	if err := syscall.Access(path, wOK); err != nil {
		return &os.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}

// writableHint explains why a database could not be opened when the cause
// is an unwritable file or directory: "" otherwise.
func writableHint(path string) string {
	dir := filepath.Dir(path)
	if err := writable(dir); err != nil {
		return ": its directory " + dir + " is not writable (" + errText(err) + ")"
	}
	if err := writable(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ": the file is not writable (" + errText(err) + ")"
	}
	return ""
}
