package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/storage"
)

// localCustody is the custody service of the agent in this process, on
// the data directory. Each call opens what it needs and closes it before
// it returns: the registry as the one writer (the data directory locked,
// the log checked against its mirror, the store, the spool) for what
// changes custody state, a shared lock for what only reads.
type localCustody struct {
	g *globalOptions
}

// open loads the configuration and opens the registry as the writer. The
// returned func must be called.
func (l *localCustody) open(ctx context.Context) (*Config, *agent.Registry, func() error, error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, nil, nil, err
	}
	reg, closeReg, err := openRegistry(ctx, l.g, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, reg, closeReg, nil
}

// read loads the configuration and opens the orders for reading only. The
// returned func must be called.
func (l *localCustody) read(ctx context.Context) (*agent.Reader, func() error, error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, nil, err
	}
	return openRegistryReader(ctx, l.g, cfg)
}

func (l *localCustody) AddOrder(ctx context.Context, draft *order.Order, document string) (_ *order.Order, err error) {
	var doc *agent.Document
	if document != "" {
		fi, err := os.Stat(document)
		if err != nil {
			return nil, usageErrorf("order add: --document: %v", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, usageErrorf("order add: --document: %s is not a regular file", document)
		}
		doc = &agent.Document{Path: document}
	}
	// An invalid order is refused before anything that writes is opened:
	// "nothing was done" means no log, lock or store either.
	if err := l.validateOrder(draft); err != nil {
		return nil, err
	}
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	res, err := reg.Add(ctx, draft, doc, cfg.Actor)
	var ve *order.ValidationError
	if errors.As(err, &ve) {
		return nil, usageErrorf("order add: %v", err)
	}
	if res == nil {
		return nil, err
	}
	return res.Order, err
}

// validateOrder checks draft as the registry will, with the configured
// profiles, without opening anything.
func (l *localCustody) ImportForm(ctx context.Context, path string) (_ *api.ImportResult, err error) {
	if err := checkForm(path); err != nil {
		return nil, err
	}
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	res, err := reg.Import(ctx, &agent.Document{Path: path}, agent.ImportOptions{Actor: cfg.Actor})
	var ve *order.ValidationError
	if errors.Is(err, order.ErrInvalidForm) || errors.As(err, &ve) {
		return nil, usageErrorf("order import: %s: %v", path, err)
	}
	if res == nil {
		return nil, err
	}
	return api.NewImportResult(res), err
}

func (l *localCustody) validateOrder(draft *order.Order) error {
	cfg, err := l.g.config()
	if err != nil {
		return err
	}
	profiles, err := order.LoadProfiles(cfg.Profiles)
	if err != nil {
		return usageErrorf("config: profiles: %v", err)
	}
	_, err = order.NewOrder(draft, profiles, time.Now().UTC(), rand.Reader)
	var ve *order.ValidationError
	if errors.As(err, &ve) {
		return usageErrorf("order add: %v", err)
	}
	return err
}

// ListOrders lists the orders of the data directory. An order whose
// record cannot be read is left out of the list and named in unreadable
// (a tamper error if any record was altered), so that one bad record does
// not hide the others.
func (l *localCustody) ListOrders(ctx context.Context) (_ []api.OrderSummary, unreadable, err error) {
	reg, closeReg, err := l.read(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	views, problems, err := reg.ListReadable(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	list := make([]api.OrderSummary, 0, len(views))
	for _, v := range views {
		list = append(list, api.NewOrderSummary(v, reg.Deadline(v.Order, now), now))
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(problems)) {
		errs = append(errs, fmt.Errorf("order %s left out of the list: its record cannot be read: %w", id, problems[id]))
	}
	return list, errors.Join(errs...), nil
}

func (l *localCustody) ShowOrder(ctx context.Context, id string) (_ *api.OrderDetail, err error) {
	reg, closeReg, err := l.read(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	v, err := reg.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	items, err := reg.Items(ctx, v.State)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return api.NewOrderDetail(v, reg.Deadline(v.Order, now), items, now), nil
}

// step runs a lifecycle step on order id as the data directory's writer.
func (l *localCustody) step(ctx context.Context, id string, run func(reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error)) (_ *api.StepResult, err error) {
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	v, err := reg.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return run(reg, v, cfg.Actor)
}

func (l *localCustody) Extend(ctx context.Context, id, expires, basis string) (*api.StepResult, error) {
	return l.step(ctx, id, func(reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error) {
		var at time.Time
		if expires != "" {
			t, err := order.ParseExpiry(expires, v.Order.ExpiresAt)
			if err != nil {
				return nil, usageErrorf("order extend: --expires: %v", err)
			}
			at = t
		}
		o, rep, err := reg.Extend(ctx, v.Order.ID, at, basis, actor)
		return api.NewStepResult(o, rep), err
	})
}

func (l *localCustody) Hold(ctx context.Context, id, basis string) (*api.StepResult, error) {
	return l.step(ctx, id, func(reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error) {
		o, rep, err := reg.Hold(ctx, v.Order.ID, basis, actor)
		return api.NewStepResult(o, rep), err
	})
}

func (l *localCustody) LiftHold(ctx context.Context, id, reason string) (*api.StepResult, error) {
	return l.step(ctx, id, func(reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error) {
		o, rep, err := reg.LiftHold(ctx, v.Order.ID, reason, actor)
		return api.NewStepResult(o, rep), err
	})
}

func (l *localCustody) Release(ctx context.Context, id, reason string) (*api.StepResult, error) {
	return l.step(ctx, id, func(reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error) {
		o, err := reg.Release(ctx, v.Order.ID, reason, actor)
		return api.NewStepResult(o, nil), err
	})
}

func (l *localCustody) Purge(ctx context.Context, id, reason string) (*api.StepResult, error) {
	return l.step(ctx, id, func(reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error) {
		rep, err := reg.Purge(ctx, v.Order.ID, reason, actor)
		if err != nil {
			return nil, err
		}
		return api.NewPurgeResult(rep), nil
	})
}

func (l *localCustody) Review(ctx context.Context, id, outcome, basis string) (*api.StepResult, error) {
	return l.step(ctx, id, func(reg *agent.Registry, v *agent.OrderView, actor string) (*api.StepResult, error) {
		o, err := reg.Review(ctx, v.Order.ID, order.ReviewOutcome(outcome), basis, actor)
		return api.NewStepResult(o, nil), err
	})
}

func (l *localCustody) Reply(ctx context.Context, id string, req api.ReplyRequest) (_ *api.Reply, err error) {
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	res, err := reg.Reply(ctx, id, agent.ReplyOptions{Kind: req.Kind, Ground: req.Ground, Explanation: req.Explanation, Actor: cfg.Actor})
	if errors.Is(err, agent.ErrInvalid) {
		return nil, &usageError{err: err}
	}
	if err != nil {
		return nil, err
	}
	return api.NewReply(res), nil
}

// ReadReply opens the registry once for the reply's three files.
func (l *localCustody) ReadReply(ctx context.Context, id string, n int) (_ [][]byte, err error) {
	_, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	var files [][]byte
	for _, ext := range agent.ReplyExts() {
		b, err := reg.ReadReply(ctx, id, n, ext)
		if err != nil {
			return nil, err
		}
		files = append(files, b)
	}
	return files, nil
}

// Capture runs the sources named (configured names or ad-hoc URIs), or
// every configured source serving the order's categories, showing a
// progress bar on a terminal.
func (l *localCustody) Capture(ctx context.Context, id string, req captureRequest) (_ *api.CaptureSummary, err error) {
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	v, err := reg.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	srcs, err := captureSources(cfg, v.Order, req.sources, req.category)
	if err != nil {
		return nil, err
	}
	bar := newProgress(l.g, estimate(ctx, srcs, v.Order), "capturing")
	rep, err := reg.Capture(ctx, id, agent.CaptureOptions{Sources: srcs, CutOff: req.cutOffAt, Actor: cfg.Actor, Progress: bar.add, Sealed: bar.sealed})
	bar.done()
	if rep == nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	sum := api.CaptureSummaryOf(id, rep)
	if err != nil {
		return &sum, fmt.Errorf("capture %s: %w", rep.ID, err)
	}
	if rep.Failed() {
		return &sum, fmt.Errorf("capture %s: %d items or sources not preserved (the log's capture.failed event names them)", rep.ID, len(rep.Failures()))
	}
	return &sum, nil
}

// Fixity checks every item the log holds, of one order or all: an item
// still in the spool is read from there.
func (l *localCustody) Fixity(ctx context.Context, order string, each func(api.FixityItem)) (_ *api.FixityReport, err error) {
	g := l.g
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	if cfg.Actor == "" {
		return nil, usageErrorf("fixity: no actor: set --actor, actor in the config or CUSTOS_ACTOR")
	}
	lg, closeLog, err := openLog(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeLog()) }()
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	size, err := lg.Size(ctx)
	if err != nil {
		return nil, err
	}
	spool, err := storage.NewLocal(cfg.dir().Spool(), time.Now)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	index := &capture.Index{Dir: cfg.DataDir, From: capture.StoreManifests{Store: store, Spool: spool}}
	items, _, err := capture.LoggedItems(ctx, lg.FS(), size, order, index)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var total int64
	for _, it := range items {
		if it.Size < 0 {
			total = -1
			break
		}
		total += it.Size
	}
	bar := newProgress(g, total, "checking")
	defer bar.done()
	fx := &capture.Fixity{Store: store, Spool: spool, Log: lg, Agent: cfg.AgentID, Actor: cfg.Actor, Host: host, Progress: bar.add}
	rep := &api.FixityReport{Items: []api.FixityItem{}}
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			return nil, err
		}
		each(rep.Add(res))
	}
	return rep, nil
}

func (l *localCustody) Disclose(ctx context.Context, id string, req discloseRequest) (_ *disclosureOutput, err error) {
	cfg, reg, closeReg, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	org := cfg.Disclosure.Organization
	if org == "" {
		org = cfg.AgentID
		// The package names its provider, unsigned, for the investigator
		// to read (bag-info's Source-Organization): say what it will say.
		l.g.notef("note: disclosure.organization is not set: the package names its provider %q (the log origin); set disclosure.organization (or CUSTOS_DISCLOSURE_ORGANIZATION) to the provider's name", org)
	}
	rep, err := reg.Disclose(ctx, id, agent.DiscloseOptions{
		Out: req.out, Items: req.items, Categories: req.categories,
		Recipients: req.parsed, RecipientText: strings.Join(req.recipients, ", "),
		Organization: org, Actor: cfg.Actor,
	})
	if err != nil {
		return nil, fmt.Errorf("disclose: %w", err)
	}
	return &disclosureOutput{
		Order: rep.Order.ID, Status: rep.Order.Status, Package: rep.Path, SHA256: rep.SHA256, Items: rep.Items,
		Partial: rep.Partial, Events: rep.Events, CheckpointSize: rep.Checkpoint.Size, Index: rep.Index,
	}, nil
}

// The token commands work on DATA_DIR/tokens.json directly, beside a
// running daemon: the store locks the file for each change, and the daemon
// sees a change on its next request.

func (l *localCustody) tokens() (*auth.Store, error) {
	cfg, err := l.g.config()
	if err != nil {
		return nil, err
	}
	return auth.OpenStore(cfg.dir().Tokens(), nil)
}

func (l *localCustody) CreateToken(_ context.Context, name string, role auth.Role) (*api.CreatedToken, error) {
	tokens, err := l.tokens()
	if err != nil {
		return nil, err
	}
	secret, t, err := tokens.Create(name, role)
	if err != nil {
		return nil, err
	}
	return &api.CreatedToken{Secret: secret, Token: *t}, nil
}

func (l *localCustody) ListTokens(context.Context) ([]auth.Token, error) {
	tokens, err := l.tokens()
	if err != nil {
		return nil, err
	}
	return tokens.List()
}

func (l *localCustody) RevokeToken(_ context.Context, id string) (*auth.Token, error) {
	tokens, err := l.tokens()
	if err != nil {
		return nil, err
	}
	return tokens.Revoke(id)
}
