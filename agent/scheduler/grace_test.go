package scheduler_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/scheduler"
)

// addShortOrder receives a custom-profile order that expires after
// expires (a duration such as "2d") now.
func (f *fixture) addShortOrder(t *testing.T, expires string) *order.Order {
	t.Helper()
	return f.receive(t, order.Flags{
		Reference: "LE-2", Authority: "Court", RequestingState: "US", Profile: "custom", LegalBasis: "as stated",
		Selectors: []string{"email:" + selector}, Categories: "content", Expires: expires,
	})
}

// TestNoAutomaticPurgeWithinTheGrace (issue 19): an order that expires
// two days after its receipt is released at its expiry but not purged
// until the purge grace (7 days by default) has passed since its receipt;
// the deferral is said once in the log. A person's purge is not bound by
// the grace.
func TestNoAutomaticPurgeWithinTheGrace(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addShortOrder(t, "2d")
	f.capture(t, o.ID, map[string]string{"a.eml": "first\n"})
	other := f.addShortOrder(t, "2d")
	f.capture(t, other.ID, map[string]string{"b.eml": "second\n"})
	s := f.scheduler(t, autoReleaseConfig(f))
	received := f.clk.Now()

	for _, after := range []time.Duration{3 * day, 6 * day, 7*day - time.Second} {
		f.clk.Set(received.Add(after))
		rep := step(t, s)
		if len(rep.Purged)+len(rep.PurgeKept) != 0 || !slices.Contains(rep.PurgeDeferred, o.ID) || len(rep.Errors) != 0 {
			t.Fatalf("%v after receipt: %+v, want the purge deferred", after, rep)
		}
		if after == 3*day && !slices.Equal(rep.Released, []string{o.ID, other.ID}) {
			t.Fatalf("not released at expiry: %+v", rep)
		}
		if after == 3*day {
			if _, err := f.reg.Purge(context.Background(), other.ID, "the authority withdrew the order", "custodian@example.net"); err != nil {
				t.Fatalf("a person's purge within the grace: %v", err)
			}
		}
	}
	if st := f.status(t, o.ID); st != order.StatusReleased {
		t.Fatalf("status %s within the grace, want released", st)
	}
	if got := eventTypes(f.events(t, o.ID)); strings.Contains(got, "item.purged") {
		t.Fatalf("purged within the grace: %s", got)
	}
	if st := f.status(t, other.ID); st != order.StatusPurged {
		t.Fatalf("the order a person purged is %s", st)
	}
	said := 0
	for _, l := range f.logs.lines(t, "expired order received less than the purge grace ago: not purged automatically before then") {
		if l["order"] == o.ID {
			said++
		}
	}
	if said != 1 {
		t.Errorf("the deferral logged %d times, want once", said)
	}

	f.clk.Set(received.Add(7 * day))
	if rep := step(t, s); !slices.Equal(rep.Purged, []string{o.ID}) || len(rep.PurgeDeferred) != 0 {
		t.Fatalf("once the grace has passed: %+v", rep)
	}
	if st := f.status(t, o.ID); st != order.StatusPurged {
		t.Fatalf("status %s after the grace, want purged", st)
	}
}

// TestPurgeGraceIsConfigurable: a shorter grace lets the purge follow
// the release; a negative one is refused.
func TestPurgeGraceIsConfigurable(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addShortOrder(t, "2d")
	f.capture(t, o.ID, map[string]string{"a.eml": "first\n"})
	cfg := autoReleaseConfig(f)
	cfg.PurgeGrace = 3 * day
	s := f.scheduler(t, cfg)
	received := f.clk.Now()
	f.clk.Set(o.ExpiresAt.Add(time.Hour)) // 2 days to the end of the day: before the grace's 3
	if rep := step(t, s); !slices.Equal(rep.Released, []string{o.ID}) || !slices.Equal(rep.PurgeDeferred, []string{o.ID}) {
		t.Fatalf("before the grace: %+v", rep)
	}
	f.clk.Set(received.Add(3 * day))
	if rep := step(t, s); !slices.Equal(rep.Purged, []string{o.ID}) {
		t.Fatalf("after a grace of 3 days: %+v", rep)
	}
	cfg.PurgeGrace = -time.Hour
	if _, err := scheduler.New(cfg); err == nil || !strings.Contains(err.Error(), "purge grace") {
		t.Fatalf("a negative grace: %v", err)
	}
}
