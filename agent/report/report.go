// Package report builds the transparency report of a deployment from its
// custody log alone: the orders received in a period, by instrument
// (jurisdiction profile), by requesting state and by outcome, the accounts
// they named, how long preservation took to begin (receipt to the first
// sealed items), and the production deadlines met and missed. Every figure comes from signed
// log entries, so anyone holding the log (or its mirror) can recompute it;
// the report names the log size it was computed at.
//
// Build it from the log's entries:
//
//	rep, err := report.Build(ctx, chain.Entries(ctx, fsys, 0, size), report.Period{From: from, To: to})
//
// It is pure: no file, network or clock of its own.
package report

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// Period is the half-open interval [From, To) of receipt times the report
// covers.
type Period struct {
	From, To time.Time
}

// The outcomes of an order, from the most to the least conclusive: an
// order counts once, under the first of these its events show.
const (
	OutcomeDisclosed = "disclosed" // a disclosure.created
	// OutcomeCannotComply is an order.replied of kind cannot-comply (EU
	// Form 3, Annex III) and no disclosure.
	OutcomeCannotComply = "cannot comply"
	OutcomeReleased     = "released"  // released (or purged) without a disclosure or a cannot-comply reply
	OutcomePreserved    = "preserved" // items sealed, or the order preserved, extended or held
	OutcomePending      = "pending"   // received, nothing preserved yet
)

// Outcomes lists the outcomes in the order a report shows them.
func Outcomes() []string {
	return []string{OutcomePreserved, OutcomeDisclosed, OutcomeCannotComply, OutcomeReleased, OutcomePending}
}

// Count is one row of a breakdown.
type Count struct {
	Key    string `json:"key"`
	Orders int    `json:"orders"`
}

// Report is the transparency report of one period.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// LogSize is the number of log entries read: the report is what the
	// first LogSize entries say.
	LogSize uint64 `json:"log_size"`
	Orders  int    `json:"orders"`
	// Accounts is the number of selectors (accounts, addresses, numbers,
	// ...) the orders named, summed over the orders.
	Accounts          int     `json:"accounts"`
	ByInstrument      []Count `json:"by_instrument"`
	ByRequestingState []Count `json:"by_requesting_state"`
	ByOutcome         []Count `json:"by_outcome"`
	// FirstSealed is the time from an order's receipt to its first sealed
	// items, over the orders that have sealed items.
	FirstSealed Durations `json:"receipt_to_first_sealed"`
	// Deadlines counts the production deadlines that fell due in the
	// period, whatever the order's receipt: met (deadline.met) and missed
	// (deadline.missed).
	Deadlines Deadlines `json:"production_deadlines"`
	// Origin and CheckpointRoot name the checkpoint of LogSize entries the
	// report was computed at (set by the caller, who read it): with them
	// anyone holding the log can recompute every figure.
	Origin         string `json:"origin,omitempty"`
	CheckpointRoot []byte `json:"checkpoint_root,omitempty"`
}

// Deadlines counts production deadlines by what became of them.
type Deadlines struct {
	Met    int `json:"met"`
	Missed int `json:"missed"`
}

// Durations summarises a set of durations.
type Durations struct {
	Orders  int     `json:"orders"`
	Median  float64 `json:"median_seconds"`
	P95     float64 `json:"p95_seconds"`
	Slowest float64 `json:"max_seconds"`
}

// orderFacts is what the log says of one order that the report needs.
type orderFacts struct {
	received    time.Time
	profile     string
	state       string
	selectors   int
	firstSealed time.Time
	preserved   bool
	disclosed   bool
	cannot      bool
	released    bool
}

