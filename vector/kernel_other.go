//go:build !amd64 || purego

package vector

import "unsafe"

// prefetchLines is a no-op in the portable build.
func prefetchLines(ptrs *unsafe.Pointer, n int, lines int) {}
