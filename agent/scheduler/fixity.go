package scheduler

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
)

// fixityRound is a fixity audit of every item preserved when it started,
// checked a slice per Step; or, when retry is set, of the items a round
// could not read, from notBefore. It goes a unit at a time: an item
// preserved before batches alone, a batch whole (its manifest, its items,
// one fixity.verified).
type fixityRound struct {
	started         time.Time
	units           []fixityUnit
	items           int // in all units
	next            int
	checked, failed int
	unreadable      []fixityUnit // items passed over, one a unit, to try again
	streak          int          // unreadable in a row
	retry           bool
	notBefore       time.Time
	wait            time.Duration // of this retry round; doubled for the next
}

// fixityUnit is what one capture.Fixity run checks: the items of one batch,
// or one item preserved before batches.
type fixityUnit []capture.LoggedItem

// live reports whether the unit's order still holds it.
func (u fixityUnit) live(orders map[string]*agent.OrderState) bool {
	it := u[0]
	st := orders[it.Order]
	if st == nil {
		return false
	}
	if it.Batch == nil {
		_, ok := st.Items[it.Digest.SHA256]
		return ok
	}
	for _, b := range st.Batches {
		if b.ID() == it.Batch.ID() && !b.Spooled {
			return true
		}
	}
	return false
}

const (
	// unreadableStreak items in a row that cannot be read pause the round,
	// as a store that does not answer does: a store refusing every read
	// (credentials revoked) must not end the round with nothing checked.
	unreadableStreak = 3
	// firstRetry is how long after a round the items it could not read
	// are tried again, doubling up to FixityEvery.
	firstRetry = time.Hour
)

// setupFixity makes the scheduler's copy of the fixity checker: its
// Actor, its clock, and the store read through auditStore.
func (s *Scheduler) setupFixity() {
	if s.cfg.FixityEvery == 0 {
		return
	}
	fx := capture.Fixity{Store: s.reg.Store, Log: s.reg.Log, Agent: s.reg.Agent, Host: s.reg.Host}
	if s.cfg.Fixity != nil {
		fx = *s.cfg.Fixity
	}
	fx.Actor = s.actor
	if fx.Now == nil {
		fx.Now = s.now
	}
	s.audit = &auditStore{store: fx.Store}
	if s.cfg.FixityRate > 0 {
		s.audit.b = newBucket(s.cfg.FixityRate, s.now, func(ctx context.Context, d time.Duration) error { return s.sleep(ctx, d) })
	}
	fx.Store = s.audit
	s.fixity = &fx
}

// runFixity starts a round when one is due and checks a slice of the
// running round: items until a Tick has passed on the clock (so that
// reminders and expiries are never held up by a long round).
func (s *Scheduler) runFixity(ctx context.Context, now time.Time, views []*agent.OrderView, rep *Report) {
	if s.fixity == nil {
		return
	}
	live := auditOrders(views, rep.Released)
	if s.round != nil && s.round.retry && !now.Before(s.nextFixity) {
		s.round = nil // a full round is due: it reads those items too
	}
	if s.round == nil {
		if now.Before(s.nextFixity) {
			return
		}
		units, n, err := s.auditUnits(ctx, live)
		if err != nil {
			s.fail(rep, "fixity round not started; it is tried again at the next step", err)
			return
		}
		s.round = &fixityRound{started: now, units: units, items: n}
		s.nextFixity = now.Add(s.cfg.FixityEvery)
		s.log.Info("fixity round started", "items", n, "batches", len(units))
	}
	if now.Before(s.round.notBefore) {
		return
	}
	s.fixitySlice(ctx, now.Add(s.tick), live, rep)
	r := s.round
	if rep.FixityRemaining = r.remaining(); rep.FixityRemaining == 0 {
		s.log.Info("fixity round complete", "checked", r.checked, "failed", r.failed, "unchecked", len(r.unreadable),
			"started", r.started, "retry", r.retry)
		if !r.retry {
			s.state.setFixityRound(r.started)
		}
		s.round = nil
		if len(r.unreadable) > 0 {
			wait := firstRetry
			if r.retry {
				wait = 2 * r.wait
			}
			wait = min(wait, s.cfg.FixityEvery)
			s.round = &fixityRound{started: now, units: r.unreadable, items: len(r.unreadable), retry: true, notBefore: now.Add(wait), wait: wait}
			s.log.Warn("fixity: items that could not be read are tried again", "items", len(r.unreadable), "at", now.Add(wait))
		}
	}
}

