// Command engram operates and serves engram's tiered agent memory: it writes,
// reads, lists and searches episodes, patterns and heuristics, and inspects
// and repairs the stores under one data directory.
//
// Every flag can also be set in the environment (ENGRAM_ plus the flag name in
// upper case with dashes as underscores: --data-dir is ENGRAM_DATA_DIR) or in
// a TOML config file (the flag name as key: data-dir = "/var/lib/engram").
// The command line wins over the environment, which wins over the file.
//
// Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a
// usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	// The first SIGINT or SIGTERM cancels ctx, and commands wind down (engram
	// serve drains its requests). A second one ends the process at once, dying
	// of that signal. The channel stays registered until then, so the second
	// signal cannot slip past while the first is being handled.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		second := <-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		if s, ok := second.(syscall.Signal); ok {
			syscall.Kill(os.Getpid(), s) // delivered asynchronously: wait for it
			time.Sleep(time.Second)
		}
		os.Exit(130)
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
