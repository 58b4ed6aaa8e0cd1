//go:build amd64 && !purego

#include "textflag.h"

// Each kernel runs 256-bit loops with independent accumulators, a narrower
// loop for the rest of the full vectors, and a scalar tail, and clears the
// upper YMM state (VZEROUPPER) before RET.

// func dotF32AVX2(a, b *float32, n int) float32
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dot32:
	CMPQ        CX, $32
	JL          dot8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         dot32

dot8:
	CMPQ        CX, $8
	JL          dotreduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         dot8

dotreduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

dottail:
	TESTQ       CX, CX
	JE          dotdone
	VMOVSS      (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         dottail

dotdone:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func l2SqF32AVX2(a, b *float32, n int) float32
TEXT ·l2SqF32AVX2(SB), NOSPLIT, $0-28
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

l2x32:
	CMPQ        CX, $32
	JL          l2x8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VSUBPS      (DI), Y4, Y4
	VSUBPS      32(DI), Y5, Y5
	VSUBPS      64(DI), Y6, Y6
	VSUBPS      96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         l2x32

l2x8:
	CMPQ        CX, $8
	JL          l2reduce
	VMOVUPS     (SI), Y4
	VSUBPS      (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         l2x8

l2reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

l2tail:
	TESTQ       CX, CX
	JE          l2done
	VMOVSS      (SI), X1
	VSUBSS      (DI), X1, X1
	VFMADD231SS X1, X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         l2tail

l2done:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// The int8 dot product multiplies |a| (unsigned) by b carrying a's sign
// (VPSIGNB) with VPMADDUBSW into int16 pairs, which cannot saturate for
// values in [-127, 127] (2*127*127 < 32767), then widens the pairs to int32
// with VPMADDWD against ones.

// func dotI8AVX2(a, b *int8, n int) int32
TEXT ·dotI8AVX2(SB), NOSPLIT, $0-28
	MOVQ      a+0(FP), SI
	MOVQ      b+8(FP), DI
	MOVQ      n+16(FP), CX
	VPCMPEQW  Y15, Y15, Y15
	VPSRLW    $15, Y15, Y15
	VPXOR     Y0, Y0, Y0
	VPXOR     Y1, Y1, Y1
	CALL      dotI8Core<>(SB)
	VZEROUPPER
	MOVL      AX, ret+24(FP)
	RET

// func dotI8BatchAVX2(q, codes *int8, d int, out *int32, n int)
TEXT ·dotI8BatchAVX2(SB), NOSPLIT, $0-40
	MOVQ     q+0(FP), R10
	MOVQ     codes+8(FP), DI
	MOVQ     d+16(FP), R11
	MOVQ     out+24(FP), R12
	MOVQ     n+32(FP), R13
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15

batchloop:
	TESTQ R13, R13
	JE    batchdone
	MOVQ  R10, SI
	MOVQ  R11, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	CALL  dotI8Core<>(SB)
	MOVL  AX, (R12)
	ADDQ  $4, R12
	DECQ  R13
	JMP   batchloop

batchdone:
	VZEROUPPER
	RET

// dotI8Core: SI = a, DI = b (advanced past the vector on return), CX = n,
// Y0 and Y1 zero, Y15 = sixteen int16 ones. Returns the dot product in AX.
// Clobbers R8, R9, Y0-Y7; the caller issues VZEROUPPER before it returns.
TEXT dotI8Core<>(SB), NOSPLIT, $0-0
i8x64:
	CMPQ       CX, $64
	JL         i8x32
	VMOVDQU    (SI), Y2
	VMOVDQU    32(SI), Y3
	VMOVDQU    (DI), Y4
	VMOVDQU    32(DI), Y5
	VPSIGNB    Y2, Y4, Y4
	VPSIGNB    Y3, Y5, Y5
	VPABSB     Y2, Y2
	VPABSB     Y3, Y3
	VPMADDUBSW Y4, Y2, Y6
	VPMADDUBSW Y5, Y3, Y7
	VPMADDWD   Y15, Y6, Y6
	VPMADDWD   Y15, Y7, Y7
	VPADDD     Y6, Y0, Y0
	VPADDD     Y7, Y1, Y1
	ADDQ       $64, SI
	ADDQ       $64, DI
	SUBQ       $64, CX
	JMP        i8x64

i8x32:
	CMPQ       CX, $32
	JL         i8reduce
	VMOVDQU    (SI), Y2
	VMOVDQU    (DI), Y4
	VPSIGNB    Y2, Y4, Y4
	VPABSB     Y2, Y2
	VPMADDUBSW Y4, Y2, Y6
	VPMADDWD   Y15, Y6, Y6
	VPADDD     Y6, Y0, Y0
	ADDQ       $32, SI
	ADDQ       $32, DI
	SUBQ       $32, CX

i8reduce:
	VPADDD       Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX

i8tail:
	TESTQ  CX, CX
	JE     i8done
	MOVBQSX (SI), R8
	MOVBQSX (DI), R9
	IMULQ  R9, R8
	ADDL   R8, AX
	INCQ   SI
	INCQ   DI
	DECQ   CX
	JMP    i8tail

i8done:
	RET

// func sumF32AVX2(a *float32, n int) float32
TEXT ·sumF32AVX2(SB), NOSPLIT, $0-20
	MOVQ   a+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sum32:
	CMPQ    CX, $32
	JL      sum8
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     sum32

sum8:
	CMPQ    CX, $8
	JL      sumreduce
	VADDPS  (SI), Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     sum8

sumreduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

sumtail:
	TESTQ   CX, CX
	JE      sumdone
	VADDSS  (SI), X0, X0
	ADDQ    $4, SI
	DECQ    CX
	JMP     sumtail

sumdone:
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func dotI8GatherAVX2(q *int8, ptrs *unsafe.Pointer, n int, d int, out *int32)
// out[i] = dot(q, ptrs[i][:d]); the vector after the current one is
// prefetched while the current one is computed.
TEXT ·dotI8GatherAVX2(SB), NOSPLIT, $0-40
	MOVQ     q+0(FP), R10
	MOVQ     ptrs+8(FP), R14
	MOVQ     n+16(FP), R13
	MOVQ     d+24(FP), R11
	MOVQ     out+32(FP), R12
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15
	MOVQ     (R14), DI
	CALL     prefetchVec<>(SB)

gatherloop:
	TESTQ R13, R13
	JE    gatherdone
	CMPQ  R13, $1
	JE    gathernopf
	MOVQ  8(R14), DI
	CALL  prefetchVec<>(SB)

gathernopf:
	MOVQ  (R14), DI
	MOVQ  R10, SI
	MOVQ  R11, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	CALL  dotI8Core<>(SB)
	MOVL  AX, (R12)
	ADDQ  $4, R12
	ADDQ  $8, R14
	DECQ  R13
	JMP   gatherloop

gatherdone:
	VZEROUPPER
	RET

// prefetchVec: DI = address, R11 = bytes; prefetches every 64-byte line.
// Clobbers R8.
TEXT prefetchVec<>(SB), NOSPLIT, $0-0
	XORQ R8, R8

pfloop:
	CMPQ       R8, R11
	JGE        pfdone
	PREFETCHT0 (DI)(R8*1)
	ADDQ       $64, R8
	JMP        pfloop

pfdone:
	RET

// func prefetch3(p unsafe.Pointer)
TEXT ·prefetch3(SB), NOSPLIT, $0-8
	MOVQ       p+0(FP), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	RET

// The float32 batch kernels score n consecutive d-element vectors against
// one query with no call from Go per vector. They issue no software
// prefetch: on Zen 3 the hardware prefetcher keeps up with this one
// sequential stream, and PREFETCHT0 at 512-4096 bytes ahead measured 5-15%
// slower, for the sum and the dot product alike.

// func dotF32BatchAVX2(q, vecs *float32, d int, out *float32, n int)
TEXT ·dotF32BatchAVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), R10
	MOVQ vecs+8(FP), DI
	MOVQ d+16(FP), R11
	MOVQ out+24(FP), R12
	MOVQ n+32(FP), R13

fdbloop:
	TESTQ R13, R13
	JE    fdbdone
	MOVQ  R10, SI
	MOVQ  R11, CX
	CALL  dotF32Core<>(SB)
	MOVSS X0, (R12)
	ADDQ  $4, R12
	DECQ  R13
	JMP   fdbloop

fdbdone:
	VZEROUPPER
	RET

// func l2SqF32BatchAVX2(q, vecs *float32, d int, out *float32, n int)
TEXT ·l2SqF32BatchAVX2(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), R10
	MOVQ vecs+8(FP), DI
	MOVQ d+16(FP), R11
	MOVQ out+24(FP), R12
	MOVQ n+32(FP), R13

flbloop:
	TESTQ R13, R13
	JE    flbdone
	MOVQ  R10, SI
	MOVQ  R11, CX
	CALL  l2SqF32Core<>(SB)
	MOVSS X0, (R12)
	ADDQ  $4, R12
	DECQ  R13
	JMP   flbloop

flbdone:
	VZEROUPPER
	RET

// dotF32Core: SI = a, DI = b (advanced past the vector on return), CX = n.
// Returns the dot product in X0. Clobbers
// Y0-Y7; the caller issues VZEROUPPER before it returns.
TEXT dotF32Core<>(SB), NOSPLIT, $0-0
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

fdc32:
	CMPQ        CX, $32
	JL          fdc8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         fdc32

fdc8:
	CMPQ        CX, $8
	JL          fdcreduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         fdc8

fdcreduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

fdctail:
	TESTQ       CX, CX
	JE          fdcdone
	VMOVSS      (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         fdctail

fdcdone:
	RET

// l2SqF32Core: as dotF32Core, for the squared L2 distance.
TEXT l2SqF32Core<>(SB), NOSPLIT, $0-0
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

flc32:
	CMPQ        CX, $32
	JL          flc8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VSUBPS      (DI), Y4, Y4
	VSUBPS      32(DI), Y5, Y5
	VSUBPS      64(DI), Y6, Y6
	VSUBPS      96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         flc32

flc8:
	CMPQ        CX, $8
	JL          flcreduce
	VMOVUPS     (SI), Y4
	VSUBPS      (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         flc8

flcreduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

flctail:
	TESTQ       CX, CX
	JE          flcdone
	VMOVSS      (SI), X1
	VSUBSS      (DI), X1, X1
	VFMADD231SS X1, X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         flctail

flcdone:
	RET

// func dotI8x4AVX2(q, codes *int8, d int, out *int32, groups int, pf int)
// Four consecutive vectors per pass: each 32 bytes of q is loaded and made
// absolute once for all four, the four sums stay in their own accumulators,
// and one horizontal-add tree reduces the four together and stores them
// with one write; the stream is prefetched pf bytes ahead, 128 bytes per
// step (what a step consumes). d must be a positive multiple of 32; out
// gets 4*groups values.
TEXT ·dotI8x4AVX2(SB), NOSPLIT, $0-48
	MOVQ     q+0(FP), R10
	MOVQ     codes+8(FP), DI
	MOVQ     d+16(FP), R11
	MOVQ     out+24(FP), R12
	MOVQ     groups+32(FP), R13
	MOVQ     pf+40(FP), DX
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y15
	LEAQ     (DI)(R11*1), R8
	LEAQ     (R8)(R11*1), R9
	LEAQ     (R9)(R11*1), R14
	LEAQ     (R11)(R11*2), BX

x4group:
	TESTQ R13, R13
	JE    x4done
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	MOVQ  R10, SI
	MOVQ  R11, CX
	LEAQ  (DI)(DX*1), AX

x4inner:
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	ADDQ       $128, AX
	VMOVDQU    (SI), Y4
	VPABSB     Y4, Y5
	VMOVDQU    (DI), Y6
	VMOVDQU    (R8), Y7
	VMOVDQU    (R9), Y8
	VMOVDQU    (R14), Y9
	VPSIGNB    Y4, Y6, Y6
	VPSIGNB    Y4, Y7, Y7
	VPSIGNB    Y4, Y8, Y8
	VPSIGNB    Y4, Y9, Y9
	VPMADDUBSW Y6, Y5, Y6
	VPMADDUBSW Y7, Y5, Y7
	VPMADDUBSW Y8, Y5, Y8
	VPMADDUBSW Y9, Y5, Y9
	VPMADDWD   Y15, Y6, Y6
	VPMADDWD   Y15, Y7, Y7
	VPMADDWD   Y15, Y8, Y8
	VPMADDWD   Y15, Y9, Y9
	VPADDD     Y6, Y0, Y0
	VPADDD     Y7, Y1, Y1
	VPADDD     Y8, Y2, Y2
	VPADDD     Y9, Y3, Y3
	ADDQ       $32, SI
	ADDQ       $32, DI
	ADDQ       $32, R8
	ADDQ       $32, R9
	ADDQ       $32, R14
	SUBQ       $32, CX
	JNE        x4inner

	// Per 128-bit lane: [a01 a23 b01 b23], [c01 c23 d01 d23], then
	// [a b c d]; the two lanes are added.
	VPHADDD      Y1, Y0, Y0
	VPHADDD      Y3, Y2, Y2
	VPHADDD      Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VMOVDQU      X0, (R12)
	ADDQ         $16, R12
	ADDQ         BX, DI
	ADDQ         BX, R8
	ADDQ         BX, R9
	ADDQ         BX, R14
	DECQ         R13
	JMP          x4group

x4done:
	VZEROUPPER
	RET

// func sumU8AVX2(a *uint8, n int) uint64
// VPSADBW against zero adds each 8 bytes into a 64-bit lane: one light op
// per 32 bytes, so the loop runs at the memory's read rate.
TEXT ·sumU8AVX2(SB), NOSPLIT, $0-24
	MOVQ  a+0(FP), SI
	MOVQ  n+8(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y14, Y14, Y14

u8x128:
	CMPQ    CX, $128
	JL      u8x32
	VPSADBW (SI), Y14, Y4
	VPSADBW 32(SI), Y14, Y5
	VPSADBW 64(SI), Y14, Y6
	VPSADBW 96(SI), Y14, Y7
	VPADDQ  Y4, Y0, Y0
	VPADDQ  Y5, Y1, Y1
	VPADDQ  Y6, Y2, Y2
	VPADDQ  Y7, Y3, Y3
	ADDQ    $128, SI
	SUBQ    $128, CX
	JMP     u8x128

u8x32:
	CMPQ    CX, $32
	JL      u8reduce
	VPSADBW (SI), Y14, Y4
	VPADDQ  Y4, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $32, CX
	JMP     u8x32

u8reduce:
	VPADDQ       Y1, Y0, Y0
	VPADDQ       Y3, Y2, Y2
	VPADDQ       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDQ       X1, X0, X0
	VMOVQ        X0, AX

u8tail:
	TESTQ   CX, CX
	JE      u8done
	MOVBQZX (SI), R8
	ADDQ    R8, AX
	INCQ    SI
	DECQ    CX
	JMP     u8tail

u8done:
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET
