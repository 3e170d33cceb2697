package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// keepDeadlines logs the production deadlines' events due at now
// (agent.Registry.KeepDeadline): deadline.warning at 50 and 80 % of the
// time, deadline.missed once the due time passes without a disclosure,
// deadline.met for a disclosure in time. The log is their state: a
// restart repeats none. Each is also a log line: a warning at Warn, a
// missed deadline at Error; with a Webhook, the latest warning or the
// miss is posted as a DeadlineNotice (notify).
func (s *Scheduler) keepDeadlines(ctx context.Context, now time.Time, views []*agent.OrderView, rep *Report) {
	var down error // the webhook failed in this Step: the rest wait for the next
	for _, v := range views {
		if ctx.Err() != nil {
			return
		}
		o := v.Order
		if o.Production == nil {
			continue
		}
		dl := v.State.Deadline
		if !dl.Missed && !dl.Met { // else its deadline ended
			s.keepDeadline(ctx, now, o, &dl, rep)
		}
		if s.webhook != nil && down == nil {
			down = s.notify(ctx, now, o, dl, rep)
		}
	}
}

// keepDeadline logs the deadline events due for o and adds them to dl.
func (s *Scheduler) keepDeadline(ctx context.Context, now time.Time, o *order.Order, dl *order.DeadlineLogged, rep *Report) {
	logged, err := s.reg.KeepDeadline(ctx, o.ID, now, s.actor)
	for _, e := range logged {
		s.noteDeadline(o, e, rep)
		if d, _ := chain.ReadDeadlineDetails(&e); e.Type == chain.DeadlineWarning {
			dl.Warned = max(dl.Warned, d.Share)
		}
		dl.Missed = dl.Missed || e.Type == chain.DeadlineMissed
		dl.Met = dl.Met || e.Type == chain.DeadlineMet
	}
	if err != nil {
		s.fail(rep, "production deadline not kept; tried again at the next step", fmt.Errorf("order %s: production deadline: %w", o.ID, err), "order", o.ID)
	}
}

// The Types of a DeadlineNotice.
const (
	DeadlineWarningType = "custos.order.deadline_warning"
	DeadlineMissedType  = "custos.order.deadline_missed"
)

// DeadlineNotice is the JSON body of a production deadline's webhook,
// signed as a Reminder is (see the package doc). It never carries the
// order's selectors.
type DeadlineNotice struct {
	Type      string    `json:"type"`     // DeadlineWarningType or DeadlineMissedType
	Delivery  string    `json:"delivery"` // the same on every retry
	Order     string    `json:"order"`
	Reference string    `json:"reference"`
	Authority string    `json:"authority"`
	Kind      string    `json:"kind"`
	Rule      string    `json:"rule"`
	Due       time.Time `json:"due"`
	Share     int       `json:"share,omitempty"` // a warning's share of the time passed: 50 or 80
}

// notify posts the notice the log holds for o's deadline (dl): the miss,
// else the latest warning, unless the webhook took it already (a warning
// that a later one, the miss, a disclosure or an objection followed before
// it was taken is not sent). It returns the webhook's failure: the notice
// is tried again at the next Step.
func (s *Scheduler) notify(ctx context.Context, now time.Time, o *order.Order, dl order.DeadlineLogged, rep *Report) error {
	d, ok := o.ProductionDue()
	if !ok || d.Stopped || dl.Met || (!dl.Missed && dl.Warned == 0) {
		return nil // nothing to say, or nothing worth saying any more
	}
	n := DeadlineNotice{Type: DeadlineWarningType, Order: o.ID, Reference: o.Reference, Authority: o.Authority,
		Kind: d.Kind, Rule: d.Rule, Due: d.Due, Share: dl.Warned}
	n.Delivery = fmt.Sprintf("%s/deadline/%s/%d", o.ID, d.Due.Format(time.RFC3339Nano), dl.Warned)
	if dl.Missed {
		n.Type, n.Share = DeadlineMissedType, 0
		n.Delivery = fmt.Sprintf("%s/deadline/%s/missed", o.ID, d.Due.Format(time.RFC3339Nano))
	}
	if _, sent := s.state.notices[n.Delivery]; sent {
		return nil
	}
	if err := s.webhook.send(ctx, now, n.Delivery, &n); err != nil {
		s.log.Warn("deadline notice not delivered; tried again at the next step", "order", o.ID, "type", n.Type, "error", err)
		rep.Errors = append(rep.Errors, fmt.Errorf("order %s: deadline notice: %w", o.ID, err))
		return err
	}
	s.state.notices[n.Delivery] = o.ID
	s.state.dirty = true
	return nil
}

// noteDeadline reports the deadline event e of o and logs its line.
func (s *Scheduler) noteDeadline(o *order.Order, e chain.Event, rep *Report) {
	d, _ := chain.ReadDeadlineDetails(&e) // the agent wrote it
	attrs := []any{"order", o.ID, "reference", o.Reference, "kind", d.Kind, "rule", d.Rule, "due", d.Due}
	switch e.Type {
	case chain.DeadlineWarning:
		rep.DeadlineWarned = append(rep.DeadlineWarned, o.ID)
		s.log.Warn("production deadline approaching", append(attrs, "share", d.Share, "left", d.Due.Sub(e.Time).Round(time.Minute).String())...)
	case chain.DeadlineMissed:
		rep.DeadlineMissed = append(rep.DeadlineMissed, o.ID)
		s.log.Error("production deadline missed", attrs...)
	case chain.DeadlineMet:
		rep.DeadlineMet = append(rep.DeadlineMet, o.ID)
		s.log.Info("production deadline met", append(attrs, "produced_at", d.ProducedAt)...)
	case chain.DeadlineSet:
		s.log.Info("production deadline set", attrs...)
	}
}
