//go:build amd64 && !purego

package vector

import "unsafe"

// prefetchLines asks the CPU to bring lines cache lines (at least 1) from
// each of ptrs[:n] into cache. It never faults, whatever the addresses.
//
//go:noescape
func prefetchLines(ptrs *unsafe.Pointer, n int, lines int)
