package main

import (
	"context"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

func newOrderCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "order",
		Usage: "receive preservation orders and take them through their lifecycle",
		Subcommands: []*cli.Command{
			newOrderAddCommand(g),
			newOrderListCommand(g),
			newOrderShowCommand(g),
			newOrderExtendCommand(g),
			newOrderHoldCommand(g),
			newOrderReleaseCommand(g),
			newOrderPurgeCommand(g),
		},
	}
}

func orderArg(cmd string, args []string) (string, error) {
	if len(args) != 1 {
		return "", argCountError(cmd, "ORDER", args)
	}
	if err := chain.ValidateOrderID(args[0]); err != nil {
		return "", usageErrorf("%s: %v", cmd, err)
	}
	return args[0], nil
}

// openForOrder reads the ORDER argument of cmd and opens the registry: as
// the writer (write), or as a reader. The returned func must be called.
func openForOrder(ctx context.Context, g *globalOptions, cmd string, args []string, write bool) (string, *Config, *agent.Registry, func() error, error) {
	id, err := orderArg(cmd, args)
	if err != nil {
		return "", nil, nil, nil, err
	}
	cfg, err := g.config()
	if err != nil {
		return "", nil, nil, nil, err
	}
	open := openRegistryReader
	if write {
		open = openRegistry
	}
	reg, closeReg, err := open(ctx, g, cfg)
	if err != nil {
		return "", nil, nil, nil, err
	}
	return id, cfg, reg, closeReg, nil
}

func deadline(reg *agent.Registry, o *order.Order, now time.Time) order.Deadline {
	p, err := reg.Profiles.Lookup(o.Profile)
	if err != nil {
		p = nil // a profile since removed from the config: no reminders
	}
	return o.Deadline(now, p)
}
