package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
)

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
