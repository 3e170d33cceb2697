package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain/disclosure"
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
	recipients, err := disclosure.ParseRecipients(opts.recipients.Value())
	if err != nil {
		return usageErrorf("disclose: %v", err)
	}
	if len(recipients) > 0 && disclosure.FormatFor(opts.out) == disclosure.FormatDir {
		return usageErrorf("disclose: an encrypted package is a .zip or a .tar: give --out PATH.zip or PATH.tar")
	}
	if g.server != "" {
		return remoteDisclose(ctx, g, opts, args)
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
	return printDisclosure(g, disclosureOutput{
		Order: rep.Order.ID, Status: rep.Order.Status, Package: rep.Path, SHA256: rep.SHA256, Items: rep.Items,
		Partial: rep.Partial, Events: rep.Events, CheckpointSize: rep.Checkpoint.Size, Index: rep.Index,
	})
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

func printDisclosure(g *globalOptions, d disclosureOutput) error {
	if g.json() {
		return writeJSON(g.stdout, d)
	}
	w := &errWriter{w: g.stdout}
	for _, it := range d.Items {
		w.printf("%s  %s\n", it.SHA256, it.Path)
	}
	w.printf("package %s (sha256 %s): %d items, %d custody events proved against checkpoint %d; logged as entry %d\n",
		d.Package, d.SHA256, len(d.Items), d.Events, d.CheckpointSize, d.Index)
	return w.err
}

// remoteDisclose has the daemon build the package and downloads it to
// --out (a .zip or .tar; with recipients, the .age file beside it).
func remoteDisclose(ctx context.Context, g *globalOptions, opts discloseOptions, args []string) error {
	id, err := orderArg("disclose", args)
	if err != nil {
		return err
	}
	format := ""
	switch disclosure.FormatFor(opts.out) {
	case disclosure.FormatZip:
		format = "zip"
	case disclosure.FormatTar:
		format = "tar"
	default:
		return usageErrorf("disclose: with --server the package is a .zip or a .tar: give --out PATH.zip or PATH.tar")
	}
	out := opts.out
	if len(opts.recipients.Value()) > 0 {
		out += ".age"
	}
	if _, err := os.Lstat(out); err == nil {
		return usageErrorf("disclose: %s exists", out)
	}
	c, err := newAPIClient(g)
	if err != nil {
		return err
	}
	var d struct {
		SHA256         string                `json:"sha256"`
		Items          []agent.DisclosedItem `json:"items"`
		Partial        bool                  `json:"partial"`
		Events         int                   `json:"events"`
		CheckpointSize uint64                `json:"checkpoint_size"`
		Index          uint64                `json:"index"`
		Download       string                `json:"download"`
	}
	body := map[string]any{"items": splitList(opts.items), "categories": splitList(opts.categories),
		"recipients": opts.recipients.Value(), "format": format}
	if err := c.call(ctx, "POST", "/v1/orders/"+id+"/disclosures", body, &d); err != nil {
		return fmt.Errorf("disclose: %w", err)
	}
	if err := c.download(ctx, d.Download, out, d.SHA256); err != nil {
		return fmt.Errorf("disclose: %w", err)
	}
	var o api.OrderDetail
	if err := c.call(ctx, "GET", "/v1/orders/"+id, nil, &o); err != nil {
		return fmt.Errorf("disclose: %w", err)
	}
	return printDisclosure(g, disclosureOutput{
		Order: id, Status: o.Order.Status, Package: out, SHA256: d.SHA256, Items: d.Items,
		Partial: d.Partial, Events: d.Events, CheckpointSize: d.CheckpointSize, Index: d.Index,
	})
}
