package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// daemonCustody is the custody service of a running daemon (--server
// URL): the same commands, the same output, the work done by the daemon
// through its API, as the identity of the token or client certificate.
// The daemon captures configured sources only, by name, and builds
// packages as a .zip or a .tar that the command downloads.
type daemonCustody struct {
	g *globalOptions
	c *api.Client // made on first use
}

// client is the API client the global flags describe, made on first use
// so that a command's own checks come first.
func (d *daemonCustody) client() (*api.Client, error) {
	if d.c == nil {
		c, err := newClient(d.g)
		if err != nil {
			return nil, err
		}
		d.c = c
	}
	return d.c, nil
}

// newClient makes the client of --server, with --token or --token-file
// (or CUSTOS_TOKEN), --ca, and --cert with --key for a client certificate.
func newClient(g *globalOptions) (*api.Client, error) {
	u, err := url.Parse(g.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--server %q: want http(s)://HOST:PORT", g.server)
	}
	token := strings.TrimSpace(g.token)
	if g.tokenFile != "" {
		b, err := os.ReadFile(g.tokenFile)
		if err != nil {
			return nil, usageErrorf("--token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if g.caFile != "" {
		pem, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, usageErrorf("--ca: %v", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca %s: no PEM certificate", g.caFile)
		}
	}
	if (g.certFile == "") != (g.keyFile == "") {
		return nil, usageErrorf("--cert and --key: give both or neither")
	}
	if g.certFile != "" {
		cert, err := tls.LoadX509KeyPair(g.certFile, g.keyFile)
		if err != nil {
			return nil, usageErrorf("--cert/--key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if token == "" && g.certFile == "" {
		return nil, usageErrorf("--server: no credentials: give --token, --token-file or CUSTOS_TOKEN, or --cert and --key")
	}
	return api.NewClient(api.Config{URL: g.server, Token: token, TLS: tc})
}

func (d *daemonCustody) AddOrder(ctx context.Context, draft *order.Order, document string) (*order.Order, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	if document == "" {
		o, err := c.AddOrder(ctx, draft)
		if err != nil {
			return nil, fmt.Errorf("order add: %w", err)
		}
		return o, nil
	}
	f, err := os.Open(document)
	if err != nil {
		return nil, fmt.Errorf("order add: %w", usageErrorf("--document: %v", err))
	}
	defer f.Close()
	o, docErr, err := c.AddOrderWithDocument(ctx, draft, filepath.Base(document), f)
	if err != nil {
		return nil, fmt.Errorf("order add: %w", err)
	}
	if docErr != "" {
		return o, fmt.Errorf("order add: %s", docErr)
	}
	return o, nil
}

func (d *daemonCustody) ImportForm(ctx context.Context, path string) (*api.ImportResult, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("order import: %v", err)
	}
	defer f.Close()
	res, docErr, err := c.ImportForm(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("order import: %w", err)
	}
	if docErr != "" {
		return res, fmt.Errorf("order import: %s", docErr)
	}
	return res, nil
}

// ListOrders lists the orders the daemon shows this identity; it leaves
// out, and logs, those whose record it cannot read.
func (d *daemonCustody) ListOrders(ctx context.Context) (_ []api.OrderSummary, unreadable, err error) {
	// order list reads the configuration in client mode too, as it always
	// has: a broken one fails it before the daemon is asked.
	if _, err := d.g.config(); err != nil {
		return nil, nil, err
	}
	c, err := d.client()
	if err != nil {
		return nil, nil, err
	}
	list, err := c.Orders(ctx, "")
	return list, nil, err
}

func (d *daemonCustody) ShowOrder(ctx context.Context, id string) (*api.OrderDetail, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Order(ctx, id)
}

func (d *daemonCustody) Extend(ctx context.Context, id, expires, basis string) (*api.StepResult, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Extend(ctx, id, expires, basis)
}

func (d *daemonCustody) Hold(ctx context.Context, id, basis string) (*api.StepResult, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Hold(ctx, id, basis)
}

func (d *daemonCustody) LiftHold(ctx context.Context, id, reason string) (*api.StepResult, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.LiftHold(ctx, id, reason)
}

func (d *daemonCustody) Release(ctx context.Context, id, reason string) (*api.StepResult, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Release(ctx, id, reason)
}

func (d *daemonCustody) Purge(ctx context.Context, id, reason string) (*api.StepResult, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Purge(ctx, id, reason)
}

func (d *daemonCustody) Review(ctx context.Context, id, outcome, basis string) (*api.StepResult, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Review(ctx, id, outcome, basis)
}

func (d *daemonCustody) Reply(ctx context.Context, id string, req api.ReplyRequest) (*api.Reply, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Reply(ctx, id, req)
}

// ReadReply downloads the reply's files and checks each against the
// digest the order's detail lists (the daemon checks them against its log
// too). The store keys are named by the XML's digest, not by n: the files
// are found by reply number, in the order of agent.ReplyExts.
func (d *daemonCustody) ReadReply(ctx context.Context, id string, n int) ([][]byte, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	od, err := c.Order(ctx, id)
	if err != nil {
		return nil, err
	}
	exts := agent.ReplyExts()
	for _, r := range od.Replies {
		if r.Number != n {
			continue
		}
		if len(r.Files) != len(exts) {
			return nil, fmt.Errorf("order %s: the daemon lists %d files of reply %d, want %d", id, len(r.Files), n, len(exts))
		}
		files := make([][]byte, len(exts))
		for i, ext := range exts {
			if files[i], err = c.ReadReply(ctx, id, strconv.Itoa(n)+"."+ext, r.Files[i].SHA256); err != nil {
				return nil, err
			}
		}
		return files, nil
	}
	return nil, fmt.Errorf("order %s has no reply %d", id, n)
}

// Capture queues the capture as a job of the daemon and waits for it to
// end. The daemon refuses ad-hoc URIs: it captures configured sources.
func (d *daemonCustody) Capture(ctx context.Context, id string, req captureRequest) (*api.CaptureSummary, error) {
	if req.category != "" {
		return nil, usageErrorf("capture: --category labels an ad-hoc --source URI, and the daemon captures configured sources only")
	}
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	j, err := c.Capture(ctx, id, api.CaptureRequest{Sources: req.sources, CutOff: req.cutOff})
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	sum, err := api.CaptureResult(j)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	switch {
	case j.State != jobs.Succeeded:
		return sum, fmt.Errorf("capture: job %s %s: %s", j.ID, j.State, j.Error)
	case sum != nil && sum.Failed:
		return sum, fmt.Errorf("capture %s: items or sources not preserved (the log's capture.failed event names them)", sum.Capture)
	}
	return sum, nil
}

// Fixity has the daemon check the order given, or every order it shows
// this identity that still holds items, one fixity job per order.
func (d *daemonCustody) Fixity(ctx context.Context, order string, each func(api.FixityItem)) (*api.FixityReport, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	orders := []string{order}
	if order == "" {
		list, err := c.Orders(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("fixity: %w", err)
		}
		orders = orders[:0]
		for _, e := range list {
			if e.Items > 0 {
				orders = append(orders, e.Order.ID)
			}
		}
	}
	total := &api.FixityReport{Items: []api.FixityItem{}}
	for _, id := range orders {
		j, err := c.Fixity(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("fixity: %w", err)
		}
		rep, err := api.FixityResult(j)
		if j.State != jobs.Succeeded || err != nil {
			return nil, fmt.Errorf("fixity: job %s of order %s %s: %s", j.ID, id, j.State, j.Error)
		}
		if rep == nil {
			rep = &api.FixityReport{}
		}
		for _, fi := range rep.Items {
			each(fi)
		}
		total.Merge(rep)
	}
	return total, nil
}

// Disclose has the daemon build the package and downloads it to the
// request's path (a .zip or .tar; with recipients, the .age file beside
// it), checking it is the package the daemon logged.
func (d *daemonCustody) Disclose(ctx context.Context, id string, req discloseRequest) (*disclosureOutput, error) {
	format := ""
	switch disclosure.FormatFor(req.out) {
	case disclosure.FormatZip:
		format = "zip"
	case disclosure.FormatTar:
		format = "tar"
	default:
		return nil, usageErrorf("disclose: with --server the package is a .zip or a .tar: give --out PATH.zip or PATH.tar")
	}
	out := req.out
	if len(req.recipients) > 0 {
		out += ".age"
	}
	if _, err := os.Lstat(out); err == nil {
		return nil, usageErrorf("disclose: %s exists", out)
	}
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	dis, err := c.Disclose(ctx, id, api.DisclosureRequest{Items: req.items, Categories: req.categories, Recipients: req.recipients, Format: format})
	if err != nil {
		return nil, fmt.Errorf("disclose: %w", err)
	}
	if err := c.DownloadPackage(ctx, dis, out); err != nil {
		return nil, fmt.Errorf("disclose: %w", err)
	}
	o, err := c.Order(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("disclose: %w", err)
	}
	return &disclosureOutput{
		Order: id, Status: o.Order.Status, Package: out, SHA256: dis.SHA256, Items: dis.Items,
		Partial: dis.Partial, Events: dis.Events, CheckpointSize: dis.Checkpoint, Index: dis.Index,
	}, nil
}

// LogShow pages through the events the daemon shows this identity.
func (d *daemonCustody) LogShow(ctx context.Context, order string, from uint64, each func(*chain.Record) error) error {
	c, err := d.client()
	if err != nil {
		return err
	}
	for rec, err := range c.AllEvents(ctx, order, from) {
		if err != nil {
			return fmt.Errorf("log show: %w", err)
		}
		if err := each(rec); err != nil {
			return err
		}
	}
	return nil
}

// Note records the note through the daemon, by the token's identity.
func (d *daemonCustody) Note(ctx context.Context, order, text string) (*api.Event, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	ev, err := c.Note(ctx, order, text)
	if err != nil {
		return nil, fmt.Errorf("log note: %w", err)
	}
	return ev, nil
}

// Checkpoint is the daemon's newest checkpoint. Its signature is not
// checked here: `custos log verify --key` or a package's verifier checks
// it against the provider's key.
func (d *daemonCustody) Checkpoint(ctx context.Context) ([]byte, error) {
	c, err := d.client()
	if err != nil {
		return nil, fmt.Errorf("log checkpoint: %w", err)
	}
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("log checkpoint: %w", err)
	}
	return raw, nil
}

func (d *daemonCustody) ProveInclusion(ctx context.Context, index uint64) ([]byte, error) {
	c, err := d.client()
	if err != nil {
		return nil, fmt.Errorf("log prove: %w", err)
	}
	text, err := c.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("log prove: %w", err)
	}
	return text, nil
}

func (d *daemonCustody) ProveConsistency(ctx context.Context, older, newer uint64) ([]byte, error) {
	c, err := d.client()
	if err != nil {
		return nil, fmt.Errorf("log prove: %w", err)
	}
	text, err := c.ConsistencyProof(ctx, older, newer)
	if err != nil {
		return nil, fmt.Errorf("log prove: %w", err)
	}
	return text, nil
}

// The tokens through the daemon need an admin token.

func (d *daemonCustody) CreateToken(ctx context.Context, name string, role auth.Role) (*api.CreatedToken, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.CreateToken(ctx, name, role)
}

func (d *daemonCustody) ListTokens(ctx context.Context) ([]auth.Token, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.Tokens(ctx)
}

func (d *daemonCustody) RevokeToken(ctx context.Context, id string) (*auth.Token, error) {
	c, err := d.client()
	if err != nil {
		return nil, err
	}
	return c.RevokeToken(ctx, id)
}
