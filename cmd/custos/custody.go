package main

import (
	"context"
	"time"

	"filippo.io/age"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/report"
	"github.com/custos-evidence/custos/chain"
)

// custodyService is what the custody commands do, whoever does it: the
// agent in this process on the data directory (localCustody), or the
// daemon through its API (daemonCustody). Each command is written once
// against it; custody chooses the implementation from --server.
//
// A method that did its work but failed to close what it opened (the log,
// the lock) returns its result and the error both: the command prints the
// result, then fails. Errors carry what each mode says today, so a command
// fails with the same message and exit code whichever serves it.
type custodyService interface {
	// AddOrder receives an order and preserves its document (a file
	// path; "" for none). The order is received once it is returned,
	// even with an error, which then says what befell the document.
	AddOrder(ctx context.Context, draft *order.Order, document string) (*order.Order, error)
	// ImportForm receives the EU form in XML at path: a new order, or an
	// Annex V or VI applied to the order it names. A result returned with
	// an error is a new order whose form could not be preserved.
	ImportForm(ctx context.Context, path string) (*api.ImportResult, error)
	// ListOrders lists the orders; those whose record cannot be read are
	// left out and named in unreadable.
	ListOrders(ctx context.Context) (list []api.OrderSummary, unreadable, err error)
	ShowOrder(ctx context.Context, id string) (*api.OrderDetail, error)

	// The lifecycle steps of an order.
	Extend(ctx context.Context, id, expires, basis string) (*api.StepResult, error)
	Hold(ctx context.Context, id, basis string) (*api.StepResult, error)
	LiftHold(ctx context.Context, id, reason string) (*api.StepResult, error)
	Release(ctx context.Context, id, reason string) (*api.StepResult, error)
	Purge(ctx context.Context, id, reason string) (*api.StepResult, error)
	// Review records the enforcing authority's answer (confirmed or
	// objected) to production order id, on basis.
	Review(ctx context.Context, id, outcome, basis string) (*api.StepResult, error)
	// Reply writes a reply to order id's authority (a confirmation of
	// preservation, or Annex III), signed, stored and logged.
	Reply(ctx context.Context, id string, req api.ReplyRequest) (*api.Reply, error)
	// ReadReply reads the files of reply n of order id, in the order of
	// agent.ReplyExts (xml, html, dsse.json), each checked against the
	// digest its order.replied names.
	ReadReply(ctx context.Context, id string, n int) ([][]byte, error)

	// Capture preserves what order id names; a summary returned with an
	// error says what was preserved before it.
	Capture(ctx context.Context, id string, req captureRequest) (*api.CaptureSummary, error)
	// Fixity re-reads and re-hashes the items of one order, or of all,
	// calling each with every item's result as it comes.
	Fixity(ctx context.Context, order string, each func(api.FixityItem)) (*api.FixityReport, error)
	Disclose(ctx context.Context, id string, req discloseRequest) (*disclosureOutput, error)
	// VerifyRequester records a check of order id's requester;
	// ApproveDisclosure approves emergency order id's next disclosure,
	// which another identity must make. Each returns the event logged.
	VerifyRequester(ctx context.Context, id string, req api.RequesterRequest) (*api.Event, error)
	ApproveDisclosure(ctx context.Context, id, note string) (*api.Event, error)

	// LogShow calls each with the custody events from index from, of one
	// order unless order is empty.
	LogShow(ctx context.Context, order string, from uint64, each func(*chain.Record) error) error
	Note(ctx context.Context, order, text string) (*api.Event, error)
	// Checkpoint is the newest signed checkpoint, as a C2SP signed note.
	Checkpoint(ctx context.Context) ([]byte, error)
	ProveInclusion(ctx context.Context, index uint64) ([]byte, error)
	ProveConsistency(ctx context.Context, older, newer uint64) ([]byte, error)
	// Timestamps lists the RFC 3161 tokens kept over the checkpoints,
	// each checked against the checkpoint it covers.
	Timestamps(ctx context.Context) ([]api.Timestamp, error)
	// Report is the transparency report of the orders received in p,
	// from the custody log up to a signed checkpoint; key is the log's
	// verifier for an in-process check ("" for the configured one).
	Report(ctx context.Context, p report.Period, key string) (*report.Report, error)

	// The daemon's bearer tokens.
	CreateToken(ctx context.Context, name string, role auth.Role) (*api.CreatedToken, error)
	ListTokens(ctx context.Context) ([]auth.Token, error)
	RevokeToken(ctx context.Context, id string) (*auth.Token, error)
}

// custody is the custody service the global flags choose: the daemon at
// --server, or else the agent in this process. This is the one place
// that chooses. Neither opens anything until a method is called.
func (g *globalOptions) custody() custodyService {
	if g.server != "" {
		return &daemonCustody{g: g}
	}
	return &localCustody{g: g}
}

// captureRequest is a capture as the command takes it.
type captureRequest struct {
	sources  []string // configured source names, or ad-hoc URIs (in-process only)
	category string   // the category of ad-hoc URIs' items (in-process only)
	cutOff   string   // --cut-off as given: "", "now" or an RFC 3339 time
	// cutOffAt is cutOff read when the command started ("now" then).
	cutOffAt time.Time
}

// discloseRequest is a disclosure as the command takes it.
type discloseRequest struct {
	out               string          // the package's path: a directory, .zip or .tar
	items, categories []string        // a subset, or all
	recipients        []string        // age or SSH public keys, as given
	parsed            []age.Recipient // recipients, parsed
}
