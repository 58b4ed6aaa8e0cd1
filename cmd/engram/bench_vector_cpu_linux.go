package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time of the whole process (every thread, GC too).
func processCPU() time.Duration { return rusage(unix.RUSAGE_SELF) }

// threadCPU is the CPU time of the calling OS thread (lock the goroutine
// to it first). CLOCK_THREAD_CPUTIME_ID is the same count getrusage's
// RUSAGE_THREAD gives, but up to date to the nanosecond where getrusage's
// lags by up to a scheduler tick, which matters for the benchmark's
// per-query and per-sum readings of a few milliseconds.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return rusage(unix.RUSAGE_THREAD)
	}
	return time.Duration(ts.Nano())
}

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
