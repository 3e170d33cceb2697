package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

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
		if err := chain.ValidateOrderID(opts.Order); err != nil {
			return &usageError{err: fmt.Errorf("log note: --order: %w", err)}
		}
	}
	if g.server != "" {
		return remoteLogNote(ctx, g, opts.Order, args[0])
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if cfg.Actor == "" {
		return usageErrorf("log note: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("log note: %w", err)
	}
	l, closeLog, err := openLog(ctx, g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	rec, err := l.Append(ctx, chain.Event{
		Type:    chain.CustodyNote,
		Time:    time.Now().UTC(),
		Order:   opts.Order,
		Actor:   cfg.Actor,
		Agent:   cfg.AgentID,
		Host:    host,
		Details: map[string]string{"note": args[0]},
	})
	if err != nil {
		return err
	}
	if g.json() {
		return writeJSON(g.stdout, recordJSON(rec))
	}
	_, err = fmt.Fprintln(g.stdout, rec.Index)
	return err
}

type jsonRecord struct {
	Index uint64          `json:"index"`
	Event json.RawMessage `json:"event"`
}

// recordJSON shows a record with its event in the canonical encoding that
// was logged and hashed.
func recordJSON(r *chain.Record) jsonRecord {
	return jsonRecord{Index: r.Index, Event: json.RawMessage(r.Encoded)}
}
