package vecmath

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// lengths covers empty input, every tail length below two full 64-element
// blocks, and long vectors with odd tails.
func lengths() []int {
	var ns []int
	for n := 0; n <= 140; n++ {
		ns = append(ns, n)
	}
	return append(ns, 255, 256, 257, 383, 384, 385, 767, 1000, 1023, 1024, 1031, 1536, 4099)
}

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func randI8(r *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(r.IntN(255) - 127)
	}
	return v
}

// closeF32 compares a float32 result against a float64 reference with a
// tolerance scaled by the magnitude of the terms summed (scale), which is
// what a reordered float32 sum can differ by.
func closeF32(got float32, want, scale float64, n int) bool {
	tol := 1e-6 * scale * math.Sqrt(float64(n)+1) * 4
	return math.Abs(float64(got)-want) <= tol+1e-30
}

func TestDotF32MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range lengths() {
		for off := 0; off < 3; off++ { // unaligned starts
			a := randF32(r, n+off)[off:]
			b := randF32(r, n+off+1)[off+1:]
			var want, scale float64
			for i := range a {
				want += float64(a[i]) * float64(b[i])
				scale += math.Abs(float64(a[i]) * float64(b[i]))
			}
			if got := DotF32(a, b); !closeF32(got, want, scale, n) {
				t.Fatalf("DotF32 n=%d off=%d: got %v, want %v (kernel %s)", n, off, got, want, Kernel())
			}
			if got := dotF32Generic(a, b); !closeF32(got, want, scale, n) {
				t.Fatalf("dotF32Generic n=%d: got %v, want %v", n, got, want)
			}
		}
	}
}

func TestL2SqF32MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range lengths() {
		for off := 0; off < 3; off++ {
			a := randF32(r, n+off)[off:]
			b := randF32(r, n)
			var want float64
			for i := range a {
				d := float64(a[i]) - float64(b[i])
				want += d * d
			}
			if got := L2SqF32(a, b); !closeF32(got, want, want, n) {
				t.Fatalf("L2SqF32 n=%d off=%d: got %v, want %v (kernel %s)", n, off, got, want, Kernel())
			}
			if got := l2SqF32Generic(a, b); !closeF32(got, want, want, n) {
				t.Fatalf("l2SqF32Generic n=%d: got %v, want %v", n, got, want)
			}
		}
	}
}

func TestDotI8IsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range lengths() {
		for off := 0; off < 3; off++ {
			a := randI8(r, n+off)[off:]
			b := randI8(r, n+off+2)[off+2:]
			var want int32
			for i := range a {
				want += int32(a[i]) * int32(b[i])
			}
			if got := DotI8(a, b); got != want {
				t.Fatalf("DotI8 n=%d off=%d: got %d, want %d (kernel %s)", n, off, got, want, Kernel())
			}
		}
	}
	// The extremes: every pair at +-127 is where an int16 pair sum would
	// saturate if the kernel's range argument were wrong.
	for _, n := range []int{32, 64, 384, 1000} {
		a, b := make([]int8, n), make([]int8, n)
		for i := range a {
			a[i], b[i] = -127, -127
			if i%3 == 0 {
				b[i] = 127
			}
		}
		var want int32
		for i := range a {
			want += int32(a[i]) * int32(b[i])
		}
		if got := DotI8(a, b); got != want {
			t.Fatalf("DotI8 extremes n=%d: got %d, want %d", n, got, want)
		}
	}
}

// TestDotI8BatchExtremes puts every product at +-127*127, where an int16
// pair sum would saturate, through the four-at-a-time kernel and the
// one-at-a-time rest (n = 9: two groups of four and one more).
func TestDotI8BatchExtremes(t *testing.T) {
	for _, d := range []int{32, 384} {
		q, codes := make([]int8, d), make([]int8, 9*d)
		for i := range q {
			q[i] = -127
		}
		for i := range codes {
			codes[i] = -127
			if (i/d)%2 == 1 || i%7 == 0 {
				codes[i] = 127
			}
		}
		out := make([]int32, 9)
		DotI8Batch(q, codes, out)
		for i := range out {
			var want int32
			for j := 0; j < d; j++ {
				want += int32(q[j]) * int32(codes[i*d+j])
			}
			if out[i] != want {
				t.Fatalf("DotI8Batch extremes d=%d out[%d] = %d, want %d", d, i, out[i], want)
			}
		}
	}
}

func TestDotI8BatchMatchesDotI8(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, d := range []int{0, 1, 31, 32, 33, 64, 96, 100, 384, 385} {
		for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 33} {
			q := randI8(r, d+1)[1:]       // unaligned
			codes := randI8(r, d*n+3)[3:] // unaligned
			out := make([]int32, n)
			for i := range out {
				out[i] = 12345 // must be overwritten
			}
			DotI8Batch(q, codes, out)
			for i := range out {
				var want int32
				for j := 0; j < d; j++ {
					want += int32(q[j]) * int32(codes[i*d+j])
				}
				if out[i] != want {
					t.Fatalf("DotI8Batch d=%d n=%d out[%d] = %d, want %d", d, n, i, out[i], want)
				}
			}
		}
	}
}

func TestSumF32MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range lengths() {
		a := randF32(r, n+1)[1:]
		var want, scale float64
		for _, x := range a {
			want += float64(x)
			scale += math.Abs(float64(x))
		}
		if got := SumF32(a); !closeF32(got, want, scale, n) {
			t.Fatalf("SumF32 n=%d: got %v, want %v", n, got, want)
		}
	}
}

func TestShortSecondArgumentPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("DotF32 with b shorter than a did not panic")
		}
	}()
	DotF32(make([]float32, 40), make([]float32, 39))
}

