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
// Selectors (ParseSelector) are the typed identifiers an order names:
// account, email, phone, ip+port+time, username, url, device.
package order
