package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// applyDeadline follows what the log says of a production order's
// deadline: its first disclosure (the data produced) and its deadline
// events. A deadline event whose details do not read is tampering.
func (st *OrderState) applyDeadline(rec *chain.Record) error {
	e := rec.Event
	switch e.Type {
	case chain.DisclosureCreated:
		if st.Produced.IsZero() {
			st.Produced = e.Time.UTC()
		}
		return nil
	case chain.DeadlineSet, chain.DeadlineWarning, chain.DeadlineMissed, chain.DeadlineMet:
	default:
		return nil
	}
	d, err := chain.ReadDeadlineDetails(e)
	if err != nil {
		return &chain.TamperError{Index: int64(rec.Index), What: err.Error()}
	}
	dl := &st.Deadline
	switch e.Type {
	case chain.DeadlineSet:
		if !d.Due.Equal(dl.Due) {
			dl.Warned = 0 // warnings of another due time
		}
		dl.Due = d.Due
	case chain.DeadlineWarning:
		if d.Due.Equal(dl.Due) && d.Share > dl.Warned {
			dl.Warned = d.Share
		}
	case chain.DeadlineMissed:
		dl.Missed = true
	case chain.DeadlineMet:
		dl.Met = true
	}
	return nil
}

// Review records the enforcing authority's answer (confirmed or objected)
// to production order id, on basis (its message): a new version of the
// record and order.reviewed, then the deadline it makes (deadline.set).
// A confirmation lets production start before the review ends; an
// objection stops it: the order is never disclosed, and stays preserved
// until its expiry or release.
func (r *Registry) Review(ctx context.Context, id string, outcome order.ReviewOutcome, basis, actor string) (*order.Order, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c := r.change(actor, basis)
	n, e, err := v.Order.Review(outcome, !v.State.Produced.IsZero(), c)
	if err != nil {
		return nil, err
	}
	if _, err := r.record(ctx, n, e); err != nil {
		return nil, err
	}
	c.Reason = ""
	if err := r.logDeadlineSet(ctx, n, c); err != nil {
		return n, fmt.Errorf("order %s reviewed (%s); its deadline is logged at the scheduler's next step: %w", id, outcome, err)
	}
	return n, nil
}

// logDeadlineSet logs the production deadline o has now (deadline.set),
// when it is a production order.
func (r *Registry) logDeadlineSet(ctx context.Context, o *order.Order, c order.Change) error {
	if o.Production == nil {
		return nil
	}
	e, err := o.DeadlineSetEvent(c)
	if err != nil {
		return err
	}
	if _, err := r.Log.Append(ctx, *e); err != nil {
		return fmt.Errorf("order %s: record %s: %w", o.ID, e.Type, err)
	}
	return nil
}

// maxDuties bounds the deadline events one KeepDeadline logs: a
// deadline.set, then a warning, met or missed.
const maxDuties = 3

// KeepDeadline logs the deadline events due for order id at now
// (order.Order.Duty): a deadline.set the log lacks, the warnings at 50
// and 80 % of the time, deadline.met for a disclosure in time and
// deadline.missed once the due time passed without one. What it logs is
// derived from the log itself, so a restart repeats nothing. It returns
// the events logged, none for an order that is no production order.
func (r *Registry) KeepDeadline(ctx context.Context, id string, now time.Time, actor string) ([]chain.Event, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.keepDeadline(ctx, v.Order, v.State.Produced, v.State.Deadline, now, actor)
}

// keepDeadline is KeepDeadline on order o, during its turn: producedAt is
// the time of its first disclosure (zero when none) and dl what the log
// holds of its deadline. It follows the events it logs on a state of its
// own that holds only the deadline, not a copy of the order's whole state
// (its items).
func (r *Registry) keepDeadline(ctx context.Context, o *order.Order, producedAt time.Time, dl order.DeadlineLogged, now time.Time, actor string) ([]chain.Event, error) {
	st := &OrderState{ID: o.ID, Produced: producedAt, Deadline: dl}
	var logged []chain.Event
	for range maxDuties {
		e, err := o.Duty(now.UTC(), st.Produced, st.Deadline, r.change(actor, ""))
		if err != nil || e == nil {
			return logged, err
		}
		rec, err := r.Log.Append(ctx, *e)
		if err != nil {
			return logged, fmt.Errorf("order %s: record %s: %w", o.ID, e.Type, err)
		}
		if err := st.applyDeadline(rec); err != nil {
			return logged, err
		}
		logged = append(logged, *e)
	}
	return logged, nil
}

// produced logs what the disclosure of order o (state st), made at at,
// does to its production deadline (deadline.met, or deadline.missed when
// late). The disclosure is logged already: a failure here is reported in
// the agent's log, and the scheduler's next step logs what was not.
func (r *Registry) produced(ctx context.Context, o *order.Order, st *OrderState, at time.Time, actor string) {
	if o.Production == nil {
		return
	}
	producedAt := st.Produced
	if producedAt.IsZero() {
		producedAt = at.UTC()
	}
	if _, err := r.keepDeadline(ctx, o, producedAt, st.Deadline, r.now(), actor); err != nil {
		r.Logger.Warn("production deadline not updated after the disclosure; the scheduler logs it", "order", o.ID, "error", err)
	}
}
