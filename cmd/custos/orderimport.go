package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/order"
)

func newOrderImportCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "receive an EU certificate in XML: an EPOC-PR or EPOC becomes an order, an Annex V or VI holds or extends the order it names",
		ArgsUsage: "FILE",
		Description: "FILE is a form of Regulation (EU) 2023/1543 in XML (docs/orders.md gives the mapping):\n" +
			"an EPOC-PR (Annex II) or EPOC (Annex I) becomes an order under the eu-epoc-pr profile,\n" +
			"the XML preserved byte for byte as its document item, and it prints the order's id;\n" +
			"an Annex V holds the order received as the EPOC-PR it names until production, an\n" +
			"Annex VI extends it once by 30 days, each logged with the form's SHA-256. A form that\n" +
			"is malformed, incomplete, collides with another order, or asks a second extension is\n" +
			"refused with its field named, and nothing is recorded.",
		Action: func(c *cli.Context) error {
			return runOrderImport(c.Context, g, c.Args().Slice())
		},
	}
}

func runOrderImport(ctx context.Context, g *globalOptions, args []string) error {
	if len(args) != 1 {
		return argCountError("order import", "FILE", args)
	}
	res, err := g.custody().ImportForm(ctx, args[0])
	if res == nil {
		return err
	}
	// The order is received, or the form applied, from here on.
	var out error
	switch st := res.Step; {
	case g.json():
		out = writeJSON(g.stdout, res)
	case st == nil:
		_, out = fmt.Fprintln(g.stdout, res.Order.ID)
	case st.Status == order.StatusHeld:
		_, out = fmt.Fprintf(g.stdout, "order %s held until production by %s %s (sha256 %s); legal hold set on %d objects\n",
			st.Order, res.Form.Type.Annex(), res.Form.CertificateID, res.Form.SHA256, st.Store.Objects)
	default:
		_, out = fmt.Fprintf(g.stdout, "order %s extended to %s by %s %s (sha256 %s); retention of %d objects extended\n",
			st.Order, st.ExpiresAt.Format(time.RFC3339), res.Form.Type.Annex(), res.Form.CertificateID, res.Form.SHA256, st.Store.Objects)
	}
	return errors.Join(err, out)
}

// checkForm reads the form at path and refuses one ParseForm refuses,
// before anything that writes is opened: a refused form leaves no log
// entry, lock or file.
func checkForm(path string) error {
	data, err := readLimited(path, order.MaxFormSize)
	if err != nil {
		return usageErrorf("order import: %v", err)
	}
	if _, err := order.ParseForm(data, time.Now().UTC()); err != nil {
		return usageErrorf("order import: %s: %v", path, err)
	}
	return nil
}
