package main

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/urfave/cli/v2"
)

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
