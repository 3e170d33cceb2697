package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

// orderStep is one lifecycle step, run by the custody service and
// printed the same whichever serves it.
type orderStep struct {
	cmd   string
	check func() error // flag checks, before anything is opened
	run   func(ctx context.Context, svc custodyService, id string) (*api.StepResult, error)
	print func(w *errWriter, r *api.StepResult)
}

// runOrderStep runs one lifecycle step on the order named by the
// command's argument and prints its result, as JSON when asked. Objects
// the log names and the store lacks are reported as tampering once the
// step is recorded.
func runOrderStep(c *cli.Context, g *globalOptions, step orderStep) error {
	id, err := g.orderArg(c.Context, step.cmd, c.Args().Slice())
	if err != nil {
		return err
	}
	if err := step.check(); err != nil {
		return err
	}
	res, err := step.run(c.Context, g.custody(), id)
	if err != nil {
		return fmt.Errorf("%s: %w", step.cmd, err)
	}
	if g.json() {
		if err := writeJSON(g.stdout, res); err != nil {
			return err
		}
	} else {
		w := &errWriter{w: g.stdout}
		step.print(w, res)
		if w.err != nil {
			return w.err
		}
	}
	if res.Store != nil && len(res.Store.Missing) > 0 {
		for _, k := range res.Store.Missing {
			g.notef("custos: %s: missing from the store: %s", step.cmd, k)
		}
		return fmt.Errorf("%s: recorded, but %d objects the custody log names are missing from the store: %w", step.cmd, len(res.Store.Missing), chain.ErrTamper)
	}
	return nil
}
