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
	// Not populated: Open reads the sections it verifies (faulting them in
	// with the kernel's read-around) and leaves the float32 vectors to be
	// paged in by the searches that rerank with them. Private and writable:
	// pages written later are copied, never written back.
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("vector: map %s: %w", path, err)
	}
	return b, nil
}

func unmapFile(b []byte) error { return unix.Munmap(b) }
