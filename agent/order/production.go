package order

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// Production makes an order a production order: the data it names is to
// be produced (disclosed) by a deadline, not only preserved. An EPOC
// (Annex I) is one; a domestic production order is one under the custom
// profile. Receiving one preserves at once, as any order. See
// docs/orders.md for the rules of its deadline (ProductionDue).
type Production struct {
	// Emergency is the form's emergency flag: 8 hours instead of 10 days.
	Emergency bool `json:"emergency,omitempty"`
	// AuthorityNotified says the enforcing authority was notified (EPOC
	// Section C, EnforcingAuthorityNotified): production waits for the end
	// of its 10-day review unless it confirms earlier, and its objection
	// stops production.
	AuthorityNotified bool `json:"authority_notified,omitempty"`
	// Review is the enforcing authority's answer, once recorded
	// (Order.Review); nil while none is.
	Review *Review `json:"review,omitempty"`
}

// ReviewOutcome is what the enforcing authority answered.
type ReviewOutcome string

// The outcomes of a review.
const (
	ReviewConfirmed ReviewOutcome = "confirmed" // it raises no ground for refusal
	ReviewObjected  ReviewOutcome = "objected"  // it raised a ground for refusal: production stops
)

// Review is the enforcing authority's answer to a production order, as
// recorded by `custos order review`.
type Review struct {
	Outcome ReviewOutcome `json:"outcome"`
	At      time.Time     `json:"at"`
	Basis   string        `json:"basis"` // what shows the answer: the authority's message
	Actor   string        `json:"actor"`
}

// The periods of Regulation (EU) 2023/1543, art. 10, used for every
// production order (a domestic one under custom too).
const (
	ProductionPeriod = 10 * 24 * time.Hour // art. 10(2): 10 days from receipt
	EmergencyPeriod  = 8 * time.Hour       // art. 10(4): 8 hours in an emergency
	ReviewPeriod     = 10 * 24 * time.Hour // art. 10(2): the enforcing authority's review
)

// The rules a production deadline is computed by (deadline.set's rule).
const (
	RuleProduction = "production-10d" // received_at + 10 days
	RuleEmergency  = "emergency-8h"   // received_at + 8 hours
	RuleReview     = "review-10d"     // notified: at the end of the review, received_at + 10 days
)

// The kinds of production deadline.
const (
	KindProduction          = "production"
	KindEmergencyProduction = "emergency-production"
)

// productionProfiles are the profiles a production order may have: the
// EU one (an EPOC) and custom (a domestic production order).
func productionProfile(name string) bool { return name == "eu-epoc-pr" || name == "custom" }

func (p *Production) clone() *Production {
	if p == nil {
		return nil
	}
	c := *p
	if p.Review != nil {
		r := *p.Review
		c.Review = &r
	}
	return &c
}

// validate checks a production order's fields.
func (o *Order) validateProduction(ps *problems) {
	p := o.Production
	if p == nil {
		return
	}
	if o.Profile != "" && !productionProfile(o.Profile) {
		ps.add("production", "profile %s has no production deadlines: a production order is an EPOC (eu-epoc-pr) or a domestic one under custom", printable(o.Profile))
	}
	if r := p.Review; r != nil {
		switch {
		case !p.AuthorityNotified:
			ps.add("production.review", "recorded for an order whose enforcing authority was not notified")
		case r.Outcome != ReviewConfirmed && r.Outcome != ReviewObjected:
			ps.add("production.review.outcome", "%q is not confirmed or objected", printable(string(r.Outcome)))
		case r.At.IsZero():
			ps.add("production.review.at", "missing")
		}
		ps.checkText("production.review.basis", r.Basis, true, maxLongText, true)
		ps.checkText("production.review.actor", r.Actor, true, maxActor, false)
	}
}

// ProductionDue is a production order's deadline as its record gives it:
// the rule, its inputs and what it makes of them.
type ProductionDue struct {
	Kind string
	Rule string
	// ReceivedAt is when the time runs from: the order's receipt.
	ReceivedAt time.Time
	// Due is when the data must be produced by.
	Due time.Time
	// ReviewEnds is the end of the enforcing authority's review (zero when
	// it was not notified), and ProduceFrom the earliest production: the
	// end of the review, or the authority's confirmation when earlier;
	// the receipt when no review holds production.
	ReviewEnds  time.Time
	ProduceFrom time.Time
	// Stopped: the enforcing authority objected, production stops.
	Stopped bool
	// The inputs.
	Emergency, AuthorityNotified bool
	Review                       ReviewOutcome
	ReviewAt                     time.Time
}

