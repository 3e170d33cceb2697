package main

import (
	"context"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
)

func newOrderHoldCommand(g *globalOptions) *cli.Command {
	var basis, reason string
	var lift bool
	return &cli.Command{
		Name:      "hold",
		Usage:     "keep an order with no fixed end while its profile's condition holds (legal hold on all its objects), or --lift it",
		ArgsUsage: "ORDER",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "basis", Usage: "what shows the condition holds: the production order or mutual assistance request", Destination: &basis},
			&cli.BoolFlag{Name: "lift", Usage: "lift the hold instead (with --reason)", Destination: &lift},
			&cli.StringFlag{Name: "reason", Usage: "why the hold is lifted", Destination: &reason},
		},
		Action: func(c *cli.Context) error {
			step := orderStep{
				cmd: "order hold",
				check: func() error {
					switch {
					case lift && basis != "":
						return usageErrorf("order hold: --lift takes --reason, not --basis")
					case lift && strings.TrimSpace(reason) == "":
						return usageErrorf("order hold: --lift: --reason missing")
					case !lift && strings.TrimSpace(basis) == "":
						return usageErrorf("order hold: --basis: missing (the production order or mutual assistance request)")
					}
					return nil
				},
				run: func(ctx context.Context, svc custodyService, id string) (*api.StepResult, error) {
					if lift {
						return svc.LiftHold(ctx, id, reason)
					}
					return svc.Hold(ctx, id, basis)
				},
				print: func(w *errWriter, r *api.StepResult) {
					if lift {
						w.printf("order %s: hold lifted, %s again, expires %s; legal hold cleared on %d objects\n",
							r.Order.ID, r.Order.Status, r.Order.ExpiresAt.Format(time.RFC3339), r.Store.Objects)
					} else {
						w.printf("order %s held; legal hold set on %d objects\n", r.Order.ID, r.Store.Objects)
					}
				},
			}
			return runOrderStep(c, g, step)
		},
	}
}
