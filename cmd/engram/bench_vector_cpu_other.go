//go:build !linux

package main

import "time"

// Per-thread CPU time is Linux-only here: elsewhere the bench reports wall
// time in the CPU columns too.
var benchStart = time.Now()

func processCPU() time.Duration { return time.Since(benchStart) }
func threadCPU() time.Duration  { return time.Since(benchStart) }
