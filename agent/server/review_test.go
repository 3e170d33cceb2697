package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/agent/order"
)

// The enforcing authority's review through the API: the custodian's,
// bad input refused with nothing recorded, a second review refused, and
// the list shows the production deadline the answer made.
func TestReviewProductionOrder(t *testing.T) {
	f := newFixture(t)
	validateAnswers(t, f)
	o := anOrder("PROD-1", false)
	o["profile"], o["expires_at"] = "custom", "60d"
	o["production"] = map[string]any{"authority_notified": true}
	var created order.Order
	f.must(t, http.StatusCreated, "intake", "POST", "/v1/orders", o).json(t, &created)
	path := "/v1/orders/" + created.ID + "/review"
	f.must(t, http.StatusForbidden, "intake", "POST", path, map[string]string{"outcome": "confirmed", "basis": "mail"})
	f.must(t, http.StatusBadRequest, "custodian", "POST", path, map[string]string{"outcome": "maybe", "basis": "mail"})
	f.must(t, http.StatusBadRequest, "custodian", "POST", path, map[string]string{"outcome": "confirmed"})
	list := f.must(t, http.StatusOK, "custodian", "GET", "/v1/orders", nil)
	if !strings.Contains(string(list.body), `"rule":"review-10d"`) || !strings.Contains(string(list.body), `"state":"waiting"`) {
		t.Fatalf("list before the review: %s", list.body)
	}
	r := f.must(t, http.StatusOK, "custodian", "POST", path, map[string]string{"outcome": "confirmed", "basis": "mail of the enforcing authority"})
	if !strings.Contains(string(r.body), `"review":{"outcome":"confirmed"`) || !strings.Contains(string(r.body), `"outcome":"confirmed"`) {
		t.Fatalf("review answered %s", r.body)
	}
	f.must(t, http.StatusConflict, "custodian", "POST", path, map[string]string{"outcome": "objected", "basis": "again"})
	list = f.must(t, http.StatusOK, "custodian", "GET", "/v1/orders", nil)
	if !strings.Contains(string(list.body), `"review":"confirmed","state":"open"`) {
		t.Fatalf("list after the review: %s", list.body)
	}
}
