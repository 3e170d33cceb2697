package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/agent/mirror"
	"github.com/custos-evidence/custos/chain"
)

// closeTimeout bounds the final checkpoint when a command ends, even one
// cancelled by a signal.
const closeTimeout = 30 * time.Second

func newLogCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "read, verify, checkpoint and prove the custody log",
		Subcommands: []*cli.Command{
			newLogNoteCommand(g),
			newLogShowCommand(g),
			newLogVerifyCommand(g),
			newLogCheckpointCommand(g),
			newLogProveCommand(g),
			newLogRestoreCommand(g),
		},
	}
}

// openLog locks the data directory exclusively, checks the local log
// against its mirror in the evidence store, and opens the log with the
// configured signer. The returned func closes the log (publishing a final
// checkpoint), copies what is new to the mirror, and unlocks; it must be
// called.
func openLog(ctx context.Context, g *globalOptions, cfg *Config) (*chain.Log, func() error, error) {
	// The key first: a bad key, passphrase or KMS URI writes nothing.
	signer, err := loadSigner(ctx, g, cfg)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := lockForWrite(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, errors.Join(err, unlock())
	}
	l, closeLog, _, err := openLogWith(ctx, g, cfg, signer, store, false, unlock)
	return l, closeLog, err
}

// openLogWith is openLog with the signer loaded, the data directory locked
// (unlock releases it) and the store opened. storeDown says the store did
// not answer: the log is opened all the same, without the mirror check,
// so that preservation never waits for the store (items go to the spool),
// and the mirror catches up on a later command.
//
// The third func copies what is new in the log to its mirror now (the
// daemon calls it periodically); it does nothing while the store is down.
func openLogWith(ctx context.Context, g *globalOptions, cfg *Config, signer chain.Signer, store evidenceStore, storeDown bool, unlock func() error) (*chain.Log, func() error, func(context.Context) error, error) {
	// Before anything is written: leftovers of a writer that died go, and
	// a log rolled back or swapped behind the mirror's back must not be
	// extended.
	mirror, err := openMirrorFor(ctx, g, cfg, signer, store, storeDown)
	if err == nil && !storeDown {
		_, err = mirror.Check(ctx)
	}
	if err != nil {
		return nil, nil, nil, errors.Join(err, unlock())
	}
	if storeDown {
		g.logger.Warn("evidence store unreachable: the log is not checked against its mirror now; items are sealed in the local spool", "store", fmt.Sprint(store))
	}
	host, _ := os.Hostname() // recorded in the log.opened event; empty if unknown
	l, err := chain.Open(ctx, chain.Config{
		Dir:                cfg.dir().Log(),
		Origin:             cfg.AgentID,
		Signer:             signer,
		CheckpointInterval: cfg.Log.CheckpointInterval,
		Agent:              cfg.AgentID,
		Actor:              cfg.Actor,
		Host:               host,
	})
	if err != nil {
		return nil, nil, nil, errors.Join(err, unlock())
	}
	closeFn := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		err := l.Close(cctx)
		// The local log stays authoritative whatever happens here; a
		// mirror left behind is reported, and the next sync catches up.
		if storeDown {
			return errors.Join(err, unlock())
		}
		sctx, scancel := context.WithTimeout(ctx, mirrorTimeout)
		defer scancel()
		_, serr := mirror.Sync(sctx)
		return errors.Join(err, serr, unlock())
	}
	syncFn := func(ctx context.Context) error {
		if storeDown {
			return nil
		}
		_, err := mirror.Sync(ctx)
		return err
	}
	return l, closeFn, syncFn, nil
}

// mirrorTimeout bounds the copy of new log files to the store when a
// command ends; a copy cut short is continued by the next one.
const mirrorTimeout = 2 * time.Minute

// openMirror returns the mirror of the log in the configured store,
// checked against the verifier v.
func openMirror(ctx context.Context, g *globalOptions, cfg *Config, v note.Verifier) (*mirror.Mirror, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return newMirror(g, cfg, store, v)
}

func newMirror(g *globalOptions, cfg *Config, store evidenceStore, v note.Verifier) (*mirror.Mirror, error) {
	return mirror.New(mirror.Config{Dir: cfg.dir().Log(), Store: store, Verifier: v, Logger: g.logger})
}

