package scheduler_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/chain"
)

// addProduction receives a domestic production order (custom profile)
// with its flags, now.
func (f *fixture) addProduction(t *testing.T, emergency, notified bool) *order.Order {
	t.Helper()
	return f.receive(t, order.Flags{
		Reference: "PROD-1", Authority: "Landgericht Berlin", RequestingState: "DE", Profile: "custom", LegalBasis: "StPO 95",
		Selectors: []string{"email:" + selector}, Categories: "content", Expires: "60d",
		Production: true, Emergency: emergency, AuthorityNotified: notified,
	})
}

// restart replaces f's registry by a new one over the same log, store and
// order book, as a restarted daemon has: nothing is remembered but what
// the log says. It returns a new scheduler over it, without a state file.
func (f *fixture) restart(t *testing.T) *scheduler.Scheduler {
	t.Helper()
	old := f.reg.Config
	reg, err := agent.New(agent.Config{
		Log: f.log, Store: f.store, Profiles: old.Profiles, Capturer: old.Capturer, Agent: old.Agent, Host: old.Host, Now: f.clk.Now,
		Book: &agent.OrderBook{Dir: filepath.Join(f.dir, "orders"), Store: f.store},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	return f.scheduler(t, f.config())
}

// confirmRequester records a confirmed check of order id's requester,
// as every disclosure needs (issue 17 item 4).
func (f *fixture) confirmRequester(t *testing.T, id string) {
	t.Helper()
	if _, err := f.reg.VerifyRequester(context.Background(), id, agent.RequesterVerification{Method: chain.MethodCallback, Confirmed: true,
		Note: "called the authority back on its published number", Actor: "custodian@example.net"}); err != nil {
		t.Fatalf("verify requester of %s: %v", id, err)
	}
}

// deadlineEvents are the deadline events of order id, as "type[:share]".
func (f *fixture) deadlineEvents(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, e := range f.events(t, id) {
		if !strings.HasPrefix(string(e.Type), "deadline.") {
			continue
		}
		s := string(e.Type)
		if sh := e.Details["share"]; sh != "" {
			s += ":" + sh
		}
		out = append(out, s)
	}
	return out
}

// stepAt sets the clock to at and runs a Step.
func (f *fixture) stepAt(t *testing.T, s *scheduler.Scheduler, at time.Time) *scheduler.Report {
	t.Helper()
	f.clk.Set(at)
	return step(t, s)
}

func TestDeadlineEmergencyWarnsAndMissesOnceAcrossRestarts(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addProduction(t, true, false)
	s := f.scheduler(t, f.config())
	due := t0.Add(8 * time.Hour)
	if got := f.deadlineEvents(t, o.ID); !slices.Equal(got, []string{"deadline.set"}) {
		t.Fatalf("at receipt: %v", got)
	}
	if rep := f.stepAt(t, s, t0.Add(4*time.Hour-time.Second)); len(rep.DeadlineWarned) != 0 {
		t.Fatalf("warned a second before half the time: %+v", rep)
	}
	if rep := f.stepAt(t, s, t0.Add(4*time.Hour)); !slices.Equal(rep.DeadlineWarned, []string{o.ID}) {
		t.Fatalf("at half the time: %+v", rep)
	}
	step(t, s)
	s = f.restart(t)
	if rep := step(t, s); len(rep.DeadlineWarned) != 0 {
		t.Fatalf("warned again after a restart: %+v", rep)
	}
	if rep := f.stepAt(t, s, t0.Add(6*time.Hour+24*time.Minute)); !slices.Equal(rep.DeadlineWarned, []string{o.ID}) {
		t.Fatalf("at 80 %% of the time: %+v", rep)
	}
	if rep := f.stepAt(t, s, due.Add(-time.Second)); len(rep.DeadlineMissed) != 0 || len(rep.DeadlineWarned) != 0 {
		t.Fatalf("a second before the due time: %+v", rep)
	}
	if rep := f.stepAt(t, s, due); !slices.Equal(rep.DeadlineMissed, []string{o.ID}) {
		t.Fatalf("at the due time: %+v", rep)
	}
	step(t, s)
	s = f.restart(t)
	if rep := f.stepAt(t, s, due.Add(time.Hour)); len(rep.DeadlineMissed) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("missed again after a restart: %+v", rep)
	}
	want := []string{"deadline.set", "deadline.warning:50", "deadline.warning:80", "deadline.missed"}
	if got := f.deadlineEvents(t, o.ID); !slices.Equal(got, want) {
		t.Fatalf("deadline events %v, want %v", got, want)
	}
	if lines := f.logs.lines(t, "production deadline missed"); len(lines) != 1 {
		t.Fatalf("%d missed log lines, want 1:\n%s", len(lines), f.logs)
	}
	// The set event says which rule and inputs it used.
	for _, e := range f.events(t, o.ID) {
		if e.Type == chain.DeadlineSet {
			d, err := chain.ReadDeadlineDetails(e)
			if err != nil || d.Rule != order.RuleEmergency || !d.Due.Equal(due) || !d.Emergency || d.AuthorityNotified || !d.ReceivedAt.Equal(t0) {
				t.Fatalf("deadline.set %v: %+v, %v", e.Details, d, err)
			}
		}
	}
}

func TestDeadlineTenDaysMetByADisclosure(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addProduction(t, false, false)
	f.capture(t, o.ID, map[string]string{"mail-1.eml": "From: alice"})
	f.confirmRequester(t, o.ID)
	s := f.scheduler(t, f.config())
	// Down across both shares: one warning, the later one, once.
	if rep := f.stepAt(t, s, t0.Add(8*day+time.Hour)); !slices.Equal(rep.DeadlineWarned, []string{o.ID}) {
		t.Fatalf("at 8 days: %+v", rep)
	}
	f.clk.Set(t0.Add(9 * day))
	if _, err := f.reg.Disclose(context.Background(), o.ID, agent.DiscloseOptions{Out: filepath.Join(t.TempDir(), "p.zip"), Actor: "discloser@example.net"}); err != nil {
		t.Fatal(err)
	}
	s = f.restart(t)
	if rep := f.stepAt(t, s, t0.Add(11*day)); len(rep.DeadlineMissed) != 0 || len(rep.DeadlineMet) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("after a disclosure in time: %+v", rep)
	}
	want := []string{"deadline.set", "deadline.warning:80", "deadline.met"}
	if got := f.deadlineEvents(t, o.ID); !slices.Equal(got, want) {
		t.Fatalf("deadline events %v, want %v", got, want)
	}
}

