package scheduler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/custos-evidence/custos/agent"
)

// fixityRound is a fixity audit of every item preserved when it started,
// checked a slice per Step.
type fixityRound struct {
	started                    time.Time
	items                      []agent.LoggedItem
	next                       int
	checked, failed, unchecked int
}

// setupFixity makes the scheduler's copy of the fixity checker: its
// Actor, its clock, and the store read through auditStore.
func (s *Scheduler) setupFixity() {
	if s.cfg.FixityEvery == 0 {
		return
	}
	fx := agent.Fixity{Store: s.reg.Store, Log: s.reg.Log, Agent: s.reg.Agent, Host: s.reg.Host}
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
	if s.round == nil {
		if now.Before(s.nextFixity) {
			return
		}
		s.round = &fixityRound{started: now, items: current}
		s.nextFixity = now.Add(s.cfg.FixityEvery)
		s.log.Info("fixity round started", "items", len(current))
	}
	live := make(map[string]bool, len(current))
	for _, it := range current {
		live[it.Key] = true
	}
	s.fixitySlice(ctx, now.Add(s.tick), live, rep)
	r := s.round
	if rep.FixityRemaining = len(r.items) - r.next; rep.FixityRemaining == 0 {
		s.log.Info("fixity round complete", "checked", r.checked, "failed", r.failed, "unchecked", r.unchecked, "started", r.started)
		s.state.setFixityRound(r.started)
		s.round = nil
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
			if err := s.checkItem(ctx, it, rep); err != nil {
				if ctx.Err() == nil {
					s.fail(rep, "fixity round paused; it goes on at the next step", err, "order", it.Order, "key", it.Key)
				}
				return
			}
		}
		r.next++
	}
}

// checkItem checks one item; agent.Fixity logs fixity.verified or
// fixity.failed. An item that cannot be read is reported and passed over,
// so that one unreadable item does not hold up the round. Its error (a
// store that does not answer, a log that did not take the result, ctx
// done) leaves the item to check again.
func (s *Scheduler) checkItem(ctx context.Context, it agent.LoggedItem, rep *Report) error {
	if err := s.audit.open(ctx, it.Key); err != nil {
		return fmt.Errorf("fixity of %s: %w", it.Key, err)
	}
	defer s.audit.discard()
	for res, err := range s.fixity.Run(ctx, []agent.LoggedItem{it}) {
		if err != nil {
			return err
		}
		if res.Unchecked != nil {
			rep.FixityUnchecked++
			s.round.unchecked++
			s.fail(rep, "fixity: an item could not be read and was not checked", res.Unchecked, "order", it.Order, "key", it.Key)
			continue
		}
		rep.FixityChecked++
		s.round.checked++
		if res.Err != nil {
			rep.FixityFailed++
			s.round.failed++
			s.log.Error("fixity failed", "order", it.Order, "key", it.Key, "sha256", it.Digest.SHA256, "error", res.Err)
		}
	}
	return ctx.Err()
}

// auditItems lists the items the fixity rounds check: those stored (not
// only spooled) of the orders still preserved, that is neither released
// (a purge may delete their items at any moment) nor purged, nor among
// skip.
func auditItems(views []*agent.OrderView, skip []string) []agent.LoggedItem {
	var items []agent.LoggedItem
	for _, v := range views {
		st := v.State
		if s := v.Order.Status; s == agent.StatusReleased || s == agent.StatusPurged || slices.Contains(skip, st.ID) {
			continue
		}
		for _, sum := range st.ItemOrder {
			if st.Spooled[sum] {
				continue
			}
			items = append(items, agent.LoggedItem{Order: st.ID, Key: agent.ItemKey(st.ID, sum), Digest: st.Items[sum], Size: -1})
		}
	}
	return items
}