// Build reads the log's entries and returns the report of the orders
// received in p. The entries must come from a log the caller verified (or
// that its writer verifies), up to a signed checkpoint: Build checks only
// that each is a custody event. An entry that cannot be read stops it
// with that error (a *chain.TamperError for one that is not an event).
func Build(ctx context.Context, entries iter.Seq2[*chain.Record, error], p Period) (*Report, error) {
	if !p.From.Before(p.To) {
		return nil, fmt.Errorf("report: the period's start %s is not before its end %s", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	facts := map[string]*orderFacts{}
	documents := map[string]bool{} // captures of an order's own document
	deadlines := dueDeadlines{}
	var size uint64
	for rec, err := range entries {
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		size = rec.Index + 1
		e := rec.Event
		if e.Order == "" {
			continue
		}
		if e.Type == chain.DeadlineMet || e.Type == chain.DeadlineMissed {
			if err := deadlines.add(rec, p); err != nil {
				return nil, err
			}
			continue
		}
		if e.Type == chain.OrderReceived {
			f, err := receivedFacts(rec)
			if err != nil {
				return nil, err
			}
			facts[e.Order] = f
			continue
		}
		f := facts[e.Order]
		if f == nil {
			continue // an order received before the log's start: not ours to count
		}
		if e.Type == chain.CaptureStarted && chain.IsDocumentCapture(e.Details["sources"]) {
			documents[e.Details["capture"]] = true
		}
		if documents[e.Details["capture"]] {
			continue // the order's document, preserved at receipt: not the data it names
		}
		apply(f, rec)
	}
	rep := &Report{From: p.From.UTC(), To: p.To.UTC(), LogSize: size}
	instruments, states, outcomes := map[string]int{}, map[string]int{}, map[string]int{}
	var waits []time.Duration
	for _, f := range facts {
		if f.received.Before(p.From) || !f.received.Before(p.To) {
			continue
		}
		rep.Orders++
		rep.Accounts += f.selectors
		instruments[f.profile]++
		states[f.state]++
		outcomes[f.outcome()]++
		if !f.firstSealed.IsZero() {
			waits = append(waits, max(f.firstSealed.Sub(f.received), 0))
		}
	}
	rep.ByInstrument = counts(instruments, nil)
	rep.ByRequestingState = counts(states, nil)
	rep.ByOutcome = counts(outcomes, Outcomes())
	rep.FirstSealed = summarise(waits)
	for _, t := range deadlines {
		if t == chain.DeadlineMet {
			rep.Deadlines.Met++
		} else {
			rep.Deadlines.Missed++
		}
	}
	return rep, nil
}

// dueDeadlines are the production deadlines due in the period, by order
// and due time, with what became of each.
type dueDeadlines map[string]chain.EventType

// add counts a deadline.met or deadline.missed whose due time falls in p.
// Details that do not read are tampering with the entry.
func (dd dueDeadlines) add(rec *chain.Record, p Period) error {
	d, err := chain.ReadDeadlineDetails(rec.Event)
	if err != nil {
		return &chain.TamperError{Index: int64(rec.Index), What: err.Error()}
	}
	if !d.Due.Before(p.From) && d.Due.Before(p.To) {
		dd[rec.Event.Order+" "+d.Due.UTC().Format(time.RFC3339)] = rec.Event.Type
	}
	return nil
}

// receivedFacts reads an order.received event: the receipt time is the
// agent's clock when the order arrived (received_at), the instrument its
// profile, and the number of selectors it named.
func receivedFacts(rec *chain.Record) (*orderFacts, error) {
	d := rec.Event.Details
	f := &orderFacts{profile: d["profile"], state: d["requesting_state"], received: rec.Event.Time}
	if s := d["received_at"]; s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("log entry %d: order.received: received_at %q: %w", rec.Index, s, err)
		}
		f.received = t
	}
	if s := d["selectors"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("log entry %d: order.received: selectors %q is not a count", rec.Index, s)
		}
		f.selectors = n
	}
	return f, nil
}

// apply adds what one later event of an order says.
func apply(f *orderFacts, rec *chain.Record) {
	e := rec.Event
	switch e.Type {
	case chain.ItemsSealed, chain.ItemPreserved:
		if f.firstSealed.IsZero() || e.Time.Before(f.firstSealed) {
			f.firstSealed = e.Time
		}
		f.preserved = true
	case chain.DisclosureCreated:
		f.disclosed = true
	case chain.OrderReplied:
		f.cannot = f.cannot || chain.ReplyKind(e.Details["kind"]) == chain.ReplyCannotComply
	case chain.OrderReleased, chain.ItemPurged:
		f.released = true
	}
	switch chain.OrderStatus(e.Details["status"]) {
	case chain.StatusPreserved, chain.StatusExtended, chain.StatusHeld:
		f.preserved = true
	case chain.StatusReleased, chain.StatusPurged:
		f.released = true
	}
}

func (f *orderFacts) outcome() string {
	switch {
	case f.disclosed:
		return OutcomeDisclosed
	case f.cannot:
		return OutcomeCannotComply
	case f.released:
		return OutcomeReleased
	case f.preserved:
		return OutcomePreserved
	}
	return OutcomePending
}

// counts turns m into rows: in the order of keys when given (every key,
// zeros included), else by count, largest first, then by key.
func counts(m map[string]int, keys []string) []Count {
	out := []Count{}
	if keys != nil {
		for _, k := range keys {
			out = append(out, Count{Key: k, Orders: m[k]})
		}
		return out
	}
	for k, n := range m {
		out = append(out, Count{Key: k, Orders: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Orders != out[j].Orders {
			return out[i].Orders > out[j].Orders
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// summarise gives the median and the 95th percentile of d (nearest rank:
// the lower middle of an even count), and the largest.
func summarise(d []time.Duration) Durations {
	if len(d) == 0 {
		return Durations{}
	}
	slices.Sort(d)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(d)))) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return Durations{Orders: len(d), Median: rank(0.5).Seconds(), P95: rank(0.95).Seconds(), Slowest: d[len(d)-1].Seconds()}
}
