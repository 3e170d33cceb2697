package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/chain"
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
	raw, err := g.custody().Checkpoint(ctx)
	if raw == nil {
		return err
	}
	if !g.json() {
		_, werr := g.stdout.Write(raw)
		return errors.Join(err, werr)
	}
	// The note's body: origin, size and root hash, one a line. The
	// signature is not checked here (the daemon's included): `custos log
	// verify --key` or a package's verifier checks it against the
	// provider's key.
	lines := strings.SplitN(string(raw), "\n", 4)
	if len(lines) < 4 {
		return errors.Join(err, fmt.Errorf("log checkpoint: the daemon's checkpoint is malformed: %w", chain.ErrTamper))
	}
	size, serr := strconv.ParseUint(lines[1], 10, 64)
	hash, herr := base64.StdEncoding.DecodeString(lines[2])
	if serr != nil || herr != nil {
		return errors.Join(err, fmt.Errorf("log checkpoint: the daemon's checkpoint is malformed: %w", chain.ErrTamper))
	}
	return errors.Join(err, writeJSON(g.stdout, map[string]any{
		"origin": lines[0], "size": size, "root_hash": hex.EncodeToString(hash), "note": string(raw),
	}))
}
