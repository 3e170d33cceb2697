package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

// The custody log in this process: read on disk under a shared lock, or
// written as the one writer.

// LogShow reads the log on disk as it stands. An entry that cannot be
// read is named on stderr and passed over, so that one bad entry does not
// hide the others; the command then fails as tampering.
func (l *localCustody) LogShow(ctx context.Context, order string, from uint64, each func(*chain.Record) error) (err error) {
	g := l.g
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
	for rec, err := range chain.Entries(ctx, fsys, from, size) {
		if err != nil {
			var te *chain.TamperError
			if !errors.As(err, &te) {
				return fmt.Errorf("log %s: %w", cfg.dir().Log(), err)
			}
			g.notef("custos: %v", err)
			problems = append(problems, err)
			continue
		}
		if order != "" && rec.Event.Order != order {
			continue
		}
		if err := each(rec); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("log %s: %d entries could not be read: %w", cfg.dir().Log(), len(problems), chain.ErrTamper)
	}
	return nil
}

func (l *localCustody) Note(ctx context.Context, order, text string) (_ *api.Event, err error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, err
	}
	if cfg.Actor == "" {
		return nil, usageErrorf("log note: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("log note: %w", err)
	}
	lg, closeLog, err := openLog(ctx, l.g, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	rec, err := lg.Append(ctx, chain.Event{
		Type:    chain.CustodyNote,
		Time:    time.Now().UTC(),
		Order:   order,
		Actor:   cfg.Actor,
		Agent:   cfg.AgentID,
		Host:    host,
		Details: map[string]string{"note": text},
	})
	if err != nil {
		return nil, err
	}
	return recordJSON(rec), nil
}

// Checkpoint publishes a checkpoint covering every entry, as the writer.
func (l *localCustody) Checkpoint(ctx context.Context) (_ []byte, err error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, err
	}
	lg, closeLog, err := openLog(ctx, l.g, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	cp, err := lg.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return cp.Raw, nil
}

// ProveInclusion proves entry index against the newest checkpoint, as
// the writer (which publishes one covering it).
func (l *localCustody) ProveInclusion(ctx context.Context, index uint64) (_ []byte, err error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, err
	}
	lg, closeLog, err := openLog(ctx, l.g, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	size, err := lg.Size(ctx)
	if err != nil {
		return nil, err
	}
	if index >= size {
		return nil, usageErrorf("log prove: entry %d does not exist: the log has %d entries", index, size)
	}
	p, err := lg.Prove(ctx, index)
	if err != nil {
		return nil, err
	}
	return chain.FormatProof(p)
}

// ProveConsistency proves from the log on disk that the kept checkpoint
// of size newer extends the one of size older.
func (l *localCustody) ProveConsistency(ctx context.Context, older, newer uint64) (_ []byte, err error) {
	if older > newer {
		return nil, usageErrorf("log prove --consistency: OLD %d is larger than NEW %d", older, newer)
	}
	cfg, err := l.g.config()
	if err != nil {
		return nil, err
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	fsys := os.DirFS(cfg.dir().Log())
	kept, err := chain.KeptCheckpointSizes(fsys)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", cfg.dir().Log(), err)
	}
	for _, s := range []uint64{older, newer} {
		if !containsSize(kept, s) {
			return nil, usageErrorf("log prove --consistency: no kept checkpoint of size %d (kept: %v)", s, kept)
		}
	}
	hashes, err := chain.BuildConsistencyProof(ctx, fsys, older, newer)
	if err != nil {
		return nil, fmt.Errorf("log %s: consistency %d→%d: %w", cfg.dir().Log(), older, newer, err)
	}
	var b bytes.Buffer
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
