package api

import (
	"context"
	"errors"
	"net/url"
)

// ReviewRequest is the body of POST /v1/orders/{id}/review: the
// enforcing authority's answer to a production order (outcome: confirmed
// or objected) and what shows it (basis: its message), recorded in the
// order.reviewed event.
type ReviewRequest struct {
	Outcome string `json:"outcome"`
	Basis   string `json:"basis"`
}

// Review records the enforcing authority's answer to production order id
// (outcome confirmed or objected) on basis; the answer is the order as it
// became, its production deadline recomputed and logged.
func (c *Client) Review(ctx context.Context, id, outcome, basis string) (*StepResult, error) {
	var res StepResult
	if err := c.call(ctx, "POST", "/v1/orders/"+url.PathEscape(id)+"/review", ReviewRequest{Outcome: outcome, Basis: basis}, &res); err != nil {
		return nil, err
	}
	if res.Order == nil {
		return nil, errors.New("the daemon's answer holds no order")
	}
	return &res, nil
}
