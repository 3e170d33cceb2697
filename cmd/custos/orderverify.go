package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

type verifyRequesterOptions struct {
	method, result, note string
}

func newOrderVerifyRequesterCommand(g *globalOptions) *cli.Command {
	var opts verifyRequesterOptions
	methods := strings.Join(chain.RequesterMethods(), "|")
	return &cli.Command{
		Name:      "verify-requester",
		Usage:     "record a check that an order's requester is who it claims to be; a disclosure waits for a confirmed one",
		ArgsUsage: "ORDER",
		Description: "Logs requester.verified (--result confirmed) or requester.failed (--result failed),\n" +
			"naming the actor. Preservation never waits for it. A disclosure of the order is refused\n" +
			"until the newest check confirmed the requester, unless the order came through an intake\n" +
			"channel the configuration declares verified (intake.verified_channels).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "method", Usage: "how the requester was checked: `" + methods + "`", Destination: &opts.method},
			&cli.StringFlag{Name: "result", Usage: "`confirmed|failed`", Destination: &opts.result},
			&cli.StringFlag{Name: "note", Usage: "what was done: whom was called, on which number, what they said (`TEXT`)", Destination: &opts.note},
		},
		Action: func(c *cli.Context) error {
			return runVerifyRequester(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runVerifyRequester(ctx context.Context, g *globalOptions, opts verifyRequesterOptions, args []string) error {
	const cmd = "order verify-requester"
	switch {
	case !slices.Contains(chain.RequesterMethods(), opts.method):
		return usageErrorf("%s: --method %q: one of %s", cmd, opts.method, strings.Join(chain.RequesterMethods(), ", "))
	case opts.result != api.ResultConfirmed && opts.result != api.ResultFailed:
		return usageErrorf("%s: --result %q: confirmed or failed", cmd, opts.result)
	case strings.TrimSpace(opts.note) == "":
		return usageErrorf("%s: --note: missing (say how the requester was checked)", cmd)
	}
	id, err := g.orderArg(ctx, cmd, args)
	if err != nil {
		return err
	}
	ev, err := g.custody().VerifyRequester(ctx, id, api.RequesterRequest{Method: opts.method, Result: opts.result, Note: opts.note})
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if g.json() {
		return writeJSON(g.stdout, ev)
	}
	w := &errWriter{w: g.stdout}
	if opts.result == api.ResultConfirmed {
		w.printf("order %s: requester confirmed (%s); logged as entry %d\n", id, opts.method, ev.Index)
	} else {
		w.printf("order %s: requester check failed (%s); logged as entry %d: the order cannot be disclosed until a check confirms it\n", id, opts.method, ev.Index)
	}
	return w.err
}
