package server

import (
	"net/http"
	"testing"
)

// TestReplyRefused: a reply the order's state does not allow is 409, an
// unknown order 404, a malformed body 400, and none of them logs
// anything.
func TestReplyRefused(t *testing.T) {
	f := newFixture(t)
	id := f.createOrder(t, "intake", "LE-REPLY", false) // nothing captured
	before := f.logSize(t)
	for _, tc := range []struct {
		status int
		path   string
		body   any
		code   string
	}{
		{http.StatusConflict, "/v1/orders/" + id + "/replies", map[string]string{"kind": "preserved"}, "conflict"},
		{http.StatusNotFound, "/v1/orders/01J9Z3K4M5N6P7Q8R9S0T1V2W3/replies", map[string]string{"kind": "preserved"}, "not_found"},
		{http.StatusBadRequest, "/v1/orders/" + id + "/replies", map[string]string{"kind": "maybe"}, "bad_request"},
		{http.StatusBadRequest, "/v1/orders/" + id + "/replies", map[string]string{"kind": "cannot-comply", "ground": "non-execution"}, "bad_request"},
		{http.StatusBadRequest, "/v1/orders/" + id + "/replies", map[string]string{"kind": "preserved", "reason": "x"}, "malformed_json"}, // an unknown field,
	} {
		if code := f.must(t, tc.status, "custodian", "POST", tc.path, tc.body).errorCode(t); code != tc.code {
			t.Errorf("%s %v: %s, want %s", tc.path, tc.body, code, tc.code)
		}
	}
	if after := f.logSize(t); after != before {
		t.Errorf("refused replies logged %d entries", after-before)
	}
}
