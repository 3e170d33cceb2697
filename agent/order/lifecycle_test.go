package order

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// change is a step taken at at by the test custodian.
func orderChange(at time.Time, reason string) Change {
	return Change{Actor: "custodian@provider.example", Agent: "agent-1", Host: "evidence-1", At: at, Reason: reason}
}

// roundTrip formats e as the log would hold it and parses it back.
func eventRoundTrip(t *testing.T, e *chain.Event) *chain.Event {
	t.Helper()
	b, err := chain.FormatEvent(e)
	if err != nil {
		t.Fatalf("FormatEvent(%s): %v", e.Type, err)
	}
	back, err := chain.ParseEvent(b)
	if err != nil {
		t.Fatalf("ParseEvent(%s): %v", b, err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("event round trip\n%+v\nwant\n%+v", back, e)
	}
	return back
}

// checkEvent checks what every order event carries.
func checkOrderEvent(t *testing.T, e *chain.Event, typ chain.EventType, n *Order, from Status) {
	t.Helper()
	eventRoundTrip(t, e)
	rec, err := Format(n)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case e.Type != typ:
		t.Errorf("event type %s, want %s", e.Type, typ)
	case e.Order != n.ID || e.Actor != "custodian@provider.example" || e.Agent != "agent-1" || e.Authority != n.LegalBasis:
		t.Errorf("event %+v", e)
	case e.Details["status"] != string(n.Status) || e.Details["previous_status"] != string(from):
		t.Errorf("event status %q from %q, want %s from %q", e.Details["status"], e.Details["previous_status"], n.Status, from)
	case e.Details["order_sha256"] != chain.EventHash(rec):
		t.Errorf("event order_sha256 %s, want the record's %s", e.Details["order_sha256"], chain.EventHash(rec))
	}
}

// step applies the lifecycle step that makes o become to, as the agent
// would: Extend, Hold, LiftHold (to the status before the hold) or
// Transition.
func lifecycleStep(o *Order, p *Profile, to Status, at time.Time) (*Order, *chain.Event, error) {
	c := orderChange(at, "step to "+string(to))
	switch {
	case to == StatusExtended:
		return o.Extend(p, time.Time{}, c)
	case to == StatusHeld:
		return o.Hold(p, c)
	case o.Status == StatusHeld && o.CurrentHold != nil && to == o.CurrentHold.PreviousStatus:
		return o.LiftHold(c)
	}
	return o.Transition(to, c)
}

// orderIn returns a budapest-29 order (which allows holds and unlimited
// extensions) brought to status s through the lifecycle, a day a step.
func orderIn(t *testing.T, s Status) (*Order, *Profile) {
	t.Helper()
	o := newTestOrder(t, testFlags())
	p := mustProfile(t, testProfiles(t), o.Profile)
	path := map[Status][]Status{
		StatusReceived:   nil,
		StatusPreserving: {StatusPreserving},
		StatusPreserved:  {StatusPreserving, StatusPreserved},
		StatusExtended:   {StatusPreserving, StatusPreserved, StatusExtended},
		StatusHeld:       {StatusPreserving, StatusPreserved, StatusHeld},
		StatusDisclosed:  {StatusPreserving, StatusPreserved, StatusDisclosed},
		StatusReleased:   {StatusPreserving, StatusPreserved, StatusReleased},
		StatusPurged:     {StatusPreserving, StatusPreserved, StatusReleased, StatusPurged},
	}[s]
	at := orderNow
	for _, to := range path {
		at = at.Add(24 * time.Hour)
		var err error
		if o, _, err = lifecycleStep(o, p, to, at); err != nil {
			t.Fatalf("bring order to %s: %v", s, err)
		}
	}
	return o, p
}

