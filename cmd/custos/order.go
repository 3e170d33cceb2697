package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
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

// --- order add

type orderAddOptions struct {
	flags    order.Flags
	file     string
	document string
}

func newOrderAddCommand(g *globalOptions) *cli.Command {
	var opts orderAddOptions
	f := &opts.flags
	var selectors cli.StringSlice
	return &cli.Command{
		Name:  "add",
		Usage: "receive an order: record it in the custody log and preserve its document",
		Description: "The order is given by flags or by --file ORDER.json|yaml with the same fields\n" +
			"(not both). It prints the new order's id; with --output json the whole order.\n" +
			"--expires takes a date (2027-02-18, the end of that day UTC), an RFC 3339 time or a\n" +
			"duration after receipt (90d, 2160h); without it the profile's default applies.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Usage: "the order as a JSON or YAML `FILE`", Destination: &opts.file},
			&cli.StringFlag{Name: "document", Usage: "the order document `FILE` (PDF, email, scan), preserved as an item of the order", Destination: &opts.document},
			&cli.StringFlag{Name: "reference", Usage: "the authority's own `REF` for the order", Destination: &f.Reference},
			&cli.StringFlag{Name: "authority", Usage: "the issuing `AUTHORITY`", Destination: &f.Authority},
			&cli.StringFlag{Name: "requesting-state", Usage: "ISO 3166-1 alpha-2 `CODE` of the requesting state", Destination: &f.RequestingState},
			&cli.StringFlag{Name: "profile", Usage: "jurisdiction `PROFILE` (us-2703f, budapest-16, budapest-29, eu-epoc-pr, uncc-25, uncc-42, custom)", Destination: &f.Profile},
			&cli.StringFlag{Name: "legal-basis", Usage: "the legal basis as the order states it", Destination: &f.LegalBasis},
			&cli.StringFlag{Name: "offence-summary", Usage: "the offence and facts as the order states them", Destination: &f.OffenceSummary},
			&cli.StringSliceFlag{Name: "selector", Usage: "whose data, `TYPE:VALUE` (account, email, phone, ip, username, url, device); repeatable", Destination: &selectors},
			&cli.StringFlag{Name: "categories", Usage: "data `CATEGORIES`, comma-separated: subscriber,traffic,content", Destination: &f.Categories},
			&cli.StringFlag{Name: "from", Usage: "start of the data's time window (RFC 3339)", Destination: &f.From},
			&cli.StringFlag{Name: "to", Usage: "end of the data's time window (RFC 3339)", Destination: &f.To},
			&cli.StringFlag{Name: "received-at", Usage: "when the order was received (RFC 3339; default now)", Destination: &f.ReceivedAt},
			&cli.StringFlag{Name: "expires", Usage: "expiry: a date, an RFC 3339 time or a duration (90d)", Destination: &f.Expires},
			&cli.BoolFlag{Name: "confidential", Usage: "the order is confidential", Destination: &f.Confidential},
			&cli.StringFlag{Name: "no-notification-until", Usage: "no customer notification before this date or duration", Destination: &f.NoNotificationUntil},
			&cli.BoolFlag{Name: "legacy-digests", Usage: "record MD5 and SHA-1 beside SHA-256 and SHA-512", Destination: &f.LegacyDigests},
		},
		Action: func(c *cli.Context) error {
			f.Selectors = selectors.Value()
			flagsGiven := false
			for _, name := range c.LocalFlagNames() {
				if name != "file" && name != "document" {
					flagsGiven = true
				}
			}
			return runOrderAdd(c.Context, g, opts, flagsGiven, c.Args().Slice())
		},
	}
}

