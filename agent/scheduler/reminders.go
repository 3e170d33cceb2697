package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/order"
)

// remind sends the reminders due at now. complete says views holds every
// order, so that the state of the others can be forgotten.
func (s *Scheduler) remind(ctx context.Context, now time.Time, views []*agent.OrderView, complete bool, rep *Report) {
	var down error // the webhook failed in this Step: the rest wait for the next
	for _, v := range views {
		if ctx.Err() != nil {
			return
		}
		o := v.Order
		if d := o.Deadline(now, nil); d.Held || d.Ended {
			continue
		}
		p, err := s.reg.Profiles.Lookup(o.Profile)
		if err != nil {
			s.fail(rep, "no reminders for the order", fmt.Errorf("order %s: reminders: %w", o.ID, err), "order", o.ID)
			continue
		}
		if due := dueReminders(o, p, now); len(due) > 0 {
			sent, err := s.remindOrder(ctx, now, o, p, due, down)
			if err != nil {
				down = err
				rep.Errors = append(rep.Errors, fmt.Errorf("order %s: expiry reminder: %w", o.ID, err))
			}
			if sent {
				rep.Reminded = append(rep.Reminded, o.ID)
			}
		}
	}
	if complete {
		s.state.forgetEnded(views)
	}
}

// remindOrder sends the latest of the reminders due (oldest first) unless
// it was sent already. When the daemon was down across several reminders,
// or an order's hold was lifted after some passed, only the latest goes
// out, once, late; the earlier ones are recorded as superseded. down, when
// not nil, is the webhook's failure earlier in this Step: the reminder is
// not tried again until the next. It says whether it sent one, or why
// the webhook did not take it.
func (s *Scheduler) remindOrder(ctx context.Context, now time.Time, o *order.Order, p *order.Profile, due []time.Time, down error) (bool, error) {
	at := due[len(due)-1]
	if s.state.done(o.ID, at) {
		return false, nil
	}
	d := o.Deadline(now, p)
	lead := leadOf(o, at)
	attrs := []any{"order", o.ID, "expires_at", o.ExpiresAt, "days_left", d.DaysLeft, "lead", lead.String()}
	if s.webhook != nil {
		err := down
		if err == nil {
			r := newReminder(o, d, at, lead)
			err = s.webhook.send(ctx, now, r.Delivery, r)
		}
		if err != nil {
			s.log.Warn("expiry reminder not delivered; tried again at the next step", append(attrs, "error", err)...)
			return false, err
		}
	}
	s.log.Info("expiry reminder", append(attrs, "status", string(o.Status), "webhook", s.webhook != nil)...)
	for _, t := range due {
		s.state.markDone(o.ID, t, leadOf(o, t), now, t.Equal(at))
	}
	return true, nil
}

// dueReminders lists the reminder times of o (from its profile p, as
// Order.Deadline computes them) that passed since o got its current expiry
// and by now, oldest first.
func dueReminders(o *order.Order, p *order.Profile, now time.Time) []time.Time {
	var due []time.Time
	for t := expirySetAt(o); ; {
		next := o.Deadline(t, p).NextReminder
		if next.IsZero() || next.After(now) {
			return due
		}
		due = append(due, next)
		t = next
	}
}

// expirySetAt is when o got its current expiry: its receipt or its latest
// extension. Reminders before that belong to no deadline the order had.
func expirySetAt(o *order.Order) time.Time {
	if n := len(o.Extensions); n > 0 {
		return o.Extensions[n-1].At
	}
	return o.ReceivedAt
}

// leadOf is how long before o's expiry the reminder at at comes.
func leadOf(o *order.Order, at time.Time) order.Days {
	return order.Days(o.ExpiresAt.Sub(at) / (24 * time.Hour))
}
