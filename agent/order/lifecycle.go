package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// Status is where an order stands in its lifecycle.
//
//	received ──> preserving ──> preserved ──> extended ──> disclosed ──> released ──> purged
//	                                 └──────────> held ───────┘
//
// The edges (Status.Next): an order is received; the first capture makes
// it preserving and its completion preserved. A preserved order may be
// extended (again and again, as its profile allows), held while its
// profile's condition holds (a pending production or mutual assistance
// request: no fixed end, a legal hold), disclosed, or released. A held
// order may be disclosed, or its hold lifted, which returns it to the
// status it had; it cannot be released or extended until then. A
// disclosure may be followed by another, by an extension or hold (a partial
// disclosure while preservation goes on) or by release. An order whose
// first capture has not completed (preserving) may already be extended,
// held or released, so that a failing source never lets a deadline pass.
// A received order may be released (withdrawn) before any capture. A
// released order may be purged; purged is final.
type Status string

// The lifecycle statuses.
const (
	StatusReceived   Status = "received"
	StatusPreserving Status = "preserving"
	StatusPreserved  Status = "preserved"
	StatusExtended   Status = "extended"
	StatusHeld       Status = "held"
	StatusDisclosed  Status = "disclosed"
	StatusReleased   Status = "released"
	StatusPurged     Status = "purged"
)

func statuses() []Status {
	return []Status{StatusReceived, StatusPreserving, StatusPreserved, StatusExtended,
		StatusHeld, StatusDisclosed, StatusReleased, StatusPurged}
}

func (s Status) known() bool {
	for _, k := range statuses() {
		if s == k {
			return true
		}
	}
	return false
}

// ParseStatus returns the status named s; the error for anything else
// lists the statuses.
func ParseStatus(s string) (Status, error) {
	if st := Status(s); st.known() {
		return st, nil
	}
	return "", fmt.Errorf("%q is not a status (%s)", s, statusList())
}