func runOrderAdd(ctx context.Context, g *globalOptions, opts orderAddOptions, flagsGiven bool, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("order add", "", args)
	}
	now := time.Now().UTC()
	var draft *order.Order
	switch {
	case opts.file != "" && flagsGiven:
		return usageErrorf("order add: give the order by --file or by flags, not both")
	case opts.file != "":
		data, err := readLimited(opts.file, order.MaxSize)
		if err != nil {
			return usageErrorf("order add: --file: %v", err)
		}
		if draft, err = order.ParseFile(data, now); err != nil {
			return usageErrorf("order add: %s: %v", opts.file, err)
		}
	default:
		if draft, err = opts.flags.Draft(now); err != nil {
			return usageErrorf("order add: %v", err)
		}
	}
	if g.server != "" {
		return remoteOrderAdd(ctx, g, draft, opts.document)
	}
	var doc *agent.Document
	if opts.document != "" {
		fi, err := os.Stat(opts.document)
		if err != nil {
			return usageErrorf("order add: --document: %v", err)
		}
		if !fi.Mode().IsRegular() {
			return usageErrorf("order add: --document: %s is not a regular file", opts.document)
		}
		doc = &agent.Document{Path: opts.document}
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	reg, closeReg, err := openRegistry(ctx, g, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	res, err := reg.Add(ctx, draft, doc, cfg.Actor)
	var ve *order.ValidationError
	if errors.As(err, &ve) {
		return usageErrorf("order add: %v", err)
	}
	if res == nil {
		return err
	}
	// The order is received from here on, whatever befell its document.
	var out error
	if g.json() {
		out = writeJSON(g.stdout, res.Order)
	} else {
		_, out = fmt.Fprintln(g.stdout, res.Order.ID)
	}
	return errors.Join(err, out)
}

// remoteOrderAdd sends the order to the daemon (client mode).
func remoteOrderAdd(ctx context.Context, g *globalOptions, draft *order.Order, document string) error {
	c, err := newAPIClient(g)
	if err != nil {
		return err
	}
	var (
		o      order.Order
		docErr string
	)
	if document == "" {
		err = c.call(ctx, "POST", "/v1/orders", draft, &o)
	} else {
		docErr, err = c.postOrderWithDocument(ctx, draft, document, &o)
	}
	if err != nil {
		return fmt.Errorf("order add: %w", err)
	}
	// The order is received from here on, whatever befell its document.
	var out error
	if g.json() {
		out = writeJSON(g.stdout, &o)
	} else {
		_, out = fmt.Fprintln(g.stdout, o.ID)
	}
	if docErr != "" {
		return errors.Join(fmt.Errorf("order add: %s", docErr), out)
	}
	return out
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// --- order list

func newOrderListCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the orders with their status, deadlines and days left",
		Action: func(c *cli.Context) error {
			return runOrderList(c.Context, g, c.Args().Slice())
		},
	}
}

// daysLeft is the deadline as `order list` shows it.
func daysLeft(d order.Deadline) string {
	switch {
	case d.Ended:
		return "ended"
	case d.Held:
		return "held"
	case d.Expired:
		return fmt.Sprintf("expired %dd ago", -d.DaysLeft-1)
	}
	return fmt.Sprintf("%dd", d.DaysLeft)
}

func deadline(reg *agent.Registry, o *order.Order, now time.Time) order.Deadline {
	p, err := reg.Profiles.Lookup(o.Profile)
	if err != nil {
		p = nil // a profile since removed from the config: no reminders
	}
	return o.Deadline(now, p)
}

func runOrderList(ctx context.Context, g *globalOptions, args []string) (err error) {
	if len(args) != 0 {
		return argCountError("order list", "", args)
	}
	cfg, err := g.config()
	if err != nil {
		return err
	}
	list, unreadable, err := listOrders(ctx, g, cfg)
	if err != nil {
		return err
	}
	if g.json() {
		return errors.Join(writeJSON(g.stdout, list), unreadable)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPROFILE\tEXPIRES\tLEFT\tITEMS\tREFERENCE")
	for _, e := range list {
		o := e.Order
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", o.ID, o.Status, o.Profile, o.ExpiresAt.UTC().Format(time.RFC3339),
			daysLeft(e.Deadline), e.Items, oneLine(o.Reference))
	}
	return errors.Join(tw.Flush(), unreadable)
}

