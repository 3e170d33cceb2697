package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/chain"
)

type logNoteOptions struct {
	Order string
}

func newLogNoteCommand(g *globalOptions) *cli.Command {
	var opts logNoteOptions
	return &cli.Command{
		Name:      "note",
		Usage:     "record a custody note in the log",
		ArgsUsage: "TEXT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "order", Usage: "order `ID` (ULID) the note is about", Destination: &opts.Order},
		},
		Action: func(c *cli.Context) error {
			return runLogNote(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogNote(ctx context.Context, g *globalOptions, opts logNoteOptions, args []string) (err error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return argCountError("log note", "TEXT", args)
	}
	if opts.Order != "" {
		if opts.Order, err = g.resolveOrderID(ctx, "log note: --order", opts.Order); err != nil {
			return err
		}
	}
	ev, err := g.custody().Note(ctx, opts.Order, args[0])
	if ev == nil {
		return err
	}
	var out error
	if g.json() {
		// An event from the daemon is checked before it is shown as the
		// log's own.
		if _, perr := chain.ParseEvent(ev.Event); perr != nil {
			return errors.Join(err, fmt.Errorf("log note: the daemon's event: %w", perr))
		}
		out = writeJSON(g.stdout, ev)
	} else {
		_, out = fmt.Fprintln(g.stdout, ev.Index)
	}
	return errors.Join(err, out)
}