func statusList() string {
	var names []string
	for _, s := range statuses() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// Next lists the statuses s may become: the transition table.
func (s Status) Next() []Status {
	switch s {
	case StatusReceived:
		return []Status{StatusPreserving, StatusReleased}
	case StatusPreserving:
		return []Status{StatusPreserved, StatusExtended, StatusHeld, StatusReleased}
	case StatusPreserved:
		return []Status{StatusExtended, StatusHeld, StatusDisclosed, StatusReleased}
	case StatusExtended:
		return []Status{StatusExtended, StatusHeld, StatusDisclosed, StatusReleased}
	case StatusHeld:
		// Disclosure, or the hold lifted back to the status before it.
		return []Status{StatusDisclosed, StatusPreserving, StatusPreserved, StatusExtended}
	case StatusDisclosed:
		return []Status{StatusDisclosed, StatusExtended, StatusHeld, StatusReleased}
	case StatusReleased:
		return []Status{StatusPurged}
	}
	return nil
}

func (s Status) canBecome(to Status) bool {
	for _, n := range s.Next() {
		if n == to {
			return true
		}
	}
	return false
}

// CanCapture reports whether a capture may run for an order in status s: a
// received order's first capture makes it preserving; captures may re-run
// while it is preserving, preserved, extended or held.
func (s Status) CanCapture() bool {
	switch s {
	case StatusReceived, StatusPreserving, StatusPreserved, StatusExtended, StatusHeld:
		return true
	}
	return false
}

// CanDisclose reports whether an order in status s may be disclosed.
func (s Status) CanDisclose() bool { return s.canBecome(StatusDisclosed) }

// ErrIllegalTransition reports a lifecycle step the order's status does
// not allow (or no longer allows: an expired order cannot be extended).
var ErrIllegalTransition = errors.New("illegal transition")

// ErrInvalidChange reports a change whose reason (or actor) a step cannot
// record: missing where required, or too long.
var ErrInvalidChange = errors.New("invalid change")

func (o *Order) checkTransition(to Status) error {
	if o.Status.canBecome(to) {
		return nil
	}
	var hint string
	switch {
	case o.Status == StatusHeld && (to == StatusReleased || to == StatusExtended):
		hint = ": lift the hold first"
	case o.Status == StatusPurged:
		hint = ": purged is final"
	}
	next := make([]string, 0, 4)
	for _, n := range o.Status.Next() {
		next = append(next, string(n))
	}
	allowed := strings.Join(next, ", ")
	if allowed == "" {
		allowed = "nothing"
	}
	return fmt.Errorf("order %s: %w from %s to %s (%s may become %s)%s",
		o.ID, ErrIllegalTransition, o.Status, to, o.Status, allowed, hint)
}

// Change is who changes an order, when, and why. Every lifecycle step
// records it in the custody event it returns.
type Change struct {
	Actor string // the authenticated person or service
	Agent string // the agent's id
	Host  string
	At    time.Time
	// Reason is why: for an extension or a hold its legal basis, for a
	// release or a lifted hold what ended it. Those steps require it.
	Reason string
}

// Check reports the first field of c a step cannot record: a missing
// actor, agent or time, and a reason that is missing where reasonRequired
// (named what in the error) or too long.
func (c Change) Check(reasonRequired bool, what string) error {
	switch {
	case strings.TrimSpace(c.Actor) == "":
		return errors.New("actor: missing (who makes the change)")
	case len(c.Actor) > maxActor:
		return fmt.Errorf("actor: %d bytes, more than %d: %w", len(c.Actor), maxActor, ErrInvalidChange)
	case strings.TrimSpace(c.Agent) == "":
		return errors.New("agent: missing (the agent id)")
	case c.At.IsZero():
		return errors.New("time of the change missing")
	case reasonRequired && strings.TrimSpace(c.Reason) == "":
		return fmt.Errorf("%s: missing: %w", what, ErrInvalidChange)
	case len(c.Reason) > maxLongText:
		return fmt.Errorf("%s: %d bytes, more than %d: %w", what, len(c.Reason), maxLongText, ErrInvalidChange)
	}
	return nil
}

// event is the custody event of a step that made o what it is now. Every
// order event carries the status after the step, the status before it
// when it changed, and the SHA-256 of o's canonical record, so the log
// alone says what each step made of the order.
func (o *Order) event(t chain.EventType, c Change, from Status, details map[string]string) (*chain.Event, error) {
	rec, err := Format(o)
	if err != nil {
		return nil, err
	}
	if details == nil {
		details = map[string]string{}
	}
	details["status"] = string(o.Status)
	if from != "" {
		details["previous_status"] = string(from)
	}
	details["order_sha256"] = chain.EventHash(rec)
	e := &chain.Event{
		Version: chain.EventVersion, Type: t, Time: c.At.UTC(), Order: o.ID,
		Actor: c.Actor, Agent: c.Agent, Host: c.Host, Reason: c.Reason,
		Authority: o.LegalBasis, Details: details,
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("order %s: %s event: %w", o.ID, t, err)
	}
	return e, nil
}

// ReceivedEvent is the order.received event of a new order (NewOrder).
// It names the order's reference, authority, state, profile, times,
// categories and how many selectors (not their values) and confidentiality;
// the record's digest binds the rest.
func (o *Order) ReceivedEvent(c Change) (*chain.Event, error) {
	if o.Status != StatusReceived {
		return nil, fmt.Errorf("order %s is %s, not received", o.ID, o.Status)
	}
	if err := c.Check(false, ""); err != nil {
		return nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	cats := make([]string, len(o.Categories))
	for i, cat := range o.Categories {
		cats[i] = string(cat)
	}
	d := map[string]string{
		"reference": o.Reference, "authority": o.Authority, "requesting_state": o.RequestingState,
		"profile": o.Profile, "received_at": utcStamp(o.ReceivedAt), "expires_at": utcStamp(o.ExpiresAt),
		"categories": strings.Join(cats, ","), "selectors": fmt.Sprint(len(o.Selectors)),
		"confidential": fmt.Sprint(o.Confidentiality.Confidential), "legacy_digests": fmt.Sprint(o.LegacyDigests),
	}
	if !o.Confidentiality.NoNotificationUntil.IsZero() {
		d["no_notification_until"] = utcStamp(o.Confidentiality.NoNotificationUntil)
	}
	if f := o.Form; f != nil {
		d["form"], d["form_certificate_id"], d["form_sha256"] = string(f.Type), f.CertificateID, f.SHA256
		d["production"] = fmt.Sprint(f.Production)
	}
	if p := o.Production; p != nil {
		d["production"], d["authority_notified"] = "true", fmt.Sprint(p.AuthorityNotified)
	}
	// Whichever flag says so: the form's, the production order's or the
	// order's own.
	if _, ok := d["production"]; ok || o.IsEmergency() {
		d["emergency"] = fmt.Sprint(o.IsEmergency())
	}
	return o.event(chain.OrderReceived, c, "", d)
}

// Transition moves the order to status to and returns the order as it
// becomes and the custody event to append: order.released for a release,
// order.amended (with status and previous_status) for the steps whose own
// work other events record (preserving, preserved, disclosed, purged). An
// extension, a hold and a lifted hold have their own methods, which check
// the profile. o is not changed; on error nothing is returned.
func (o *Order) Transition(to Status, c Change) (*Order, *chain.Event, error) {
	switch {
	case to == StatusExtended:
		return nil, nil, fmt.Errorf("order %s: extend it with Extend, which checks the profile", o.ID)
	case to == StatusHeld:
		return nil, nil, fmt.Errorf("order %s: hold it with Hold, which checks the profile", o.ID)
	case o.Status == StatusHeld && to != StatusDisclosed && o.Status.canBecome(to) && o.CurrentHold != nil:
		return nil, nil, fmt.Errorf("order %s is held and cannot become %s here: lift the hold with LiftHold, which returns it to %s, the status before the hold: %w",
			o.ID, to, o.CurrentHold.PreviousStatus, ErrIllegalTransition)
	}
	if err := o.checkTransition(to); err != nil {
		return nil, nil, err
	}
	if err := c.Check(to == StatusReleased, "reason for the release"); err != nil {
		return nil, nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	n := o.clone()
	n.Status, n.CurrentHold = to, nil // a disclosure ends the hold that awaited it
	t := chain.OrderAmended
	if to == StatusReleased {
		t = chain.OrderReleased
	}
	e, err := n.event(t, c, o.Status, nil)
	if err != nil {
		return nil, nil, err
	}
	return n, e, nil
}

// Release ends the order's preservation: c.Reason says why (expired,
// withdrawn, disclosed and no longer needed). A held order must have its
// hold lifted first.
func (o *Order) Release(c Change) (*Order, *chain.Event, error) {
	return o.Transition(StatusReleased, c)
}

// checkProfile makes sure p is the order's own profile.
func (o *Order) checkProfile(p *Profile) error {
	if p == nil || p.Name != o.Profile {
		return fmt.Errorf("order %s has profile %s, not the one given", o.ID, o.Profile)
	}
	return nil
}

// checkProlong checks a step that keeps the order beyond its expiry
// (an extension or a hold): the transition, the change and its required
// basis, and that the order has not expired already.
func (o *Order) checkProlong(to Status, c Change, basis string) error {
	if err := o.checkTransition(to); err != nil {
		return err
	}
	if err := c.Check(true, basis); err != nil {
		return fmt.Errorf("order %s: %w", o.ID, err)
	}
	if c.At.After(o.ExpiresAt) {
		return fmt.Errorf("order %s expired at %s: an expired order cannot become %s: %w", o.ID, utcStamp(o.ExpiresAt), to, ErrIllegalTransition)
	}
	return nil
}

// Extend extends the order's expiry under its profile p: to expires, or
// when that is zero by the profile's extension period. c.Reason is the
// extension's legal basis and is required. It refuses an extension the
// profile does not allow (count, period), one of an order that has already
// expired, and one of a held order. It returns the extended order and its
// order.extended event; o is not changed.
func (o *Order) Extend(p *Profile, expires time.Time, c Change) (*Order, *chain.Event, error) {
	return o.extend(p, expires, c, nil)
}

// extend is Extend; edit, when given, changes the extended order before
// its event names its record.
func (o *Order) extend(p *Profile, expires time.Time, c Change, edit func(*Order)) (*Order, *chain.Event, error) {
	if err := o.checkProfile(p); err != nil {
		return nil, nil, err
	}
	if o.Status == StatusHeld {
		return nil, nil, fmt.Errorf("order %s is held and cannot be extended: it has no fixed end while held; lift the hold first: %w", o.ID, ErrIllegalTransition)
	}
	if err := o.checkProlong(StatusExtended, c, "legal basis of the extension"); err != nil {
		return nil, nil, err
	}
	newExpiry, err := p.ExtensionExpiry(o.ExpiresAt, len(o.Extensions), expires.UTC())
	if err != nil {
		return nil, nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	n := o.clone()
	n.Extensions = append(n.Extensions, Extension{
		At: c.At.UTC(), PreviousExpiresAt: o.ExpiresAt, ExpiresAt: newExpiry, LegalBasis: c.Reason, Actor: c.Actor,
	})
	n.ExpiresAt, n.Status = newExpiry, StatusExtended
	if edit != nil {
		edit(n)
	}
	e, err := n.event(chain.OrderExtended, c, o.Status, map[string]string{
		"previous_expires_at": utcStamp(o.ExpiresAt), "expires_at": utcStamp(newExpiry),
		"extension": fmt.Sprint(len(n.Extensions)), "extensions_allowed": p.Extensions.Count.String(),
	})
	if err != nil {
		return nil, nil, err
	}
	return n, e, nil
}

// Hold keeps the order with no fixed end while its profile's condition
// holds (p.Extensions.While); c.Reason is what shows it does (the
// production order or mutual assistance request) and is required. A
// profile that names no such condition refuses holds. It returns the
// held order and its order.held event; o is not changed.
func (o *Order) Hold(p *Profile, c Change) (*Order, *chain.Event, error) {
	return o.hold(p, c, nil)
}

// hold is Hold; edit, when given, changes the held order before its
// event names its record.
func (o *Order) hold(p *Profile, c Change, edit func(*Order)) (*Order, *chain.Event, error) {
	if err := o.checkProfile(p); err != nil {
		return nil, nil, err
	}
	if p.Extensions.While == "" {
		return nil, nil, ruleErrorf("order %s: profile %s (%s) provides no preservation without a fixed end: extend, disclose or release the order",
			o.ID, p.Name, p.Instrument)
	}
	if err := o.checkProlong(StatusHeld, c, "basis of the hold"); err != nil {
		return nil, nil, err
	}
	n := o.clone()
	n.Status = StatusHeld
	n.CurrentHold = &Hold{At: c.At.UTC(), Basis: c.Reason, While: p.Extensions.While, Actor: c.Actor, PreviousStatus: o.Status}
	if edit != nil {
		edit(n)
	}
	e, err := n.event(chain.OrderHeld, c, o.Status, map[string]string{"while": p.Extensions.While})
	if err != nil {
		return nil, nil, err
	}
	return n, e, nil
}

// LiftHold ends a hold: the order returns to the status it had before and
// its expiry runs again (an expiry already past means it is due for
// release). c.Reason says why and is required. The event is
// order.amended with hold_lifted.
func (o *Order) LiftHold(c Change) (*Order, *chain.Event, error) {
	if o.Status != StatusHeld || o.CurrentHold == nil {
		return nil, nil, fmt.Errorf("order %s is %s, not held: %w", o.ID, o.Status, ErrIllegalTransition)
	}
	if err := c.Check(true, "reason for lifting the hold"); err != nil {
		return nil, nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	n := o.clone()
	n.Status, n.CurrentHold = o.CurrentHold.PreviousStatus, nil
	e, err := n.event(chain.OrderAmended, c, o.Status, map[string]string{
		"hold_lifted": "true", "expires_at": utcStamp(n.ExpiresAt),
	})
	if err != nil {
		return nil, nil, err
	}
	return n, e, nil
}

// Amend replaces what the authority may correct or add to an order (its
// reference, authority, requesting state, legal basis, offence summary,
// its own dates issued_at and signed_at, selectors, categories, window,
// confidentiality, legacy digests and document) with next's, and returns the amended order and its
// order.amended event, which lists the fields changed (and names the
// document item when that changed). The id, profile, receipt, expiry,
// extensions, hold and status cannot be amended: next must carry o's.
// c.Reason is required. A released or purged order cannot be amended.
func (o *Order) Amend(next *Order, c Change) (*Order, *chain.Event, error) {
	if o.Status == StatusReleased || o.Status == StatusPurged {
		return nil, nil, fmt.Errorf("order %s is %s and can no longer be amended: %w", o.ID, o.Status, ErrIllegalTransition)
	}
	if err := c.Check(true, "reason for the amendment"); err != nil {
		return nil, nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	n := next.clone()
	n.Version = Version
	n.normalize()
	var ps problems
	fixed := []struct {
		field string
		a, b  any
	}{
		{"id", o.ID, n.ID}, {"profile", o.Profile, n.Profile}, {"received_at", o.ReceivedAt, n.ReceivedAt},
		{"expires_at", o.ExpiresAt, n.ExpiresAt}, {"extensions", o.Extensions, n.Extensions},
		{"hold", o.CurrentHold, n.CurrentHold}, {"status", o.Status, n.Status}, {"form", o.Form, n.Form},
	}
	for _, f := range fixed {
		if !sameJSON(f.a, f.b) {
			ps.add(f.field, "cannot be amended")
		}
	}
	if len(ps) == 0 {
		if err := n.Validate(); err != nil {
			return nil, nil, fmt.Errorf("order %s: amendment: %w", o.ID, err)
		}
	}
	if err := ps.err(); err != nil {
		return nil, nil, fmt.Errorf("order %s: amendment: %w", o.ID, err)
	}
	changed := o.changedFields(n)
	if len(changed) == 0 {
		return nil, nil, fmt.Errorf("order %s: the amendment changes nothing", o.ID)
	}
	e, err := n.event(chain.OrderAmended, c, "", map[string]string{"amended": strings.Join(changed, ",")})
	if err != nil {
		return nil, nil, err
	}
	if !sameJSON(o.Document, n.Document) && n.Document != nil {
		e.Items = []chain.Digest{{SHA256: n.Document.SHA256}}
	}
	return n, e, nil
}

// changedFields lists the amendable fields that differ between o and n.
func (o *Order) changedFields(n *Order) []string {
	fields := []struct {
		name string
		a, b any
	}{
		{"reference", o.Reference, n.Reference}, {"authority", o.Authority, n.Authority},
		{"requesting_state", o.RequestingState, n.RequestingState}, {"legal_basis", o.LegalBasis, n.LegalBasis},
		{"offence_summary", o.OffenceSummary, n.OffenceSummary}, {"issued_at", o.IssuedAt, n.IssuedAt},
		{"signed_at", o.SignedAt, n.SignedAt}, {"selectors", o.Selectors, n.Selectors},
		{"categories", o.Categories, n.Categories}, {"window", o.Window, n.Window},
		{"confidentiality", o.Confidentiality, n.Confidentiality}, {"legacy_digests", o.LegacyDigests, n.LegacyDigests},
		{"document", o.Document, n.Document}, {"emergency", o.Emergency, n.Emergency},
	}
	var changed []string
	for _, f := range fields {
		if !sameJSON(f.a, f.b) {
			changed = append(changed, f.name)
		}
	}
	return changed
}

// sameJSON compares two values by their JSON encoding, which compares
// times by instant once they are in UTC.
func sameJSON(a, b any) bool {
	ja, errA := canonicalJSON(a)
	jb, errB := canonicalJSON(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// Deadline is when an order's preservation ends, for `order list`.
type Deadline struct {
	ExpiresAt time.Time
	// Remaining is the time left until ExpiresAt, negative once past.
	Remaining time.Duration
	// DaysLeft is the whole days left (rounded down; 0 on the last day,
	// negative once past).
	DaysLeft int
	Expired  bool // the expiry has passed and the order is not held
	Held     bool // no fixed end while held
	Ended    bool // released or purged: nothing is kept for it
	// NextReminder is the next of the profile's reminders still to come,
	// zero when none is.
	NextReminder time.Time
}

// deadlineJSON is a Deadline as JSON: the remaining time in whole seconds.
type deadlineJSON struct {
	ExpiresAt    time.Time `json:"expires_at"`
	DaysLeft     int       `json:"days_left"`
	SecondsLeft  int64     `json:"seconds_left"`
	Expired      bool      `json:"expired"`
	Held         bool      `json:"held"`
	Ended        bool      `json:"ended"`
	NextReminder time.Time `json:"next_reminder,omitzero"`
}

// MarshalJSON gives the deadline as the CLI's --output json and the API
// show it.
func (d Deadline) MarshalJSON() ([]byte, error) {
	return json.Marshal(deadlineJSON{d.ExpiresAt, d.DaysLeft, int64(d.Remaining / time.Second), d.Expired, d.Held, d.Ended, d.NextReminder})
}

// UnmarshalJSON reads a deadline as MarshalJSON writes it (a client of
// the daemon reads it so).
func (d *Deadline) UnmarshalJSON(b []byte) error {
	var v deadlineJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = Deadline{ExpiresAt: v.ExpiresAt, DaysLeft: v.DaysLeft, Remaining: time.Duration(v.SecondsLeft) * time.Second,
		Expired: v.Expired, Held: v.Held, Ended: v.Ended, NextReminder: v.NextReminder}
	return nil
}

// Deadline says how long the order has left at now. p, the order's
// profile, gives the reminders; it may be nil.
func (o *Order) Deadline(now time.Time, p *Profile) Deadline {
	d := Deadline{ExpiresAt: o.ExpiresAt, Remaining: o.ExpiresAt.Sub(now)}
	d.DaysLeft = int(d.Remaining / (24 * time.Hour))
	if d.Remaining < 0 && d.Remaining%(24*time.Hour) != 0 {
		d.DaysLeft-- // round down below zero too
	}
	switch o.Status {
	case StatusHeld:
		d.Held = true
		return d
	case StatusReleased, StatusPurged:
		d.Ended = true
		return d
	}
	d.Expired = d.Remaining < 0
	if p != nil {
		for _, r := range p.Reminders {
			at := o.ExpiresAt.Add(-time.Duration(r) * 24 * time.Hour)
			if at.After(now) && (d.NextReminder.IsZero() || at.Before(d.NextReminder)) {
				d.NextReminder = at
			}
		}
	}
	return d
}
