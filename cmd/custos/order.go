package main

import (
	"github.com/urfave/cli/v2"

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
