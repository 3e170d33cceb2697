package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

type logShowOptions struct {
	Order      string
	From       uint64
	Timestamps bool
}

func newLogShowCommand(g *globalOptions) *cli.Command {
	var opts logShowOptions
	return &cli.Command{
		Name:  "show",
		Usage: "print the custody events, one per line",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "order", Usage: "only the events of order `ID`", Destination: &opts.Order},
			&cli.Uint64Flag{Name: "from", Usage: "start at log index `N`", Destination: &opts.From},
			&cli.BoolFlag{Name: "timestamps", Usage: "list the RFC 3161 tokens over the checkpoints instead: size, authority, genTime, and whether the token covers its checkpoint", Destination: &opts.Timestamps},
		},
		Action: func(c *cli.Context) error {
			return runLogShow(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runLogShow(ctx context.Context, g *globalOptions, opts logShowOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("log show", "", args)
	}
	if opts.Timestamps {
		if opts.Order != "" || opts.From != 0 {
			return usageErrorf("log show: --timestamps lists every token; it takes no --order or --from")
		}
		return showTimestamps(ctx, g)
	}
	if opts.Order != "" {
		if opts.Order, err = g.resolveOrderID(ctx, "log show: --order", opts.Order); err != nil {
			return err
		}
	}
	return g.custody().LogShow(ctx, opts.Order, opts.From, func(rec *chain.Record) error { return printRecord(g, rec) })
}

// logSize is the number of durable entries: the writer's integrated size,
// or, in a copy without it, the newest checkpoint's size (unverified: show
// only displays, verify checks).
func logSize(fsys fs.FS) (uint64, error) {
	size, _, ok, err := chain.IntegratedSize(fsys)
	if err != nil || ok {
		return size, err
	}
	raw, err := fs.ReadFile(fsys, chain.CheckpointPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	lines := strings.SplitN(string(raw), "\n", 3)
	if len(lines) < 3 {
		return 0, &chain.TamperError{File: chain.CheckpointPath, Index: chain.NoIndex, What: "checkpoint is malformed"}
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return 0, &chain.TamperError{File: chain.CheckpointPath, Index: chain.NoIndex, What: "checkpoint size is malformed"}
	}
	return n, nil
}

// recordJSON shows a record with its event in the canonical encoding that
// was logged and hashed, as the API gives it.
func recordJSON(r *chain.Record) *api.Event {
	return &api.Event{Index: r.Index, Event: json.RawMessage(r.Encoded)}
}

func printRecord(g *globalOptions, rec *chain.Record) error {
	if g.json() {
		return writeJSON(g.stdout, recordJSON(rec))
	}
	e := rec.Event
	order := e.Order
	if order == "" {
		order = "-"
	}
	_, err := fmt.Fprintf(g.stdout, "%d %s %s %s %s %s\n", rec.Index, e.Time.UTC().Format(time.RFC3339), e.Type, order, e.Actor, summary(e))
	return err
}

// summary says in a few words what an event is about.
func summary(e *chain.Event) string {
	switch {
	case e.Type == chain.LogOpened:
		return fmt.Sprintf("key %s (%s) signs %s", e.Details["key_id"], e.Details["key_type"], e.Details["origin"])
	case e.Details["note"] != "":
		return strconv.Quote(e.Details["note"])
	case len(e.Items) == 1:
		return "item sha256:" + e.Items[0].SHA256
	case len(e.Items) > 1:
		return fmt.Sprintf("%d items", len(e.Items))
	case e.Reason != "":
		return strconv.Quote(e.Reason)
	}
	return ""
}