// ProductionDue computes o's production deadline; false when o is no
// production order.
//
//   - not notified: 10 days from receipt (production-10d), 8 hours in an
//     emergency (emergency-8h); production may happen at once;
//   - notified, no emergency: the review runs 10 days from receipt, and
//     production waits for its end: the data is due at the end of the
//     review (review-10d, art. 10(2)), and may be produced from then, or
//     from the authority's confirmation when it comes earlier;
//   - notified, in an emergency: 8 hours; the review does not hold
//     production (art. 10(4)), but an objection recorded before it stops it;
//   - objected: production stops (Stopped); the order stays preserved
//     until its expiry.
func (o *Order) ProductionDue() (ProductionDue, bool) {
	p := o.Production
	if p == nil {
		return ProductionDue{}, false
	}
	at := o.ReceivedAt.UTC()
	d := ProductionDue{Kind: KindProduction, Rule: RuleProduction, ReceivedAt: at, Due: at.Add(ProductionPeriod), ProduceFrom: at,
		Emergency: p.Emergency, AuthorityNotified: p.AuthorityNotified}
	if p.AuthorityNotified {
		d.ReviewEnds = at.Add(ReviewPeriod)
	}
	switch {
	case p.Emergency:
		d.Kind, d.Rule, d.Due = KindEmergencyProduction, RuleEmergency, at.Add(EmergencyPeriod)
	case p.AuthorityNotified:
		d.Rule, d.Due, d.ProduceFrom = RuleReview, d.ReviewEnds, d.ReviewEnds
	}
	if r := p.Review; r != nil {
		d.Review, d.ReviewAt = r.Outcome, r.At.UTC()
		switch {
		case r.Outcome == ReviewObjected:
			d.Stopped = true
		case r.At.Before(d.ProduceFrom):
			d.ProduceFrom = d.ReviewAt
		}
	}
	return d, true
}

// WarnAt is when share percent of the time from receipt to Due has
// passed.
func (d ProductionDue) WarnAt(share int) time.Time {
	return d.ReceivedAt.Add(d.Due.Sub(d.ReceivedAt) * time.Duration(share) / 100)
}

// WarningShares are the shares of a deadline's time at which the
// scheduler warns.
func WarningShares() []int { return []int{50, 80} }

// Details are the details of the deadline.set event of d.
func (d ProductionDue) Details() chain.DeadlineDetails {
	state := chain.DeadlineStateOpen
	if d.Stopped {
		state = chain.DeadlineStateStopped
	}
	dd := chain.DeadlineDetails{Kind: d.Kind, Rule: d.Rule, Due: d.Due, State: state, ReceivedAt: d.ReceivedAt,
		Emergency: d.Emergency, AuthorityNotified: d.AuthorityNotified, Review: string(d.Review), ReviewAt: d.ReviewAt}
	if d.ProduceFrom.After(d.ReceivedAt) {
		dd.ProduceFrom = d.ProduceFrom
	}
	return dd
}

// DeadlineSetEvent is the deadline.set event recording o's production
// deadline as computed at c.At, its rule and inputs; the Reason says it in
// words.
func (o *Order) DeadlineSetEvent(c Change) (*chain.Event, error) {
	d, ok := o.ProductionDue()
	if !ok {
		return nil, fmt.Errorf("order %s is no production order", o.ID)
	}
	c.Reason = d.explain()
	return deadlineEvent(chain.DeadlineSet, o, c, d.Details())
}

// explain says how d was computed.
func (d ProductionDue) explain() string {
	s := fmt.Sprintf("production due %s (%s, from receipt %s)", utcStamp(d.Due), d.Rule, utcStamp(d.ReceivedAt))
	if d.ProduceFrom.After(d.ReceivedAt) {
		s += fmt.Sprintf("; not before %s (the enforcing authority's review)", utcStamp(d.ProduceFrom))
	}
	switch d.Review {
	case ReviewConfirmed:
		s += fmt.Sprintf("; the enforcing authority confirmed on %s", utcStamp(d.ReviewAt))
	case ReviewObjected:
		s += fmt.Sprintf("; stopped: the enforcing authority objected on %s", utcStamp(d.ReviewAt))
	}
	return s
}