// TestLifecycle tries every pair of statuses: the documented edges
// succeed with the right event, every other is refused naming both
// statuses, and the order it was tried on is never changed.
func TestLifecycle(t *testing.T) {
	legal := map[Status][]Status{
		StatusReceived:   {StatusPreserving, StatusReleased},
		StatusPreserving: {StatusPreserved, StatusExtended, StatusHeld, StatusReleased},
		StatusPreserved:  {StatusExtended, StatusHeld, StatusDisclosed, StatusReleased},
		StatusExtended:   {StatusExtended, StatusHeld, StatusDisclosed, StatusReleased},
		StatusHeld:       {StatusDisclosed, StatusPreserved}, // held from preserved: lifted back to it
		StatusDisclosed:  {StatusDisclosed, StatusExtended, StatusHeld, StatusReleased},
		StatusReleased:   {StatusPurged},
	}
	eventType := map[Status]chain.EventType{
		StatusExtended: chain.OrderExtended, StatusHeld: chain.OrderHeld, StatusReleased: chain.OrderReleased,
	}
	for _, from := range statuses() {
		for _, to := range statuses() {
			t.Run(fmt.Sprintf("%s-%s", from, to), func(t *testing.T) {
				o, p := orderIn(t, from)
				before, err := Format(o)
				if err != nil {
					t.Fatal(err)
				}
				n, e, err := lifecycleStep(o, p, to, orderNow.Add(10*24*time.Hour))
				if after, _ := Format(o); !bytes.Equal(before, after) {
					t.Errorf("the step changed the order it was given")
				}
				isLegal := false
				for _, l := range legal[from] {
					isLegal = isLegal || l == to
				}
				if !isLegal {
					if err == nil || n != nil || e != nil {
						t.Fatalf("%s -> %s allowed", from, to)
					}
					if !strings.Contains(err.Error(), string(from)) || !strings.Contains(err.Error(), string(to)) {
						t.Errorf("error %q does not name %s and %s", err, from, to)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s -> %s: %v", from, to, err)
				}
				if n.Status != to {
					t.Errorf("status %s, want %s", n.Status, to)
				}
				typ, ok := eventType[to]
				if !ok {
					typ = chain.OrderAmended
				}
				checkOrderEvent(t, e, typ, n, from)
			})
		}
	}
}

func TestTransitionErrors(t *testing.T) {
	held, _ := orderIn(t, StatusHeld)
	at := orderNow.Add(10 * 24 * time.Hour)
	for _, tc := range []struct {
		name string
		o    *Order
		do   func(o *Order) error
		want string
	}{
		{"release while held", held, func(o *Order) error { _, _, err := o.Release(orderChange(at, "done")); return err },
			"illegal transition from held to released (held may become disclosed, preserving, preserved, extended): lift the hold first"},
		{"extend while held", held, func(o *Order) error {
			_, _, err := o.Extend(mustProfile(t, testProfiles(t), "budapest-29"), time.Time{}, orderChange(at, "basis"))
			return err
		}, "is held and cannot be extended: it has no fixed end while held; lift the hold first"},
		{"lift through Transition", held, func(o *Order) error { _, _, err := o.Transition(StatusPreserved, orderChange(at, "x")); return err },
			"is held and cannot become preserved here: lift the hold with LiftHold, which returns it to preserved"},
		{"hold through Transition", held, func(o *Order) error { _, _, err := o.Transition(StatusHeld, orderChange(at, "x")); return err },
			"hold it with Hold"},
		{"purged is final", mustOrderIn(t, StatusPurged), func(o *Order) error { _, _, err := o.Transition(StatusReleased, orderChange(at, "x")); return err },
			"from purged to released (purged may become nothing): purged is final"},
		{"release without a reason", mustOrderIn(t, StatusPreserved), func(o *Order) error { _, _, err := o.Release(orderChange(at, " ")); return err },
			"reason for the release: missing"},
		{"lift without a reason", held, func(o *Order) error { _, _, err := o.LiftHold(orderChange(at, "")); return err },
			"reason for lifting the hold: missing"},
		{"lift what is not held", mustOrderIn(t, StatusPreserved), func(o *Order) error { _, _, err := o.LiftHold(orderChange(at, "x")); return err },
			"is preserved, not held"},
		{"no actor", mustOrderIn(t, StatusPreserved), func(o *Order) error {
			c := orderChange(at, "x")
			c.Actor = ""
			_, _, err := o.Transition(StatusDisclosed, c)
			return err
		}, "actor: missing"},
		{"no agent", mustOrderIn(t, StatusPreserved), func(o *Order) error {
			c := orderChange(at, "x")
			c.Agent = ""
			_, _, err := o.Transition(StatusDisclosed, c)
			return err
		}, "agent: missing"},
		{"no time", mustOrderIn(t, StatusPreserved), func(o *Order) error {
			_, _, err := o.Transition(StatusDisclosed, orderChange(time.Time{}, "x"))
			return err
		}, "time of the change missing"},
	} {
		err := tc.do(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		// What the order's status forbids is a conflict, a bad reason is
		// the caller's input: both are told apart from the agent's own
		// failures (a missing actor, agent or time) by their sentinel.
		wantKind := map[string]error{
			"release while held": ErrIllegalTransition, "extend while held": ErrIllegalTransition,
			"lift through Transition": ErrIllegalTransition, "purged is final": ErrIllegalTransition,
			"lift what is not held":    ErrIllegalTransition,
			"release without a reason": ErrInvalidChange, "lift without a reason": ErrInvalidChange,
		}[tc.name]
		if wantKind != nil && !errors.Is(err, wantKind) {
			t.Errorf("%s: %v is not %v", tc.name, err, wantKind)
		}
	}
}

func mustOrderIn(t *testing.T, s Status) *Order {
	o, _ := orderIn(t, s)
	return o
}

// TestHoldReturns: lifting a hold returns the order to the status it had,
// and a disclosure ends the hold.
func TestHoldReturns(t *testing.T) {
	for _, from := range []Status{StatusPreserving, StatusPreserved, StatusExtended, StatusDisclosed} {
		o, p := orderIn(t, from)
		at := orderNow.Add(20 * 24 * time.Hour)
		h, e, err := o.Hold(p, orderChange(at, "MLA request of 2026-12-01 received"))
		if err != nil {
			t.Fatalf("hold from %s: %v", from, err)
		}
		checkOrderEvent(t, e, chain.OrderHeld, h, from)
		if e.Details["while"] != p.Extensions.While || e.Reason != "MLA request of 2026-12-01 received" {
			t.Errorf("hold event %+v", e)
		}
		if hd := h.CurrentHold; hd == nil || hd.PreviousStatus != from || hd.While != p.Extensions.While || hd.Actor != "custodian@provider.example" {
			t.Errorf("hold %+v", h.CurrentHold)
		}
		l, e, err := h.LiftHold(orderChange(at.Add(time.Hour), "MLA request withdrawn"))
		if err != nil {
			t.Fatal(err)
		}
		checkOrderEvent(t, e, chain.OrderAmended, l, StatusHeld)
		if l.Status != from || l.CurrentHold != nil || e.Details["hold_lifted"] != "true" {
			t.Errorf("lifted to %s (hold %+v), want %s", l.Status, l.CurrentHold, from)
		}
		d, _, err := h.Transition(StatusDisclosed, orderChange(at.Add(time.Hour), "production"))
		if err != nil || d.CurrentHold != nil || d.Status != StatusDisclosed {
			t.Errorf("disclosure of a held order: %+v, %v", d, err)
		}
	}
}

func TestHoldRefused(t *testing.T) {
	ps := testProfiles(t)
	f := testFlags()
	f.Profile = "us-2703f"
	o, _, err := newTestOrder(t, f).Transition(StatusPreserving, orderChange(orderNow, ""))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = o.Hold(mustProfile(t, ps, "us-2703f"), orderChange(orderNow, "warrant served"))
	if err == nil || !strings.Contains(err.Error(), "profile us-2703f (18 U.S.C. 2703(f)(2)) provides no preservation without a fixed end") {
		t.Errorf("hold under us-2703f: %v", err)
	}
	b29, p := orderIn(t, StatusPreserved)
	if _, _, err := b29.Hold(p, orderChange(orderNow, "")); err == nil || !strings.Contains(err.Error(), "basis of the hold: missing") {
		t.Errorf("hold without basis: %v", err)
	}
	if _, _, err := b29.Hold(mustProfile(t, ps, "uncc-42"), orderChange(orderNow, "x")); err == nil || !strings.Contains(err.Error(), "has profile budapest-29, not the one given") {
		t.Errorf("hold with another profile: %v", err)
	}
	late := b29.ExpiresAt.Add(time.Second)
	if _, _, err := b29.Hold(p, orderChange(late, "x")); err == nil || !strings.Contains(err.Error(), "expired at 2027-01-19T23:59:59Z: an expired order cannot become held") {
		t.Errorf("hold after expiry: %v", err)
	}
}

func TestExtend(t *testing.T) {
	ps := testProfiles(t)
	us := mustProfile(t, ps, "us-2703f")
	f := testFlags()
	f.Profile = "us-2703f"
	o := newTestOrder(t, f)
	var err error
	for _, s := range []Status{StatusPreserving, StatusPreserved} {
		if o, _, err = o.Transition(s, orderChange(orderNow, "")); err != nil {
			t.Fatal(err)
		}
	}
	at := orderNow.Add(80 * 24 * time.Hour)
	if _, _, err := o.Extend(us, time.Time{}, orderChange(at, "")); err == nil || !strings.Contains(err.Error(), "legal basis of the extension: missing") {
		t.Errorf("extension without basis: %v", err)
	}
	if _, _, err := o.Extend(us, endOf("2027-05-20"), orderChange(at, "2703(f)(2) renewal")); err == nil || !strings.Contains(err.Error(), "90 days per extension") {
		t.Errorf("extension of 91 days: %v", err)
	}
	n, e, err := o.Extend(us, time.Time{}, orderChange(at, "renewal requested by FBI letter of 2027-02-01"))
	if err != nil {
		t.Fatal(err)
	}
	checkOrderEvent(t, e, chain.OrderExtended, n, StatusPreserved)
	if !n.ExpiresAt.Equal(endOf("2027-05-19")) || n.Status != StatusExtended || len(n.Extensions) != 1 {
		t.Errorf("extended to %s, status %s, %d extensions", n.ExpiresAt, n.Status, len(n.Extensions))
	}
	if x := n.Extensions[0]; !x.PreviousExpiresAt.Equal(endOf("2027-02-18")) || x.LegalBasis != "renewal requested by FBI letter of 2027-02-01" ||
		x.Actor != "custodian@provider.example" || !x.At.Equal(at) {
		t.Errorf("extension %+v", x)
	}
	if e.Details["previous_expires_at"] != "2027-02-18T23:59:59Z" || e.Details["expires_at"] != "2027-05-19T23:59:59Z" ||
		e.Details["extension"] != "1" || e.Details["extensions_allowed"] != "1" || e.Reason != "renewal requested by FBI letter of 2027-02-01" {
		t.Errorf("event details %v", e.Details)
	}
	if _, _, err := n.Extend(us, time.Time{}, orderChange(at, "second renewal")); err == nil ||
		!strings.Contains(err.Error(), "profile us-2703f allows 1 extension (18 U.S.C. 2703(f)(2)); the order has 1 already") {
		t.Errorf("second us-2703f extension: %v", err)
	}
	if _, _, err := o.Extend(us, time.Time{}, orderChange(o.ExpiresAt.Add(time.Minute), "late")); err == nil ||
		!strings.Contains(err.Error(), "expired at 2027-02-18T23:59:59Z: an expired order cannot become extended") {
		t.Errorf("extension after expiry: %v", err)
	}
	// The record of an extended order reads back.
	rec, err := Format(n)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := Parse(rec); err != nil || !reflect.DeepEqual(back, n) {
		t.Errorf("extended order read back: %v", err)
	}
	// A record whose expiry the extensions do not explain is refused.
	bad := n.clone()
	bad.ExpiresAt = endOf("2027-06-01")
	if _, err := Format(bad); err == nil || !strings.Contains(err.Error(), "expires_at: 2027-06-01T23:59:59Z is not the expiry the last extension set") {
		t.Errorf("inconsistent extension record: %v", err)
	}
}

func TestReceivedEvent(t *testing.T) {
	o := newTestOrder(t, testFlags())
	e, err := o.ReceivedEvent(orderChange(orderNow, ""))
	if err != nil {
		t.Fatal(err)
	}
	checkOrderEvent(t, e, chain.OrderReceived, o, "")
	want := map[string]string{
		"reference": "AZ 123 Js 456/26", "authority": "Staatsanwaltschaft Berlin", "requesting_state": "DE",
		"profile": "budapest-29", "received_at": "2026-11-20T10:00:00Z", "expires_at": "2027-01-19T23:59:59Z",
		"categories": "subscriber,traffic", "selectors": "3", "confidential": "true", "legacy_digests": "false",
		"no_notification_until": "2027-06-30T23:59:59Z", "status": "received", "order_sha256": e.Details["order_sha256"],
	}
	if !reflect.DeepEqual(e.Details, want) {
		t.Errorf("details %v\nwant %v", e.Details, want)
	}
	for _, v := range e.Details {
		if strings.Contains(v, "alice") {
			t.Errorf("the event reveals a selector: %v", e.Details)
		}
	}
	p, _, err := o.Transition(StatusPreserving, orderChange(orderNow, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReceivedEvent(orderChange(orderNow, "")); err == nil {
		t.Error("order.received for a preserving order")
	}
}

func TestAmend(t *testing.T) {
	o, _ := orderIn(t, StatusPreserved)
	at := orderNow.Add(5 * 24 * time.Hour)
	next := o.clone()
	next.Selectors = append(next.Selectors, Selector{Type: SelectorUsername, Value: " alice_1 "})
	next.Window.To = next.Window.To.Add(24 * time.Hour)
	next.Document = &DocumentRef{SHA256: strings.Repeat("c", 64), Name: "order.pdf"}
	n, e, err := o.Amend(next, orderChange(at, "supplementary request of 2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	checkOrderEvent(t, e, chain.OrderAmended, n, "")
	if e.Details["amended"] != "selectors,window,document" {
		t.Errorf("amended %q", e.Details["amended"])
	}
	if len(e.Items) != 1 || e.Items[0].SHA256 != strings.Repeat("c", 64) {
		t.Errorf("items %v, want the document", e.Items)
	}
	if got := n.Selectors[3]; got.Value != "alice_1" {
		t.Errorf("amended selector %+v, want normal form", got)
	}
	if len(o.Selectors) != 3 {
		t.Error("Amend changed the order it was given")
	}
	// The authority's own dates are its to correct, and named when they change.
	next = o.clone()
	next.IssuedAt = time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)
	if _, e, err := o.Amend(next, orderChange(at, "the issue date was missing")); err != nil || e.Details["amended"] != "issued_at" {
		t.Errorf("amending issued_at: %v %v", e, err)
	}
	for _, tc := range []struct {
		name   string
		change func(n *Order)
		want   string
	}{
		{"profile", func(n *Order) { n.Profile = "us-2703f" }, "profile: cannot be amended"},
		{"expiry", func(n *Order) { n.ExpiresAt = n.ExpiresAt.Add(time.Hour) }, "expires_at: cannot be amended"},
		{"status", func(n *Order) { n.Status = StatusDisclosed }, "status: cannot be amended"},
		{"id", func(n *Order) { n.ID = "01J9Z3K4M5N6P7Q8R9S0T1V2W3" }, "id: cannot be amended"},
		{"bad selector", func(n *Order) { n.Selectors[0].Value = "alice" }, `selectors[0]: email "alice": want a bare address`},
		{"bad state", func(n *Order) { n.RequestingState = "XX" }, "requesting_state:"},
		{"nothing", func(n *Order) {}, "the amendment changes nothing"},
		{"normal form only", func(n *Order) { n.Selectors[2].Value = "+49 30 1234567" }, "the amendment changes nothing"},
	} {
		next := o.clone()
		tc.change(next)
		if _, _, err := o.Amend(next, orderChange(at, "correction")); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	next = o.clone()
	next.Reference = "AZ 123 Js 456/26-2"
	if _, _, err := o.Amend(next, orderChange(at, "")); err == nil || !strings.Contains(err.Error(), "reason for the amendment: missing") {
		t.Errorf("amendment without reason: %v", err)
	}
	r, _ := orderIn(t, StatusReleased)
	next = r.clone()
	next.Reference = "late"
	if _, _, err := r.Amend(next, orderChange(at, "x")); err == nil || !strings.Contains(err.Error(), "is released and can no longer be amended") {
		t.Errorf("amendment of a released order: %v", err)
	}
}

func TestDeadline(t *testing.T) {
	o, p := orderIn(t, StatusPreserved) // expires 2027-01-19T23:59:59Z; reminders 14, 7, 2 days before
	for _, tc := range []struct {
		at           string
		days         int
		expired      bool
		nextReminder string
	}{
		{"2026-11-20T10:00:00Z", 60, false, "2027-01-05T23:59:59Z"},
		{"2027-01-06T00:00:00Z", 13, false, "2027-01-12T23:59:59Z"},
		{"2027-01-18T00:00:00Z", 1, false, ""},
		{"2027-01-19T12:00:00Z", 0, false, ""},
		{"2027-01-20T00:00:00Z", -1, true, ""},
		{"2027-01-22T00:00:00Z", -3, true, ""},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		d := o.Deadline(at, p)
		var next string
		if !d.NextReminder.IsZero() {
			next = utcStamp(d.NextReminder)
		}
		if d.DaysLeft != tc.days || d.Expired != tc.expired || next != tc.nextReminder || d.Held || d.Ended ||
			!d.ExpiresAt.Equal(o.ExpiresAt) || d.Remaining != o.ExpiresAt.Sub(at) {
			t.Errorf("at %s: %+v, want %d days, expired %v, next reminder %q", tc.at, d, tc.days, tc.expired, tc.nextReminder)
		}
	}
	if d := mustOrderIn(t, StatusHeld).Deadline(orderNow, p); !d.Held || d.Expired {
		t.Errorf("held: %+v", d)
	}
	late := o.ExpiresAt.Add(time.Hour)
	if d := mustOrderIn(t, StatusReleased).Deadline(late, nil); !d.Ended || d.Expired {
		t.Errorf("released: %+v", d)
	}
}

func TestStatusQueries(t *testing.T) {
	capture := map[Status]bool{StatusReceived: true, StatusPreserving: true, StatusPreserved: true, StatusExtended: true, StatusHeld: true}
	disclose := map[Status]bool{StatusPreserved: true, StatusExtended: true, StatusHeld: true, StatusDisclosed: true}
	for _, s := range statuses() {
		if s.CanCapture() != capture[s] || s.CanDisclose() != disclose[s] {
			t.Errorf("%s: capture %v, disclose %v", s, s.CanCapture(), s.CanDisclose())
		}
	}
	if Status("lost").known() || Status("lost").Next() != nil {
		t.Error("an unknown status has a place in the lifecycle")
	}
}
