package vecmath

import "unsafe"

// The portable kernels. They are the reference the assembly is tested
// against, and what runs where no assembly is selected.

func dotF32Generic(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func l2SqF32Generic(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func dotI8Generic(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1 int32
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1
}

func dotI8BatchGeneric(q, codes []int8, out []int32) {
	d := len(q)
	for i := range out {
		out[i] = dotI8Generic(q, codes[i*d:(i+1)*d])
	}
}

func sumF32Generic(a []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i]
		s1 += a[i+1]
		s2 += a[i+2]
		s3 += a[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotI8GatherGeneric(q []int8, ptrs []unsafe.Pointer, out []int32) {
	for i := range out {
		out[i] = dotI8Generic(q, unsafe.Slice((*int8)(ptrs[i]), len(q)))
	}
}

func dotF32BatchGeneric(q, vecs, out []float32) {
	d := len(q)
	for i := range out {
		out[i] = dotF32Generic(q, vecs[i*d:(i+1)*d])
	}
}

func l2SqF32BatchGeneric(q, vecs, out []float32) {
	d := len(q)
	for i := range out {
		out[i] = l2SqF32Generic(q, vecs[i*d:(i+1)*d])
	}
}

func sumU8Generic(a []uint8) uint64 {
	var s uint64
	for _, x := range a {
		s += uint64(x)
	}
	return s
}
