package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
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
	cfg, err := g.config()
	if err != nil {
		return err
	}
	list, unreadable, err := listOrders(ctx, g, cfg)
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

// listOrders lists the orders, from the data directory or, with
// --server, from the daemon. An order whose record cannot be read in
// the data directory is left out of the list and named in unreadable
// (a tamper error if any record was altered), so that one bad record
// does not hide the others; the daemon leaves it out and logs it.
func listOrders(ctx context.Context, g *globalOptions, cfg *Config) (_ []api.OrderSummary, unreadable, err error) {
	if g.server != "" {
		c, err := newAPIClient(g)
		if err != nil {
			return nil, nil, err
		}
		var list []api.OrderSummary
		return list, nil, c.call(ctx, "GET", "/v1/orders", nil, &list)
	}
	reg, closeReg, err := openRegistryReader(ctx, g, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	views, problems, err := reg.ListReadable(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	list := make([]api.OrderSummary, 0, len(views))
	for _, v := range views {
		list = append(list, api.OrderSummary{Order: v.Order, Deadline: deadline(reg, v.Order, now), Items: len(v.State.Items)})
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(problems)) {
		errs = append(errs, fmt.Errorf("order %s left out of the list: its record cannot be read: %w", id, problems[id]))
	}
	return list, errors.Join(errs...), nil
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
