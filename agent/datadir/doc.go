// Package datadir owns the data directory of a Custos agent: its layout,
// the lock that lets one process write it at a time, and the one durable
// file write every package of the agent uses.
//
// A process that writes (the daemon, or a CLI command run in-process)
// takes the lock exclusively; readers take it shared, so a reader never
// sees a writer's half-done work and two writers never meet:
//
//	l, err := datadir.Lock(dir, true) // *LockedError if another holds it
//	if err != nil { ... }
//	defer l.Unlock()
//
// Where things live is Dir's business, so no path is spelled twice:
//
//	d := datadir.Dir(dir)
//	d.Log(), d.Store(), d.Spool(), d.Orders(), d.Jobs(), ...
//
// Files that must survive a crash whole are written with WriteFile (a
// synced temporary file renamed over the old one, then the directory
// synced) or, when they must never be replaced, WriteNew. SyncDir and
// SyncTree make renames and new files durable.
//
// The package does no logging and imports nothing of Custos.
package datadir
