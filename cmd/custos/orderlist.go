package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/order"
)

func newOrderListCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the orders with their status, deadlines and days left",
		Action: func(c *cli.Context) error {
			return runOrderList(c.Context, g, c.Args().Slice())
		},
	}
}

func runOrderList(ctx context.Context, g *globalOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("order list", "", args)
	}
	list, unreadable, err := g.custody().ListOrders(ctx)
	if err != nil {
		return err
	}
	if g.json() {
		return errors.Join(writeJSON(g.stdout, list), unreadable)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPROFILE\tEXPIRES\tLEFT\tITEMS\tREFERENCE")
	for _, e := range list {
		o := e.Order
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", o.ID, o.Status, o.Profile, o.ExpiresAt.UTC().Format(time.RFC3339),
			daysLeft(e.Deadline), e.Items, oneLine(o.Reference))
	}
	return errors.Join(tw.Flush(), unreadable)
}

// daysLeft is the deadline as `order list` shows it.
func daysLeft(d order.Deadline) string {
	switch {
	case d.Ended:
		return "ended"
	case d.Held:
		return "held"
	case d.Expired:
		return fmt.Sprintf("expired %dd ago", -d.DaysLeft-1)
	}
	return fmt.Sprintf("%dd", d.DaysLeft)
}

// oneLine keeps a free-text field on one line of a table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
