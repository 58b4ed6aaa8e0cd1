//go:build !amd64 || purego

package vecmath

import "unsafe"

const kernelName = "generic"

func dotF32(a, b []float32) float32           { return dotF32Generic(a, b) }
func l2SqF32(a, b []float32) float32          { return l2SqF32Generic(a, b) }
func dotI8(a, b []int8) int32                 { return dotI8Generic(a, b) }
func dotI8Batch(q, codes []int8, out []int32) { dotI8BatchGeneric(q, codes, out) }
func sumF32(a []float32) float32              { return sumF32Generic(a) }
func dotF32Batch(q, vecs, out []float32)      { dotF32BatchGeneric(q, vecs, out) }
func l2SqF32Batch(q, vecs, out []float32)     { l2SqF32BatchGeneric(q, vecs, out) }
func sumU8(a []uint8) uint64                  { return sumU8Generic(a) }

func dotI8Gather(q []int8, ptrs []unsafe.Pointer, out []int32) { dotI8GatherGeneric(q, ptrs, out) }

func prefetch3(unsafe.Pointer) {}
