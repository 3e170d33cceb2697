package main

import (
	"context"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
)

func newOrderReleaseCommand(g *globalOptions) *cli.Command {
	var reason string
	return &cli.Command{
		Name:      "release",
		Usage:     "end an order's preservation (its objects stay retained until the expiry; purge then deletes them)",
		ArgsUsage: "ORDER",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "why: expired, withdrawn, disclosed and no longer needed (required)", Destination: &reason},
		},
		Action: func(c *cli.Context) error {
			return runOrderStep(c, g, orderStep{
				cmd:   "order release",
				check: requireReason("order release", &reason),
				run: func(ctx context.Context, svc custodyService, id string) (*api.StepResult, error) {
					return svc.Release(ctx, id, reason)
				},
				print: func(w *errWriter, r *api.StepResult) {
					w.printf("order %s released; its objects are retained until %s\n", r.Order.ID, r.Order.ExpiresAt.Format(time.RFC3339))
				},
			})
		},
	}
}

func requireReason(cmd string, reason *string) func() error {
	return func() error {
		if strings.TrimSpace(*reason) == "" {
			return usageErrorf("%s: --reason: missing", cmd)
		}
		return nil
	}
}