// deadlineEvent is a deadline event of o with details dd.
func deadlineEvent(t chain.EventType, o *Order, c Change, dd chain.DeadlineDetails) (*chain.Event, error) {
	if err := c.Check(false, ""); err != nil {
		return nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	e := &chain.Event{
		Version: chain.EventVersion, Type: t, Time: c.At.UTC(), Order: o.ID,
		Actor: c.Actor, Agent: c.Agent, Host: c.Host, Reason: c.Reason,
		Authority: o.LegalBasis, Details: dd.Put(nil),
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("order %s: %s event: %w", o.ID, t, err)
	}
	return e, nil
}

// DeadlineLogged is what the custody log holds of an order's deadline
// events: the due time of its newest deadline.set, the largest share
// warned of for that due time, and whether it was missed or met.
type DeadlineLogged struct {
	Due    time.Time
	Warned int
	Missed bool
	Met    bool
}

// Duty is the deadline event due for o at now, given what the log holds
// of its deadline (logged) and the time of the order's first disclosure
// (producedAt, zero when none), or nil when none is:
//
//   - deadline.set when the log holds none for the deadline o has now
//     (its receipt's was lost to a crash);
//   - deadline.met once when a disclosure came by the due time,
//     deadline.missed once when the due time passed without one;
//   - else deadline.warning for the largest share of the time passed that
//     was not warned of (one warning, late, when a daemon was down across
//     two).
//
// A stopped deadline (an objection), and one of an order released (or
// purged) without a disclosure, has no warnings and is never missed: the
// order ended, and its deadline with it.
func (o *Order) Duty(now, producedAt time.Time, logged DeadlineLogged, c Change) (*chain.Event, error) {
	d, ok := o.ProductionDue()
	if !ok || logged.Missed || logged.Met {
		return nil, nil
	}
	c.At = now
	dd := chain.DeadlineDetails{Kind: d.Kind, Rule: d.Rule, Due: d.Due}
	switch {
	case !logged.Due.Equal(d.Due):
		return o.DeadlineSetEvent(c)
	case !producedAt.IsZero() && !producedAt.After(d.Due):
		dd.ProducedAt = producedAt
		c.Reason = fmt.Sprintf("produced %s, due %s (%s)", utcStamp(producedAt), utcStamp(d.Due), d.Rule)
		return deadlineEvent(chain.DeadlineMet, o, c, dd)
	case d.Stopped, producedAt.IsZero() && (o.Status == StatusReleased || o.Status == StatusPurged):
		return nil, nil
	case !producedAt.IsZero() || !now.Before(d.Due):
		dd.ProducedAt = producedAt
		c.Reason = fmt.Sprintf("production was due %s (%s) and no disclosure was made by then", utcStamp(d.Due), d.Rule)
		return deadlineEvent(chain.DeadlineMissed, o, c, dd)
	}
	share := 0
	for _, s := range WarningShares() {
		if s > logged.Warned && !now.Before(d.WarnAt(s)) {
			share = s
		}
	}
	if share == 0 {
		return nil, nil
	}
	dd.Share = share
	c.Reason = fmt.Sprintf("%d%% of the time to produce has passed: due %s (%s left)", share, utcStamp(d.Due), d.Due.Sub(now).Round(time.Minute))
	return deadlineEvent(chain.DeadlineWarning, o, c, dd)
}

// CheckProduce refuses a disclosure of production order o at now that
// the enforcing authority's review forbids: after its objection, or before
// the end of its review without its confirmation. Any other order may be
// disclosed as its status allows.
func (o *Order) CheckProduce(now time.Time) error {
	d, ok := o.ProductionDue()
	switch {
	case !ok:
		return nil
	case d.Stopped:
		return fmt.Errorf("order %s: the enforcing authority objected on %s: production stopped, the data is not disclosed (it stays preserved until %s): %w",
			o.ID, utcStamp(d.ReviewAt), utcStamp(o.ExpiresAt), ErrIllegalTransition)
	case now.Before(d.ProduceFrom):
		return fmt.Errorf("order %s: production waits for the enforcing authority's review until %s unless it confirms earlier (order review --confirmed): %w",
			o.ID, utcStamp(d.ProduceFrom), ErrIllegalTransition)
	}
	return nil
}

// Review records the enforcing authority's answer to production order o
// (c.Reason is what shows it, required) and returns the order as it
// becomes and its order.reviewed event. produced says the order was
// disclosed already: a review then comes too late to change anything and
// is refused, as is one of an order whose authority was not notified, a
// second one, and one of a released or purged order. o is not changed.
func (o *Order) Review(outcome ReviewOutcome, produced bool, c Change) (*Order, *chain.Event, error) {
	p := o.Production
	switch {
	case outcome != ReviewConfirmed && outcome != ReviewObjected:
		return nil, nil, fmt.Errorf("order %s: review %q is not confirmed or objected: %w", o.ID, printable(string(outcome)), ErrInvalidChange)
	case p == nil:
		return nil, nil, fmt.Errorf("order %s is no production order: it has no review: %w", o.ID, ErrIllegalTransition)
	case !p.AuthorityNotified:
		return nil, nil, fmt.Errorf("order %s: its enforcing authority was not notified: it has no review: %w", o.ID, ErrIllegalTransition)
	case p.Review != nil:
		return nil, nil, fmt.Errorf("order %s: the enforcing authority's review was recorded already (%s on %s): %w",
			o.ID, p.Review.Outcome, utcStamp(p.Review.At), ErrIllegalTransition)
	case o.Status == StatusReleased || o.Status == StatusPurged:
		return nil, nil, fmt.Errorf("order %s is %s: %w", o.ID, o.Status, ErrIllegalTransition)
	case produced:
		return nil, nil, fmt.Errorf("order %s was produced (disclosed) already: a review comes too late: %w", o.ID, ErrIllegalTransition)
	}
	if err := c.Check(true, "basis of the review (the enforcing authority's message)"); err != nil {
		return nil, nil, fmt.Errorf("order %s: %w", o.ID, err)
	}
	n := o.clone()
	n.Production.Review = &Review{Outcome: outcome, At: c.At.UTC(), Basis: c.Reason, Actor: c.Actor}
	e, err := n.event(chain.OrderReviewed, c, "", map[string]string{"review": string(outcome)})
	if err != nil {
		return nil, nil, err
	}
	return n, e, nil
}

// ProductionState is a production deadline as `order list` shows it.
type ProductionState struct {
	ProductionDue
	// State is open, waiting (for the enforcing authority's review),
	// stopped, produced or missed.
	State string
	// Remaining is the time left until Due, negative once past.
	Remaining time.Duration
}

// The states of a production deadline.
const (
	ProductionOpen     = "open"
	ProductionWaiting  = "waiting"
	ProductionStopped  = "stopped"
	ProductionProduced = "produced"
	ProductionMissed   = "missed"
)

// ProductionState is o's production deadline at now; producedAt is the
// time of its first disclosure (zero when none). Nil when o is no
// production order.
func (o *Order) ProductionState(now, producedAt time.Time) *ProductionState {
	d, ok := o.ProductionDue()
	if !ok {
		return nil
	}
	s := &ProductionState{ProductionDue: d, State: ProductionOpen, Remaining: d.Due.Sub(now)}
	switch {
	case !producedAt.IsZero():
		s.State = ProductionProduced
	case d.Stopped:
		s.State = ProductionStopped
	case !now.Before(d.Due):
		s.State = ProductionMissed
	case now.Before(d.ProduceFrom):
		s.State = ProductionWaiting
	}
	return s
}

// productionJSON is a ProductionState as JSON.
type productionJSON struct {
	Kind        string    `json:"kind"`
	Rule        string    `json:"rule"`
	Due         time.Time `json:"due"`
	ProduceFrom time.Time `json:"produce_from"`
	ReviewEnds  time.Time `json:"review_ends,omitzero"`
	Review      string    `json:"review,omitempty"`
	State       string    `json:"state"`
	SecondsLeft int64     `json:"seconds_left"`
}

// MarshalJSON gives the production deadline as `order list --output json`
// and the API show it.
func (s *ProductionState) MarshalJSON() ([]byte, error) {
	return json.Marshal(productionJSON{s.Kind, s.Rule, s.Due, s.ProduceFrom, s.ReviewEnds, string(s.Review), s.State, int64(s.Remaining / time.Second)})
}

// UnmarshalJSON reads a production deadline as MarshalJSON writes it (a
// client of the daemon reads it so).
func (s *ProductionState) UnmarshalJSON(b []byte) error {
	var v productionJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = ProductionState{
		ProductionDue: ProductionDue{Kind: v.Kind, Rule: v.Rule, Due: v.Due, ProduceFrom: v.ProduceFrom, ReviewEnds: v.ReviewEnds, Review: ReviewOutcome(v.Review)},
		State:         v.State, Remaining: time.Duration(v.SecondsLeft) * time.Second,
	}
	return nil
}
