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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx, and commands wind down (engram serve
	// drains its requests); restoring the default handling then makes a
	// second signal end the process at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
