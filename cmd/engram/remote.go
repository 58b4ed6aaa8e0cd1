package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/memory"
)

// openRemote returns a client of the server --server names, once per
// invocation, authenticated with --token.
func (a *app) openRemote() (*client.Client, error) {
	if a.remote != nil {
		return a.remote, nil
	}
	c, err := client.New(a.server, client.Options{Token: a.token, UserAgent: "engram-cli/" + version})
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	a.remote = c
	return c, nil
}

// openServeStore opens the store that engram serve and engram mcp serve: the
// tiered memory under the data directory, syncing every syncInterval (0:
// only on demand; a positive interval also syncs once at open). It is
// closed by a.close when the command ends.
func (a *app) openServeStore(ctx context.Context, log *slog.Logger, syncInterval time.Duration, noListen bool) (engram.Store, error) {
	cfg, err := a.memoryConfig()
	if err != nil {
		return nil, err
	}
	cfg.Logger = log
	cfg.Cache.Logger = log
	// The server only encodes what it reads: it may share the RAM tier's
	// records instead of copying them.
	cfg.ShareRecords = true
	cfg.Sync.Interval = syncInterval
	cfg.Sync.NoListen = noListen
	m, err := memory.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, m)
	return m, nil
}

// newLogger returns a structured logger on w: text when w is a terminal,
// JSON otherwise, unless format (auto, text, json) says which.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	lv, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want auto, text or json", format)
}

func parseLevel(level string) (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return 0, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return lv, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readTokens gathers the tokens of --tokens-file and --tokens (ENGRAM_TOKENS).
func readTokens(file, list string) (string, error) {
	var parts []string
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--tokens-file: %w", err)
		}
		parts = append(parts, string(data))
	}
	if list != "" {
		parts = append(parts, list)
	}
	return strings.Join(parts, "\n"), nil
}
