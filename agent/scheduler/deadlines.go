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
// missed deadline at Error.
func (s *Scheduler) keepDeadlines(ctx context.Context, now time.Time, views []*agent.OrderView, rep *Report) {
	for _, v := range views {
		if ctx.Err() != nil {
			return
		}
		o := v.Order
		if o.Production == nil || v.State.Deadline.Missed || v.State.Deadline.Met {
			continue // no production order, or its deadline ended
		}
		logged, err := s.reg.KeepDeadline(ctx, o.ID, now, s.actor)
		for _, e := range logged {
			s.noteDeadline(o, e, rep)
		}
		if err != nil {
			s.fail(rep, "production deadline not kept; tried again at the next step", fmt.Errorf("order %s: production deadline: %w", o.ID, err), "order", o.ID)
		}
	}
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
