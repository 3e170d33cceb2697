package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

func newFixityCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "fixity",
		Usage:     "re-read and re-hash every stored item (of one order, or all), logging each result",
		ArgsUsage: "[ORDER]",
		Description: "Each item the custody log holds (preserved, not purged) is read back from the\n" +
			"store, re-hashed with SHA-256 and SHA-512 and compared with the log; fixity.verified or\n" +
			"fixity.failed is logged for it. Exits 3 if any item is missing or altered. An item\n" +
			"that cannot be read otherwise is not judged (SKIP, exit 1); a store that does not\n" +
			"answer stops the run.",
		Action: func(c *cli.Context) error { return runFixity(c.Context, g, c.Args().Slice()) },
	}
}

func runFixity(ctx context.Context, g *globalOptions, args []string) (err error) {
	if len(args) > 1 {
		return argCountError("fixity", "[ORDER]", args)
	}
	order := ""
	if len(args) == 1 {
		if order, err = g.resolveOrderID(ctx, "fixity", args[0]); err != nil {
			return err
		}
	}
	rep, err := g.custody().Fixity(ctx, order, func(fi api.FixityItem) {
		if !g.json() {
			printFixityItem(g, fi)
		}
	})
	if rep == nil {
		return err
	}
	return errors.Join(fixityOutcome(g, rep), err)
}

func printFixityItem(g *globalOptions, fi api.FixityItem) {
	switch {
	case fi.Unchecked:
		fmt.Fprintf(g.stdout, "SKIP %s: %s\n", fi.Key, fi.Error)
	case !fi.OK:
		fmt.Fprintf(g.stdout, "FAIL %s: %s\n", fi.Key, fi.Error)
	default:
		fmt.Fprintf(g.stdout, "ok   %s %d bytes\n", fi.Key, fi.Bytes)
	}
}

// fixityOutcome prints the summary (or, with --output json, the whole
// report) and fails as tampering if any item failed, and otherwise with
// an error if any could not be read.
func fixityOutcome(g *globalOptions, rep *api.FixityReport) error {
	if g.json() {
		if err := writeJSON(g.stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "%d items checked, %d failed", rep.Checked, rep.Failed)
		if rep.Unchecked > 0 {
			fmt.Fprintf(g.stdout, ", %d could not be read", rep.Unchecked)
		}
		fmt.Fprintln(g.stdout)
	}
	switch {
	case rep.Failed > 0:
		return fmt.Errorf("fixity: %d of %d items missing or altered: %w", rep.Failed, rep.Checked, chain.ErrTamper)
	case rep.Unchecked > 0:
		return fmt.Errorf("fixity: %d items could not be read and were not checked", rep.Unchecked)
	}
	return nil
}
