package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/urfave/cli/v2"
)

// globalOptions holds the global flags and what every command shares.
type globalOptions struct {
	configFile string
	dataDir    string
	output     string
	actor      string

	// client mode: the daemon to send commands to, and how to prove who
	// is asking
	server, token, tokenFile, caFile, certFile, keyFile string

	// which global flags were given, so that they win over file and env
	dataDirSet, actorSet bool
	// given names the global flags given on the command line
	given map[string]bool

	stdout, stderr io.Writer
	logger         *slog.Logger
	// now is the clock of the agent's decisions (receipts, deadlines, the
	// scheduler's steps); nil means time.Now. Only tests set it, through
	// runWith: the product has no flag or variable for it.
	now func() time.Time

	cfg        *Config // loaded on first use
	envChecked bool    // stray CUSTOS_* variables warned about
}

// run is custos without the process around it: it parses args, runs the
// command and returns the exit code. Deferred work inside commands always
// runs, because nothing below here exits the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, nil)
}

// runWith is run on the clock now (nil: time.Now), so that a test can
// move a daemon's time across its deadlines and restarts.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	g := &globalOptions{stdout: stdout, stderr: stderr, now: now}
	opts := &slog.HandlerOptions{Level: slog.LevelWarn}
	g.logger = slog.New(&outputHandler{g: g, text: slog.NewTextHandler(stderr, opts), json: slog.NewJSONHandler(stderr, opts)})
	// tessera reports through klog; keep its routine messages off stdout.
	useForKlog(ctx, g.logger.Handler())

	app := newApp(g)
	cl := reorderArgs(app, args)
	g.given = cl.given
	err := app.RunContext(ctx, cl.args)
	code := exitCode(err)
	switch {
	case err == nil:
	case g.json():
		_ = writeJSON(stderr, jsonError{Error: jsonErrorBody{Code: errorCodes[code], Message: err.Error()}})
	default:
		fmt.Fprintf(stderr, "custos: %v\n", err)
	}
	return code
}

func newApp(g *globalOptions) *cli.App {
	app := &cli.App{
		Name:  "custos",
		Usage: "preserve electronic evidence in a tamper-evident chain of custody",
		Description: "Without --server, a command runs in-process on the data directory,\n" +
			"holding its lock. Configuration comes from --config FILE, then CUSTOS_*\n" +
			"environment variables (CUSTOS_LOG_CHECKPOINT_INTERVAL for log.checkpoint_interval),\n" +
			"then the global flags, each winning over the one before.\n\n" + exitCodesHelp,
		Writer:         g.stdout,
		ErrWriter:      g.stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "configuration `FILE` (YAML)", EnvVars: []string{"CUSTOS_CONFIG"}, Destination: &g.configFile},
			&cli.StringFlag{Name: "data-dir", Usage: "data `DIR` (default: $XDG_DATA_HOME/custos or ~/.local/share/custos)", Destination: &g.dataDir},
			&cli.StringFlag{Name: "output", Value: "text", Usage: "output `FORMAT`: text or json", Destination: &g.output},
			&cli.StringFlag{Name: "actor", Usage: "`NAME` of the person or service acting, recorded in custody events", Destination: &g.actor},
			&cli.StringFlag{Name: "server", Usage: "run the command through the daemon at `URL` (client mode; CUSTOS_SERVER_URL, as CUSTOS_SERVER_* configures the daemon)", EnvVars: []string{"CUSTOS_SERVER_URL"}, Destination: &g.server},
			&cli.StringFlag{Name: "token", Usage: "bearer `TOKEN` for --server (prefer CUSTOS_TOKEN or --token-file: arguments are visible to other users)", EnvVars: []string{"CUSTOS_TOKEN"}, Destination: &g.token},
			&cli.StringFlag{Name: "token-file", Usage: "read the bearer token for --server from `FILE`", Destination: &g.tokenFile},
			&cli.StringFlag{Name: "ca", Usage: "CA certificate `FILE` (PEM) that signed the daemon's certificate", Destination: &g.caFile},
			&cli.StringFlag{Name: "cert", Usage: "client certificate `FILE` (PEM) for --server (mTLS)", Destination: &g.certFile},
			&cli.StringFlag{Name: "key", Usage: "private key `FILE` (PEM) of --cert", Destination: &g.keyFile},
		},
		Before: func(c *cli.Context) error {
			g.dataDirSet = c.IsSet("data-dir")
			g.actorSet = c.IsSet("actor")
			if g.output == "csv" && c.Args().First() != "report" {
				return usageErrorf("--output csv: only custos report writes CSV; use text or json")
			}
			if g.output != "text" && g.output != "json" && g.output != "csv" {
				return usageErrorf("--output %q: must be text or json (or csv, for custos report)", g.output)
			}
			return nil
		},
		Commands: []*cli.Command{
			newInitCommand(g),
			newKeysCommand(g),
			newLogCommand(g),
			newStorageCommand(g),
			newOrderCommand(g),
			newCaptureCommand(g),
			newDiscloseCommand(g),
			newVerifyCommand(g),
			newFixityCommand(g),
			newReportCommand(g),
			newServeCommand(g),
			newTokenCommand(g),
		},
	}
	app.Action = unknownCommand(g)
	app.OnUsageError = onUsageError
	for _, c := range app.Commands {
		setUsageHandlers(g, c)
		if slices.Contains(localCommands, c.Name) {
			refuseClientFlags(g, c)
		}
	}
	for _, c := range findCommand(app.Commands, "log").Subcommands {
		if c.Name == "verify" || c.Name == "restore" {
			refuseClientFlags(g, c)
		}
	}
	return app
}

