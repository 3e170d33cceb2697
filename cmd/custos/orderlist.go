package main

import (
	"context"
	"errors"
	"fmt"
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
	list, unreadable, err := g.custody().ListOrders(ctx)
	if err != nil {
		return err
	}
	if g.json() {
		return errors.Join(writeJSON(g.stdout, list), unreadable)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPROFILE\tEXPIRES\tLEFT\tITEMS\tPRODUCTION DUE\tREFERENCE")
	next := dueNext(list)
	for _, e := range list {
		o := e.Order
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", o.ID, o.Status, o.Profile, o.ExpiresAt.UTC().Format(time.RFC3339),
			daysLeft(e.Deadline), e.Items, productionDue(e.Production, o.ID == next), oneLine(o.Reference))
	}
	return errors.Join(tw.Flush(), unreadable)
}

// dueNext is the order whose production is due next: the open (or
// waiting) production deadline that falls first; "" when none is open.
func dueNext(list []api.OrderSummary) string {
	var id string
	var due time.Time
	for _, e := range list {
		p := e.Production
		if p == nil || (p.State != order.ProductionOpen && p.State != order.ProductionWaiting) {
			continue
		}
		if id == "" || p.Due.Before(due) {
			id, due = e.Order.ID, p.Due
		}
	}
	return id
}

// productionDue is a production deadline as `order list` shows it: the
// due time, flagged when it is the next one due or while the enforcing
// authority's review holds production; what became of it once it ended.
func productionDue(p *order.ProductionState, next bool) string {
	if p == nil {
		return "-"
	}
	due := p.Due.UTC().Format(time.RFC3339)
	var s string
	switch p.State {
	case order.ProductionProduced:
		return "produced"
	case order.ProductionStopped:
		return "stopped (objected)"
	case order.ProductionMissed:
		return "MISSED " + due
	case order.ProductionWaiting:
		s = due + " (review)"
	default:
		s = due
	}
	if next {
		s += " <- next"
	}
	return s
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
