package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/agent/server"
	"github.com/custos-evidence/custos/agent/tsa"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// requestTimeout is how long open requests get to finish on SIGTERM.
const requestTimeout = 10 * time.Second

type serveOptions struct {
	listen string
}

func newServeCommand(g *globalOptions) *cli.Command {
	var opts serveOptions
	return &cli.Command{
		Name:  "serve",
		Usage: "run the custody daemon: the HTTP API, the job workers and the log's single writer",
		Description: "Holds the data directory's lock while it runs, so in-process commands refuse to\n" +
			"run beside it. On first start it generates a signing key (as `make run` does) and\n" +
			"an admin token, written to DATA_DIR/admin-token. SIGTERM or SIGINT stop it\n" +
			"cleanly: no new requests, running jobs get server.drain_timeout (30 s) to finish\n" +
			"(or resume on the next start), and a final checkpoint is published. Logs are\n" +
			"JSON lines on stderr.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "`HOST:PORT` to listen on (default: server.listen)", Destination: &opts.listen},
		},
		Action: func(c *cli.Context) error { return runServe(c.Context, g, opts, c.Args().Slice()) },
	}
}

func runServe(ctx context.Context, g *globalOptions, opts serveOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("serve", "", args)
	}
	cfg, tlsConfig, logger, err := serveConfig(ctx, g, opts)
	if err != nil {
		return err
	}
	// The registry outlives ctx: on SIGTERM it must still publish the
	// final checkpoint and sync the mirror.
	base := context.WithoutCancel(ctx)
	st, err := openDaemonState(base, g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.closeReg()) }()
	srv, err := newServer(base, g, cfg, st.reg, st.tokens, logger)
	if err != nil {
		return err
	}
	sched, err := newScheduler(cfg, st.reg, logger, st.syncMirror, g.now)
	if err != nil {
		return err
	}
	stamper, err := newStamper(cfg, logger)
	if err != nil {
		return err
	}
	// Decrypting the key (scrypt) and opening the log took tens of MiB
	// that the daemon will not need again: give them back now rather than
	// whenever the scavenger gets to them.
	debug.FreeOSMemory()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	hs := &http.Server{
		Handler: srv.Handler(), TLSConfig: tlsConfig, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsConfig)
	}
	url := scheme + "://" + ln.Addr().String()
	w := &errWriter{w: g.stdout}
	w.printf("custos: serving %s on %s (data directory %s)\n", cfg.AgentID, url, cfg.DataDir)
	if st.adminFile != "" {
		w.printf("custos: the first admin token is in %s (shown once; read it, then remove the file)\n", st.adminFile)
	}
	removeInfo, err := writeServeInfo(cfg.DataDir, url)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer removeInfo()
	logger.Info("serving", "url", url, "data_dir", cfg.DataDir, "store", cfg.Store.Type)
	return serveUntilDone(ctx, hs, ln, srv, sched, stamper, cfg.Server.DrainTimeout, logger)
}

