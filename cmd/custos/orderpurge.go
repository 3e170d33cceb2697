package main

import (
	"context"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
)

func newOrderPurgeCommand(g *globalOptions) *cli.Command {
	var reason string
	return &cli.Command{
		Name:      "purge",
		Usage:     "delete what retention allows of a released order, logging item.purged per item",
		ArgsUsage: "ORDER",
		Description: "Items still under retention are kept and listed; run purge again after their\n" +
			"retention ends. When every item is gone the order becomes purged. The digests stay\n" +
			"in the custody log as proof of what existed.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "why the data is deleted (required)", Destination: &reason},
		},
		Action: func(c *cli.Context) error {
			return runOrderStep(c, g, orderStep{
				cmd:   "order purge",
				check: requireReason("order purge", &reason),
				run: func(ctx context.Context, svc custodyService, id string) (*api.StepResult, error) {
					return svc.Purge(ctx, id, reason)
				},
				print: func(w *errWriter, r *api.StepResult) {
					for _, d := range *r.Purged {
						w.printf("purged %s\n", d.SHA256)
					}
					for _, k := range *r.Kept {
						w.printf("kept   %s retained until %s\n", k.SHA256, k.RetainUntil.UTC().Format(time.RFC3339))
					}
					w.printf("order %s is %s: %d items purged, %d kept\n", r.Order.ID, r.Order.Status, len(*r.Purged), len(*r.Kept))
				},
			})
		},
	}
}
