// Package mirror keeps the custody log's copy in the evidence store and
// guards the local log with it.
//
// Every command that writes the log calls Check before it writes (the
// local log must extend the newest checkpoint the store holds, or it was
// rolled back or swapped: *chain.TamperError) and Sync when it ends (the
// hash tiles, entry bundles and checkpoints published since the last sync
// are copied write-once, each checkpoint after everything it covers).
// Restore rebuilds a lost local log from the store, verifying all of it
// before it puts anything in place:
//
//	m, err := mirror.New(mirror.Config{Dir: logDir, Store: store, Verifier: v})
//	if _, err := m.Check(ctx); err != nil { ... }   // before the first append
//	...
//	rep, err := m.Sync(ctx)                          // after the last
//
// The mirror lives under Prefix ("log/") in the store, in the same
// C2SP tlog-tiles layout as the local log, with every checkpoint kept under
// log/checkpoints/<size>, and each one witnesses cosigned under
// log/cosignatures/<size>.
package mirror
