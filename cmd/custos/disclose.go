package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain/disclosure"
)

type discloseOptions struct {
	out        string
	items      string
	categories string
	recipients cli.StringSlice
	verbose    bool
	approve    bool
	note       string
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
			"with custos verify. The order becomes disclosed and disclosure.created is logged.\n" +
			"The order's requester must be confirmed first (custos order verify-requester). An\n" +
			"emergency order needs, besides, a second identity's approval: another identity runs\n" +
			"custos disclose ORDER --approve (disclosure.approved), then this one discloses; each\n" +
			"approval clears one disclosure, and no identity discloses on its own approval.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "the package `PATH`: a directory, .zip or .tar", Destination: &opts.out},
			&cli.StringFlag{Name: "items", Usage: "only these items: SHA-256 `DIGESTS` or prefixes, comma-separated", Destination: &opts.items},
			&cli.StringFlag{Name: "categories", Usage: "only items of these `CATEGORIES`: subscriber,traffic,content", Destination: &opts.categories},
			&cli.BoolFlag{Name: "verbose", Usage: "list every file of the package (SHA-256 and path) before the summary", Destination: &opts.verbose},
			&cli.StringSliceFlag{Name: "recipient", Usage: "encrypt to this age or SSH public `KEY`; repeatable", Destination: &opts.recipients},
			&cli.BoolFlag{Name: "approve", Usage: "approve an emergency order's next disclosure instead, which another identity must make", Destination: &opts.approve},
			&cli.StringFlag{Name: "note", Usage: "with --approve: why, on what grounds (`TEXT`)", Destination: &opts.note},
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
	if opts.approve {
		return runApproveDisclosure(ctx, g, opts, args)
	}
	if opts.note != "" {
		return usageErrorf("disclose: --note goes with --approve")
	}
	if opts.out == "" {
		return usageErrorf("disclose: --out PATH is required")
	}
	recipients, err := disclosure.ParseRecipients(opts.recipients.Value())
	if err != nil {
		return usageErrorf("disclose: %v", err)
	}
	if len(recipients) > 0 && disclosure.FormatFor(opts.out) == disclosure.FormatDir {
		return usageErrorf("disclose: an encrypted package is a .zip or a .tar: give --out PATH.zip or PATH.tar")
	}
	id, err := g.orderArg(ctx, "disclose", args)
	if err != nil {
		return err
	}
	d, err := g.custody().Disclose(ctx, id, discloseRequest{
		out: opts.out, items: splitList(opts.items), categories: splitList(opts.categories),
		recipients: opts.recipients.Value(), parsed: recipients,
	})
	if d == nil {
		return err
	}
	return errors.Join(err, printDisclosure(g, *d, opts.verbose))
}

// disclosureOutput is what `custos disclose` prints; the fields are in the
// order their JSON names sort.
type disclosureOutput struct {
	CheckpointSize uint64                `json:"checkpoint_size"`
	Events         int                   `json:"events"`
	Index          uint64                `json:"index"`
	Items          []agent.DisclosedItem `json:"items"`
	Order          string                `json:"order"`
	Package        string                `json:"package"`
	Partial        bool                  `json:"partial"`
	SHA256         string                `json:"sha256"`
	Status         order.Status          `json:"status"`
}

// printDisclosure prints the summary of a disclosure, after its files
// with verbose; JSON always holds the files.
func printDisclosure(g *globalOptions, d disclosureOutput, verbose bool) error {
	if g.json() {
		return writeJSON(g.stdout, d)
	}
	w := &errWriter{w: g.stdout}
	for i := 0; verbose && i < len(d.Items); i++ {
		w.printf("%s  %s\n", d.Items[i].SHA256, d.Items[i].Path)
	}
	w.printf("package %s (sha256 %s): %d items, %d custody events proved against checkpoint %d; logged as entry %d\n",
		d.Package, d.SHA256, len(d.Items), d.Events, d.CheckpointSize, d.Index)
	return w.err
}

// runApproveDisclosure approves an emergency order's next disclosure.
func runApproveDisclosure(ctx context.Context, g *globalOptions, opts discloseOptions, args []string) error {
	if opts.out != "" || opts.items != "" || opts.categories != "" || len(opts.recipients.Value()) > 0 || opts.verbose {
		return usageErrorf("disclose --approve: takes only --note: the disclosure itself is built by another identity")
	}
	id, err := g.orderArg(ctx, "disclose --approve", args)
	if err != nil {
		return err
	}
	ev, err := g.custody().ApproveDisclosure(ctx, id, opts.note)
	if err != nil {
		return fmt.Errorf("disclose --approve: %w", err)
	}
	if g.json() {
		return writeJSON(g.stdout, ev)
	}
	w := &errWriter{w: g.stdout}
	w.printf("order %s: next disclosure approved; logged as entry %d: another identity must now disclose it\n", id, ev.Index)
	return w.err
}
