package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/chain"
)

func newFixityCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "fixity",
		Usage:     "re-read and re-hash every stored item (of one order, or all), logging each result",
		ArgsUsage: "[ORDER]",
		Description: "Each item the custody log holds (preserved, not purged) is read back from the\n" +
			"store, re-hashed with SHA-256 and SHA-512 and compared with the log; fixity.verified or\n" +
			"fixity.failed is logged for it. Exits 3 if any item is missing or altered.",
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
	items, err := agent.LoggedItems(ctx, l.FS(), size, order)
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
	fx := &agent.Fixity{Store: store, Log: l, Agent: cfg.AgentID, Actor: cfg.Actor, Host: host, Progress: bar.add}
	type jsonResult struct {
		Order  string `json:"order"`
		Key    string `json:"key"`
		SHA256 string `json:"sha256"`
		Bytes  int64  `json:"bytes"`
		OK     bool   `json:"ok"`
		Error  string `json:"error,omitempty"`
	}
	results := []jsonResult{}
	failed := 0
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			return err
		}
		jr := jsonResult{Order: res.Item.Order, Key: res.Item.Key, SHA256: res.Item.Digest.SHA256, Bytes: res.Bytes, OK: res.Err == nil}
		if res.Err != nil {
			failed++
			jr.Error = res.Err.Error()
		}
		if g.json() {
			results = append(results, jr)
			continue
		}
		if res.Err != nil {
			fmt.Fprintf(g.stdout, "FAIL %s: %v\n", res.Item.Key, res.Err)
		} else {
			fmt.Fprintf(g.stdout, "ok   %s %d bytes\n", res.Item.Key, res.Bytes)
		}
	}
	if g.json() {
		if err := writeJSON(g.stdout, map[string]any{"items": results, "checked": len(items), "failed": failed}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "%d items checked, %d failed\n", len(items), failed)
	}
	if failed > 0 {
		return fmt.Errorf("fixity: %d of %d items missing or altered: %w", failed, len(items), chain.ErrTamper)
	}
	return nil
}
