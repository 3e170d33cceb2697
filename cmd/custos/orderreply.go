package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

func newOrderReplyCommand(g *globalOptions) *cli.Command {
	var preserved bool
	var ground, explanation string
	grounds := make([]string, 0, len(order.Grounds()))
	for _, gr := range order.Grounds() {
		grounds = append(grounds, string(gr))
	}
	return &cli.Command{
		Name:      "reply",
		Usage:     "reply to the order's authority: --preserved confirms preservation, --cannot-comply GROUND writes EU Form 3 (Annex III); signed, stored and logged",
		ArgsUsage: "ORDER",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "preserved", Usage: "confirm that the data was preserved: the order, when its first items were sealed, the sealed batches' digests", Destination: &preserved},
			&cli.StringFlag{Name: "cannot-comply", Usage: "the Annex III ground: " + strings.Join(grounds, ", "), Destination: &ground},
			&cli.StringFlag{Name: "explanation", Usage: "with --cannot-comply: why (required for non-execution)", Destination: &explanation},
		},
		Action: func(c *cli.Context) error {
			req, err := replyRequest(preserved, c.IsSet("cannot-comply"), ground, explanation)
			if err != nil {
				return err
			}
			id, err := g.orderArg(c.Context, "order reply", c.Args().Slice())
			if err != nil {
				return err
			}
			r, err := g.custody().Reply(c.Context, id, req)
			if err != nil {
				return fmt.Errorf("order reply: %w", err)
			}
			if g.json() {
				return writeJSON(g.stdout, r)
			}
			return printReply(g, r)
		},
	}
}

// replyRequest checks the flags, before anything is opened: one kind of
// reply, a ground that is one, an explanation only with a ground.
func replyRequest(preserved, cannot bool, ground, explanation string) (api.ReplyRequest, error) {
	switch {
	case preserved == cannot:
		return api.ReplyRequest{}, usageErrorf("order reply: give --preserved or --cannot-comply GROUND (one of them)")
	case preserved && explanation != "":
		return api.ReplyRequest{}, usageErrorf("order reply: --explanation goes with --cannot-comply")
	case preserved:
		return api.ReplyRequest{Kind: chain.ReplyPreserved}, nil
	}
	req := api.ReplyRequest{Kind: chain.ReplyCannotComply, Ground: ground, Explanation: explanation}
	draft := &order.Reply{Kind: req.Kind, Ground: order.Ground(ground), Explanation: explanation}
	if err := draft.CheckRequest(); err != nil {
		return api.ReplyRequest{}, usageErrorf("order reply: --cannot-comply: %v", err)
	}
	return req, nil
}

// printReply says which reply was written and where its files are.
func printReply(g *globalOptions, r *api.Reply) error {
	w := &errWriter{w: g.stdout}
	what := "confirmation of preservation"
	if r.Kind == chain.ReplyCannotComply {
		what = "Annex III, cannot comply: " + r.Ground
	}
	w.printf("order %s: reply %d (%s) written, signed and logged (order.replied, log index %d)\n", r.Order, r.Number, what, r.LogIndex)
	for _, f := range r.Files {
		w.printf("  %s  sha256 %s\n", f.Key, f.SHA256)
	}
	return w.err
}
