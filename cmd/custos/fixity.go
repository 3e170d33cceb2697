package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
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
		if err := chain.ValidateOrderID(args[0]); err != nil {
			return usageErrorf("fixity: %v", err)
		}
		order = args[0]
	}
	if g.server != "" {
		return remoteFixity(ctx, g, order)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if cfg.Actor == "" {
		return usageErrorf("fixity: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	l, closeLog, err := openLog(ctx, g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	size, err := l.Size(ctx)
	if err != nil {
		return err
	}
	items, err := capture.LoggedItems(ctx, l.FS(), size, order)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	var total int64
	for _, it := range items {
		if it.Size < 0 {
			total = -1
			break
		}
		total += it.Size
	}
	bar := newProgress(g, total, "checking")
	defer bar.done()
	spool, err := storage.NewLocal(cfg.dir().Spool(), time.Now)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	fx := &capture.Fixity{Store: store, Spool: spool, Log: l, Agent: cfg.AgentID, Actor: cfg.Actor, Host: host, Progress: bar.add}
	rep := &api.FixityReport{Items: []api.FixityItem{}}
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			return err
		}
		fi := rep.Add(res)
		if !g.json() {
			printFixityItem(g, fi)
		}
	}
	return fixityOutcome(g, rep)
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

// remoteFixity has the daemon check the order given, or every order it
// shows this identity that still holds items, one fixity job per order.
func remoteFixity(ctx context.Context, g *globalOptions, order string) error {
	c, err := newAPIClient(g)
	if err != nil {
		return err
	}
	orders := []string{order}
	if order == "" {
		var list []api.OrderSummary
		if err := c.call(ctx, "GET", "/v1/orders", nil, &list); err != nil {
			return fmt.Errorf("fixity: %w", err)
		}
		orders = orders[:0]
		for _, e := range list {
			if e.Items > 0 {
				orders = append(orders, e.Order.ID)
			}
		}
	}
	total := &api.FixityReport{Items: []api.FixityItem{}}
	for _, id := range orders {
		j, err := c.runJob(ctx, "/v1/orders/"+id+"/fixity", nil)
		if err != nil {
			return fmt.Errorf("fixity: %w", err)
		}
		var rep api.FixityReport
		if j.State != jobs.Succeeded || json.Unmarshal(j.Result, &rep) != nil {
			return fmt.Errorf("fixity: job %s of order %s %s: %s", j.ID, id, j.State, j.Error)
		}
		for _, fi := range rep.Items {
			if !g.json() {
				printFixityItem(g, fi)
			}
		}
		total.Merge(&rep)
	}
	return fixityOutcome(g, total)
}