// serveConfig reads and checks all the daemon needs before it touches the
// data directory: the configuration with --listen, that it does not take
// bearer tokens in clear from the network, and the TLS files. It makes the
// daemon's JSON logger.
func serveConfig(ctx context.Context, g *globalOptions, opts serveOptions) (*Config, *tls.Config, *slog.Logger, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, nil, nil, err
	}
	if opts.listen != "" {
		cfg.Server.Listen = opts.listen
		if err := cfg.Server.validate(); err != nil {
			return nil, nil, nil, usageErrorf("serve: --listen: %v", err)
		}
	}
	insecure, err := cfg.Server.checkPlainHTTP()
	if err != nil {
		return nil, nil, nil, err
	}
	tlsConfig, err := serverTLS(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.Actor == "" {
		cfg.Actor = cfg.AgentID // the daemon's own events; API steps name their caller
	}
	logger := slog.New(slog.NewJSONHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g.logger = logger
	useForKlog(ctx, logger.Handler())
	if insecure {
		logger.Warn("serving plain HTTP on an address other than loopback (server.insecure_http): "+
			"bearer tokens are protected only by the proxy in front", "listen", cfg.Server.Listen)
	}
	return cfg, tlsConfig, logger, nil
}

// daemonState is what the daemon opens in its data directory.
type daemonState struct {
	reg        *agent.Registry
	closeReg   func() error // closes the log and releases the lock
	syncMirror func(context.Context) error
	tokens     *auth.Store
	adminFile  string // where the first admin token was written, or ""
}

// openDaemonState takes the data directory's lock first and, holding it,
// makes the signing key on first start and the first admin token, and
// opens the registry: nothing is written into a data directory another
// process holds.
func openDaemonState(ctx context.Context, g *globalOptions, cfg *Config) (_ *daemonState, err error) {
	unlock, err := lockForWrite(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if unlock != nil {
			err = errors.Join(err, unlock())
		}
	}()
	if err := ensureKey(g, cfg); err != nil {
		return nil, err
	}
	profiles, err := order.LoadProfiles(cfg.Profiles)
	if err != nil {
		return nil, usageErrorf("config: profiles: %v", err)
	}
	signer, err := loadSigner(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	st := &daemonState{}
	if st.tokens, st.adminFile, err = openTokens(cfg); err != nil {
		return nil, err
	}
	held := unlock
	unlock = nil // the registry releases it from here on
	if st.reg, st.closeReg, st.syncMirror, err = openRegistryLocked(ctx, g, cfg, profiles, signer, held); err != nil {
		return nil, err
	}
	return st, nil
}

// serveUntilDone serves until ctx ends, then shuts down in order: stop
// taking requests, let open ones finish, drain the jobs. The caller then
// closes the log, which publishes the final checkpoint. stamper, when not
// nil, asks for timestamps on its own short clock beside the scheduler's
// tick, so a token follows an order's receipt within log.timestamp.every
// and a checkpoint (issue 16) however long the tick is.
func serveUntilDone(ctx context.Context, hs *http.Server, ln net.Listener, srv *server.Server, sched *scheduler.Scheduler,
	stamper *tsa.Stamper, drainTimeout time.Duration, logger *slog.Logger) error {
	runCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- srv.Run(runCtx) }()
	schedCtx, stopSched := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSched()
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(schedCtx) }()
	stampDone := make(chan struct{})
	go func() {
		defer close(stampDone)
		if stamper != nil {
			stamper.Run(schedCtx, 0)
		}
	}()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
		logger.Info("stopping: no new requests; draining jobs", "drain_timeout", drainTimeout.String())
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	}
	// The scheduler first: a release or purge it is making ends with its
	// step (the registry records each before it returns).
	stopSched()
	<-stampDone
	if serr := <-schedDone; serr != nil {
		err = errors.Join(err, fmt.Errorf("serve: scheduler: %w", serr))
	}
	sctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("serve: close open requests: %w", serr))
	}
	dctx, dcancel := context.WithTimeout(context.Background(), drainTimeout)
	defer dcancel()
	if derr := srv.Shutdown(dctx); derr != nil {
		logger.Warn("jobs still running were stopped; they resume on the next start", "error", derr)
	}
	stopJobs()
	if rerr := <-jobsDone; rerr != nil && !errors.Is(rerr, context.Canceled) {
		err = errors.Join(err, rerr)
	}
	logger.Info("stopped; publishing the final checkpoint")
	return err
}

func newServer(ctx context.Context, g *globalOptions, cfg *Config, reg *agent.Registry, tokens *auth.Store, logger *slog.Logger) (*server.Server, error) {
	roles := map[string]auth.Role{}
	for cn, r := range cfg.Server.ClientRoles {
		roles[cn] = auth.Role(r)
	}
	org := cfg.Disclosure.Organization
	if org == "" {
		org = cfg.AgentID
		logger.Warn("disclosure.organization is not set: packages name their provider by the log origin; set it to the provider's name", "provider", org)
	}
	l, ok := reg.Log.(server.Log)
	if !ok {
		return nil, errors.New("serve: the log is not open for writing")
	}
	srcs, err := cfg.sourceConfigs()
	if err != nil {
		return nil, err
	}
	return server.New(ctx, server.Config{
		Registry: reg, Log: l, Tokens: tokens, ClientRoles: roles, Sources: srcs,
		Jobs: jobs.Config{Dir: cfg.dir().Jobs(), Workers: cfg.Server.Workers,
			Retention: cfg.Server.JobRetention},
		DisclosureDir:       cfg.dir().Disclosures(),
		DisclosureRetention: cfg.Server.DisclosureRetention,
		UploadDir:           cfg.dir().Uploads(),
		Organization:        org,
		VerifiedChannels:    cfg.Intake.VerifiedChannels,
		Ready: func(ctx context.Context) error {
			_, err := reg.Store.Stat(ctx, ".custos-probe/ready")
			if err != nil && !errors.Is(err, storage.ErrNotExist) {
				return fmt.Errorf("store: %w", err)
			}
			_, err = reg.Capturer.Signer.SignMessage(strings.NewReader("custos readiness probe"))
			return err
		},
		Logger: logger, Now: g.now,
	})
}

