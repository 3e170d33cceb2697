package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/order"
)

// TestIntakeCannotBackdateAnOrder (issue 19): an order body that names
// its own receipt, or an expiry already past, is refused with the field
// named and nothing logged; the receipt is the agent's clock, and the
// authority's own dates are kept beside it.
func TestIntakeCannotBackdateAnOrder(t *testing.T) {
	f := newFixture(t)
	before := f.logSize(t)
	for _, tc := range []struct {
		name, field string
		value       any
		want        string
	}{
		{"backdated receipt", "received_at", "2020-01-01T00:00:00Z", "received_at: set by the agent's clock when the order arrives, not by its sender"},
		{"receipt given as now", "received_at", time.Now().UTC().Format(time.RFC3339), "received_at: set by the agent's clock"},
		{"expiry already past", "expires_at", "2020-01-01", "expires_at: 2020-01-01T23:59:59Z is already past"},
		{"issued in the future", "issued_at", "2100-01-01T00:00:00Z", "issued_at: 2100-01-01T00:00:00Z is in the future"},
	} {
		r := f.do(t, "intake", "POST", "/v1/orders", withField(anOrder("LE-9", false), tc.field, tc.value))
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		r.json(t, &e)
		if r.status != http.StatusBadRequest || e.Error.Code != "invalid_order" || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%s: %d %s, want 400 invalid_order naming %q", tc.name, r.status, r.body, tc.want)
		}
	}
	if after := f.logSize(t); after != before {
		t.Fatalf("refused orders changed the log: %d entries, then %d", before, after)
	}

	o := withField(withField(anOrder("LE-10", false), "issued_at", "2026-11-19T15:30:00+01:00"), "signed_at", "2026-11-19T16:00:00+01:00")
	start := time.Now().Add(-time.Second)
	var created order.Order
	f.must(t, http.StatusCreated, "intake", "POST", "/v1/orders", o).json(t, &created)
	switch {
	case created.ReceivedAt.Before(start) || created.ReceivedAt.After(time.Now()):
		t.Errorf("received at %s: not the agent's clock", created.ReceivedAt)
	case !created.IssuedAt.Equal(time.Date(2026, 11, 19, 14, 30, 0, 0, time.UTC)) || !created.SignedAt.Equal(time.Date(2026, 11, 19, 15, 0, 0, 0, time.UTC)):
		t.Errorf("issued %s, signed %s: not the authority's dates", created.IssuedAt, created.SignedAt)
	}
}
