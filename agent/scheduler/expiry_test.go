package scheduler_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/chain"
)

func autoReleaseConfig(f *fixture) scheduler.Config {
	cfg := f.config()
	cfg.AutoRelease = true
	return cfg
}

func TestExpiredOrderIsReleasedThenPurged(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	f.capture(t, o.ID, map[string]string{"a.eml": "first\n", "b.eml": "second\n"})
	f.clk.Add(day)
	keep := f.addOrder(t, "us-2703f") // received a day later: expires a day later
	s := f.scheduler(t, autoReleaseConfig(f))

	f.clk.Set(o.ExpiresAt) // the last second of the order
	if rep := step(t, s); len(rep.Released)+len(rep.Purged) != 0 {
		t.Fatalf("released at its expiry, not after: %+v", rep)
	}
	f.clk.Add(time.Second)
	rep := step(t, s)
	if !slices.Equal(rep.Released, []string{o.ID}) || !slices.Equal(rep.Purged, []string{o.ID}) || len(rep.Errors) != 0 {
		t.Fatalf("step after the expiry: %+v", rep)
	}
	if st := f.status(t, o.ID); st != order.StatusPurged {
		t.Fatalf("status %s, want purged", st)
	}
	evs := f.events(t, o.ID)
	if got := eventTypes(evs); !strings.HasSuffix(got, "order.released item.purged item.purged order.amended") {
		t.Fatalf("events: %s", got)
	}
	rel := evs[len(evs)-4]
	wantReason := "expired: automatic release at " + o.ExpiresAt.UTC().Format(time.RFC3339)
	if rel.Reason != wantReason || rel.Actor != "custos scheduler (agent-1)" || rel.Details["previous_status"] != "preserved" {
		t.Fatalf("release event: %+v", rel)
	}
	for _, e := range evs[len(evs)-3:] {
		if e.Reason != scheduler.PurgeReason || e.Actor != "custos scheduler (agent-1)" {
			t.Fatalf("purge event: %+v", e)
		}
	}
	if st := f.status(t, keep.ID); st != order.StatusReceived {
		t.Fatalf("the order not yet expired is %s", st)
	}
	f.clk.Add(time.Hour)
	if rep := step(t, s); len(rep.Released)+len(rep.Purged)+len(rep.PurgeKept)+len(rep.Errors) != 0 {
		t.Fatalf("a second step did more: %+v", rep)
	}
}

func TestPurgeIsRetriedWhileTheStoreStillRetains(t *testing.T) {
	f := newFixture(t, 2*time.Hour) // the store's clock is two hours behind
	o := f.addOrder(t, "us-2703f")
	f.capture(t, o.ID, map[string]string{"a.eml": "first\n"})
	s := f.scheduler(t, autoReleaseConfig(f))

	f.clk.Set(o.ExpiresAt.Add(time.Second))
	rep := step(t, s)
	if !slices.Equal(rep.Released, []string{o.ID}) || !slices.Equal(rep.PurgeKept, []string{o.ID}) || len(rep.Purged) != 0 {
		t.Fatalf("step after the expiry: %+v", rep)
	}
	f.clk.Add(time.Hour)
	if rep := step(t, s); !slices.Equal(rep.PurgeKept, []string{o.ID}) || len(rep.Released) != 0 {
		t.Fatalf("retry with the store still retaining: %+v", rep)
	}
	if st := f.status(t, o.ID); st != order.StatusReleased {
		t.Fatalf("status %s, want released", st)
	}
	f.clk.Add(time.Hour)
	if rep := step(t, s); !slices.Equal(rep.Purged, []string{o.ID}) || len(rep.Errors) != 0 {
		t.Fatalf("retry once the retention passed: %+v", rep)
	}
	if got := eventTypes(f.events(t, o.ID)); strings.Count(got, "order.released") != 1 || !strings.HasSuffix(got, "order.released item.purged order.amended") {
		t.Fatalf("events: %s", got)
	}
}

