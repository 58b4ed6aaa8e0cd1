// Package vecmath holds the inner loops of vector search: float32 dot
// products and squared L2 distances, int8 dot products, and plain float32
// and byte sums (the memory-bandwidth yardsticks). On amd64 with AVX2 and FMA they run
// hand-written assembly; everywhere else, and under the purego build tag,
// they run the portable Go in generic.go. The choice is made once, when the
// package is loaded, from golang.org/x/sys/cpu.
//
// Every assembly kernel clears the upper halves of the YMM registers
// (VZEROUPPER) before it returns, so SSE code that runs after it pays no
// state-transition penalty.
//
// The functions do not check their arguments beyond what Go's bounds checks
// do: DotF32, L2SqF32 and DotI8 read len(a) elements of both slices and
// panic if b is shorter. Callers validate lengths at their API boundary.
package vecmath

import "unsafe"

// Kernel names the implementation the package selected: "avx2" or "generic".
func Kernel() string { return kernelName }

// DotF32 returns the dot product of a and b[:len(a)].
func DotF32(a, b []float32) float32 {
	b = b[:len(a)]
	return dotF32(a, b)
}

// L2SqF32 returns the squared Euclidean distance between a and b[:len(a)].
func L2SqF32(a, b []float32) float32 {
	b = b[:len(a)]
	return l2SqF32(a, b)
}

// DotI8 returns the dot product of a and b[:len(a)] as an exact int32. Both
// must hold values in [-127, 127] (never -128): the AVX2 kernel multiplies
// |a| by b carrying a's sign, which overflows int16 pairs only for -128.
func DotI8(a, b []int8) int32 {
	b = b[:len(a)]
	return dotI8(a, b)
}

// DotI8Batch computes out[i] = DotI8(q, codes[i*len(q):(i+1)*len(q)]) for
// every i < len(out). codes must hold len(out)*len(q) values; the same value
// range as DotI8 applies.
func DotI8Batch(q, codes []int8, out []int32) {
	d := len(q)
	codes = codes[:len(out)*d]
	if d == 0 {
		clear(out)
		return
	}
	dotI8Batch(q, codes, out)
}

// DotF32Batch computes out[i] = DotF32(q, vecs[i*len(q):(i+1)*len(q)]) for
// every i < len(out), with the same result to the bit. vecs must hold
// len(out)*len(q) values. The vectors are read as one stream with no call
// per vector, which is what an exact scan over contiguous storage needs.
func DotF32Batch(q, vecs, out []float32) {
	vecs = vecs[:len(out)*len(q)]
	if len(q) == 0 {
		clear(out)
		return
	}
	dotF32Batch(q, vecs, out)
}

// L2SqF32Batch is DotF32Batch for the squared Euclidean distance: out[i] =
// L2SqF32(q, vecs[i*len(q):(i+1)*len(q)]), to the bit.
func L2SqF32Batch(q, vecs, out []float32) {
	vecs = vecs[:len(out)*len(q)]
	if len(q) == 0 {
		clear(out)
		return
	}
	l2SqF32Batch(q, vecs, out)
}

// DotI8Gather computes out[i] = DotI8(q, codes at ptrs[i]) for every
// i < len(out): each ptrs[i] points at len(q) int8 values (kept alive by the
// caller). The next vector's cache lines are prefetched while one is
// computed, which hides most of the memory latency of a graph walk.
func DotI8Gather(q []int8, ptrs []unsafe.Pointer, out []int32) {
	ptrs = ptrs[:len(out)]
	if len(q) == 0 {
		clear(out)
		return
	}
	dotI8Gather(q, ptrs, out)
}

// Prefetch asks the CPU to bring the 192 bytes at p into cache (a no-op in
// the portable build). It never faults, whatever p is.
func Prefetch(p unsafe.Pointer) { prefetch3(p) }

// SumF32 returns the sum of a. It reads memory as fast as the machine can,
// so its throughput is the ceiling for any scan over the same bytes.
func SumF32(a []float32) float32 { return sumF32(a) }

// SumU8 returns the sum of a's bytes. Like SumF32 it reads as fast as the
// machine can, the ceiling for a scan over the same bytes of int8 codes.
func SumU8(a []uint8) uint64 { return sumU8(a) }