// listOrders lists the orders, from the data directory or, with
// --server, from the daemon. An order whose record cannot be read in
// the data directory is left out of the list and named in unreadable
// (a tamper error if any record was altered), so that one bad record
// does not hide the others; the daemon leaves it out and logs it.
func listOrders(ctx context.Context, g *globalOptions, cfg *Config) (_ []agent.OrderSummary, unreadable, err error) {
	if g.server != "" {
		c, err := newAPIClient(g)
		if err != nil {
			return nil, nil, err
		}
		var list []agent.OrderSummary
		return list, nil, c.call(ctx, "GET", "/v1/orders", nil, &list)
	}
	reg, closeReg, err := openRegistryReader(ctx, g, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = errors.Join(err, closeReg()) }()
	views, problems, err := reg.ListReadable(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	list := make([]agent.OrderSummary, 0, len(views))
	for _, v := range views {
		list = append(list, agent.OrderSummary{Order: v.Order, Deadline: deadline(reg, v.Order, now), Items: len(v.State.Items)})
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(problems)) {
		errs = append(errs, fmt.Errorf("order %s left out of the list: its record cannot be read: %w", id, problems[id]))
	}
	return list, errors.Join(errs...), nil
}

// oneLine keeps a free-text field on one line of a table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// --- order show

func newOrderShowCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show one order: its record, deadline and items",
		ArgsUsage: "ORDER",
		Action: func(c *cli.Context) error {
			return runOrderShow(c.Context, g, c.Args().Slice())
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

func runOrderShow(ctx context.Context, g *globalOptions, args []string) (err error) {
	var d *agent.OrderDetail
	if g.server != "" {
		id, err := orderArg("order show", args)
		if err != nil {
			return err
		}
		c, err := newAPIClient(g)
		if err != nil {
			return err
		}
		if err := c.call(ctx, "GET", "/v1/orders/"+id, nil, &d); err != nil {
			return err
		}
	} else {
		id, _, reg, closeReg, err := openForOrder(ctx, g, "order show", args, false)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, closeReg()) }()
		v, err := reg.Get(ctx, id)
		if err != nil {
			return err
		}
		d = agent.NewOrderDetail(v, deadline(reg, v.Order, time.Now()))
	}
	if g.json() {
		return writeJSON(g.stdout, d)
	}
	return printOrderDetail(g, d)
}

// printOrderDetail shows one order as `custos order show` does.
func printOrderDetail(g *globalOptions, od *agent.OrderDetail) error {
	o, d, items, purged := od.Order, od.Deadline, od.Items, od.Purged
	w := &errWriter{w: g.stdout}
	w.printf("order:            %s\n", o.ID)
	w.printf("status:           %s\n", o.Status)
	w.printf("reference:        %s\n", oneLine(o.Reference))
	w.printf("authority:        %s (%s)\n", oneLine(o.Authority), o.RequestingState)
	w.printf("profile:          %s\n", o.Profile)
	w.printf("legal basis:      %s\n", oneLine(o.LegalBasis))
	w.printf("received:         %s\n", o.ReceivedAt.UTC().Format(time.RFC3339))
	w.printf("expires:          %s (%s)\n", o.ExpiresAt.UTC().Format(time.RFC3339), daysLeft(d))
	for i, e := range o.Extensions {
		w.printf("extension %d:      %s -> %s, %s\n", i+1, e.PreviousExpiresAt.UTC().Format(time.RFC3339), e.ExpiresAt.UTC().Format(time.RFC3339), oneLine(e.LegalBasis))
	}
	if o.CurrentHold != nil {
		w.printf("held:             since %s while %s: %s\n", o.CurrentHold.At.UTC().Format(time.RFC3339), o.CurrentHold.While, oneLine(o.CurrentHold.Basis))
	}
	sels := make([]string, len(o.Selectors))
	for i, s := range o.Selectors {
		sels[i] = s.String()
	}
	w.printf("selectors:        %s\n", strings.Join(sels, ", "))
	cats := make([]string, len(o.Categories))
	for i, c := range o.Categories {
		cats[i] = string(c)
	}
	w.printf("categories:       %s\n", strings.Join(cats, ","))
	if !o.Window.From.IsZero() || !o.Window.To.IsZero() {
		w.printf("window:           %s .. %s\n", stamp(o.Window.From), stamp(o.Window.To))
	}
	w.printf("confidential:     %t\n", o.Confidentiality.Confidential)
	if o.Document != nil {
		w.printf("document:         %s %s (%d bytes) sha256 %s\n", o.Document.Name, o.Document.MediaType, o.Document.Size, o.Document.SHA256)
	}
	w.printf("events:           %d\n", od.Events)
	w.printf("items:            %d\n", len(items))
	for _, it := range items {
		spooled := ""
		if it.Spooled {
			spooled = " (in the local spool)"
		}
		w.printf("  %s%s\n", it.SHA256, spooled)
	}
	if len(purged) > 0 {
		w.printf("purged:           %d\n", len(purged))
	}
	return w.err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "open"
	}
	return t.UTC().Format(time.RFC3339)
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}

