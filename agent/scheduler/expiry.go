package scheduler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/order"
)

// PurgeReason is the reason recorded in the item.purged events and the
// final order event of an automatic purge.
const PurgeReason = "expired: automatic purge"

// releaseReason is the reason recorded in the order.released event of an
// automatic release.
func releaseReason(o *order.Order) string {
	return "expired: automatic release at " + o.ExpiresAt.UTC().Format(time.RFC3339)
}

// expire releases the orders past their expiry that may be released, and
// purges released orders past their expiry, once PurgeGrace has passed
// since their receipt. A held order has no fixed end and is never
// touched; an extended order has its later expiry.
func (s *Scheduler) expire(ctx context.Context, now time.Time, views []*agent.OrderView, rep *Report) {
	for _, v := range views {
		if ctx.Err() != nil {
			return
		}
		o := v.Order
		if !now.After(o.ExpiresAt) {
			continue
		}
		switch {
		case o.Status == order.StatusReleased:
			if !now.Before(s.purgeAt[o.ID]) && s.purgeable(o, now, rep) {
				s.purge(ctx, o, rep)
			}
		case releasable(o.Status) && o.Deadline(now, nil).Expired:
			if s.release(ctx, o, rep) && s.purgeable(o, now, rep) {
				s.purge(ctx, o, rep)
			}
		}
	}
}

// releasable says whether the lifecycle lets an order in status st be
// released: received, preserving, preserved, extended and disclosed
// orders may; a held one must have its hold lifted first.
func releasable(st order.Status) bool {
	return slices.Contains(st.Next(), order.StatusReleased)
}

// release releases o at its expiry: the registry's order.released event.
func (s *Scheduler) release(ctx context.Context, o *order.Order, rep *Report) bool {
	if _, err := s.reg.Release(ctx, o.ID, releaseReason(o), s.actor); err != nil {
		s.fail(rep, "expired order not released; tried again at the next step",
			fmt.Errorf("order %s: automatic release: %w", o.ID, err), "order", o.ID, "expires_at", o.ExpiresAt)
		return false
	}
	rep.Released = append(rep.Released, o.ID)
	s.log.Info("expired order released", "order", o.ID, "expires_at", o.ExpiresAt, "previous_status", string(o.Status))
	return true
}

// purgeable reports whether o was received PurgeGrace or longer ago by
// the agent's clock (order.Order.ArrivedAt): a younger order is not
// purged automatically, whatever its expiry; the first Step that defers it
// says so in the log.
func (s *Scheduler) purgeable(o *order.Order, now time.Time, rep *Report) bool {
	until := o.ArrivedAt().Add(s.cfg.PurgeGrace)
	if !now.Before(until) {
		delete(s.graceSaid, o.ID)
		return true
	}
	rep.PurgeDeferred = append(rep.PurgeDeferred, o.ID)
	if !s.graceSaid[o.ID] {
		s.graceSaid[o.ID] = true
		s.log.Warn("expired order received less than the purge grace ago: not purged automatically before then",
			"order", o.ID, "received_at", o.ArrivedAt(), "expires_at", o.ExpiresAt, "purge_from", until,
			"grace", s.cfg.PurgeGrace.String())
	}
	return false
}

// purge deletes what the store lets go of a released order (item.purged
// for each item; the order becomes purged once nothing is left). Items
// the store still retains are purged at a later Step: the first at which
// the earliest of their retention dates has passed by the scheduler's
// clock.
func (s *Scheduler) purge(ctx context.Context, o *order.Order, rep *Report) {
	pr, err := s.reg.Purge(ctx, o.ID, PurgeReason, s.actor)
	if err != nil {
		s.fail(rep, "released order not purged; tried again at the next step",
			fmt.Errorf("order %s: automatic purge: %w", o.ID, err), "order", o.ID)
		return
	}
	if pr.Order != nil && pr.Order.Status == order.StatusPurged {
		delete(s.purgeAt, o.ID)
		rep.Purged = append(rep.Purged, o.ID)
		s.log.Info("released order purged", "order", o.ID, "items", len(pr.Purged))
		return
	}
	var next time.Time
	for _, k := range pr.Kept {
		if next.IsZero() || k.RetainUntil.Before(next) {
			next = k.RetainUntil
		}
	}
	s.purgeAt[o.ID] = next // in the past or zero: the next Step
	rep.PurgeKept = append(rep.PurgeKept, o.ID)
	s.log.Info("released order partly purged: the store still retains items", "order", o.ID,
		"purged", len(pr.Purged), "kept", len(pr.Kept), "retry_at", next)
}
