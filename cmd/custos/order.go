package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/chain"
)

func newOrderCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "order",
		Usage: "receive preservation orders and take them through their lifecycle",
		Subcommands: []*cli.Command{
			newOrderAddCommand(g),
			newOrderImportCommand(g),
			newOrderListCommand(g),
			newOrderShowCommand(g),
			newOrderExtendCommand(g),
			newOrderHoldCommand(g),
			newOrderReleaseCommand(g),
			newOrderPurgeCommand(g),
			newOrderReviewCommand(g),
			newOrderReplyCommand(g),
			newOrderVerifyRequesterCommand(g),
		},
	}
}

// orderArg is the order id that is a command's one argument, resolved by
// resolveOrderID.
func (g *globalOptions) orderArg(ctx context.Context, cmd string, args []string) (string, error) {
	if len(args) != 1 {
		return "", argCountError(cmd, "ORDER", args)
	}
	return g.resolveOrderID(ctx, cmd, args[0])
}

// minOrderPrefix is the shortest prefix of an order id taken for it.
const minOrderPrefix = 4

// resolveOrderID is the order id s names: an id in any case, or a unique
// prefix of the id of a received order (of at least minOrderPrefix
// characters), as git takes a commit's. Errors are usage errors led by
// what ("order show", "log note: --order").
func (g *globalOptions) resolveOrderID(ctx context.Context, what, s string) (string, error) {
	id := strings.ToUpper(s)
	if chain.ValidateOrderID(id) == nil {
		return id, nil
	}
	if len(id) < minOrderPrefix || len(id) >= 26 || chain.ValidateOrderID(id+strings.Repeat("0", 26-len(id))) != nil {
		return "", usageErrorf("%s: %v", what, chain.ValidateOrderID(s))
	}
	list, _, err := g.custody().ListOrders(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: find the order whose id starts with %s: %w", what, id, err)
	}
	var matches []string
	for _, o := range list {
		if strings.HasPrefix(o.Order.ID, id) {
			matches = append(matches, o.Order.ID)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", usageErrorf("%s: no order id starts with %s", what, id)
	default:
		return "", usageErrorf("%s: %s is the start of %d order ids (%s): give more of it", what, id, len(matches), strings.Join(matches, ", "))
	}
}
