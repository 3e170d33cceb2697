// Package api is the daemon's HTTP API as both of its sides see it: the
// wire types of its requests and answers, which agent/server sends and
// reads, and a typed client.
//
// The types are the JSON the API speaks, field for field: OrderSummary
// and OrderDetail (GET /v1/orders, /v1/orders/{id}), StepRequest and
// StepResult (extend, hold, release, purge), CaptureRequest,
// CaptureSummary and FixityReport (the jobs' parameters and results, in a
// jobs.Job),
// DisclosureRequest and Disclosure, Event and EventPage (/v1/events),
// NoteRequest, TokenRequest and CreatedToken. Every error answer is an
// ErrorAnswer holding an Error. The CLI prints the same types with
// --output json, so that a command prints the same bytes in-process and
// through the daemon. Their constructors (NewOrderDetail, NewStepResult,
// NewPurgeResult, CaptureSummaryOf, FixityReport.Add) turn the agent's
// results into them.
//
// The routes, roles and answers are described by the OpenAPI document the
// daemon serves at /openapi.json (agent/server/openapi.json).
package api
