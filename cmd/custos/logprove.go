package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/datadir"
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

func runLogProve(ctx context.Context, g *globalOptions, opts logProveOptions, args []string) error {
	var text []byte
	var err error
	if opts.Consistency {
		if len(args) != 2 {
			return argCountError("log prove", "--consistency OLD NEW", args)
		}
		var sizes [2]uint64
		for i, a := range args {
			if sizes[i], err = strconv.ParseUint(a, 10, 64); err != nil {
				return usageErrorf("log prove --consistency: %q is not a tree size", a)
			}
		}
		text, err = g.custody().ProveConsistency(ctx, sizes[0], sizes[1])
	} else {
		if len(args) != 1 {
			return argCountError("log prove", "INDEX", args)
		}
		index, perr := strconv.ParseUint(args[0], 10, 64)
		if perr != nil {
			return usageErrorf("log prove: INDEX %q is not a log index", args[0])
		}
		text, err = g.custody().ProveInclusion(ctx, index)
	}
	if err != nil && text == nil {
		return err
	}
	if g.json() {
		return errors.Join(err, writeProofJSON(g, opts, args, text))
	}
	return errors.Join(err, writeOutput(g, opts.Out, text))
}

// proofOutput is what `log prove --output json` prints: the tlog-proof of
// an entry, or the hashes of a consistency proof; with --out, the file
// holds the proof as text prints it, and the JSON names it.
type proofOutput struct {
	Index     *uint64  `json:"index,omitempty"`
	Old       *uint64  `json:"old,omitempty"`
	New       *uint64  `json:"new,omitempty"`
	TlogProof string   `json:"tlog_proof,omitempty"`
	Hashes    []string `json:"hashes,omitempty"`
	Out       string   `json:"out,omitempty"`
}

func writeProofJSON(g *globalOptions, opts logProveOptions, args []string, text []byte) error {
	var p proofOutput
	nums := make([]uint64, len(args))
	for i, a := range args {
		nums[i], _ = strconv.ParseUint(a, 10, 64) // checked above
	}
	if opts.Consistency {
		p.Old, p.New, p.Hashes = &nums[0], &nums[1], strings.Fields(string(text))
	} else {
		p.Index, p.TlogProof = &nums[0], string(text)
	}
	if opts.Out != "" {
		if err := writeOutput(g, opts.Out, text); err != nil {
			return err
		}
		p.Out, p.TlogProof, p.Hashes = opts.Out, "", nil
	}
	return writeJSON(g.stdout, p)
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
