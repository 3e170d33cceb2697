// Package capture is the capture pipeline of Custos: it chooses the
// sources that serve an order, streams each item they yield once through
// its hashes into the evidence store, describes and attests it, and logs
// it, between capture.started and capture.completed or capture.failed.
//
// A Capturer holds the store, the log, the signer and the spool; each
// capture is a Spec of one order, with who runs it:
//
//	srcs, err := capture.Catalog{Configured: configs}.Select(o, names) // or every source serving o
//	spec := capture.NewSpec(o, srcs, cutOff)                          // o's selectors, window, retention
//	spec.Actor, spec.Preserved = actor, held                          // held: what the log says o holds
//	rep, err := c.Capture(ctx, spec)                                  // err: the capture was not recorded
//	if rep.Failed() { ... rep.Failures() ... }                        // named in capture.failed too
//
// Items live under ItemKey (content, and its .meta.json) and
// AttestationKey (a DSSE-signed in-toto statement). A Spec's Preserved
// items are neither stored nor logged again, so a capture run again after
// a crash takes only what is missing.
//
// While the store does not answer, items are sealed into the Capturer's
// Spool and logged; Flush later copies them to the store and logs
// item.stored. Fixity re-reads what LoggedItems says the log holds and
// checks every byte against the logged digests (fixity.verified,
// fixity.failed), reading an item not yet flushed from the spool.
//
// The package never imports package agent: the order lifecycle that
// decides when a capture may run is the caller's.
package capture