// --- order extend, hold, release, purge

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
	local  func(ctx context.Context, reg *agent.Registry, v *agent.OrderView, actor string) (*agent.StepResult, error)
	remote stepRequest
	print  func(w *errWriter, r *agent.StepResult)
}

func newOrderExtendCommand(g *globalOptions) *cli.Command {
	var basis, expires string
	return &cli.Command{
		Name:      "extend",
		Usage:     "extend an order's expiry and the retention of all its objects",
		ArgsUsage: "ORDER",
		Description: "--expires takes a date, an RFC 3339 time or a duration after the current expiry\n" +
			"(90d); without it the profile's extension period applies.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "basis", Usage: "the legal basis of the extension (required)", Destination: &basis},
			&cli.StringFlag{Name: "expires", Usage: "the new expiry", Destination: &expires},
		},
		Action: func(c *cli.Context) error {
			return runOrderStep(c, g, orderStep{
				cmd: "order extend",
				check: func() error {
					if strings.TrimSpace(basis) == "" {
						return usageErrorf("order extend: --basis: missing (the legal basis of the extension)")
					}
					return nil
				},
				local: func(ctx context.Context, reg *agent.Registry, v *agent.OrderView, actor string) (*agent.StepResult, error) {
					var at time.Time
					if expires != "" {
						t, err := order.ParseExpiry(expires, v.Order.ExpiresAt)
						if err != nil {
							return nil, usageErrorf("order extend: --expires: %v", err)
						}
						at = t
					}
					o, rep, err := reg.Extend(ctx, v.Order.ID, at, basis, actor)
					return agent.NewStepResult(o, rep), err
				},
				remote: stepRequest{"POST", "extend", map[string]string{"legal_basis": basis, "expires": expires}},
				print: func(w *errWriter, r *agent.StepResult) {
					w.printf("order %s extended to %s (extension %d); retention of %d objects extended\n",
						r.Order.ID, r.Order.ExpiresAt.Format(time.RFC3339), len(r.Order.Extensions), r.Store.Objects)
				},
			})
		},
	}
}

