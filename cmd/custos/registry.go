package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// openRegistry opens everything a command that changes custody state
// needs, as the one writer: the log (locked, checked against its mirror),
// the store, the spool, the order book and the capturer. Records saved
// while the store was down are copied first. The returned func closes the
// log and unlocks; it must be called.
func openRegistry(ctx context.Context, g *globalOptions, cfg *Config) (*agent.Registry, func() error, error) {
	reg, closeFn, _, err := openRegistrySync(ctx, g, cfg)
	return reg, closeFn, err
}

// openRegistrySync is openRegistry that also returns the func copying the
// log's new files to its mirror in the store (see openLogWith).
func openRegistrySync(ctx context.Context, g *globalOptions, cfg *Config) (*agent.Registry, func() error, func(context.Context) error, error) {
	if cfg.Actor == "" {
		return nil, nil, nil, usageErrorf("no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	profiles, err := order.LoadProfiles(cfg.Profiles)
	if err != nil {
		return nil, nil, nil, usageErrorf("config: profiles: %v", err)
	}
	signer, err := loadSigner(ctx, g, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	unlock, err := lockForWrite(cfg.DataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	return openRegistryLocked(ctx, g, cfg, profiles, signer, unlock)
}

// openRegistryLocked is openRegistrySync once the data directory is
// locked and the signer loaded: unlock releases the lock, on failure here
// or through the returned func that closes the log.
func openRegistryLocked(ctx context.Context, g *globalOptions, cfg *Config, profiles *order.Profiles, signer chain.Signer,
	unlock func() error) (*agent.Registry, func() error, func(context.Context) error, error) {
	store, storeDown, err := openWriterStore(ctx, g, cfg)
	if err != nil {
		return nil, nil, nil, errors.Join(err, unlock())
	}
	l, closeLog, syncMirror, err := openLogWith(ctx, g, cfg, signer, store, storeDown, unlock)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*agent.Registry, func() error, func(context.Context) error, error) {
		return nil, nil, nil, errors.Join(err, closeLog())
	}
	spool, err := storage.NewLocal(cfg.dir().Spool(), time.Now)
	if err != nil {
		return fail(fmt.Errorf("spool: %w", err))
	}
	// The authorities that timestamp checkpoints also timestamp each
	// disclosure package's statement.
	stamper, err := newStamper(cfg, g.logger)
	if err != nil {
		return fail(err)
	}
	host, _ := os.Hostname()
	index := &capture.Index{Dir: cfg.DataDir, From: capture.StoreManifests{Store: store, Spool: spool}}
	reg, err := agent.New(agent.Config{
		Log: l, Store: store, Profiles: profiles, Agent: cfg.AgentID, Host: host, Logger: g.logger, Now: g.now,
		Book:      &agent.OrderBook{Dir: cfg.dir().Orders(), Store: store, Offline: storeDown},
		Manifests: index, WorkDir: cfg.dir().Work(), Timestamps: stamper,
		Capturer: &capture.Capturer{
			Store: store, Log: l, Signer: signer, Spool: spool, Manifests: index,
			Agent: cfg.AgentID, Host: host, Concurrency: cfg.Capture.Concurrency,
			Workers: cfg.Capture.Workers, BatchItems: cfg.Capture.BatchItems, BatchWait: cfg.Capture.BatchWait,
		},
	})
	if err != nil {
		return fail(err)
	}
	if storeDown {
		return reg, closeLog, syncMirror, nil
	}
	n, err := reg.SyncRecords(ctx)
	if err != nil {
		return fail(err)
	}
	if n > 0 {
		g.logger.Info("copied order records saved while the store was down", "count", n)
	}
	return reg, closeLog, syncMirror, nil
}

// storeProbeTimeout bounds how long a writer waits for the store to answer
// before it goes on without it.
const storeProbeTimeout = 10 * time.Second

// openWriterStore opens the store for a command that preserves: an S3
// store that does not answer within storeProbeTimeout is opened unchecked
// and reported down, so that the command seals what it must into the
// spool instead of failing. Any other problem (wrong credentials, no
// Object Lock) is an error.
func openWriterStore(ctx context.Context, g *globalOptions, cfg *Config) (evidenceStore, bool, error) {
	if cfg.Store.Type != "s3" {
		s, err := openStore(ctx, cfg)
		return s, false, err
	}
	pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	s, err := openStore(pctx, cfg)
	if err == nil {
		return s, false, nil
	}
	down := errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
	if ctx.Err() != nil || !down {
		return nil, false, err
	}
	o, oerr := cfg.s3Options()
	if oerr != nil {
		return nil, false, oerr
	}
	u, uerr := storage.NewS3Unchecked(o)
	if uerr != nil {
		return nil, false, uerr
	}
	g.logger.Warn("evidence store unreachable; going on without it", "error", err)
	return u, true, nil
}

// openRegistryReader opens the orders for reading only (order list and
// show): the log under a shared lock, read as it stands on disk. The store
// is needed only for a record or manifest whose working copy is gone; when
// it cannot be opened, reading goes on without it.
func openRegistryReader(ctx context.Context, g *globalOptions, cfg *Config) (*agent.Reader, func() error, error) {
	profiles, err := order.LoadProfiles(cfg.Profiles)
	if err != nil {
		return nil, nil, usageErrorf("config: profiles: %v", err)
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	var records agent.RecordStore
	store, err := openStore(ctx, cfg)
	if err != nil {
		g.logger.Warn("evidence store not available; order records are read from the data directory only", "error", err)
		records = absentStore{err: err}
	} else {
		records = store
	}
	rd, err := agent.NewReader(agent.ReaderConfig{
		Log:       &logReader{fsys: os.DirFS(cfg.dir().Log()), dir: cfg.dir().Log()},
		Profiles:  profiles,
		Book:      &agent.OrderBook{Dir: cfg.dir().Orders(), Store: records, ReadOnly: true},
		Manifests: &capture.Index{Dir: cfg.DataDir, From: capture.StoreManifests{Store: records}, ReadOnly: true},
	})
	if err != nil {
		return nil, nil, errors.Join(err, unlock())
	}
	return rd, unlock, nil
}

// logReader is the custody log on disk, read without its writer.
type logReader struct {
	fsys fs.FS
	dir  string
}

func (r *logReader) FS() fs.FS { return r.fsys }

func (r *logReader) Size(context.Context) (uint64, error) {
	size, err := logSize(r.fsys)
	if err != nil {
		return 0, fmt.Errorf("log %s: %w", r.dir, err)
	}
	return size, nil
}

// absentStore stands for a store that could not be opened.
type absentStore struct{ err error }

func (s absentStore) Put(context.Context, string, io.Reader, storage.PutOptions) (*storage.ObjectInfo, error) {
	return nil, s.err
}

func (s absentStore) Get(context.Context, string) (io.ReadCloser, *storage.ObjectInfo, error) {
	return nil, nil, s.err
}
