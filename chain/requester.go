package chain

import (
	"fmt"
	"strconv"
)

// The methods of a requester check (RequesterDetails.Method). A person
// records the first four; the agent records MethodVerifiedChannel at
// receipt, for an order that came through an intake channel its
// configuration declares verified (an authority's portal's token).
const (
	MethodCallback        = "callback"      // a call back to the authority on a number found independently
	MethodPortal          = "portal"        // confirmed in the authority's own portal
	MethodKnownChannel    = "known-channel" // confirmed over a channel known before the order came
	MethodOther           = "other"         // any other way; the note says which
	MethodVerifiedChannel = "verified-channel"
)

// RequesterMethods are the methods a person may record, in the order the
// CLI lists them.
func RequesterMethods() []string {
	return []string{MethodCallback, MethodPortal, MethodKnownChannel, MethodOther}
}

// RequesterDetails are the details of requester.verified and
// requester.failed: how the requester was checked. The event's actor is
// who checked.
type RequesterDetails struct {
	Method string // "method": see RequesterMethods, or MethodVerifiedChannel
	Note   string // "note": what was done, whom it reached
	// Channel ("channel") is the intake identity the order came through,
	// for MethodVerifiedChannel.
	Channel string
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d RequesterDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["method"], m["note"] = d.Method, d.Note
	if d.Channel != "" {
		m["channel"] = d.Channel
	}
	return m
}

// ReadRequesterDetails reads the details of a requester.verified or
// requester.failed event. A method missing is an error.
func ReadRequesterDetails(e *Event) (RequesterDetails, error) {
	d := RequesterDetails{Method: e.Details["method"], Note: e.Details["note"], Channel: e.Details["channel"]}
	if d.Method == "" {
		return d, fmt.Errorf("%s event: method missing", e.Type)
	}
	return d, nil
}

// ApprovalDetails are the details of disclosure.approved: who approved
// the order's next disclosure. Identity ("identity") is the approver as
// the four-eyes rule compares identities: the token's or certificate's
// name through the API, the actor in-process; the event's actor says the
// rest (role, token).
type ApprovalDetails struct {
	Identity string
	Note     string // "note", optional
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d ApprovalDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["identity"] = d.Identity
	if d.Note != "" {
		m["note"] = d.Note
	}
	return m
}

// ReadApprovalDetails reads the details of a disclosure.approved event.
// An identity missing is an error.
func ReadApprovalDetails(e *Event) (ApprovalDetails, error) {
	d := ApprovalDetails{Identity: e.Details["identity"], Note: e.Details["note"]}
	if d.Identity == "" {
		return d, fmt.Errorf("%s event: identity missing", e.Type)
	}
	return d, nil
}

// Clearance says what allowed a disclosure, in disclosure.created's
// details: the requester check it relied on and, for an emergency order,
// the approval it used up. Zero fields are left out (disclosures logged
// before requester checks have none).
type Clearance struct {
	RequesterMethod string // "requester_method": the method of the check
	RequesterEvent  uint64 // "requester_event": the log index of that check's event
	ApprovedBy      string // "approved_by": the approver's identity, for an emergency order
	ApprovalEvent   uint64 // "approval_event": the log index of disclosure.approved
}

// put adds c's details to m.
func (c Clearance) put(m map[string]string) {
	if c.RequesterMethod != "" {
		m["requester_method"] = c.RequesterMethod
		m["requester_event"] = strconv.FormatUint(c.RequesterEvent, 10)
	}
	if c.ApprovedBy != "" {
		m["approved_by"] = c.ApprovedBy
		m["approval_event"] = strconv.FormatUint(c.ApprovalEvent, 10)
	}
}

// readClearance reads c back from e's details, naming in errs what does
// not parse.
func readClearance(e *Event, errs *[]string) Clearance {
	c := Clearance{RequesterMethod: e.Details["requester_method"], ApprovedBy: e.Details["approved_by"]}
	index := func(key string, to *uint64) {
		if s, ok := e.Details[key]; ok {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				*errs = append(*errs, fmt.Sprintf("%s %q", key, s))
			}
			*to = n
		}
	}
	index("requester_event", &c.RequesterEvent)
	index("approval_event", &c.ApprovalEvent)
	return c
}
