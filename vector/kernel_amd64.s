//go:build amd64 && !purego

#include "textflag.h"

// func prefetchLines(ptrs *unsafe.Pointer, n int, lines int)
// Prefetches, for each of the n addresses at ptrs, the lines 64-byte
// cache lines starting there. PREFETCHT0 never faults.
TEXT ·prefetchLines(SB), NOSPLIT, $0-24
	MOVQ ptrs+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ lines+16(FP), DX

ploop:
	TESTQ CX, CX
	JE    pdone
	MOVQ  (SI), AX
	MOVQ  DX, R8

pline:
	PREFETCHT0 (AX)
	ADDQ       $64, AX
	DECQ       R8
	JNZ        pline
	ADDQ       $8, SI
	DECQ       CX
	JMP        ploop

pdone:
	RET
