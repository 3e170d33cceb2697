package main

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/chain"
)

// logVerification is the daemon's check of its own log, a duty of the
// scheduler: at each tick it verifies what no verification has covered
// (the entries appended since, and, a stat of each, that no file verified
// before has changed), and every log.verify_every the whole log from its
// first entry. Tampering found stops the log (see chain.Log.Verify): the
// scheduler logs it at Error, /readyz and every write answer 503, and
// custos_log_failed is 1. A stopped log is not checked again.
func logVerification(cfg *Config, reg *agent.Registry, logger *slog.Logger) (scheduler.Hook, error) {
	l, ok := reg.Log.(*chain.Log)
	if !ok {
		return scheduler.Hook{}, errors.New("serve: the log is not open for writing")
	}
	every := cfg.Log.VerifyEvery
	run := func(ctx context.Context) error {
		if l.Failed() != nil {
			return nil
		}
		_, last := l.Verified()
		full := time.Since(last) >= every
		start := time.Now()
		rep, err := l.Verify(ctx, full)
		if err != nil {
			return err
		}
		if full {
			logger.Info("custody log verified from its first entry", "entries", rep.Entries,
				"checkpoints", rep.CheckpointsVerified, "tiles", rep.TilesVerified, "took", time.Since(start).Round(time.Millisecond).String())
		}
		return nil
	}
	return scheduler.Hook{Name: "log verification", Every: cmp.Or(cfg.Scheduler.Tick, scheduler.DefaultTick), Run: run}, nil
}
