package vecmath

import (
	"math/rand/v2"
	"testing"
)

var sinkF float32
var sinkI int32

func BenchmarkDotF32_384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randF32(r, 384), randF32(r, 384)
	b.SetBytes(2 * 384 * 4)
	for b.Loop() {
		sinkF += DotF32(x, y)
	}
}

func BenchmarkDotF32Generic_384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randF32(r, 384), randF32(r, 384)
	b.SetBytes(2 * 384 * 4)
	for b.Loop() {
		sinkF += dotF32Generic(x, y)
	}
}

func BenchmarkL2SqF32_384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randF32(r, 384), randF32(r, 384)
	b.SetBytes(2 * 384 * 4)
	for b.Loop() {
		sinkF += L2SqF32(x, y)
	}
}

func BenchmarkDotI8_384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randI8(r, 384), randI8(r, 384)
	b.SetBytes(2 * 384)
	for b.Loop() {
		sinkI += DotI8(x, y)
	}
}

func BenchmarkDotI8Generic_384(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randI8(r, 384), randI8(r, 384)
	b.SetBytes(2 * 384)
	for b.Loop() {
		sinkI += dotI8Generic(x, y)
	}
}

func BenchmarkDotI8Batch_384x1024(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	q, codes := randI8(r, 384), randI8(r, 384*1024)
	out := make([]int32, 1024)
	b.SetBytes(384 * 1024)
	for b.Loop() {
		DotI8Batch(q, codes, out)
	}
}

func BenchmarkSumF32_1M(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := randF32(r, 1<<20)
	b.SetBytes(4 << 20)
	for b.Loop() {
		sinkF += SumF32(x)
	}
}

func BenchmarkDotF32Batch_384x1024(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	q, vecs := randF32(r, 384), randF32(r, 384*1024)
	out := make([]float32, 1024)
	b.SetBytes(384 * 1024 * 4)
	for b.Loop() {
		DotF32Batch(q, vecs, out)
	}
}