// localCommands are the commands (with log verify and log restore) that
// run on this machine only, never through a daemon.
var localCommands = []string{"keys", "storage", "verify", "serve"}

// clientFlags are the global flags of client mode.
var clientFlags = []string{"server", "token", "token-file", "ca", "cert", "key"}

// refuseClientFlags makes c, and its subcommands, refuse the client-mode
// flags: a command that runs locally must not seem to have run on the
// daemon. CUSTOS_SERVER_URL in the environment is only warned about.
func refuseClientFlags(g *globalOptions, c *cli.Command) {
	for _, s := range c.Subcommands {
		refuseClientFlags(g, s)
	}
	if len(c.Subcommands) > 0 {
		return // the group's Before would name the group
	}
	c.Before = func(c *cli.Context) error {
		name := commandName(c)
		for _, f := range clientFlags {
			if g.given[f] {
				return usageErrorf("%s: --%s: %s runs on this machine only, never through a daemon", name, f, name)
			}
		}
		if g.server != "" {
			g.logger.Warn("CUSTOS_SERVER_URL is set, but this command runs on this machine only", "command", name)
		}
		return nil
	}
}

// setUsageHandlers makes flag errors usage errors (exit 2) and unknown
// subcommands errors, throughout a command tree.
func setUsageHandlers(g *globalOptions, c *cli.Command) {
	c.OnUsageError = onUsageError
	if len(c.Subcommands) > 0 && c.Action == nil {
		c.Action = unknownCommand(g)
	}
	for _, s := range c.Subcommands {
		setUsageHandlers(g, s)
	}
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	if name := commandName(c); name != "" {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return &usageError{err: err}
}

// commandName is the command's name without the program's, e.g. "log show".
func commandName(c *cli.Context) string {
	if c.Command == nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimPrefix(c.Command.HelpName, c.App.Name), " ")
}

// unknownCommand is the action of the app and of each command group:
// with no arguments it shows help (not with --output json, whose standard
// output is JSON or nothing), otherwise the command does not exist.
func unknownCommand(g *globalOptions) cli.ActionFunc {
	return func(c *cli.Context) error {
		name := strings.TrimSpace(c.App.Name + " " + commandName(c))
		if c.Args().Present() {
			return usageErrorf("unknown command %q (see %s --help)", strings.TrimSpace(commandName(c)+" "+c.Args().First()), name)
		}
		if !g.json() {
			if err := cli.ShowSubcommandHelp(c); err != nil {
				return err
			}
		}
		return usageErrorf("missing command (see %s --help)", name)
	}
}

// config loads, validates and caches the configuration.
func (g *globalOptions) config() (*Config, error) {
	if g.cfg != nil {
		return g.cfg, nil
	}
	over := overrides{}
	if g.dataDirSet {
		over["data_dir"] = g.dataDir
	}
	if g.actorSet {
		over["actor"] = g.actor
	}
	cfg, err := loadConfig(defaultConfigFile(g), os.LookupEnv, over)
	if !g.envChecked {
		g.envChecked = true
		for _, name := range strayEnv(os.Environ(), configKeys(""), cfg) {
			g.notef("custos: warning: environment variable %s names no configuration key; it is ignored", name)
		}
	}
	if err != nil {
		return nil, err
	}
	g.cfg = cfg
	return cfg, nil
}

func (g *globalOptions) json() bool { return g.output == "json" }

// dir is the data directory and its layout.
func (c *Config) dir() datadir.Dir { return datadir.Dir(c.DataDir) }
