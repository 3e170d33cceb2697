package main

import (
	"context"
	"errors"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
)

// The requester checks and disclosure approvals, in-process and through
// the daemon. In-process the identity is the configured actor (--actor,
// actor, CUSTOS_ACTOR): whoever runs custos on the data directory is
// trusted to name themselves, as for every step. Through the daemon it is
// the token's or certificate's.

func (l *localCustody) VerifyRequester(ctx context.Context, id string, req api.RequesterRequest) (_ *api.Event, err error) {
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	if cfg.Actor == "" {
		return nil, usageErrorf("order verify-requester: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	rec, err := reg.VerifyRequester(ctx, id, agent.RequesterVerification{
		Method: req.Method, Confirmed: req.Result == api.ResultConfirmed, Note: req.Note, Actor: cfg.Actor,
	})
	if err != nil {
		return nil, invalidAsUsage(err)
	}
	return recordJSON(rec), nil
}

func (l *localCustody) ApproveDisclosure(ctx context.Context, id, note string) (_ *api.Event, err error) {
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	if cfg.Actor == "" {
		return nil, usageErrorf("disclose --approve: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	rec, err := reg.ApproveDisclosure(ctx, id, cfg.Actor, cfg.Actor, note)
	if err != nil {
		return nil, invalidAsUsage(err)
	}
	return recordJSON(rec), nil
}

// invalidAsUsage makes a request the agent refused as malformed a usage
// error, as the daemon's 400 is.
func invalidAsUsage(err error) error {
	if errors.Is(err, agent.ErrInvalid) {
		return &usageError{err: err}
	}
	return err
}

func (d *daemonCustody) VerifyRequester(ctx context.Context, id string, req api.RequesterRequest) (*api.Event, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.VerifyRequester(ctx, id, req)
}

func (d *daemonCustody) ApproveDisclosure(ctx context.Context, id, note string) (*api.Event, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.ApproveDisclosure(ctx, id, api.ApprovalRequest{Note: note})
}
