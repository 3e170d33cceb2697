package main

import (
	"context"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
)

func newOrderReviewCommand(g *globalOptions) *cli.Command {
	var basis string
	var confirmed, objected bool
	return &cli.Command{
		Name:      "review",
		Usage:     "record the enforcing authority's answer to a production order: --confirmed (produce now) or --objected (production stops)",
		ArgsUsage: "ORDER",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "confirmed", Usage: "it raises no ground for refusal: production may start before its review ends", Destination: &confirmed},
			&cli.BoolFlag{Name: "objected", Usage: "it raised a ground for refusal: production stops, the data stays preserved", Destination: &objected},
			&cli.StringFlag{Name: "basis", Usage: "what shows the answer: the enforcing authority's message", Destination: &basis},
		},
		Action: func(c *cli.Context) error {
			outcome := order.ReviewConfirmed
			if objected {
				outcome = order.ReviewObjected
			}
			step := orderStep{
				cmd: "order review",
				check: func() error {
					switch {
					case confirmed == objected:
						return usageErrorf("order review: give one of --confirmed and --objected")
					case strings.TrimSpace(basis) == "":
						return usageErrorf("order review: --basis: missing (the enforcing authority's message)")
					}
					return nil
				},
				run: func(ctx context.Context, svc custodyService, id string) (*api.StepResult, error) {
					return svc.Review(ctx, id, string(outcome), basis)
				},
				print: func(w *errWriter, r *api.StepResult) {
					o := r.Order
					d, ok := o.ProductionDue()
					switch {
					case !ok:
						w.printf("order %s reviewed (%s)\n", o.ID, outcome)
					case d.Stopped:
						w.printf("order %s: the enforcing authority objected: production stopped; preserved until %s\n", o.ID, o.ExpiresAt.Format(time.RFC3339))
					default:
						w.printf("order %s: the enforcing authority confirmed: production from %s, due %s\n", o.ID,
							d.ProduceFrom.Format(time.RFC3339), d.Due.Format(time.RFC3339))
					}
				},
			}
			return runOrderStep(c, g, step)
		},
	}
}
