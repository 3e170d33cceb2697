package chain

import (
	"fmt"
	"strconv"
	"time"
)

// DeadlineDetails are the details of the deadline events of a production
// order: deadline.set (each computation of its deadline, with the rule and
// the inputs it used), deadline.warning (a share of the time passed),
// deadline.missed and deadline.met. The agent writes them; the scheduler
// and `custos report` read them back from the log, so what a provider knew
// of a deadline, and when, is proved by the log alone.
type DeadlineDetails struct {
	Kind string // "kind": production or emergency-production
	// Rule is "rule": which rule gave Due (production-10d, emergency-8h,
	// review-10d).
	Rule string
	Due  time.Time // "due": when the data must be produced by
	// ProduceFrom is "produce_from": the earliest time production may
	// happen (the end of the enforcing authority's review, or its
	// confirmation); zero when it may happen at once.
	ProduceFrom time.Time
	// State is "state" on deadline.set: open (running) or stopped (the
	// enforcing authority objected).
	State string
	// The inputs of the computation (deadline.set): "received_at",
	// "emergency", "authority_notified", "review" (confirmed, objected or
	// absent) and "review_at".
	ReceivedAt        time.Time
	Emergency         bool
	AuthorityNotified bool
	Review            string
	ReviewAt          time.Time
	// Share is "share" on deadline.warning: the percentage of the time
	// from receipt to Due that had passed (50 or 80).
	Share int
	// ProducedAt is "produced_at" on deadline.met: the disclosure's time.
	ProducedAt time.Time
}

// The states a deadline.set names: the deadline runs, or the enforcing
// authority's objection stopped production. Met and missed are events of
// their own.
const (
	DeadlineStateOpen    = "open"
	DeadlineStateStopped = "stopped"
)

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d DeadlineDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["kind"], m["rule"] = d.Kind, d.Rule
	if d.State != "" {
		m["state"] = d.State
	}
	stamp := func(key string, t time.Time) {
		if !t.IsZero() {
			m[key] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	stamp("due", d.Due)
	stamp("produce_from", d.ProduceFrom)
	stamp("received_at", d.ReceivedAt)
	stamp("review_at", d.ReviewAt)
	stamp("produced_at", d.ProducedAt)
	if !d.ReceivedAt.IsZero() {
		m["emergency"], m["authority_notified"] = strconv.FormatBool(d.Emergency), strconv.FormatBool(d.AuthorityNotified)
	}
	if d.Review != "" {
		m["review"] = d.Review
	}
	if d.Share != 0 {
		m["share"] = strconv.Itoa(d.Share)
	}
	return m
}

// ReadDeadlineDetails reads the deadline details of e. A time, flag or
// share that does not parse is an error naming it.
func ReadDeadlineDetails(e *Event) (DeadlineDetails, error) {
	d := DeadlineDetails{Kind: e.Details["kind"], Rule: e.Details["rule"], State: e.Details["state"], Review: e.Details["review"]}
	var err error
	for _, t := range []struct {
		key string
		at  *time.Time
	}{{"due", &d.Due}, {"produce_from", &d.ProduceFrom}, {"received_at", &d.ReceivedAt}, {"review_at", &d.ReviewAt}, {"produced_at", &d.ProducedAt}} {
		if *t.at, err = detailTime(e, t.key); err != nil {
			return d, err
		}
	}
	for _, b := range []struct {
		key string
		v   *bool
	}{{"emergency", &d.Emergency}, {"authority_notified", &d.AuthorityNotified}} {
		if s, ok := e.Details[b.key]; ok {
			if *b.v, err = strconv.ParseBool(s); err != nil {
				return d, fmt.Errorf("%s event: %s %q is not true or false", e.Type, b.key, s)
			}
		}
	}
	if s, ok := e.Details["share"]; ok {
		if d.Share, err = strconv.Atoi(s); err != nil || d.Share <= 0 || d.Share >= 100 {
			return d, fmt.Errorf("%s event: share %q is not a percentage", e.Type, s)
		}
	}
	if (e.Type == DeadlineSet || e.Type == DeadlineWarning || e.Type == DeadlineMissed || e.Type == DeadlineMet) && d.Due.IsZero() {
		return d, fmt.Errorf("%s event: due missing", e.Type)
	}
	return d, nil
}
