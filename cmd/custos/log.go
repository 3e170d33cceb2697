package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/agent"
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
	return openLogKeys(ctx, g, cfg, signer, nil, store, storeDown, unlock)
}

// openLogKeys is openLogWith where next is the new key of a rotation
// left unfinished (chain.Config.Next), signer its old key; nil for none.
func openLogKeys(ctx context.Context, g *globalOptions, cfg *Config, signer, next chain.Signer, store evidenceStore, storeDown bool, unlock func() error) (*chain.Log, func() error, func(context.Context) error, error) {
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
		Next:               next,
		CheckpointInterval: cfg.Log.CheckpointInterval,
		Agent:              cfg.AgentID,
		Actor:              cfg.Actor,
		Host:               host,
		Witnesses:          cfg.Log.witnessConfig(),
		Logger:             g.logger,
	})
	if errors.Is(err, chain.ErrRotationUnfinished) && next == nil {
		err = fmt.Errorf("%w (run custos keys rotate again to finish it: it signs with the staged key %s.next, or the key --new-key or --kms names)", err, cfg.Key.File)
	}
	if err != nil {
		return nil, nil, nil, errors.Join(err, unlock())
	}
	// Then what a process that died left unfinished is recorded, before
	// this one writes anything of its own.
	stamper, err := newStamper(cfg, g.logger)
	if err != nil {
		return nil, nil, nil, errors.Join(err, l.Close(ctx), unlock())
	}
	_, rerr := agent.Recover(ctx, agent.StartConfig{Log: l, WorkDir: cfg.dir().Work(), StateFile: cfg.dir().Recovery(),
		Agent: cfg.AgentID, Host: host, Logger: g.logger})
	closeFn := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		err := l.Close(cctx)
		// The final checkpoint gets its token if one is due; an
		// authority that does not answer is logged and skipped.
		if err == nil && stamper != nil && l.Failed() == nil {
			if _, serr := stamper.Stamp(cctx); serr != nil {
				g.logger.Error("timestamps: the final checkpoint was not timestamped", "err", serr)
			}
		}
		// The local log stays authoritative whatever happens here; a
		// mirror left behind is reported, and the next sync catches up.
		// A log that failed its verification is not copied: the mirror
		// is what restores it.
		if storeDown || l.Failed() != nil {
			return errors.Join(err, unlock())
		}
		sctx, scancel := context.WithTimeout(ctx, mirrorTimeout)
		defer scancel()
		_, serr := mirror.Sync(sctx)
		return errors.Join(err, serr, unlock())
	}
	syncFn := func(ctx context.Context) error {
		if storeDown || l.Failed() != nil {
			return nil
		}
		_, err := mirror.Sync(ctx)
		return err
	}
	if rerr != nil {
		return nil, nil, nil, errors.Join(fmt.Errorf("record what a process that died left unfinished: %w", rerr), closeFn())
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
