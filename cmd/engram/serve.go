package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/server"
)

// DefaultListen is where engram serve listens unless told otherwise.
const DefaultListen = "127.0.0.1:7437"

// DefaultSyncInterval is how often engram serve applies the change feed to
// its cache: the longest a write by another process (a CLI command, another
// node) can go unseen by this server's cache.
const DefaultSyncInterval = 2 * time.Second

// describeAddr names a listener as asked and as bound when they differ:
// 0.0.0.0:7437 binds every interface, which Go reports as [::]:7437.
func describeAddr(asked string, bound net.Addr) string {
	if asked == bound.String() {
		return asked
	}
	return fmt.Sprintf("%s (bound as %s)", asked, bound)
}

func (a *app) serveCmd() *cobra.Command {
	var (
		listen, tokensFile, tokens, logFormat, logLevel string
		opts                                            server.Options
		syncInterval                                    time.Duration
		noListen                                        bool
		blocksReplicaURL                                string
		blocksReplicaInterval                           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the data directory over HTTP (JSON API, MCP at /mcp, metrics)",
		Long: `Serve the store under the data directory: the JSON API under /v1, MCP for
agents at /mcp (streamable HTTP), /healthz, /readyz, /metrics (Prometheus) and
the OpenAPI document at /v1/openapi.json.

Without tokens engram serve listens only on loopback addresses and answers
only requests whose Host is localhost, 127.0.0.1 or [::1] (so a web page
cannot reach it by DNS rebinding). Tokens come
from --tokens-file and --tokens (ENGRAM_TOKENS), as comma- or line-separated
TOKEN=ns1|ns2 entries ("*" grants every namespace); with tokens every route
but /healthz needs "Authorization: Bearer TOKEN".

SIGINT or SIGTERM stops accepting connections, drains the requests in flight
(at most --shutdown-timeout) and closes the store; a second signal exits at
once.

Example:
  engram serve --listen 127.0.0.1:7437
  curl -s localhost:7437/v1/episodes -H 'Content-Type: application/json' \
    -d '{"task_description":"try engram"}'

Request bodies must be JSON: a Content-Type other than application/json is
refused, and so is a write a browser marks cross-site (so a web page cannot
post to a server on localhost). Writes may carry an Idempotency-Key header:
a retry with the same key is applied once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if a.server != "" {
				return usagef("engram serve serves the data directory; --server does not apply")
			}
			log, err := newLogger(a.stderr, logFormat, logLevel)
			if err != nil {
				return err
			}
			list, err := readTokens(tokensFile, tokens)
			if err != nil {
				return err
			}
			if opts.Tokens, err = server.ParseTokens(list); err != nil {
				return usagef("tokens: %v", err)
			}
			opts.Logger, opts.Version = log, version
			if err := opts.Validate(); err != nil {
				return usageError{err}
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return usagef("--listen %q: want host:port (127.0.0.1:7437; port 0 picks one)", listen)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				var dns *net.DNSError
				if errors.As(err, &dns) && dns.IsNotFound {
					return usagef("--listen %q: %v", listen, err)
				}
				return fmt.Errorf("--listen: %w", err)
			}
			if opts.Tokens.Len() == 0 && !server.IsLoopback(ln.Addr()) {
				ln.Close()
				return usagef("refusing to listen on %s without tokens: anyone who can reach it could read and write every namespace; set --tokens-file or ENGRAM_TOKENS, or listen on 127.0.0.1", describeAddr(listen, ln.Addr()))
			}
			store, err := a.openServeStore(ctx, log, syncInterval, noListen)
			if err != nil {
				ln.Close()
				return err
			}
			if blocksReplicaURL != "" {
				if blocksReplicaInterval <= 0 {
					ln.Close()
					return usagef("--blocks-replica-interval %v: must be positive", blocksReplicaInterval)
				}
				r, err := startBlocksReplica(ctx, filepath.Join(a.dataDir, blocksFile), blocksReplicaURL, blocksReplicaInterval, log)
				if err != nil {
					ln.Close()
					return err
				}
				defer r.stop() // before the store closes (run's closers)
				if m, ok := store.(*memory.Memory); ok {
					m.AddTierStatus(r.status)
				}
			}
			srv, err := server.New(store, opts)
			if err != nil {
				ln.Close()
				return err
			}
			// Where it listens is said whatever the log level.
			lv, _ := parseLevel(logLevel)
			log.Log(ctx, max(slog.LevelInfo, lv), "listening", "url", "http://"+ln.Addr().String(), "console", "http://"+ln.Addr().String()+"/", "data_dir", a.dataDir, "tokens", opts.Tokens.Len(),
				"token_ids", opts.Tokens.Describe(), "max_body_bytes", opts.MaxBodyBytes, "rate_limit", opts.RateLimit)
			err = srv.Serve(ctx, ln)
			if err == nil {
				log.Info("stopped; closing the store")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", DefaultListen, "address to listen on (host:port; port 0 picks one)")
	f.StringVar(&tokensFile, "tokens-file", "", "file of bearer tokens: TOKEN=ns1|ns2 per line (or comma-separated), * for every namespace")
	f.StringVar(&tokens, "tokens", "", "bearer tokens as TOKEN=ns1|ns2,TOKEN2=* (prefer ENGRAM_TOKENS or --tokens-file: arguments are visible to other users)")
	f.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request body accepted")
	f.Int64Var(&opts.MaxBodyMemory, "max-body-memory", server.DefaultMaxBodyMemory, "request bodies held in memory at once, summed; requests wait for room")
	f.IntVar(&opts.MaxInFlight, "max-in-flight", server.DefaultMaxInFlight, "requests served at once; more get 503")
	f.Float64Var(&opts.RateLimit, "rate-limit", 0, "requests per second per token (per address without tokens); 0: unlimited")
	f.IntVar(&opts.RateBurst, "rate-burst", 0, "requests a token may make at once above the rate (0: the rate, at least 1)")
	f.DurationVar(&opts.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout, "time allowed to send request headers")
	f.DurationVar(&opts.ReadTimeout, "read-timeout", server.DefaultReadTimeout, "time allowed to send a whole request")
	f.DurationVar(&opts.WriteTimeout, "write-timeout", server.DefaultWriteTimeout, "time allowed to write a response")
	f.DurationVar(&opts.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "how long an idle keep-alive connection is kept")
	f.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long to drain requests in flight at shutdown")
	f.DurationVar(&syncInterval, "sync-interval", DefaultSyncInterval, "how often the cache applies other processes' writes from the change feed (0: on demand only)")
	f.BoolVar(&noListen, "sync-no-listen", false, "on PostgreSQL, only poll at --sync-interval instead of also syncing as soon as another node commits (LISTEN/NOTIFY)")
	f.StringVar(&blocksReplicaURL, "blocks-replica", "", "replicate <data-dir>/blocks.db to this object store (file:///dir, s3://...) while serving: a round at start, then every --blocks-replica-interval")
	f.DurationVar(&blocksReplicaInterval, "blocks-replica-interval", DefaultBlocksReplicaInterval, "time between blocks replication rounds")
	f.StringVar(&logFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info (a line per request), warn or error")
	return cmd
}
