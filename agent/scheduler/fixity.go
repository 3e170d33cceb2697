package scheduler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
)

// fixityRound is a fixity audit of every item preserved when it started,
// checked a slice per Step; or, when retry is set, of the items a round
// could not read, from notBefore.
type fixityRound struct {
	started         time.Time
	items           []capture.LoggedItem
	next            int
	checked, failed int
	unreadable      []capture.LoggedItem // passed over, to try again
	streak          int                  // unreadable in a row
	retry           bool
	notBefore       time.Time
	wait            time.Duration // of this retry round; doubled for the next
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
	current := auditItems(views, rep.Released)
	if s.round != nil && s.round.retry && !now.Before(s.nextFixity) {
		s.round = nil // a full round is due: it reads those items too
	}
	if s.round == nil {
		if now.Before(s.nextFixity) {
			return
		}
		s.round = &fixityRound{started: now, items: current}
		s.nextFixity = now.Add(s.cfg.FixityEvery)
		s.log.Info("fixity round started", "items", len(current))
	}
	if now.Before(s.round.notBefore) {
		return
	}
	live := make(map[string]bool, len(current))
	for _, it := range current {
		live[it.Key] = true
	}
	s.fixitySlice(ctx, now.Add(s.tick), live, rep)
	r := s.round
	if rep.FixityRemaining = len(r.items) - r.next; rep.FixityRemaining == 0 {
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
			s.round = &fixityRound{started: now, items: r.unreadable, retry: true, notBefore: now.Add(wait), wait: wait}
			s.log.Warn("fixity: items that could not be read are tried again", "items", len(r.unreadable), "at", now.Add(wait))
		}
	}
}

// fixitySlice checks the round's next items until the clock reaches end.
// Items no longer live (their order released or purged since the round
// began) are passed over. An error leaves the item for the next Step.
func (s *Scheduler) fixitySlice(ctx context.Context, end time.Time, live map[string]bool, rep *Report) {
	r := s.round
	for r.next < len(r.items) && s.now().Before(end) {
		it := r.items[r.next]
		if live[it.Key] {
			unread, err := s.checkItem(ctx, it, rep, r.streak+1 == unreadableStreak)
			if err != nil {
				if ctx.Err() == nil {
					s.fail(rep, "fixity round paused; it goes on at the next step", err, "order", it.Order, "key", it.Key)
				}
				return
			}
			if unread {
				r.streak++
				r.unreadable = append(r.unreadable, it)
			} else {
				r.streak = 0
			}
		}
		r.next++
	}
}

// checkItem checks one item; capture.Fixity logs fixity.verified or
// fixity.failed. An item that cannot be read is reported (unread) and
// passed over, so that one unreadable item does not hold up the round;
// but when it is the last of a streak (several in a row), the store is
// taken to refuse every read, and the round pauses on it. Its error (a
// store that does not answer or refuses, a log that did not take the
// result, ctx done) leaves the item to check again.
func (s *Scheduler) checkItem(ctx context.Context, it capture.LoggedItem, rep *Report, lastOfStreak bool) (unread bool, err error) {
	if err := s.audit.open(ctx, it.Key); err != nil {
		return false, fmt.Errorf("fixity of %s: %w", it.Key, err)
	}
	defer s.audit.discard()
	for res, err := range s.fixity.Run(ctx, []capture.LoggedItem{it}) {
		if err != nil {
			return false, err
		}
		if res.Unchecked != nil {
			if lastOfStreak {
				return false, fmt.Errorf("fixity of %s: %d items in a row could not be read: %w", it.Key, unreadableStreak, res.Unchecked)
			}
			rep.FixityUnchecked++
			s.fail(rep, "fixity: an item could not be read and was not checked; it is tried again later", res.Unchecked, "order", it.Order, "key", it.Key)
			return true, nil
		}
		rep.FixityChecked++
		s.round.checked++
		if res.Err != nil {
			rep.FixityFailed++
			s.round.failed++
			s.log.Error("fixity failed", "order", it.Order, "key", it.Key, "sha256", it.Digest.SHA256, "error", res.Err)
		}
	}
	return false, ctx.Err()
}

// auditItems lists the items the fixity rounds check: those stored (not
// only spooled) of the orders still preserved, that is neither released
// (a purge may delete their items at any moment) nor purged, nor among
// skip.
func auditItems(views []*agent.OrderView, skip []string) []capture.LoggedItem {
	var items []capture.LoggedItem
	for _, v := range views {
		st := v.State
		if s := v.Order.Status; s == order.StatusReleased || s == order.StatusPurged || slices.Contains(skip, st.ID) {
			continue
		}
		for _, sum := range st.ItemOrder {
			if st.Spooled[sum] {
				continue
			}
			items = append(items, capture.LoggedItem{Order: st.ID, Key: capture.ItemKey(st.ID, sum), Digest: st.Items[sum], Size: -1})
		}
	}
	return items
}
