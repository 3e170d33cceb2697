package api

import (
	"context"
	"net/url"
	"time"

	"github.com/custos-evidence/custos/agent/report"
)

// Report is the transparency report of the orders received in [from, to)
// (GET /v1/report), computed by the daemon from its custody log at its
// newest checkpoint.
func (c *Client) Report(ctx context.Context, from, to time.Time) (*report.Report, error) {
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}
	var rep report.Report
	if err := c.call(ctx, "GET", "/v1/report?"+q.Encode(), nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
