package order

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// received has nanoseconds, as an order received by the agent's clock does:
// the deadline events must carry them.
var received = time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC)

func productionOrder(p *Production) *Order {
	return &Order{Version: Version, ID: "01KBXYZ0000000000000000000", Reference: "P-1", Authority: "Court", RequestingState: "DE",
		Profile: "custom", LegalBasis: "StPO 95", ReceivedAt: received, ExpiresAt: received.Add(60 * 24 * time.Hour),
		Selectors: []Selector{{Type: "account", Value: "a1"}}, Categories: []Category{CategoryContent}, Status: StatusPreserved, Production: p}
}

func review(o ReviewOutcome, at time.Time) *Review {
	return &Review{Outcome: o, At: at, Basis: "message of the enforcing authority", Actor: "custodian"}
}

func TestProductionDue(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name        string
		p           *Production
		rule        string
		due         time.Duration // after receipt
		produceFrom time.Duration
		stopped     bool
	}{
		{"ten days", &Production{}, RuleProduction, 10 * day, 0, false},
		{"emergency", &Production{Emergency: true}, RuleEmergency, 8 * time.Hour, 0, false},
		{"review pending", &Production{AuthorityNotified: true}, RuleReview, 10 * day, 10 * day, false},
		{"review confirmed early", &Production{AuthorityNotified: true, Review: review(ReviewConfirmed, received.Add(3*day))}, RuleReview, 10 * day, 3 * day, false},
		{"review confirmed after its end", &Production{AuthorityNotified: true, Review: review(ReviewConfirmed, received.Add(11*day))}, RuleReview, 10 * day, 10 * day, false},
		{"review objected", &Production{AuthorityNotified: true, Review: review(ReviewObjected, received.Add(2*day))}, RuleReview, 10 * day, 10 * day, true},
		{"emergency, notified: no hold", &Production{Emergency: true, AuthorityNotified: true}, RuleEmergency, 8 * time.Hour, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := productionOrder(tc.p)
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			d, ok := o.ProductionDue()
			if !ok || d.Rule != tc.rule || !d.Due.Equal(received.Add(tc.due)) || !d.ProduceFrom.Equal(received.Add(tc.produceFrom)) || d.Stopped != tc.stopped {
				t.Fatalf("ProductionDue = %+v, %v; want rule %s due +%v produce from +%v stopped %v", d, ok, tc.rule, tc.due, tc.produceFrom, tc.stopped)
			}
			e, err := o.DeadlineSetEvent(Change{Actor: "a", Agent: "agent-1", At: received})
			if err != nil {
				t.Fatal(err)
			}
			back, err := chain.ReadDeadlineDetails(e)
			if err != nil || !back.Due.Equal(d.Due) || back.Rule != tc.rule || (back.State == chain.DeadlineStateStopped) != tc.stopped || !back.ReceivedAt.Equal(received) {
				t.Fatalf("deadline.set details %v read back as %+v, %v", e.Details, back, err)
			}
		})
	}
	if _, ok := productionOrder(nil).ProductionDue(); ok {
		t.Fatal("a preservation order has a production deadline")
	}
}

func released(o *Order) *Order {
	c := o.clone()
	c.Status = StatusReleased
	return c
}

