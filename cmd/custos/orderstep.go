package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

// stepRequest is a lifecycle step as the API takes it: POST (or DELETE)
// /v1/orders/{id}/PATH with body.
type stepRequest struct {
	method, path string
	body         map[string]string
}

// orderStep is one lifecycle step: run in-process on the registry, or
// sent to the daemon; printed the same either way.
type orderStep struct {
	cmd    string
	check  func() error // flag checks, before anything is opened
	local  func(ctx context.Context, reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error)
	remote stepRequest
	print  func(w *errWriter, r *api.StepResult)
}

// runOrderStep runs one lifecycle step on the order named by the
// command's argument: in-process as the data directory's writer, or with
// --server through the daemon; and prints its result, as JSON when asked.
// Objects the log names and the store lacks are reported as tampering once
// the step is recorded.
func runOrderStep(c *cli.Context, g *globalOptions, step orderStep) (err error) {
	ctx := c.Context
	id, err := orderArg(step.cmd, c.Args().Slice())
	if err != nil {
		return err
	}
	if err := step.check(); err != nil {
		return err
	}
	var res *api.StepResult
	if g.server != "" {
		res, err = remoteStep(ctx, g, id, step)
	} else {
		res, err = localStep(ctx, g, id, step)
	}
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
			fmt.Fprintf(g.stderr, "custos: %s: missing from the store: %s\n", step.cmd, k)
		}
		return fmt.Errorf("%s: recorded, but %d objects the custody log names are missing from the store: %w", step.cmd, len(res.Store.Missing), chain.ErrTamper)
	}
	return nil
}

func localStep(ctx context.Context, g *globalOptions, id string, step orderStep) (_ *api.StepResult, err error) {
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	reg, closeReg, err := openRegistry(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	v, err := reg.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return step.local(ctx, reg, v, cfg.Actor)
}

func remoteStep(ctx context.Context, g *globalOptions, id string, step orderStep) (*api.StepResult, error) {
	c, err := newAPIClient(g)
	if err != nil {
		return nil, err
	}
	body := map[string]string{}
	for k, v := range step.remote.body {
		if v != "" {
			body[k] = v
		}
	}
	var res api.StepResult
	if err := c.call(ctx, step.remote.method, "/v1/orders/"+id+"/"+step.remote.path, body, &res); err != nil {
		return nil, err
	}
	if res.Order == nil {
		return nil, errors.New("the daemon's answer holds no order")
	}
	return &res, nil
}
