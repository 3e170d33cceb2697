package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
)

type discloseOptions struct {
	out        string
	items      string
	categories string
	recipients cli.StringSlice
}

func newDiscloseCommand(g *globalOptions) *cli.Command {
	var opts discloseOptions
	return &cli.Command{
		Name:      "disclose",
		Usage:     "build the disclosure package of an order (BagIt bag with custody proofs), and log it",
		ArgsUsage: "ORDER",
		Description: "--out names a directory, PATH.zip or PATH.tar (it must not exist). --items and\n" +
			"--categories disclose a subset; the package then still proves every event of the order.\n" +
			"--recipient (an age public key, age1..., or an SSH public key; repeatable) encrypts a\n" +
			".zip or .tar to PATH.age. The format is docs/package.md; investigators check a package\n" +
			"with custos verify. The order becomes disclosed and disclosure.created is logged.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "the package `PATH`: a directory, .zip or .tar", Destination: &opts.out},
			&cli.StringFlag{Name: "items", Usage: "only these items: SHA-256 `DIGESTS` or prefixes, comma-separated", Destination: &opts.items},
			&cli.StringFlag{Name: "categories", Usage: "only items of these `CATEGORIES`: subscriber,traffic,content", Destination: &opts.categories},
			&cli.StringSliceFlag{Name: "recipient", Usage: "encrypt to this age or SSH public `KEY`; repeatable", Destination: &opts.recipients},
		},
		Action: func(c *cli.Context) error {
			return runDisclose(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runDisclose(ctx context.Context, g *globalOptions, opts discloseOptions, args []string) (err error) {
	if opts.out == "" {
		return usageErrorf("disclose: --out PATH is required")
	}
	recipients, err := agent.ParseRecipients(opts.recipients.Value())
	if err != nil {
		return usageErrorf("disclose: %v", err)
	}
	if len(recipients) > 0 && agent.FormatFor(opts.out) == agent.FormatDir {
		return usageErrorf("disclose: an encrypted package is a .zip or a .tar: give --out PATH.zip or PATH.tar")
	}
	id, cfg, reg, closeReg, err := openForOrder(ctx, g, "disclose", args, true)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	org := cfg.Disclosure.Organization
	if org == "" {
		org = cfg.AgentID
	}
	rep, err := reg.Disclose(ctx, id, agent.DiscloseOptions{
		Out: opts.out, Items: splitList(opts.items), Categories: splitList(opts.categories),
		Recipients: recipients, RecipientText: strings.Join(opts.recipients.Value(), ", "),
		Organization: org, Actor: cfg.Actor,
	})
	if err != nil {
		return fmt.Errorf("disclose: %w", err)
	}
	if g.json() {
		return writeJSON(g.stdout, map[string]any{
			"order": rep.Order.ID, "status": rep.Order.Status, "package": rep.Path, "sha256": rep.SHA256,
			"items": rep.Items, "partial": rep.Partial, "events": rep.Events,
			"checkpoint_size": rep.Checkpoint.Size, "index": rep.Index,
		})
	}
	w := &errWriter{w: g.stdout}
	for _, it := range rep.Items {
		w.printf("%s  %s\n", it.SHA256, it.Path)
	}
	w.printf("package %s (sha256 %s): %d items, %d custody events proved against checkpoint %d; logged as entry %d\n",
		rep.Path, rep.SHA256, len(rep.Items), rep.Events, rep.Checkpoint.Size, rep.Index)
	return w.err
}
