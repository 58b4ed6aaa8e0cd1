package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time of the whole process (every thread, GC too).
func processCPU() time.Duration { return rusage(unix.RUSAGE_SELF) }

// threadCPU is the CPU time of the calling OS thread (lock the goroutine
// to it first).
func threadCPU() time.Duration { return rusage(unix.RUSAGE_THREAD) }

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
