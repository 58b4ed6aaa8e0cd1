package vecmath

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzBatchKernelsMatchGeneric feeds arbitrary bytes to the batch kernels
// as a dimension, a count and the values, and compares them with the
// portable code: int8 exactly, float32 to the bit against the single-vector
// kernels (NaN for NaN), and SumU8 exactly.
func FuzzBatchKernelsMatchGeneric(f *testing.F) {
	f.Add(uint8(32), uint8(5), make([]byte, 200))
	f.Add(uint8(7), uint8(3), []byte{0x80, 0x7f, 0xff, 1, 2, 3, 0xc0, 0x7f, 0x80, 0})
	f.Add(uint8(96), uint8(9), make([]byte, 4000))
	f.Fuzz(func(t *testing.T, dim, count uint8, raw []byte) {
		d, n := int(dim)%200, int(count)%12
		codes := make([]int8, d*(n+1))
		for i := range codes {
			if len(raw) > 0 {
				codes[i] = int8(raw[i%len(raw)])
			}
			if codes[i] == -128 {
				codes[i] = -127 // outside the kernels' contract
			}
		}
		q, cs := codes[:d], codes[d:]
		out := make([]int32, n)
		DotI8Batch(q, cs, out)
		for i := range out {
			if want := dotI8Generic(q, cs[i*d:(i+1)*d]); out[i] != want {
				t.Fatalf("DotI8Batch d=%d n=%d out[%d] = %d, want %d", d, n, i, out[i], want)
			}
		}
		fs := make([]float32, d*(n+1))
		for i := range fs {
			if len(raw) >= 4 {
				o := (4 * i) % (len(raw) - 3)
				fs[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[o:]))
			}
		}
		fq, fv := fs[:d], fs[d:]
		fo := make([]float32, n)
		DotF32Batch(fq, fv, fo)
		for i := range fo {
			want := DotF32(fq, fv[i*d:(i+1)*d])
			if math.Float32bits(fo[i]) != math.Float32bits(want) && !(isNaN32(fo[i]) && isNaN32(want)) {
				t.Fatalf("DotF32Batch d=%d out[%d] = %v, want %v", d, i, fo[i], want)
			}
		}
		L2SqF32Batch(fq, fv, fo)
		for i := range fo {
			want := L2SqF32(fq, fv[i*d:(i+1)*d])
			if math.Float32bits(fo[i]) != math.Float32bits(want) && !(isNaN32(fo[i]) && isNaN32(want)) {
				t.Fatalf("L2SqF32Batch d=%d out[%d] = %v, want %v", d, i, fo[i], want)
			}
		}
		if got, want := SumU8(raw), sumU8Generic(raw); got != want {
			t.Fatalf("SumU8 of %d bytes = %d, want %d", len(raw), got, want)
		}
	})
}
