//go:build unix

package vector

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps path private and writable: pages the index changes after
// Open (links of old nodes gaining neighbours) are copied on write and never
// reach the file.
func mapFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vector: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vector: open %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return nil, corrupt(path, "is empty")
	}
	if size > 1<<40 {
		return nil, corrupt(path, "is %d bytes, too large for a vector index", size)
	}
	// Populate read-only (page-cache pages are mapped, not copied), then
	// allow writes: only pages written later are copied.
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("vector: map %s: %w", path, err)
	}
	if err := unix.Mprotect(b, unix.PROT_READ|unix.PROT_WRITE); err != nil {
		unix.Munmap(b)
		return nil, fmt.Errorf("vector: map %s: %w", path, err)
	}
	return b, nil
}

func unmapFile(b []byte) error { return unix.Munmap(b) }
