package main

import (
	"context"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
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
				local: func(ctx context.Context, reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error) {
					o, err := reg.Release(ctx, v.Order.ID, reason, actor)
					return api.NewStepResult(o, nil), err
				},
				remote: stepRequest{"POST", "release", map[string]string{"reason": reason}},
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
