package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

// showTimestamps lists the tokens the log keeps, each checked against
// the kept checkpoint it covers (signature and digest; trust in the
// authority is verify's, with the investigator's roots), in process or
// from the daemon (GET /v1/timestamps). A token that does not cover its
// checkpoint is listed, and the command then fails as tampering.
func showTimestamps(ctx context.Context, g *globalOptions) error {
	list, err := g.custody().Timestamps(ctx)
	if err != nil {
		return err
	}
	bad := 0
	for _, t := range list {
		if !t.Matches {
			bad++
		}
		if err := printTimestamp(g, t); err != nil {
			return err
		}
	}
	if bad > 0 {
		return fmt.Errorf("log show --timestamps: %d timestamp tokens do not cover their checkpoints: %w", bad, chain.ErrTamper)
	}
	return nil
}

// Timestamps reads the tokens in the data directory under its read lock.
func (l *localCustody) Timestamps(_ context.Context) (_ []api.Timestamp, err error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, err
	}
	unlock, err := lockForRead(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	checks, err := chain.CheckKeptTimestamps(os.DirFS(cfg.dir().Log()))
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", cfg.dir().Log(), err)
	}
	list := make([]api.Timestamp, len(checks))
	for i, c := range checks {
		list[i] = api.NewTimestamp(c)
	}
	return list, nil
}

// Timestamps asks the daemon (GET /v1/timestamps).
func (d *daemonCustody) Timestamps(ctx context.Context) ([]api.Timestamp, error) {
	c, err := d.client()
	if err != nil {
		return nil, fmt.Errorf("log show --timestamps: %w", err)
	}
	list, err := c.Timestamps(ctx)
	if err != nil {
		return nil, fmt.Errorf("log show --timestamps: %w", err)
	}
	return list, nil
}

func printTimestamp(g *globalOptions, t api.Timestamp) error {
	if g.json() {
		return writeJSON(g.stdout, t)
	}
	if !t.Matches {
		_, err := fmt.Fprintf(g.stdout, "%d %s - DOES NOT MATCH: %s\n", t.Size, t.TSA, t.Problem)
		return err
	}
	_, err := fmt.Fprintf(g.stdout, "%d %s %s sha256:%s matches\n", t.Size, t.TSA, t.GenTime.Format(time.RFC3339), t.Digest)
	return err
}