// remaining counts the items of the units not yet checked.
func (r *fixityRound) remaining() int {
	n := 0
	for _, u := range r.units[r.next:] {
		n += len(u)
	}
	return n
}

// fixitySlice checks the round's next units until the clock reaches end.
// Units no longer live (their order released or purged since the round
// began) are passed over. An error leaves the unit for the next Step.
func (s *Scheduler) fixitySlice(ctx context.Context, end time.Time, live map[string]*agent.OrderState, rep *Report) {
	r := s.round
	for r.next < len(r.units) && s.now().Before(end) {
		u := r.units[r.next]
		if u.live(live) {
			if err := s.checkUnit(ctx, u, rep); err != nil {
				if ctx.Err() == nil {
					s.fail(rep, "fixity round paused; it goes on at the next step", err, "order", u[0].Order, "key", u[0].Key)
				}
				return
			}
		}
		r.next++
	}
}

// checkUnit checks one unit; capture.Fixity logs fixity.verified or
// fixity.failed. An item that cannot be read is reported and passed over,
// kept to try again, so that one unreadable item does not hold up the
// round; but when it is the last of a streak (several in a row), the store
// is taken to refuse every read, and the round pauses on the unit. Its
// error (a store that does not answer or refuses, a log that did not take
// the result, ctx done) leaves the unit to check again.
func (s *Scheduler) checkUnit(ctx context.Context, u fixityUnit, rep *Report) error {
	first := u[0].Key
	if u[0].Batch != nil {
		first = u[0].Batch.Key()
	}
	if err := s.audit.open(ctx, first); err != nil {
		return fmt.Errorf("fixity of %s: %w", first, err)
	}
	defer s.audit.discard()
	var unread []fixityUnit
	streak := s.round.streak
	for res, err := range s.fixity.Run(ctx, u) {
		if err != nil {
			return err
		}
		if res.Unchecked != nil {
			if streak++; streak == unreadableStreak {
				return fmt.Errorf("fixity of %s: %d items in a row could not be read: %w", res.Item.Key, unreadableStreak, res.Unchecked)
			}
			rep.FixityUnchecked++
			s.fail(rep, "fixity: an item could not be read and was not checked; it is tried again later", res.Unchecked, "order", res.Item.Order, "key", res.Item.Key)
			if res.Item.Key != first || u[0].Batch == nil {
				unread = append(unread, fixityUnit{res.Item})
			}
			continue
		}
		streak = 0
		if res.Item.Batch != nil && res.Item.Key == res.Item.Batch.Key() {
			continue // the batch's manifest, judged and logged by Run
		}
		rep.FixityChecked++
		s.round.checked++
		if res.Err != nil {
			rep.FixityFailed++
			s.round.failed++
			s.log.Error("fixity failed", "order", res.Item.Order, "key", res.Item.Key, "sha256", res.Item.Digest.SHA256, "error", res.Err)
		}
	}
	s.round.streak = streak
	s.round.unreadable = append(s.round.unreadable, unread...)
	return ctx.Err()
}

// auditOrders are the orders whose items the fixity rounds check, by id:
// those still preserved, that is neither released (a purge may delete
// their items at any moment) nor purged, nor among skip.
func auditOrders(views []*agent.OrderView, skip []string) map[string]*agent.OrderState {
	out := map[string]*agent.OrderState{}
	for _, v := range views {
		if s := v.Order.Status; s == order.StatusReleased || s == order.StatusPurged || slices.Contains(skip, v.State.ID) {
			continue
		}
		out[v.State.ID] = v.State
	}
	return out
}

// auditUnits lists what a round checks: of each order's items, those
// stored (not only spooled), each batch as one unit, in log order.
func (s *Scheduler) auditUnits(ctx context.Context, orders map[string]*agent.OrderState) ([]fixityUnit, int, error) {
	var units []fixityUnit
	n := 0
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		items, err := s.reg.FixityItems(ctx, orders[id])
		if err != nil {
			return nil, 0, fmt.Errorf("order %s: %w", id, err)
		}
		for i := 0; i < len(items); {
			j := i + 1
			for b := items[i].Batch; b != nil && j < len(items) && items[j].Batch == b; j++ {
			}
			if u := fixityUnit(items[i:j]); !items[i].Spooled && (u[0].Batch == nil || !u[0].Batch.Spooled) {
				units = append(units, u)
				n += len(u)
			}
			i = j
		}
	}
	return units, n, nil
}
