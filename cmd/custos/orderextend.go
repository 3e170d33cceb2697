package main

import (
	"context"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
)

func newOrderExtendCommand(g *globalOptions) *cli.Command {
	var basis, expires string
	return &cli.Command{
		Name:      "extend",
		Usage:     "extend an order's expiry and the retention of all its objects",
		ArgsUsage: "ORDER",
		Description: "--expires takes a date, an RFC 3339 time or a duration after the current expiry\n" +
			"(90d); without it the profile's extension period applies.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "basis", Usage: "the legal basis of the extension (required)", Destination: &basis},
			&cli.StringFlag{Name: "expires", Usage: "the new expiry", Destination: &expires},
		},
		Action: func(c *cli.Context) error {
			return runOrderStep(c, g, orderStep{
				cmd: "order extend",
				check: func() error {
					if strings.TrimSpace(basis) == "" {
						return usageErrorf("order extend: --basis: missing (the legal basis of the extension)")
					}
					return nil
				},
				run: func(ctx context.Context, svc custodyService, id string) (*api.StepResult, error) {
					return svc.Extend(ctx, id, expires, basis)
				},
				print: func(w *errWriter, r *api.StepResult) {
					w.printf("order %s extended to %s (extension %d); retention of %d objects extended\n",
						r.Order.ID, r.Order.ExpiresAt.Format(time.RFC3339), len(r.Order.Extensions), r.Store.Objects)
				},
			})
		},
	}
}
