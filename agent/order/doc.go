// Package order is the order domain of Custos: what a preservation or
// production order is, which statuses it moves through, what its
// jurisdiction profile allows, and how it is written down. It is pure: no
// file, network or clock of its own; callers pass the time and the
// randomness.
//
// An order arrives as flags (Flags.Draft) or an order file (ParseFile),
// becomes a validated Order with its id and expiry through NewOrder, and
// is recorded as its canonical record (Format; Parse reads one back and
// refuses anything not byte-for-byte canonical):
//
//	ps, _ := order.LoadProfiles(overrides)     // us-2703f, budapest-29, eu-epoc-pr, ...
//	draft, err := order.ParseFile(data, now)
//	o, err := order.NewOrder(draft, ps, now, rand.Reader)
//	rec, err := order.Format(o)
//	e, err := o.ReceivedEvent(change)          // the order.received custody event
//
// Every lifecycle step (Transition, Extend, Hold, LiftHold, Release,
// Amend) returns the new order and the custody event that records it,
// checked against the order's status (Status.Next) and its profile
// (Profile.CheckExpiry, ExtensionExpiry); a step that is not allowed
// returns an error matching ErrIllegalTransition or ErrProfileRule and
// changes nothing. Deadline tells how long an order has left.
//
// EU certificates (Regulation (EU) 2023/1543) arrive as XML forms
// (ParseForm; docs/orders.md has the mapping): an EPOC-PR or EPOC is the
// draft of a new order, its Form kept in the record; an Annex V or VI
// names the order it applies to (ParsedForm.Target), and ApplyForm holds
// or extends it with an event naming the form's SHA-256:
//
//	pf, err := order.ParseForm(xml, now)       // refuses DOCTYPEs, depth, size; errors name the form's field
//	err = pf.CheckNew(orders)                  // the same certificate, or a file number taken
//	o, err := order.NewOrder(pf.Draft, ps, now, rand.Reader)
//	t, err := pf.Target(orders)                // an Annex V or VI
//	n, e, err := t.ApplyForm(profile, pf, change)
//
// Selectors (ParseSelector) are the typed identifiers an order names:
// account, email, phone, ip+port+time, username, url, device.
package order