func TestProductionDuty(t *testing.T) {
	ten := productionOrder(&Production{})
	eight := productionOrder(&Production{Emergency: true})
	tenDue, eightDue := received.Add(10*24*time.Hour), received.Add(8*time.Hour)
	c := Change{Actor: "scheduler", Agent: "agent-1"}
	for _, tc := range []struct {
		name     string
		o        *Order
		at       time.Duration
		logged   DeadlineLogged
		produced time.Duration   // after receipt; 0 for none
		want     chain.EventType // "" for nothing
		share    int
	}{
		{"10d: no deadline.set logged", ten, time.Hour, DeadlineLogged{}, 0, chain.DeadlineSet, 0},
		{"10d: another deadline.set logged", ten, time.Hour, DeadlineLogged{Due: eightDue}, 0, chain.DeadlineSet, 0},
		{"10d: before half", ten, 4 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, 0, "", 0},
		{"10d: at half", ten, 5 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, 0, chain.DeadlineWarning, 50},
		{"10d: half warned", ten, 6 * 24 * time.Hour, DeadlineLogged{Due: tenDue, Warned: 50}, 0, "", 0},
		{"10d: 80 % after half", ten, 8 * 24 * time.Hour, DeadlineLogged{Due: tenDue, Warned: 50}, 0, chain.DeadlineWarning, 80},
		{"10d: both passed unwarned: one, the latest", ten, 9 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, 0, chain.DeadlineWarning, 80},
		{"10d: passed", ten, 10 * 24 * time.Hour, DeadlineLogged{Due: tenDue, Warned: 80}, 0, chain.DeadlineMissed, 0},
		{"10d: missed once", ten, 11 * 24 * time.Hour, DeadlineLogged{Due: tenDue, Missed: true}, 0, "", 0},
		{"10d: produced in time", ten, 11 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, time.Hour, chain.DeadlineMet, 0},
		{"10d: met once", ten, 11 * 24 * time.Hour, DeadlineLogged{Due: tenDue, Met: true}, time.Hour, "", 0},
		{"10d: produced late, while no one looked", ten, 12 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, 11 * 24 * time.Hour, chain.DeadlineMissed, 0},
		{"8h: at 4h", eight, 4 * time.Hour, DeadlineLogged{Due: eightDue}, 0, chain.DeadlineWarning, 50},
		{"8h: at 6h24", eight, 6*time.Hour + 24*time.Minute, DeadlineLogged{Due: eightDue, Warned: 50}, 0, chain.DeadlineWarning, 80},
		{"8h: passed", eight, 8 * time.Hour, DeadlineLogged{Due: eightDue}, 0, chain.DeadlineMissed, 0},
		{"objected: nothing", productionOrder(&Production{AuthorityNotified: true, Review: review(ReviewObjected, received)}), 11 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, 0, "", 0},
		{"no production order", productionOrder(nil), 11 * 24 * time.Hour, DeadlineLogged{}, 0, "", 0},
		{"released unproduced: ended", released(ten), 11 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, 0, "", 0},
		{"released after production in time: met", released(ten), 11 * 24 * time.Hour, DeadlineLogged{Due: tenDue}, time.Hour, chain.DeadlineMet, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var produced time.Time
			if tc.produced != 0 {
				produced = received.Add(tc.produced)
			}
			e, err := tc.o.Duty(received.Add(tc.at), produced, tc.logged, c)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && e != nil:
				t.Fatalf("Duty = %s %v, want nothing", e.Type, e.Details)
			case tc.want == "":
				return
			case e == nil || e.Type != tc.want:
				t.Fatalf("Duty = %+v, want %s", e, tc.want)
			}
			d, err := chain.ReadDeadlineDetails(e)
			if err != nil || d.Share != tc.share {
				t.Fatalf("%s details %v: share %d, %v; want share %d", e.Type, e.Details, d.Share, err, tc.share)
			}
		})
	}
}

