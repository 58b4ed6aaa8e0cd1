//go:build !unix

package vector

import (
	"fmt"
	"os"
)

// mapFile reads path into memory where mmap is not available.
func mapFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vector: open %s: %w", path, err)
	}
	if len(b) == 0 {
		return nil, corrupt(path, "is empty")
	}
	return b, nil
}

func unmapFile([]byte) error { return nil }
