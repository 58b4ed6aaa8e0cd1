package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/client"
	"github.com/engramhq/engram/memory"
	"github.com/engramhq/engram/sqlstore"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// app is the state one invocation shares between commands: the resolved
// global flags, the I/O streams and the stores it opened (closed by run).
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	dataDir     string
	output      string
	namespace   string
	configPath  string
	synchronous string

	server string // --server: talk to this engram server instead of files
	token  string // --token: its bearer token

	cache   cacheFlags
	sync    syncFlags
	embed   embedFlags // embed.go
	durable durableFlags
	vectors vectorFlags // vectors.go

	ns      engram.Namespace
	sql     *sqlstore.Store
	mem     *memory.Memory
	remote  *client.Client
	closers []io.Closer // stores opened for serve and mcp
}

// usageError marks errors in how engram was invoked (exit 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// argID makes a malformed id argument a usage error.
func argID[T any](v T, err error) (T, error) {
	if err != nil {
		return v, usageError{err}
	}
	return v, nil
}

// run executes one engram invocation and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if cerr := a.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		fmt.Fprintf(stderr, "engram: %v\nRun 'engram --help' for usage.\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "engram: %s\n", oneLine(err.Error()))
	return exitError
}

// isCobraUsageError recognises the errors cobra itself returns for bad
// invocations; cobra does not type them.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "received ", "required flag"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "engram",
		Short: "Tiered, durable storage for AI-agent memory",
		Long: `engram keeps what AI agents learn: episodes (a task, the steps taken, the
outcome, a reward, a reflection), patterns, heuristics and embeddings. It stores
them durably in SQL and serves them from fast tiers.

Every flag may also come from the environment (ENGRAM_ + the flag name in upper
case, dashes as underscores: --data-dir is ENGRAM_DATA_DIR) or from a TOML config
file (--config, or engram.toml in the data directory) with flag names as keys.
Precedence: command line, then environment, then config file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.resolve(cmd)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.dataDir, "data-dir", "./engram-data", "directory holding engram's files")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	pf.StringVarP(&a.namespace, "namespace", "n", string(engram.DefaultNamespace), "namespace to read and write (1-64 characters of [a-z0-9_.-])")
	pf.StringVar(&a.configPath, "config", "", "TOML config file (default: engram.toml in the data directory, if present)")
	pf.StringVar(&a.server, "server", "", "URL of an engram server to use instead of the data directory (record commands only)")
	pf.StringVar(&a.token, "token", "", "bearer token for --server")
	pf.StringVar(&a.synchronous, "sqlite-synchronous", string(sqlstore.SyncFull), "SQLite commit durability: full (survives power loss), normal (survives a crash), off")
	a.cache.register(pf)
	a.sync.register(pf)
	a.embed.register(pf)
	a.durable.register(pf)
	a.vectors.register(pf)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })

	dataDir, jsonOut := func() string { return a.dataDir }, func() bool { return a.output == "json" }
	root.AddCommand(a.episodeCmd(), a.stepCmd(), a.patternCmd(), a.heuristicCmd(), a.searchCmd(), a.syncCmd(), a.statusCmd(),
		a.dbCmd(), newCacheCmd(&a.cache, dataDir, jsonOut), newBlocksCmd(dataDir, jsonOut), newHeadsCmd(dataDir, jsonOut),
		a.demoCmd(), a.versionCmd(), a.serveCmd(), a.mcpCmd(), a.benchCmd(), a.recallCmd(), a.indexCmd(), a.backupCmd(), a.insightsCmd(),
		a.vectorsCmd())
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2) throughout the
// tree, and makes a command group given an unknown subcommand fail instead of
// printing its help and succeeding.
func wrapArgs(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		}
		for _, sub := range c.Commands() {
			wrapArgs(sub)
		}
		return
	}
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// resolve fills every flag not given on the command line from the
// environment, then from the config file, and checks the global flags.
func (a *app) resolve(cmd *cobra.Command) error {
	flags := cmd.Flags()
	// The config file's location may itself come from the environment.
	for _, name := range []string{"config", "data-dir"} {
		if _, err := applyEnv(flags.Lookup(name)); err != nil {
			return err
		}
	}
	path, explicit := a.configPath, a.configPath != ""
	if !explicit {
		path = filepath.Join(a.dataDir, "engram.toml")
	}
	conf, err := loadConfig(path, explicit, cmd.Root())
	if err != nil {
		return err
	}
	var ferr error
	flags.VisitAll(func(f *pflag.Flag) {
		if ferr != nil || f.Changed {
			return
		}
		if set, err := applyEnv(f); set || err != nil {
			ferr = err
			return
		}
		if v, ok := conf[f.Name]; ok {
			if err := setFlag(f, v); err != nil {
				ferr = usagef("config file %s: %s: %v", path, f.Name, err)
			}
		}
	})
	if ferr != nil {
		return ferr
	}
	if a.output != "text" && a.output != "json" {
		return usagef("--output %q: want text or json", a.output)
	}
	if err := a.durable.check(); err != nil {
		return err
	}
	if err := checkSQLiteFlags(a); err != nil {
		return err
	}
	if a.server != "" {
		switch top := topCommand(cmd); top {
		case "db", "cache", "blocks", "heads":
			return usagef("engram %s works on the files of --data-dir; --server does not apply", top)
		}
	}
	ns, err := engram.ParseNamespace(a.namespace)
	if err != nil {
		return usagef("--namespace: %v", err)
	}
	a.ns = ns
	return nil
}

// topCommand is the name of cmd's ancestor just below the root.
func topCommand(cmd *cobra.Command) string {
	for cmd.HasParent() && cmd.Parent().HasParent() {
		cmd = cmd.Parent()
	}
	return cmd.Name()
}

// envName is the environment variable that sets a flag.
func envName(flag string) string {
	return "ENGRAM_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets f from its environment variable, if that is set and f was
// not given on the command line. It reports whether it set f.
func applyEnv(f *pflag.Flag) (bool, error) {
	if f == nil || f.Changed {
		return false, nil
	}
	v, ok := os.LookupEnv(envName(f.Name))
	if !ok {
		return false, nil
	}
	if err := setFlag(f, v); err != nil {
		return false, usagef("%s=%q: %v", envName(f.Name), v, err)
	}
	f.Changed = true
	return true, nil
}

func setFlag(f *pflag.Flag, v any) error {
	if list, ok := v.([]any); ok {
		for _, item := range list {
			if err := f.Value.Set(fmt.Sprint(item)); err != nil {
				return err
			}
		}
		return nil
	}
	return f.Value.Set(fmt.Sprint(v))
}

// loadConfig reads a flat TOML file whose keys are flag names. A missing
// default file is fine; a missing explicit file, a malformed file or a key
// that names no flag of any engram command is an error.
func loadConfig(path string, explicit bool, root *cobra.Command) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, usagef("config file: %v", err)
	}
	conf := map[string]any{}
	if _, err := toml.Decode(string(data), &conf); err != nil {
		return nil, usagef("config file %s: %v", path, err)
	}
	known := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var unknown []string
	for k := range conf {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, usagef("config file %s: unknown keys %s (keys are flag names, like data-dir)", path, strings.Join(unknown, ", "))
	}
	return conf, nil
}

// openStore returns the store the record commands work on: the server
// --server names, else the tiered memory under the data directory (durable
// store, cache file, RAM). Opened once per invocation.
func (a *app) openStore(ctx context.Context) (engram.Store, error) {
	if a.server != "" {
		return a.openRemote()
	}
	return a.openMemory(ctx)
}

func (a *app) sqlOptions() sqlstore.Options {
	o := sqlstore.Options{
		Path:        filepath.Join(a.dataDir, sqlstore.DefaultFileName),
		Synchronous: sqlstore.Synchronous(a.synchronous),
	}
	a.durable.apply(&o)
	return o
}

// openSQL opens the SQLite store under the data directory, once; the db
// commands need it directly.
func (a *app) openSQL(ctx context.Context) (*sqlstore.Store, error) {
	if a.sql != nil {
		return a.sql, nil
	}
	s, err := sqlstore.Open(ctx, a.sqlOptions())
	if err != nil {
		return nil, err
	}
	a.sql = s
	return s, nil
}

// close closes whatever the invocation opened.
func (a *app) close() error {
	var errs []error
	if a.mem != nil {
		errs = append(errs, a.mem.Close())
		a.mem = nil
	}
	if a.sql != nil {
		errs = append(errs, a.sql.Close())
		a.sql = nil
	}
	if a.remote != nil {
		a.remote.Close()
		a.remote = nil
	}
	for _, c := range a.closers {
		errs = append(errs, c.Close())
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print engram's version and schema version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.print(map[string]any{"version": version, "schema_version": sqlstore.SchemaVersion()}, func(w io.Writer) {
				fmt.Fprintf(w, "engram %s (schema %d)\n", version, sqlstore.SchemaVersion())
			})
		},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
