package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
)

// TestMerelyWrongRequestsAre4xx sends requests that are simply wrong: a
// step the order's state forbids, a name the order does not hold, a
// parameter that is not one, a key given twice. Each is answered with its
// 4xx and a JSON error, logs no ERROR line, and changes nothing.
func TestMerelyWrongRequestsAre4xx(t *testing.T) {
	f := newFixture(t)
	received := f.createOrder(t, "intake", "LE-RECEIVED", false)
	preserved := f.createWith(t, "LE-PRESERVED", "budapest-29")
	f.capture(t, preserved)
	f.confirmRequester(t, preserved)
	held := f.createWith(t, "LE-HELD", "budapest-29")
	f.capture(t, held)
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+held+"/hold", map[string]string{"legal_basis": "MLA pending"})
	ord := func(s string) string { return "/v1/orders/" + s }
	long := strings.Repeat("x", 8193)
	dupOrder := `{"reference":"LE-A","reference":"LE-B","authority":"a","requesting_state":"DE","profile":"budapest-16",` +
		`"legal_basis":"b","selectors":[{"type":"email","value":"a@example.net"}],"categories":["content"]}`
	nestedDup := strings.Replace(dupOrder, `"reference":"LE-B",`, "", 1)
	nestedDup = strings.Replace(nestedDup, `{"type":"email",`, `{"type":"email","type":"phone",`, 1)
	before := f.logSize(t)
	cases := []struct {
		name, token, method, path string
		body                      any
		status                    int
		code                      string
	}{
		// The cases.
		{"lift a hold that is not there", "custodian", "DELETE", ord(preserved) + "/hold", `{"reason":"x"}`, 409, "conflict"},
		{"disclose an unknown item", "discloser", "POST", ord(preserved) + "/disclosures", `{"items":["deadbeefdeadbeef"]}`, 404, "not_found"},
		{"disclose an unknown category", "discloser", "POST", ord(preserved) + "/disclosures", `{"categories":["gossip"]}`, 400, "bad_request"},
		// And what a sweep of the handlers found.
		{"disclose a digest that is none", "discloser", "POST", ord(preserved) + "/disclosures", `{"items":["not-hex!"]}`, 400, "bad_request"},
		{"disclose a category the order has nothing of", "discloser", "POST", ord(preserved) + "/disclosures", `{"categories":["traffic"]}`, 400, "bad_request"},
		{"disclose an order with nothing preserved", "discloser", "POST", ord(received) + "/disclosures", `{}`, 409, "conflict"},
		{"extend a held order", "custodian", "POST", ord(held) + "/extend", `{"legal_basis":"x"}`, 409, "conflict"},
		{"release a held order", "custodian", "POST", ord(held) + "/release", `{"reason":"x"}`, 409, "conflict"},
		{"a legal basis too long", "custodian", "POST", ord(preserved) + "/extend", `{"legal_basis":"` + long + `"}`, 400, "bad_request"},
		{"a reason where a basis is taken", "custodian", "POST", ord(preserved) + "/extend", `{"legal_basis":"x","reason":"y"}`, 400, "bad_request"},
		{"a basis where a reason is taken", "custodian", "POST", ord(preserved) + "/release", `{"reason":"x","legal_basis":"y"}`, 400, "bad_request"},
		{"an expiry for a hold", "custodian", "POST", ord(preserved) + "/hold", `{"legal_basis":"x","expires":"30d"}`, 400, "bad_request"},
		{"an order that is null", "intake", "POST", "/v1/orders", `null`, 400, "malformed_json"},
		{"an unknown status", "custodian", "GET", "/v1/orders?status=lost", nil, 400, "bad_request"},
		{"jobs of an id that is none", "custodian", "GET", "/v1/jobs?order=..", nil, 400, "bad_request"},
		{"a token name taken", "admin", "POST", "/v1/tokens", `{"name":"custodian","role":"auditor"}`, 409, "conflict"},
		// Keys given twice.
		{"an order with a key twice", "intake", "POST", "/v1/orders", dupOrder, 400, "duplicate_key"},
		{"an order with a nested key twice", "intake", "POST", "/v1/orders", nestedDup, 400, "duplicate_key"},
		{"a step with a key twice", "custodian", "POST", ord(preserved) + "/release", `{"reason":"a","reason":"b"}`, 400, "duplicate_key"},
		{"a step with a key twice in two cases", "custodian", "POST", ord(preserved) + "/release", `{"reason":"a","Reason":"b"}`, 400, "duplicate_key"},
		{"a capture with a key twice", "custodian", "POST", ord(preserved) + "/captures", `{"sources":["mail"],"sources":[]}`, 400, "duplicate_key"},
		{"a disclosure with a key twice", "discloser", "POST", ord(preserved) + "/disclosures", `{"format":"zip","format":"tar"}`, 400, "duplicate_key"},
		{"a note with a key twice", "custodian", "POST", "/v1/notes", `{"note":"a","note":"b"}`, 400, "duplicate_key"},
		{"a token with a key twice", "admin", "POST", "/v1/tokens", `{"name":"x","role":"admin","role":"auditor"}`, 400, "duplicate_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logged := len(f.logs.String())
			r := f.do(t, c.token, c.method, c.path, c.body)
			if r.status != c.status {
				t.Fatalf("%d, want %d: %s", r.status, c.status, r.body)
			}
			if code := r.errorCode(t); code != c.code {
				t.Fatalf("code %q, want %q: %s", code, c.code, r.body)
			}
			if lines := f.logs.String()[logged:]; strings.Contains(lines, `"level":"ERROR"`) {
				t.Fatalf("a merely wrong request logged an error:\n%s", lines)
			}
		})
	}
	if after := f.logSize(t); after != before {
		t.Fatalf("wrong requests changed the log: %d entries, then %d", before, after)
	}
	var d api.OrderDetail
	f.must(t, http.StatusOK, "auditor", "GET", ord(held), nil).json(t, &d)
	if d.Order.Status != order.StatusHeld {
		t.Fatalf("the held order is %s after the wrong requests", d.Order.Status)
	}
}

// TestDuplicateKeyNamesThePath: the error names the key, where it is, and
// how it was first given.
func TestDuplicateKeyNamesThePath(t *testing.T) {
	for _, c := range []struct{ body, path, first string }{
		{`{"a":1,"a":2}`, "a", "a"},
		{`{"a":{"b":[1,{"c":1,"C":2}]}}`, "a.b[1].C", "c"},
		{`[{"x":1},{"x":1,"y":{"x":2}},{"y":1,"y":1}]`, "[2].y", "y"},
		{`{"a":{},"b":{},"c":[]}`, "", ""},
		{`{"a":1,"b":{"a":1}}`, "", ""},
		{`{"a":1,`, "", ""}, // not JSON: the decoder says so
	} {
		path, first := duplicateKey([]byte(c.body))
		if path != c.path || first != c.first {
			t.Errorf("%s: %q, %q; want %q, %q", c.body, path, first, c.path, c.first)
		}
	}
	err := checkDuplicates([]byte(`{"legal_basis":"a","Legal_Basis":"b"}`))
	if err == nil || !strings.Contains(err.Error(), `"Legal_Basis" is given twice (also as "legal_basis")`) {
		t.Fatalf("%v", err)
	}
}

// createWith receives an order under profile as intake, returning its id.
func (f *fixture) createWith(t *testing.T, ref, profile string) string {
	t.Helper()
	o := anOrder(ref, false)
	o["profile"] = profile
	var created order.Order
	f.must(t, http.StatusCreated, "intake", "POST", "/v1/orders", o).json(t, &created)
	return created.ID
}
