// Package api is the daemon's HTTP API as both of its sides see it: the
// wire types of its requests and answers, which agent/server encodes and
// decodes, and Client, a typed client of a running daemon.
//
// To talk to a daemon, call NewClient with its URL and a bearer token (or
// a tls.Config holding a client certificate), then the method of the
// route:
//
//	c, err := api.NewClient(api.Config{URL: "https://custos.example.net:8420", Token: token})
//	o, err := c.AddOrder(ctx, draft)                    // POST /v1/orders
//	j, err := c.Capture(ctx, o.ID, api.CaptureRequest{}) // a capture job, waited for
//	sum, err := api.CaptureResult(j)
//	d, err := c.Disclose(ctx, o.ID, api.DisclosureRequest{Format: "zip"})
//	err = c.DownloadPackage(ctx, d, "package.zip")       // checks the logged digest
//
// A disclosure waits for VerifyRequester (a confirmed check of who sent
// the order) and, for an emergency order, ApproveDisclosure by another
// identity.
//
// Orders, Order, Extend, Hold, LiftHold, Release and Purge are the rest of
// an order's life, and ReadItem reads an item back, re-hashing it; Fixity,
// Job, WaitJob, Jobs and CancelJob the jobs;
// Events and AllEvents, Note, Checkpoint, InclusionProof and
// ConsistencyProof the custody log; CreateToken, Tokens and RevokeToken
// the tokens (an admin's). Capture and Fixity wait as long as the job
// takes; SubmitCapture and SubmitFixity return at once or after a wait.
//
// An error answer is an *Error carrying the status, the API's error code
// and its message. It matches chain.ErrTamper when the daemon found
// tampering, and ErrBadRequest when it refused the request as made (400,
// 422): nothing was done. A package whose bytes do not hash to the digest
// the daemon logged is removed, and the error matches chain.ErrTamper.
//
// The types are the JSON the API speaks, field for field: OrderSummary
// and OrderDetail, StepRequest and StepResult, CaptureRequest,
// CaptureSummary and FixityReport (in a jobs.Job), DisclosureRequest and
// Disclosure, Event and EventPage, NoteRequest, TokenRequest and
// CreatedToken, and ErrorAnswer. The CLI prints the same types with
// --output json, so that a command prints the same bytes in-process and
// through the daemon; the constructors (NewOrderSummary, NewOrderDetail,
// NewStepResult, NewPurgeResult, CaptureSummaryOf, FixityReport.Add) make
// them from the agent's results.
// The routes, roles and answers are described by the OpenAPI document the
// daemon serves at /openapi.json.
package api