func newOrderHoldCommand(g *globalOptions) *cli.Command {
	var basis, reason string
	var lift bool
	return &cli.Command{
		Name:      "hold",
		Usage:     "keep an order with no fixed end while its profile's condition holds (legal hold on all its objects), or --lift it",
		ArgsUsage: "ORDER",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "basis", Usage: "what shows the condition holds: the production order or mutual assistance request", Destination: &basis},
			&cli.BoolFlag{Name: "lift", Usage: "lift the hold instead (with --reason)", Destination: &lift},
			&cli.StringFlag{Name: "reason", Usage: "why the hold is lifted", Destination: &reason},
		},
		Action: func(c *cli.Context) error {
			step := orderStep{
				cmd: "order hold",
				check: func() error {
					switch {
					case lift && basis != "":
						return usageErrorf("order hold: --lift takes --reason, not --basis")
					case lift && strings.TrimSpace(reason) == "":
						return usageErrorf("order hold: --lift: --reason missing")
					case !lift && strings.TrimSpace(basis) == "":
						return usageErrorf("order hold: --basis: missing (the production order or mutual assistance request)")
					}
					return nil
				},
				local: func(ctx context.Context, reg *agent.Registry, v *agent.OrderView, actor string) (*agent.StepResult, error) {
					if lift {
						o, rep, err := reg.LiftHold(ctx, v.Order.ID, reason, actor)
						return agent.NewStepResult(o, rep), err
					}
					o, rep, err := reg.Hold(ctx, v.Order.ID, basis, actor)
					return agent.NewStepResult(o, rep), err
				},
				remote: stepRequest{"POST", "hold", map[string]string{"legal_basis": basis}},
				print: func(w *errWriter, r *agent.StepResult) {
					if lift {
						w.printf("order %s: hold lifted, %s again, expires %s; legal hold cleared on %d objects\n",
							r.Order.ID, r.Order.Status, r.Order.ExpiresAt.Format(time.RFC3339), r.Store.Objects)
					} else {
						w.printf("order %s held; legal hold set on %d objects\n", r.Order.ID, r.Store.Objects)
					}
				},
			}
			if lift {
				step.remote = stepRequest{"DELETE", "hold", map[string]string{"reason": reason}}
			}
			return runOrderStep(c, g, step)
		},
	}
}

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
				local: func(ctx context.Context, reg *agent.Registry, v *agent.OrderView, actor string) (*agent.StepResult, error) {
					o, err := reg.Release(ctx, v.Order.ID, reason, actor)
					return agent.NewStepResult(o, nil), err
				},
				remote: stepRequest{"POST", "release", map[string]string{"reason": reason}},
				print: func(w *errWriter, r *agent.StepResult) {
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

func newOrderPurgeCommand(g *globalOptions) *cli.Command {
	var reason string
	return &cli.Command{
		Name:      "purge",
		Usage:     "delete what retention allows of a released order, logging item.purged per item",
		ArgsUsage: "ORDER",
		Description: "Items still under retention are kept and listed; run purge again after their\n" +
			"retention ends. When every item is gone the order becomes purged. The digests stay\n" +
			"in the custody log as proof of what existed.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "why the data is deleted (required)", Destination: &reason},
		},
		Action: func(c *cli.Context) error {
			return runOrderStep(c, g, orderStep{
				cmd:   "order purge",
				check: requireReason("order purge", &reason),
				local: func(ctx context.Context, reg *agent.Registry, v *agent.OrderView, actor string) (*agent.StepResult, error) {
					rep, err := reg.Purge(ctx, v.Order.ID, reason, actor)
					if err != nil {
						return nil, err
					}
					return rep.Result(), nil
				},
				remote: stepRequest{"POST", "purge", map[string]string{"reason": reason}},
				print: func(w *errWriter, r *agent.StepResult) {
					for _, d := range *r.Purged {
						w.printf("purged %s\n", d.SHA256)
					}
					for _, k := range *r.Kept {
						w.printf("kept   %s retained until %s\n", k.SHA256, k.RetainUntil.UTC().Format(time.RFC3339))
					}
					w.printf("order %s is %s: %d items purged, %d kept\n", r.Order.ID, r.Order.Status, len(*r.Purged), len(*r.Kept))
				},
			})
		},
	}
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
	var res *agent.StepResult
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

func localStep(ctx context.Context, g *globalOptions, id string, step orderStep) (_ *agent.StepResult, err error) {
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

func remoteStep(ctx context.Context, g *globalOptions, id string, step orderStep) (*agent.StepResult, error) {
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
	var res agent.StepResult
	if err := c.call(ctx, step.remote.method, "/v1/orders/"+id+"/"+step.remote.path, body, &res); err != nil {
		return nil, err
	}
	if res.Order == nil {
		return nil, errors.New("the daemon's answer holds no order")
	}
	return &res, nil
}
