package agent

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
)

// ImportOptions are the choices of one import.
type ImportOptions struct {
	Actor string
	// Assign are who may see a confidential order the form makes through
	// the API (a form assigns no one): the identity that imported it.
	Assign []string
}

// ImportResult is what Import did with an EU form.
type ImportResult struct {
	Form *order.ParsedForm
	// Order is the order the form made (an EPOC-PR or EPOC) or the one it
	// applied to (an Annex V or VI), as it stands now.
	Order *order.Order
	// Applied says the form was applied to an order received before;
	// Store is then what its step did to the order's objects.
	Applied bool
	Store   *StoreReport
	// Document is the capture that preserved the form's XML.
	Document *capture.Report
}

// Import receives an EU form, the XML file at doc.Path (order.ParseForm,
// docs/orders.md). An EPOC-PR or EPOC becomes a new order (Add) with the
// form's XML, byte for byte, as its document item. An Annex V or VI
// applies to the order received as the EPOC-PR it names: its XML is
// preserved as an item of that order, then the order is held until
// production (Annex V) or extended once (Annex VI) by an event naming the
// form's SHA-256. A refused form (order.ErrInvalidForm, or a step the
// order's status or profile refuses) records nothing: it is checked
// against every order first, and imports take turns so that two cannot
// pass that check at once.
func (r *Registry) Import(ctx context.Context, doc *Document, opts ImportOptions) (*ImportResult, error) {
	data, err := readForm(doc.Path)
	if err != nil {
		return nil, err
	}
	pf, err := order.ParseForm(data, r.now())
	if err != nil {
		return nil, err
	}
	r.importMu.Lock()
	defer r.importMu.Unlock()
	orders, err := r.allOrders(ctx)
	if err != nil {
		return nil, err
	}
	if err := pf.CheckNew(orders); err != nil {
		return nil, err
	}
	form := &Document{Path: doc.Path, SHA256: pf.SHA256}
	if pf.Draft == nil {
		t, err := pf.Target(orders)
		if err != nil {
			return nil, err
		}
		return r.applyForm(ctx, t.ID, pf, form, opts.Actor)
	}
	if pf.Draft.Confidentiality.Confidential {
		pf.Draft.Confidentiality.Assigned = opts.Assign
	}
	res, err := r.Add(ctx, pf.Draft, form, opts.Actor)
	if res == nil {
		return nil, err
	}
	return &ImportResult{Form: pf, Order: res.Order, Document: res.Document}, err
}

// readForm reads a form's XML, refusing one larger than a form may be.
func readForm(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("form: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, order.MaxFormSize+1))
	if err != nil {
		return nil, fmt.Errorf("form %s: %w", path, err)
	}
	if len(data) > order.MaxFormSize {
		return nil, &order.FormError{Err: fmt.Errorf("form %s is more than %d bytes", path, order.MaxFormSize)}
	}
	return data, nil
}

// allOrders lists every order, for checking a form against them. An
// order whose record cannot be read could be the one a form collides
// with: the import is refused until it can.
func (r *Registry) allOrders(ctx context.Context) ([]*order.Order, error) {
	views, problems, err := r.ListReadable(ctx)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		id := slices.Min(slices.Collect(maps.Keys(problems)))
		return nil, fmt.Errorf("form not checked against order %s, whose record cannot be read: %w", id, problems[id])
	}
	orders := make([]*order.Order, 0, len(views))
	for _, v := range views {
		orders = append(orders, v.Order)
	}
	return orders, nil
}

// applyForm applies an Annex V or VI to order id: the step is checked
// first, the form's XML is preserved as an item of the order, then every
// object of the order (that item too) is held or has its retention
// extended, and the order's record and event are written.
func (r *Registry) applyForm(ctx context.Context, id string, pf *order.ParsedForm, form *Document, actor string) (*ImportResult, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := r.Profiles.Lookup(v.Order.Profile)
	if err != nil {
		return nil, fmt.Errorf("order %s: %w", id, err)
	}
	n, e, err := v.Order.ApplyForm(p, pf, r.change(actor, ""))
	if err != nil {
		return nil, err
	}
	_, src, err := form.source()
	if err != nil {
		return nil, err
	}
	rep, err := r.capture(ctx, v.Order, []capture.NamedSource{{Name: documentSourceName, Source: src}}, r.now(), v.State, actor, nil, nil)
	switch {
	case err != nil:
		return nil, fmt.Errorf("order %s: %s not preserved, so not applied: %w", id, pf.Type.Annex(), err)
	case rep.Failed():
		return nil, fmt.Errorf("order %s: %s not preserved, so not applied: %s", id, pf.Type.Annex(), strings.Join(rep.Failures(), "; "))
	}
	for _, it := range rep.Items {
		if it.Digests.SHA256 != pf.SHA256 {
			return nil, fmt.Errorf("order %s: the form %s changed while it was read (%s parsed, %s preserved): not applied", id, form.Path, pf.SHA256, it.Digests.SHA256)
		}
	}
	st, err := r.state(ctx, id) // with the form's item
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Form: pf, Applied: true, Document: rep}
	if pf.Type == order.FormExtension {
		res.Order, res.Store, err = r.applyExtension(ctx, st, n, e)
	} else {
		res.Order, res.Store, err = r.applyHold(ctx, st, n, e, true)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
