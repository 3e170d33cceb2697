// Package agent is the order lifecycle service of Custos: it runs each
// step of an order's life against the custody log and the evidence store,
// in the order the law and the log require.
//
// Registry is the service. Each step (Add, Capture, Extend, Hold,
// LiftHold, Release, Purge, Disclose) takes the order's turn, checks the
// step against the order's status and profile (package agent/order),
// applies it to every object of the order in the store, writes the new
// version of the order's record (OrderBook) and appends the custody event
// that names it. A step that fails before its event is appended has
// changed nothing the log relies on.
//
// The log is the authority: what an order is and holds (OrderState) is
// read from its events, and a record or item is trusted only through the
// digest the log holds for it.
//
// A writer's start calls Recover before anything else: every capture a
// dead process left without an end is recorded as capture.failed
// (interrupted), and the work a killed disclosure left (Config.WorkDir) is
// removed and logged as disclosure.abandoned. A reader's start removes
// that work too (ParkAbandonedWork) and leaves the logging to the next
// writer.
//
// The subpackages hold the nouns the service uses: agent/order (the pure
// order domain), agent/capture (the capture pipeline: sources chosen for
// an order, hashing, spool, attestations, fixity), agent/source
// (connectors), agent/mirror (the log's copy in the store), agent/datadir
// (the data directory's lock, layout and durable writes); agent/server,
// agent/api (the API's wire types and typed client), agent/jobs,
// agent/auth and agent/scheduler make up the daemon.
package agent