// TestKernelSelection pins which implementation runs: AVX2 on an amd64 CPU
// that has it, unless the purego tag forces the portable code.
func TestKernelSelection(t *testing.T) {
	want := "generic"
	if runtime.GOARCH == "amd64" && !puregoTag && cpuHasAVX2FMA() {
		want = "avx2"
	}
	if Kernel() != want {
		t.Fatalf("Kernel() = %q, want %q", Kernel(), want)
	}
}

// TestAssemblyClearsUpperState reads the assembly and checks that every
// RET of a function that touches YMM registers is preceded by VZEROUPPER
// (in that function, after its last YMM instruction).
func TestAssemblyClearsUpperState(t *testing.T) {
	src, err := os.ReadFile("kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	var fn string
	ymmLive := false
	rets := 0
	for i, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "//") || line == "" {
			continue
		}
		if strings.HasPrefix(line, "TEXT ") {
			fn, ymmLive = line, false
			continue
		}
		fields := strings.Fields(line)
		switch {
		case fields[0] == "VZEROUPPER":
			ymmLive = false
		case fields[0] == "CALL" && strings.Contains(line, "Core<>"):
			ymmLive = true // the cores leave YMM state dirty by contract
		case strings.Contains(line, "Y"):
			for _, f := range fields[1:] {
				if strings.HasPrefix(strings.TrimSuffix(f, ","), "Y") {
					ymmLive = true
				}
			}
		case fields[0] == "RET":
			rets++
			if ymmLive && !strings.Contains(fn, "Core<>") {
				t.Errorf("line %d: RET in %s without VZEROUPPER after the last YMM use", i+1, fn)
			}
		}
	}
	if rets < 5 {
		t.Fatalf("found %d RETs; the check is not reading the kernels", rets)
	}
}

func TestDotI8GatherMatchesDotI8(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, d := range []int{0, 1, 31, 32, 33, 64, 100, 384, 385} {
		for _, n := range []int{0, 1, 2, 5, 32} {
			q := randI8(r, d)
			vecs := make([][]int8, n)
			ptrs := make([]unsafe.Pointer, n)
			for i := range vecs {
				vecs[i] = randI8(r, d+1)[1:] // unaligned
				if d > 0 {
					ptrs[i] = unsafe.Pointer(&vecs[i][0])
				}
			}
			out := make([]int32, n)
			DotI8Gather(q, ptrs, out)
			for i := range out {
				if want := dotI8Generic(q, vecs[i]); out[i] != want {
					t.Fatalf("DotI8Gather d=%d n=%d out[%d] = %d, want %d", d, n, i, out[i], want)
				}
			}
		}
	}
}

// TestF32BatchMatchesSingle checks the batch kernels against DotF32 and
// L2SqF32 (themselves checked against float64 references above) to the bit,
// over dimensions with every tail shape, unaligned starts, and NaN and
// infinite components, which must come out as the single-vector kernels
// give them.
func TestF32BatchMatchesSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	dims := []int{0, 1, 2, 7, 8, 9, 15, 16, 31, 32, 33, 39, 40, 63, 64, 65, 100, 383, 384, 385}
	for _, d := range dims {
		for _, n := range []int{0, 1, 2, 3, 17} {
			for off := 0; off < 2; off++ {
				q := randF32(r, d+off)[off:]
				vecs := randF32(r, d*n+1)[1:] // unaligned
				if n > 2 && d > 0 {
					vecs[d+r.IntN(d)] = float32(math.NaN())
					vecs[2*d+r.IntN(d)] = float32(math.Inf(1))
				}
				out := make([]float32, n)
				for i := range out {
					out[i] = 12345 // must be overwritten
				}
				DotF32Batch(q, vecs, out)
				for i := range out {
					want := DotF32(q, vecs[i*d:(i+1)*d])
					if math.Float32bits(out[i]) != math.Float32bits(want) && !(isNaN32(out[i]) && isNaN32(want)) {
						t.Fatalf("DotF32Batch d=%d n=%d off=%d out[%d] = %v, DotF32 = %v (kernel %s)", d, n, off, i, out[i], want, Kernel())
					}
				}
				L2SqF32Batch(q, vecs, out)
				for i := range out {
					want := L2SqF32(q, vecs[i*d:(i+1)*d])
					if math.Float32bits(out[i]) != math.Float32bits(want) && !(isNaN32(out[i]) && isNaN32(want)) {
						t.Fatalf("L2SqF32Batch d=%d n=%d off=%d out[%d] = %v, L2SqF32 = %v (kernel %s)", d, n, off, i, out[i], want, Kernel())
					}
				}
				if n > 2 && d > 0 && !isNaN32(out[1]) {
					t.Fatalf("L2SqF32Batch d=%d: a NaN component gave %v, want NaN", d, out[1])
				}
			}
		}
	}
}

func isNaN32(x float32) bool { return x != x }

func TestF32BatchShortVecsPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("DotF32Batch with vecs shorter than len(out)*len(q) did not panic")
		}
	}()
	DotF32Batch(make([]float32, 8), make([]float32, 15), make([]float32, 2))
}

func TestSumU8MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range lengths() {
		a := make([]uint8, n+1)[1:]
		var want uint64
		for i := range a {
			a[i] = uint8(r.UintN(256))
			if i%5 == 0 {
				a[i] = 255 // the largest bytes, in every lane
			}
			want += uint64(a[i])
		}
		if got := SumU8(a); got != want {
			t.Fatalf("SumU8 n=%d: got %d, want %d (kernel %s)", n, got, want, Kernel())
		}
	}
}
