package api

import (
	"context"
	"net/url"
)

// The results of a requester check (RequesterRequest.Result).
const (
	ResultConfirmed = "confirmed"
	ResultFailed    = "failed"
)

// RequesterRequest is the body of POST
// /v1/orders/{id}/requester-checks: how the order's requester was checked
// (callback, portal, known-channel or other), whether it was confirmed
// (Result: confirmed or failed) and what was done.
type RequesterRequest struct {
	Method string `json:"method"`
	Result string `json:"result"`
	Note   string `json:"note"`
}

// ApprovalRequest is the body of POST
// /v1/orders/{id}/disclosure-approvals: an approval of an emergency
// order's next disclosure, with an optional note.
type ApprovalRequest struct {
	Note string `json:"note,omitempty"`
}

// VerifyRequester records a check of order id's requester, by this
// identity: requester.verified when confirmed, requester.failed when not.
// A disclosure of the order is refused (409 requester_unverified) until
// the newest check confirmed it.
func (c *Client) VerifyRequester(ctx context.Context, id string, req RequesterRequest) (*Event, error) {
	var ev Event
	if err := c.call(ctx, "POST", "/v1/orders/"+url.PathEscape(id)+"/requester-checks", req, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// ApproveDisclosure approves emergency order id's next disclosure, by
// this identity (disclosure.approved); another identity must then
// disclose it (else 409 approval_required).
func (c *Client) ApproveDisclosure(ctx context.Context, id string, req ApprovalRequest) (*Event, error) {
	var ev Event
	if err := c.call(ctx, "POST", "/v1/orders/"+url.PathEscape(id)+"/disclosure-approvals", req, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}