func TestHeldOrderGetsNoReminderAndIsNotReleased(t *testing.T) {
	f := newFixture(t, 0)
	cfg, rcv := f.webhookConfig(t)
	cfg.AutoRelease = true
	o := f.addOrder(t, "budapest-29")
	f.capture(t, o.ID, map[string]string{"a.eml": "first\n"})
	if _, _, err := f.reg.Hold(context.Background(), o.ID, "MLA request 2026/17 received", "custodian@example.net"); err != nil {
		t.Fatal(err)
	}
	s := f.scheduler(t, cfg)
	for _, at := range []time.Time{o.ExpiresAt.Add(-14 * day), o.ExpiresAt.Add(-2 * day), o.ExpiresAt.Add(time.Second), o.ExpiresAt.Add(30 * day)} {
		f.clk.Set(at)
		if rep := step(t, s); len(rep.Reminded)+len(rep.Released)+len(rep.Purged)+len(rep.Errors) != 0 {
			t.Fatalf("step at %s touched the held order: %+v", at, rep)
		}
	}
	if got, attempts := rcv.received(); len(got) != 0 || attempts != 0 {
		t.Fatalf("webhook called for a held order: %+v", got)
	}
	if st := f.status(t, o.ID); st != order.StatusHeld {
		t.Fatalf("status %s, want held", st)
	}
	if got := eventTypes(f.events(t, o.ID)); strings.Contains(got, "order.released") || strings.Contains(got, "item.purged") {
		t.Fatalf("events: %s", got)
	}

	// The hold lifted after the expiry: the order is due at once.
	if _, _, err := f.reg.LiftHold(context.Background(), o.ID, "MLA request refused", "custodian@example.net"); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(time.Minute)
	if rep := step(t, s); !slices.Equal(rep.Released, []string{o.ID}) || !slices.Equal(rep.Purged, []string{o.ID}) {
		t.Fatalf("step after the hold was lifted: %+v", rep)
	}
}

func TestExtendedOrderIsNotReleasedAtItsOldExpiry(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	f.capture(t, o.ID, map[string]string{"a.eml": "first\n"})
	s := f.scheduler(t, autoReleaseConfig(f))
	f.clk.Set(o.ExpiresAt.Add(-3 * day))
	n, _, err := f.reg.Extend(context.Background(), o.ID, time.Time{}, "18 U.S.C. 2703(f)(2) renewal", "custodian@example.net")
	if err != nil {
		t.Fatal(err)
	}
	if !n.ExpiresAt.After(o.ExpiresAt.Add(80 * day)) {
		t.Fatalf("extended to %s", n.ExpiresAt)
	}
	f.clk.Set(o.ExpiresAt.Add(time.Second))
	if rep := step(t, s); len(rep.Released)+len(rep.Purged)+len(rep.Reminded) != 0 {
		t.Fatalf("step after the old expiry: %+v", rep)
	}
	if st := f.status(t, o.ID); st != order.StatusExtended {
		t.Fatalf("status %s, want extended", st)
	}
	f.clk.Set(n.ExpiresAt.Add(-14 * day))
	if rep := step(t, s); !slices.Equal(rep.Reminded, []string{o.ID}) {
		t.Fatalf("no reminder before the new expiry: %+v", rep)
	}
	f.clk.Set(n.ExpiresAt.Add(time.Second))
	if rep := step(t, s); !slices.Equal(rep.Released, []string{o.ID}) || !slices.Equal(rep.Purged, []string{o.ID}) {
		t.Fatalf("step after the new expiry: %+v", rep)
	}
	evs := f.events(t, o.ID)
	for _, e := range evs {
		if e.Type == chain.OrderReleased && !strings.Contains(e.Reason, n.ExpiresAt.UTC().Format(time.RFC3339)) {
			t.Fatalf("release names %q, want the new expiry", e.Reason)
		}
	}
}

func TestADamagedOrderRecordDoesNotStopTheOthers(t *testing.T) {
	f := newFixture(t, 0)
	damaged := f.addOrder(t, "us-2703f")
	f.clk.Add(day)
	o := f.addOrder(t, "us-2703f")
	records, err := filepath.Glob(filepath.Join(f.dir, "orders", damaged.ID, "order-*.json"))
	if err != nil || len(records) == 0 {
		t.Fatalf("records of %s: %v %v", damaged.ID, records, err)
	}
	for _, p := range records {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), "LE-1", "LE-2", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := f.scheduler(t, autoReleaseConfig(f))
	f.clk.Set(o.ExpiresAt.Add(time.Second))
	rep := step(t, s)
	if !slices.Equal(rep.Released, []string{o.ID}) || !slices.Equal(rep.Purged, []string{o.ID}) {
		t.Fatalf("step with one record damaged: %+v", rep)
	}
	if len(rep.Errors) != 1 || !errors.Is(rep.Errors[0], chain.ErrTamper) || !strings.Contains(rep.Errors[0].Error(), damaged.ID) {
		t.Fatalf("errors: %v", rep.Errors)
	}
	if lines := f.logs.lines(t, "order unreadable: its deadlines are not kept"); len(lines) != 1 || lines[0]["order"] != damaged.ID {
		t.Fatalf("log lines: %v", lines)
	}
}