func TestDeadlineReviewHoldsProductionUntilConfirmedAndObjectionStopsIt(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	held := f.addProduction(t, false, true)
	objected := f.addProduction(t, false, true)
	for _, id := range []string{held.ID, objected.ID} {
		f.capture(t, id, map[string]string{"mail-1.eml": "From: alice"})
		f.confirmRequester(t, id)
	}
	s := f.scheduler(t, f.config())
	due := t0.Add(10 * day)
	f.clk.Set(t0.Add(2 * day))
	out := filepath.Join(t.TempDir(), "p.zip")
	if _, err := f.reg.Disclose(ctx, held.ID, agent.DiscloseOptions{Out: out, Actor: "discloser@example.net"}); err == nil ||
		!errors.Is(err, order.ErrIllegalTransition) || !strings.Contains(err.Error(), "waits for the enforcing authority's review until "+due.Format(time.RFC3339)) {
		t.Fatalf("disclosed during the review: %v", err)
	}
	if _, err := f.reg.Review(ctx, objected.ID, order.ReviewObjected, "letter of the enforcing authority, ground art. 12(1)(a)", "custodian@example.net"); err != nil {
		t.Fatal(err)
	}
	if rep := f.stepAt(t, s, t0.Add(5*day)); !slices.Equal(rep.DeadlineWarned, []string{held.ID}) {
		t.Fatalf("at half the review: %+v", rep)
	}
	s = f.restart(t)
	f.clk.Set(t0.Add(6 * day))
	if _, err := f.reg.Review(ctx, held.ID, order.ReviewConfirmed, "e-mail of the enforcing authority: no ground for refusal", "custodian@example.net"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Review(ctx, held.ID, order.ReviewObjected, "again", "custodian@example.net"); !errors.Is(err, order.ErrIllegalTransition) {
		t.Fatalf("a second review: %v", err)
	}
	if rep := step(t, s); len(rep.DeadlineWarned) != 0 {
		t.Fatalf("warned again after the confirmation (same due time): %+v", rep)
	}
	f.clk.Set(t0.Add(7 * day))
	if _, err := f.reg.Disclose(ctx, held.ID, agent.DiscloseOptions{Out: out, Actor: "discloser@example.net"}); err != nil {
		t.Fatalf("disclosed after the confirmation: %v", err)
	}
	if _, err := f.reg.Disclose(ctx, objected.ID, agent.DiscloseOptions{Out: filepath.Join(t.TempDir(), "o.zip"), Actor: "discloser@example.net"}); err == nil ||
		!strings.Contains(err.Error(), "objected") {
		t.Fatalf("disclosed after an objection: %v", err)
	}
	if rep := f.stepAt(t, s, due.Add(time.Hour)); len(rep.DeadlineMissed) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("after the due time: %+v", rep)
	}
	if got, want := f.deadlineEvents(t, held.ID), []string{"deadline.set", "deadline.warning:50", "deadline.set", "deadline.met"}; !slices.Equal(got, want) {
		t.Fatalf("confirmed order: deadline events %v, want %v", got, want)
	}
	if got, want := f.deadlineEvents(t, objected.ID), []string{"deadline.set", "deadline.set"}; !slices.Equal(got, want) {
		t.Fatalf("objected order: deadline events %v, want %v", got, want)
	}
	// The objected order stays preserved until its expiry.
	if st := f.status(t, objected.ID); st != order.StatusPreserved {
		t.Fatalf("objected order is %s", st)
	}
	evs := f.events(t, held.ID)
	var sets []chain.DeadlineDetails
	for _, e := range evs {
		if e.Type == chain.DeadlineSet {
			d, err := chain.ReadDeadlineDetails(e)
			if err != nil {
				t.Fatal(err)
			}
			sets = append(sets, d)
		}
	}
	if sets[0].Rule != order.RuleReview || !sets[0].ProduceFrom.Equal(due) || !sets[1].ProduceFrom.Equal(t0.Add(6*day)) || sets[1].Review != "confirmed" {
		t.Fatalf("deadline.set details: %+v", sets)
	}
}

