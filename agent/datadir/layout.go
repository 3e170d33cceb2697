package datadir

import "path/filepath"

// The entries of a data directory.
const (
	LockFile       = "lock"           // the lock (Lock), holding the writer's pid
	LogDir         = "log"            // the custody log (C2SP tlog-tiles)
	StoreDir       = "store"          // the local evidence store (store.type: local)
	SpoolDir       = "spool"          // items sealed while the S3 store was down
	OrdersDir      = "orders"         // working copies of the order records
	KeysDir        = "keys"           // the signing key, by default
	JobsDir        = "jobs"           // the daemon's durable job queue
	DisclosuresDir = "disclosures"    // packages the daemon built
	UploadsDir     = "uploads"        // order documents received through the API
	WorkDir        = "work"           // work in progress (disclosures being built), mode 0700; emptied at each start
	TokensFile     = "tokens.json"    // the daemon's bearer tokens (hashed)
	AdminTokenFile = "admin-token"    // the first admin token, mode 0600
	SchedulerFile  = "scheduler.json" // the scheduler's state
	RecoveryFile   = "recovery.json"  // how far the last writer's start read the log for captures left open
	ServeFile      = "serve.json"     // where a running daemon listens
)

// Dir is a data directory: each method names where one of its entries
// lives.
type Dir string

func (d Dir) path(name string) string { return filepath.Join(string(d), name) }

// Log is the custody log's directory.
func (d Dir) Log() string { return d.path(LogDir) }

// Store is the local evidence store's directory.
func (d Dir) Store() string { return d.path(StoreDir) }

// Spool is the spool's directory.
func (d Dir) Spool() string { return d.path(SpoolDir) }

// Orders is the directory of the order records' working copies.
func (d Dir) Orders() string { return d.path(OrdersDir) }

// Keys is the directory of the default signing key.
func (d Dir) Keys() string { return d.path(KeysDir) }

// Jobs is the daemon's job queue.
func (d Dir) Jobs() string { return d.path(JobsDir) }

// Disclosures is where the daemon keeps the packages it built.
func (d Dir) Disclosures() string { return d.path(DisclosuresDir) }

// Work is where work in progress lives while it is built (a disclosure
// package, before it is checked and moved into place): private (mode
// 0700), on the data directory's file system, and emptied at every start,
// so that nothing a killed process was building outlives it.
func (d Dir) Work() string { return d.path(WorkDir) }

// Uploads is where the daemon keeps order documents received.
func (d Dir) Uploads() string { return d.path(UploadsDir) }

// Tokens is the daemon's token file.
func (d Dir) Tokens() string { return d.path(TokensFile) }

// AdminToken is the file holding the first admin token.
func (d Dir) AdminToken() string { return d.path(AdminTokenFile) }

// Scheduler is the scheduler's state file.
func (d Dir) Scheduler() string { return d.path(SchedulerFile) }

// Recovery is where a writer's start keeps how far it read the log for
// captures a dead process left open, so that the next start reads only
// what was appended since.
func (d Dir) Recovery() string { return d.path(RecoveryFile) }

// Serve is the file where a running daemon says where it listens.
func (d Dir) Serve() string { return d.path(ServeFile) }