func TestProductionReview(t *testing.T) {
	c := Change{Actor: "custodian", Agent: "agent-1", At: received.Add(2 * 24 * time.Hour), Reason: "mail of the enforcing authority, 3 Dec"}
	notified := productionOrder(&Production{AuthorityNotified: true})
	n, e, err := notified.Review(ReviewConfirmed, false, c)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != chain.OrderReviewed || e.Details["review"] != "confirmed" || notified.Production.Review != nil {
		t.Fatalf("review event %s %v; original changed: %v", e.Type, e.Details, notified.Production.Review != nil)
	}
	if d, _ := n.ProductionDue(); !d.ProduceFrom.Equal(c.At) {
		t.Fatalf("confirmed: produce from %s, want %s", d.ProduceFrom, c.At)
	}
	if err := n.CheckProduce(c.At); err != nil {
		t.Fatalf("confirmed, then disclosed: %v", err)
	}
	if err := notified.CheckProduce(c.At); err == nil || !strings.Contains(err.Error(), "waits for the enforcing authority's review") {
		t.Fatalf("disclosed during the review: %v", err)
	}
	obj, _, err := notified.Review(ReviewObjected, false, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := obj.CheckProduce(received.Add(20 * 24 * time.Hour)); err == nil || !strings.Contains(err.Error(), "objected") {
		t.Fatalf("disclosed after an objection: %v", err)
	}
	noReason := c
	noReason.Reason = ""
	for name, f := range map[string]func() error{
		"second review": func() error { _, _, err := n.Review(ReviewObjected, false, c); return err },
		"not notified": func() error {
			_, _, err := productionOrder(&Production{}).Review(ReviewConfirmed, false, c)
			return err
		},
		"no production":    func() error { _, _, err := productionOrder(nil).Review(ReviewConfirmed, false, c); return err },
		"produced already": func() error { _, _, err := notified.Review(ReviewObjected, true, c); return err },
		"unknown outcome":  func() error { _, _, err := notified.Review("maybe", false, c); return err },
		"no basis":         func() error { _, _, err := notified.Review(ReviewConfirmed, false, noReason); return err },
	} {
		if err := f(); !errors.Is(err, ErrIllegalTransition) && !errors.Is(err, ErrInvalidChange) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestProductionValidate(t *testing.T) {
	o := productionOrder(&Production{})
	o.Profile = "us-2703f"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "production: profile us-2703f has no production deadlines") {
		t.Fatalf("production under us-2703f: %v", err)
	}
	o = productionOrder(&Production{Review: review(ReviewConfirmed, received)})
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "not notified") {
		t.Fatalf("review of an order whose authority was not notified: %v", err)
	}
	o = productionOrder(&Production{AuthorityNotified: true, Review: review(ReviewConfirmed, received)})
	rec, err := Format(o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(rec)
	if err != nil || back.Production == nil || back.Production.Review == nil || back.Production.Review.Outcome != ReviewConfirmed {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestProductionState(t *testing.T) {
	o := productionOrder(&Production{AuthorityNotified: true})
	for _, tc := range []struct {
		at       time.Duration
		produced bool
		want     string
	}{
		{time.Hour, false, ProductionWaiting},
		{10 * 24 * time.Hour, false, ProductionMissed},
		{10 * 24 * time.Hour, true, ProductionProduced},
	} {
		var p time.Time
		if tc.produced {
			p = received.Add(tc.at)
		}
		if s := o.ProductionState(received.Add(tc.at), p); s.State != tc.want {
			t.Errorf("at +%v (produced %v): %s, want %s", tc.at, tc.produced, s.State, tc.want)
		}
	}
	if s := productionOrder(&Production{}).ProductionState(received, time.Time{}); s.State != ProductionOpen || s.Remaining != 10*24*time.Hour {
		t.Errorf("open: %+v", s)
	}
}

// An EPOC is a production order: its emergency flag (Section B) and
// whether the enforcing authority was notified (Section C) become typed
// fields, the second no longer kept verbatim.
func TestFormProduction(t *testing.T) {
	xml := string(readForm(t, "epoc-emergency.xml"))
	for _, tc := range []struct {
		name     string
		notified string
		want     Production
	}{
		{"emergency, not notified", "false", Production{Emergency: true}},
		{"emergency, notified", "true", Production{Emergency: true, AuthorityNotified: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(xml, "<epoc:EnforcingAuthorityNotified>false<", "<epoc:EnforcingAuthorityNotified>"+tc.notified+"<", 1)
			pf, err := ParseForm([]byte(src), orderNow)
			if err != nil {
				t.Fatal(err)
			}
			if p := pf.Draft.Production; p == nil || *p != tc.want {
				t.Fatalf("production %+v, want %+v", p, tc.want)
			}
			for _, f := range pf.Draft.Form.Fields {
				if strings.Contains(f.Path, "EnforcingAuthorityNotified") {
					t.Errorf("%s kept verbatim beside its typed field", f.Path)
				}
			}
		})
	}
	pf, err := ParseForm([]byte(strings.Replace(xml, "<epoc:EnforcingAuthorityNotified>false<", "<epoc:EnforcingAuthorityNotified>perhaps<", 1)), orderNow)
	if err == nil || !strings.Contains(err.Error(), "EPOC/SectionC/EnforcingAuthorityNotified") {
		t.Fatalf("EnforcingAuthorityNotified perhaps: %v, %v", pf, err)
	}
	pr, err := ParseForm(readForm(t, "epoc-pr.xml"), orderNow)
	if err != nil || pr.Draft.Production != nil {
		t.Fatalf("EPOC-PR: production %+v, %v", pr.Draft.Production, err)
	}
}