// With a webhook, each warning and the miss are posted once, signed, and
// a notice the webhook refused is posted again at the next Step; the
// state file keeps a restart from posting one twice.
func TestDeadlineNoticesPostedOnceAcrossRestarts(t *testing.T) {
	f := newFixture(t, 0)
	cfg, rcv := f.webhookConfig(t)
	o := f.addProduction(t, true, false)
	s := f.scheduler(t, cfg)
	f.stepAt(t, s, t0.Add(4*time.Hour))
	rcv.setFailing(true)
	if rep := f.stepAt(t, s, t0.Add(7*time.Hour)); !slices.Equal(rep.DeadlineWarned, []string{o.ID}) || len(rep.Errors) != 1 {
		t.Fatalf("80 %% while the webhook is down: %+v", rep)
	}
	rcv.setFailing(false)
	s = f.scheduler(t, cfg)
	if rep := step(t, s); len(rep.DeadlineWarned) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("after a restart: %+v", rep)
	}
	f.stepAt(t, s, t0.Add(8*time.Hour))
	s = f.scheduler(t, cfg)
	step(t, s)
	got, attempts := rcv.received()
	var types []string
	for _, r := range got {
		types = append(types, r.Type+"@"+r.Delivery[strings.LastIndex(r.Delivery, "/")+1:])
		if r.Order != o.ID || r.Reference != "PROD-1" {
			t.Errorf("notice %+v", r)
		}
	}
	want := []string{"custos.order.deadline_warning@50", "custos.order.deadline_warning@80", "custos.order.deadline_missed@missed"}
	if !slices.Equal(types, want) || attempts != 4 {
		t.Fatalf("webhook got %v in %d requests, want %v in 4", types, attempts, want)
	}
	f.checkNoSecretLogged(t, cfg)
}
