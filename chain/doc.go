// Package chain is the custody log of Custos: an append-only Merkle tree
// of custody events (RFC 6962 hashing, the C2SP tlog-tiles layout, written
// by tessera's POSIX driver) with signed checkpoints (C2SP signed-note),
// and everything needed to check it without the agent: event encoding,
// inclusion and consistency proofs, item records and their batch proofs,
// in-toto statements, RFC 3161 timestamps and witness cosignatures over
// checkpoints, and key rotations. It imports nothing else of Custos, so a
// verifier can use it alone.
//
// A writer opens the log in a directory with the key that signs its
// checkpoints, appends events, and closes it (which publishes a checkpoint
// covering every entry):
//
//	l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: origin, Signer: signer})
//	rec, err := l.Append(ctx, chain.Event{Type: chain.CustodyNote, Actor: actor, ...})
//	cp, err := l.Publish(ctx)     // now, rather than at the next interval
//	p, err := l.Prove(ctx, rec.Index)
//	err = l.Close(ctx)
//
// Open verifies what no earlier verification covered before the writer
// starts, and a log found tampered stops writing for good (ErrLogFailed);
// Log.Verify re-checks a running log. Anyone else reads the directory (or
// a copy of it) through an fs.FS:
//
//	rep, err := chain.VerifyLog(ctx, fsys, verifier)   // the whole log: entries, tiles, checkpoints, order chains
//	for rec, err := range chain.Entries(ctx, fsys, 0, size) { ... }
//	ev, proof, err := chain.VerifyEvent(encoded, proofText, checkpoint, verifier)
//
// Every finding of tampering is a *TamperError naming the file and entry;
// errors.Is(err, ErrTamper) holds for each, and any other error says
// nothing about the log's integrity. The disclosure package built on the
// log is chain/disclosure.
package chain
