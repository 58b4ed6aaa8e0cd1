package main

import (
	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/server"
)

func (a *app) mcpCmd() *cobra.Command {
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve MCP for an agent over standard input and output",
		Long: `Run an MCP server over stdio for one agent: the tools create_episode,
add_episode_step, complete_episode, get_episode, list_episodes, search_memory,
store_pattern, list_patterns, store_heuristic and memory_status, on the data
directory, or on a running engram server with --server. Calls that name no
namespace use --namespace. Logs go to standard error.

Example agent configuration (Claude Desktop, Cursor and others):
  {"mcpServers": {"engram": {"command": "engram",
    "args": ["mcp", "--data-dir", "/home/me/.engram", "--namespace", "my-agent"]}}}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log, err := newLogger(a.stderr, logFormat, logLevel)
			if err != nil {
				return err
			}
			var store engram.Store
			if a.server != "" {
				store, err = a.openRemote()
			} else {
				store, err = a.openServeStore(ctx, log, DefaultSyncInterval, false)
			}
			if err != nil {
				return err
			}
			srv, err := server.NewMCP(store, server.MCPOptions{Namespace: a.ns, Version: version, Logger: log})
			if err != nil {
				return err
			}
			log.Info("serving MCP on stdio", "namespace", a.ns, "server", a.server)
			err = srv.Run(ctx, server.StdioTransport(a.stdin, a.stdout))
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		},
	}
	cmd.Flags().StringVar(&logFormat, "log-format", "auto", "log format on standard error: auto, text or json")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	return cmd
}
