//go:build amd64 && !purego

package vecmath

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX2 is fixed when the package loads: the assembly needs AVX2 (integer
// YMM ops) and FMA3.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

var kernelName = func() string {
	if useAVX2 {
		return "avx2"
	}
	return "generic"
}()

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func l2SqF32AVX2(a, b *float32, n int) float32

//go:noescape
func dotI8AVX2(a, b *int8, n int) int32

//go:noescape
func dotI8BatchAVX2(q, codes *int8, d int, out *int32, n int)

//go:noescape
func sumF32AVX2(a *float32, n int) float32

//go:noescape
func dotI8GatherAVX2(q *int8, ptrs *unsafe.Pointer, n int, d int, out *int32)

func dotI8Gather(q []int8, ptrs []unsafe.Pointer, out []int32) {
	if !useAVX2 || len(q) < 32 || len(out) == 0 {
		dotI8GatherGeneric(q, ptrs, out)
		return
	}
	dotI8GatherAVX2(&q[0], &ptrs[0], len(out), len(q), &out[0])
}

func dotF32(a, b []float32) float32 {
	if !useAVX2 || len(a) < 8 {
		return dotF32Generic(a, b)
	}
	return dotF32AVX2(&a[0], &b[0], len(a))
}

func l2SqF32(a, b []float32) float32 {
	if !useAVX2 || len(a) < 8 {
		return l2SqF32Generic(a, b)
	}
	return l2SqF32AVX2(&a[0], &b[0], len(a))
}

func dotI8(a, b []int8) int32 {
	if !useAVX2 || len(a) < 32 {
		return dotI8Generic(a, b)
	}
	return dotI8AVX2(&a[0], &b[0], len(a))
}

//go:noescape
func dotI8x4AVX2(q, codes *int8, d int, out *int32, groups int, pf int)

// i8Prefetch is how far ahead (bytes) of the group of four it reads the
// four-at-a-time int8 kernel prefetches. Reading four rows at once hides
// the stream from the hardware prefetcher: without it the kernel read
// 8.4-9.5 GB/s from memory, with it 10.5-11.8 at 1 KB ahead; interleaved
// with a byte sum over the same codes (loaded machine), 1 KB reached 86-92%
// of the sum's rate, 4-8 KB 92-103%, 16-32 KB no more.
const i8Prefetch = 4096

// dotI8Batch runs the four-at-a-time kernel over the groups of four when
// the dimension is a multiple of 32, and the one-at-a-time kernel over the
// rest.
func dotI8Batch(q, codes []int8, out []int32) {
	if !useAVX2 || len(q) < 32 || len(out) == 0 {
		dotI8BatchGeneric(q, codes, out)
		return
	}
	d, done := len(q), 0
	if d%32 == 0 && len(out) >= 4 {
		g := len(out) / 4
		dotI8x4AVX2(&q[0], &codes[0], d, &out[0], g, i8Prefetch)
		done = 4 * g
	}
	if done < len(out) {
		dotI8BatchAVX2(&q[0], &codes[done*d], d, &out[done], len(out)-done)
	}
}

func sumF32(a []float32) float32 {
	if !useAVX2 || len(a) < 8 {
		return sumF32Generic(a)
	}
	return sumF32AVX2(&a[0], len(a))
}

//go:noescape
func prefetch3(p unsafe.Pointer)

//go:noescape
func dotF32BatchAVX2(q, vecs *float32, d int, out *float32, n int)

//go:noescape
func l2SqF32BatchAVX2(q, vecs *float32, d int, out *float32, n int)

// The batch kernels fall back below 8 dimensions, where the single-vector
// kernels do, so that DotF32Batch and DotF32 agree to the bit.
func dotF32Batch(q, vecs, out []float32) {
	if !useAVX2 || len(q) < 8 || len(out) == 0 {
		dotF32BatchGeneric(q, vecs, out)
		return
	}
	dotF32BatchAVX2(&q[0], &vecs[0], len(q), &out[0], len(out))
}

func l2SqF32Batch(q, vecs, out []float32) {
	if !useAVX2 || len(q) < 8 || len(out) == 0 {
		l2SqF32BatchGeneric(q, vecs, out)
		return
	}
	l2SqF32BatchAVX2(&q[0], &vecs[0], len(q), &out[0], len(out))
}

//go:noescape
func sumU8AVX2(a *uint8, n int) uint64

func sumU8(a []uint8) uint64 {
	if !useAVX2 || len(a) < 32 {
		return sumU8Generic(a)
	}
	return sumU8AVX2(&a[0], len(a))
}