// newScheduler makes the daemon's timed duties: expiry reminders (a log
// line, and a signed webhook when configured), automatic release and purge
// at expiry, periodic fixity, the mirror sync of the log and its
// verification. now is their clock, the registry's (nil: time.Now).
func newScheduler(cfg *Config, reg *agent.Registry, logger *slog.Logger, syncMirror func(context.Context) error,
	now func() time.Time) (*scheduler.Scheduler, error) {
	sc := cfg.Scheduler
	verify, err := logVerification(cfg, reg, logger)
	if err != nil {
		return nil, err
	}
	hooks := []scheduler.Hook{{Name: "mirror sync", Every: sc.MirrorEvery, Run: syncMirror}, verify}
	s, err := scheduler.New(scheduler.Config{
		Registry: reg, Now: now, Logger: logger, Actor: "custos scheduler (" + cfg.AgentID + ")",
		Webhook: sc.Webhook, WebhookSecret: []byte(sc.WebhookSecret.Reveal()),
		StateFile:   cfg.dir().Scheduler(),
		AutoRelease: sc.AutoRelease, PurgeGrace: sc.PurgeGrace, FixityEvery: sc.FixityEvery, FixityRate: sc.FixityRate, Tick: sc.Tick,
		Hooks: hooks,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return s, nil
}

// ensureKey generates the signing key on first start, as `make run` does:
// encrypted with CUSTOS_KEY_PASSPHRASE or a passphrase asked on the
// terminal; with neither, an unencrypted key and a warning. The caller
// holds the data directory's lock. A key file missing beside a log is not
// a first start: a new key would not sign that log, so it is refused.
func ensureKey(g *globalOptions, cfg *Config) error {
	if cfg.Key.KMS != "" {
		return nil
	}
	if _, err := os.Stat(cfg.Key.File); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil // there, or a problem loadSigner reports
	}
	if _, err := os.Stat(filepath.Join(cfg.dir().Log(), chain.CheckpointPath)); err == nil {
		return usageErrorf("serve: key file %s does not exist, and the log in %s was signed with a key: "+
			"restore the key file, or set key.file to it (a new key would not sign this log)", cfg.Key.File, cfg.dir().Log())
	}
	hasPass := os.Getenv(passphraseEnv) != "" || os.Getenv(passphraseFileEnv) != ""
	noPass := !hasPass && !term.IsTerminal(int(os.Stdin.Fd()))
	if noPass {
		fmt.Fprintln(g.stderr, "serve: no CUSTOS_KEY_PASSPHRASE(_FILE) and no terminal: generating an unencrypted key")
	}
	held := func() (func() error, error) { return func() error { return nil }, nil }
	_, _, err := createKey(g, cfg, "ed25519", noPass, false, held)
	debug.FreeOSMemory() // the passphrase's scrypt; loading the key needs as much again
	return err
}

// openTokens opens the token store and, when it holds no token, makes the
// first admin token and writes it to DATA_DIR/admin-token (0600), whose
// path it returns.
func openTokens(cfg *Config) (*auth.Store, string, error) {
	tokens, err := auth.OpenStore(cfg.dir().Tokens(), nil)
	if err != nil {
		return nil, "", err
	}
	ts, err := tokens.List()
	if err != nil || len(ts) > 0 {
		return tokens, "", err
	}
	secret, _, err := tokens.Create("admin", auth.Admin)
	if err != nil {
		return nil, "", err
	}
	path := cfg.dir().AdminToken()
	if err := auth.WriteSecretFile(path, secret); err != nil {
		return nil, "", fmt.Errorf("write the first admin token: %w", err)
	}
	return tokens, path, nil
}

// serverTLS is the listener's TLS configuration, or nil for plain HTTP. A
// file that is missing or not what it should be is a configuration error.
func serverTLS(cfg *Config) (*tls.Config, error) {
	s := cfg.Server
	if s.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
	if err != nil {
		return nil, usageErrorf("serve: server.tls_cert and tls_key: %v", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.ClientCA != "" {
		pem, err := os.ReadFile(s.ClientCA)
		if err != nil {
			return nil, usageErrorf("serve: server.client_ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("serve: server.client_ca %s: no PEM certificate", s.ClientCA)
		}
		// Certificates are verified when given; a client without one may
		// still present a bearer token.
		c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return c, nil
}

type serveInfo struct {
	PID int    `json:"pid"`
	URL string `json:"url"`
}

// writeServeInfo records the daemon's address; the returned func removes it.
func writeServeInfo(dataDir, url string) (func(), error) {
	b, err := json.Marshal(serveInfo{PID: os.Getpid(), URL: url})
	if err != nil {
		return nil, err
	}
	path := datadir.Dir(dataDir).Serve()
	if err := datadir.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// daemonHint adds to a lock refused because a daemon holds the data
// directory where it listens, so the user can run the command through it.
func daemonHint(dataDir string, err error) error {
	var le *datadir.LockedError
	if !errors.As(err, &le) || le.PID == 0 {
		return err
	}
	b, rerr := os.ReadFile(datadir.Dir(dataDir).Serve())
	var info serveInfo
	if rerr != nil || json.Unmarshal(b, &info) != nil || info.PID != le.PID {
		return err
	}
	return fmt.Errorf("%w: the daemon (custos serve, pid %d) holds it; run the command through it with --server %s", err, info.PID, info.URL)
}