// openMirrorFor is the mirror in store with the verifier of the signing
// key, for the one writer: it first sweeps what an earlier writer left
// unfinished in the store (multipart uploads, staged content), unless the
// store is down.
func openMirrorFor(ctx context.Context, g *globalOptions, cfg *Config, signer chain.Signer, store evidenceStore, storeDown bool) (*mirror.Mirror, error) {
	_, key, err := chain.NewNoteSigner(cfg.AgentID, signer)
	if err != nil {
		return nil, err
	}
	v, err := key.NoteVerifier()
	if err != nil {
		return nil, err
	}
	if sw, ok := store.(interface {
		Sweep(context.Context) (int, error)
	}); ok && !storeDown {
		n, err := sw.Sweep(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			g.logger.Warn("removed unfinished uploads left by an earlier writer", "store", fmt.Sprint(store), "count", n)
		}
	}
	return newMirror(g, cfg, store, v)
}

// --- log note

type logNoteOptions struct {
	Order string
}

func newLogNoteCommand(g *globalOptions) *cli.Command {
	var opts logNoteOptions
	return &cli.Command{
		Name:      "note",
		Usage:     "record a custody note in the log",
		ArgsUsage: "TEXT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "order", Usage: "order `ID` (ULID) the note is about", Destination: &opts.Order},
		},
		Action: func(c *cli.Context) error {
			return runLogNote(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogNote(ctx context.Context, g *globalOptions, opts logNoteOptions, args []string) (err error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return argCountError("log note", "TEXT", args)
	}
	if opts.Order != "" {
		if err := chain.ValidateOrderID(opts.Order); err != nil {
			return &usageError{err: fmt.Errorf("log note: --order: %w", err)}
		}
	}
	if g.server != "" {
		return remoteLogNote(ctx, g, opts.Order, args[0])
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if cfg.Actor == "" {
		return usageErrorf("log note: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("log note: %w", err)
	}
	l, closeLog, err := openLog(ctx, g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	rec, err := l.Append(ctx, chain.Event{
		Type:    chain.CustodyNote,
		Time:    time.Now().UTC(),
		Order:   opts.Order,
		Actor:   cfg.Actor,
		Agent:   cfg.AgentID,
		Host:    host,
		Details: map[string]string{"note": args[0]},
	})
	if err != nil {
		return err
	}
	if g.json() {
		return writeJSON(g.stdout, recordJSON(rec))
	}
	_, err = fmt.Fprintln(g.stdout, rec.Index)
	return err
}

type jsonRecord struct {
	Index uint64          `json:"index"`
	Event json.RawMessage `json:"event"`
}

// recordJSON shows a record with its event in the canonical encoding that
// was logged and hashed.
func recordJSON(r *chain.Record) jsonRecord {
	return jsonRecord{Index: r.Index, Event: json.RawMessage(r.Encoded)}
}

// --- log show

type logShowOptions struct {
	Order string
	From  uint64
}

func newLogShowCommand(g *globalOptions) *cli.Command {
	var opts logShowOptions
	return &cli.Command{
		Name:  "show",
		Usage: "print the custody events, one per line",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "order", Usage: "only the events of order `ID`", Destination: &opts.Order},
			&cli.Uint64Flag{Name: "from", Usage: "start at log index `N`", Destination: &opts.From},
		},
		Action: func(c *cli.Context) error {
			return runLogShow(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogShow(ctx context.Context, g *globalOptions, opts logShowOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("log show", "", args)
	}
	if opts.Order != "" {
		if err := chain.ValidateOrderID(opts.Order); err != nil {
			return &usageError{err: fmt.Errorf("log show: --order: %w", err)}
		}
	}
	if g.server != "" {
		return remoteLogShow(ctx, g, opts)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	fsys := os.DirFS(cfg.dir().Log())
	size, err := logSize(fsys)
	if err != nil {
		return fmt.Errorf("log %s: %w", cfg.dir().Log(), err)
	}
	var problems []error
	for rec, err := range chain.Entries(ctx, fsys, opts.From, size) {
		if err != nil {
			var te *chain.TamperError
			if !errors.As(err, &te) {
				return fmt.Errorf("log %s: %w", cfg.dir().Log(), err)
			}
			fmt.Fprintf(g.stderr, "custos: %v\n", err)
			problems = append(problems, err)
			continue
		}
		if opts.Order != "" && rec.Event.Order != opts.Order {
			continue
		}
		if err := printRecord(g, rec); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("log %s: %d entries could not be read: %w", cfg.dir().Log(), len(problems), chain.ErrTamper)
	}
	return nil
}

// logSize is the number of durable entries: the writer's integrated size,
// or, in a copy without it, the newest checkpoint's size (unverified: show
// only displays, verify checks).
func logSize(fsys fs.FS) (uint64, error) {
	size, _, ok, err := chain.IntegratedSize(fsys)
	if err != nil || ok {
		return size, err
	}
	raw, err := fs.ReadFile(fsys, chain.CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	lines := strings.SplitN(string(raw), "\n", 3)
	if len(lines) < 3 {
		return 0, &chain.TamperError{File: chain.CheckpointPath, Index: chain.NoIndex, What: "checkpoint is malformed"}
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0, &chain.TamperError{File: chain.CheckpointPath, Index: chain.NoIndex, What: "checkpoint size is malformed"}
	}
	return n, nil
}

func printRecord(g *globalOptions, rec *chain.Record) error {
	if g.json() {
		return writeJSON(g.stdout, recordJSON(rec))
	}
	e := rec.Event
	order := e.Order
	if order == "" {
		order = "-"
	}
	_, err := fmt.Fprintf(g.stdout, "%d %s %s %s %s %s\n", rec.Index, e.Time.UTC().Format(time.RFC3339), e.Type, order, e.Actor, summary(e))
	return err
}

// summary says in a few words what an event is about.
func summary(e *chain.Event) string {
	switch {
	case e.Type == chain.LogOpened:
		return fmt.Sprintf("key %s (%s) signs %s", e.Details["key_id"], e.Details["key_type"], e.Details["origin"])
	case e.Details["note"] != "":
		return strconv.Quote(e.Details["note"])
	case len(e.Items) == 1:
		return "item sha256:" + e.Items[0].SHA256
	case len(e.Items) > 1:
		return fmt.Sprintf("%d items", len(e.Items))
	case e.Reason != "":
		return strconv.Quote(e.Reason)
	}
	return ""
}

// --- log verify

type logVerifyOptions struct {
	Key string
}

func newLogVerifyCommand(g *globalOptions) *cli.Command {
	var opts logVerifyOptions
	return &cli.Command{
		Name:  "verify",
		Usage: "check every entry, tile, checkpoint and order chain of the log",
		Description: "Exits 3 if anything does not verify. --key takes a PEM public key file,\n" +
			"a file holding a note verifier key, or the verifier key itself;\n" +
			"the default is <key.file>.vkey.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "verifier `KEY`: file or note verifier line", Destination: &opts.Key},
		},
		Action: func(c *cli.Context) error {
			return runLogVerify(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogVerify(ctx context.Context, g *globalOptions, opts logVerifyOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("log verify", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	v, err := verifier(ctx, cfg, opts.Key)
	if err != nil {
		return err
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	dir := cfg.dir().Log()
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("log verify: %w", err)
	}
	fsys := os.DirFS(dir)
	report, verr := chain.VerifyLog(ctx, fsys, v)
	if report == nil {
		return fmt.Errorf("log verify %s: %w", dir, verr)
	}
	if err := printReport(g, dir, v, report); err != nil {
		return err
	}
	if n := len(report.Problems); n > 0 {
		return fmt.Errorf("log %s: %d problems found: %w", dir, n, chain.ErrTamper)
	}
	if report.Unsealed > 0 {
		// Consistent, but vouched for by no signature: a writer stopped
		// uncleanly, or someone added them. The next writer seals them and
		// records a log.recovered event naming them.
		return fmt.Errorf("log %s: entries %d to %d are covered by no signed checkpoint: %w", dir, report.CheckpointSize, report.CheckpointSize+report.Unsealed-1, chain.ErrTamper)
	}
	if verr != nil {
		return fmt.Errorf("log verify %s: %w", dir, verr)
	}
	return nil
}

// verifier reads the verifier key named by --key: a file (PEM or note
// verifier line) or the line itself; by default <key.file>.vkey, or the
// KMS key's public half.
func verifier(ctx context.Context, cfg *Config, key string) (note.Verifier, error) {
	if key == "" && cfg.Key.KMS != "" {
		sv, err := loadKMSSigner(ctx, cfg.Key.KMS)
		if err != nil {
			return nil, err
		}
		pub, err := sv.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("key.kms %q: %w", cfg.Key.KMS, err)
		}
		k, err := chain.NewKey(cfg.AgentID, pub)
		if err != nil {
			return nil, fmt.Errorf("key.kms %q: %w", cfg.Key.KMS, err)
		}
		return k.NoteVerifier()
	}
	if key == "" {
		key = cfg.Key.File + ".vkey"
	}
	data, err := os.ReadFile(key)
	switch {
	case errors.Is(err, os.ErrNotExist) && strings.Count(key, "+") >= 2:
		data = []byte(key) // the verifier line itself
		key = "--key"
	case err != nil:
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	v, err := chain.ParseVerifierKey(data, cfg.AgentID)
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("verifier key %s: %w", key, err)}
	}
	return v, nil
}

func printReport(g *globalOptions, dir string, v note.Verifier, r *chain.LogReport) error {
	if g.json() {
		return writeJSON(g.stdout, reportJSON(dir, v, r))
	}
	return writeReport(g, dir, v, r)
}

// reportJSON is the JSON form of a verification report.
func reportJSON(dir string, v note.Verifier, r *chain.LogReport) map[string]any {
	type problem struct {
		File  string `json:"file,omitempty"`
		Index *int64 `json:"index,omitempty"`
		What  string `json:"what"`
	}
	probs := []problem{}
	for _, p := range r.Problems {
		pr := problem{File: p.File, What: p.What}
		if p.Index >= 0 {
			idx := p.Index
			pr.Index = &idx
		}
		probs = append(probs, pr)
	}
	return map[string]any{
		"log":                  dir,
		"ok":                   len(r.Problems) == 0 && r.Unsealed == 0,
		"key":                  fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash()),
		"origin":               r.Origin,
		"entries":              r.Entries,
		"checkpoint_size":      r.CheckpointSize,
		"unsealed":             r.Unsealed,
		"checkpoints_verified": r.CheckpointsVerified,
		"tiles_verified":       r.TilesVerified,
		"orders":               r.Orders,
		"problems":             probs,
	}
}

// writeReport writes the text form of a verification report.
func writeReport(g *globalOptions, dir string, v note.Verifier, r *chain.LogReport) error {
	ok := len(r.Problems) == 0 && r.Unsealed == 0
	key := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
	var b bytes.Buffer
	fmt.Fprintf(&b, "log:              %s\n", dir)
	fmt.Fprintf(&b, "origin:           %s\n", r.Origin)
	fmt.Fprintf(&b, "key:              %s (checkpoints must carry its signature)\n", key)
	fmt.Fprintf(&b, "entries:          %d re-hashed, parsed and matched against the tiles\n", r.Entries)
	fmt.Fprintf(&b, "checkpoint:       size %d\n", r.CheckpointSize)
	fmt.Fprintf(&b, "checkpoints:      %d kept checkpoints verified (signature and root)\n", r.CheckpointsVerified)
	fmt.Fprintf(&b, "tiles:            %d recomputed\n", r.TilesVerified)
	fmt.Fprintf(&b, "orders:           %d event chains followed\n", r.Orders)
	fmt.Fprintf(&b, "unsealed entries: %d\n", r.Unsealed)
	switch {
	case ok:
		b.WriteString("problems:         none\nOK\n")
	case len(r.Problems) == 0:
		fmt.Fprintf(&b, "problems:         none, but %d entries after checkpoint %d carry no signature\nNOT SEALED\n", r.Unsealed, r.CheckpointSize)
	default:
		fmt.Fprintf(&b, "problems:         %d\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %v\n", p)
		}
		b.WriteString("FAILED\n")
	}
	_, err := g.stdout.Write(b.Bytes())
	return err
}

// --- log checkpoint

type logCheckpointOptions struct{}

func newLogCheckpointCommand(g *globalOptions) *cli.Command {
	var opts logCheckpointOptions
	return &cli.Command{
		Name:  "checkpoint",
		Usage: "publish a checkpoint covering every entry and print it",
		Action: func(c *cli.Context) error {
			return runLogCheckpoint(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogCheckpoint(ctx context.Context, g *globalOptions, _ logCheckpointOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("log checkpoint", "", args)
	}
	if g.server != "" {
		return remoteLogCheckpoint(ctx, g)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	l, closeLog, err := openLog(ctx, g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if g.json() {
		return writeJSON(g.stdout, map[string]any{
			"origin":    cp.Origin,
			"size":      cp.Size,
			"root_hash": hex.EncodeToString(cp.Hash),
			"note":      string(cp.Raw),
		})
	}
	_, err = g.stdout.Write(cp.Raw)
	return err
}

// --- log prove

type logProveOptions struct {
	Out         string
	Consistency bool
}

func newLogProveCommand(g *globalOptions) *cli.Command {
	var opts logProveOptions
	return &cli.Command{
		Name:      "prove",
		Usage:     "write an inclusion proof (tlog-proof) of one entry, or a consistency proof",
		ArgsUsage: "INDEX | --consistency OLD NEW",
		Description: "With INDEX, writes a C2SP tlog-proof of that entry against the newest checkpoint.\n" +
			"With --consistency OLD NEW, prints the hashes (base64, one per line) proving\n" +
			"that the tree of NEW entries extends the tree of OLD; both must be kept checkpoints.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "write the proof to `FILE` instead of stdout", Destination: &opts.Out},
			&cli.BoolFlag{Name: "consistency", Usage: "prove consistency between two checkpoint sizes", Destination: &opts.Consistency},
		},
		Action: func(c *cli.Context) error {
			return runLogProve(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogProve(ctx context.Context, g *globalOptions, opts logProveOptions, args []string) (err error) {
	if g.server != "" {
		return remoteLogProve(ctx, g, opts, args)
	}
	if opts.Consistency {
		return runLogProveConsistency(ctx, g, opts, args)
	}
	if len(args) != 1 {
		return argCountError("log prove", "INDEX", args)
	}
	index, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		return usageErrorf("log prove: INDEX %q is not a log index", args[0])
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	l, closeLog, err := openLog(ctx, g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	size, err := l.Size(ctx)
	if err != nil {
		return err
	}
	if index >= size {
		return usageErrorf("log prove: entry %d does not exist: the log has %d entries", index, size)
	}
	p, err := l.Prove(ctx, index)
	if err != nil {
		return err
	}
	text, err := chain.FormatProof(p)
	if err != nil {
		return err
	}
	return writeOutput(g, opts.Out, text)
}

func runLogProveConsistency(ctx context.Context, g *globalOptions, opts logProveOptions, args []string) (err error) {
	if len(args) != 2 {
		return argCountError("log prove", "--consistency OLD NEW", args)
	}
	var sizes [2]uint64
	for i, a := range args {
		if sizes[i], err = strconv.ParseUint(a, 10, 64); err != nil {
			return usageErrorf("log prove --consistency: %q is not a tree size", a)
		}
	}
	if sizes[0] > sizes[1] {
		return usageErrorf("log prove --consistency: OLD %d is larger than NEW %d", sizes[0], sizes[1])
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	fsys := os.DirFS(cfg.dir().Log())
	kept, err := chain.KeptCheckpointSizes(fsys)
	if err != nil {
		return fmt.Errorf("log %s: %w", cfg.dir().Log(), err)
	}
	for _, s := range sizes {
		if !containsSize(kept, s) {
			return usageErrorf("log prove --consistency: no kept checkpoint of size %d (kept: %v)", s, kept)
		}
	}
	hashes, err := chain.BuildConsistencyProof(ctx, fsys, sizes[0], sizes[1])
	if err != nil {
		return fmt.Errorf("log %s: consistency %d→%d: %w", cfg.dir().Log(), sizes[0], sizes[1], err)
	}
	var b bytes.Buffer
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	return writeOutput(g, opts.Out, b.Bytes())
}

func containsSize(sizes []uint64, s uint64) bool {
	for _, k := range sizes {
		if k == s {
			return true
		}
	}
	return false
}

// writeOutput writes data to file, or to stdout if file is empty.
func writeOutput(g *globalOptions, file string, data []byte) error {
	if file == "" {
		_, err := g.stdout.Write(data)
		return err
	}
	if err := datadir.WriteFile(file, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
