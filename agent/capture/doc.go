// Package capture is the capture pipeline of Custos: it chooses the
// sources that serve an order, reads each item they yield once through its
// hashes into the evidence store, and seals the items in batches in the
// custody log, between capture.started and capture.completed or
// capture.failed.
//
// A Capturer holds the store, the log, the signer and the spool; each
// capture is a Spec of one order, with who runs it:
//
//	srcs, err := capture.Catalog{Configured: configs}.Select(o, names) // or every source serving o
//	spec := capture.NewSpec(o, srcs, cutOff)                          // o's selectors, window, retention
//	spec.Actor, spec.Preserved = actor, held                          // held: what the order holds
//	rep, err := c.Capture(ctx, spec)                                  // err: the capture was not recorded
//	if rep.Failed() { ... rep.Failures() ... }                        // named in capture.failed too
//
// Items are read, hashed (SHA-256 and SHA-512, MD5 and SHA-1 on request)
// and stored by Workers goroutines; an item up to a part is buffered and
// put straight under ItemKey, a larger one is staged as it streams. The
// sealer gathers stored items into batches (BatchItems, or BatchWait after
// a batch's first item): the batch made durable (one store Sync), its
// manifest of canonical records (chain.ItemRecord, one a line) under
// ManifestKey and its signed in-toto statement under StatementKey written
// once, then one items.sealed event carrying the manifest's SHA-256 and
// the Merkle root over the records. An item is preserved once that event
// is durable. A Spec's Preserved items are neither stored nor sealed again,
// so a capture run again takes only what is missing; its Interrupted
// captures' items stored and never sealed are sealed in a recovery batch.
//
// While the store does not answer, items and batches are sealed into the
// Capturer's Spool; Flush later copies them to the store and logs
// item.stored for each batch. LoggedItems says what the log holds (reading
// manifests through an Index, the data directory's copy of them), and
// Fixity re-reads all of it, a batch at a time (its manifest, then its
// items), logging fixity.verified per batch and fixity.failed per item
// missing or altered.
//
// Logs written before batches (one item.preserved per item, its metadata
// and attestation beside it) are read as they are.
//
// The package never imports package agent: the order lifecycle that
// decides when a capture may run is the caller's.
package capture
