package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	disclosurepkg "github.com/custos-evidence/custos/chain/disclosure"
)

// TestOrderLifeThroughTheAPI runs an order's life as its users would:
// received, captured, read, extended, held, disclosed and downloaded, and
// the package verifies offline with the agent's key alone.
func TestOrderLifeThroughTheAPI(t *testing.T) {
	orderLife(newFixture(t))(t)
}

func orderLife(f *fixture) func(t *testing.T) {
	return func(t *testing.T) { runOrderLife(t, f) }
}

func runOrderLife(t *testing.T, f *fixture) {
	id := f.createOrder(t, "intake", "LE-2026-1", false)
	j := f.capture(t, id)
	var sum api.CaptureSummary
	if err := json.Unmarshal(j.Result, &sum); err != nil || sum.Preserved != 2 || sum.Failed {
		t.Fatalf("capture result: %v %s", err, j.Result)
	}
	if !strings.HasPrefix(j.Identity, "custodian (custodian, token ") {
		t.Fatalf("job identity %q", j.Identity)
	}
	// Capturing again stores nothing twice.
	j = f.capture(t, id)
	if err := json.Unmarshal(j.Result, &sum); err != nil || sum.Preserved != 0 || len(sum.Items) != 2 {
		t.Fatalf("second capture result: %v %s", err, j.Result)
	}

	var d api.OrderDetail
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/orders/"+id, nil).json(t, &d)
	if d.Order.Status != order.StatusPreserved || len(d.Items) != 2 {
		t.Fatalf("order after capture: %s, %d items", d.Order.Status, len(d.Items))
	}
	var list []api.OrderSummary
	f.must(t, http.StatusOK, "custodian", "GET", "/v1/orders", nil).json(t, &list)
	if len(list) != 1 || list[0].Order.ID != id || list[0].Items != 2 {
		t.Fatalf("order list: %+v", list)
	}

	// A read of content is a custody event naming the reader.
	r := f.must(t, http.StatusOK, "custodian", "GET", "/v1/orders/"+id+"/items/"+d.Items[0].SHA256, nil)
	if got := sha256Hex(r.body); got != d.Items[0].SHA256 {
		t.Fatalf("item read back hashes to %s", got)
	}
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+id+"/extend", map[string]string{"expires": "90d", "legal_basis": "art. 16(2) renewal"})
	// What the profile does not allow is refused, naming the rule.
	if code := f.must(t, http.StatusUnprocessableEntity, "custodian", "POST", "/v1/orders/"+id+"/extend",
		map[string]string{"expires": "400d", "legal_basis": "x"}).errorCode(t); code != "profile_rule" {
		t.Fatalf("too long an extension: %s", code)
	}
	f.must(t, http.StatusUnprocessableEntity, "custodian", "POST", "/v1/orders/"+id+"/hold", map[string]string{"legal_basis": "MLA request pending"})

	// A reply to the authority: written, signed, stored and logged by the
	// custodian, listed with the order, and carried (its event) by the
	// package below. A ground that is none writes nothing.
	replies := "/v1/orders/" + id + "/replies"
	var rp api.Reply
	f.must(t, http.StatusCreated, "custodian", "POST", replies, map[string]string{"kind": "preserved"}).json(t, &rp)
	if rp.Order != id || rp.Number != 1 || rp.Kind != chain.ReplyPreserved || len(rp.Files) != 3 || rp.Files[0].Key != "orders/"+id+"/replies/"+rp.Files[0].SHA256+".xml" {
		t.Fatalf("reply %+v", rp)
	}
	f.must(t, http.StatusForbidden, "discloser", "POST", replies, map[string]string{"kind": "preserved"})
	if code := f.must(t, http.StatusBadRequest, "custodian", "POST", replies, map[string]string{"kind": "cannot-comply", "ground": "too-busy"}).errorCode(t); code != "bad_request" {
		t.Errorf("an unknown ground: %s", code)
	}
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/orders/"+id, nil).json(t, &d)
	if len(d.Replies) != 1 || d.Replies[0].Number != 1 || d.Replies[0].Files[2].SHA256 != rp.Files[2].SHA256 || d.Replies[0].LogIndex != rp.LogIndex {
		t.Fatalf("the order lists replies %+v, want %+v", d.Replies, rp)
	}
	// Named by the reply's number; the store names them by the XML's digest.
	for i, name := range []string{"1.xml", "1.html", "1.dsse.json"} {
		got := f.must(t, http.StatusOK, "discloser", "GET", replies+"/"+name, nil)
		if sha256Hex(got.body) != rp.Files[i].SHA256 {
			t.Errorf("reply file %s read back does not hash to what the reply names for %s", name, rp.Files[i].Key)
		}
	}
	f.must(t, http.StatusNotFound, "custodian", "GET", replies+"/2.xml", nil)
	f.must(t, http.StatusBadRequest, "custodian", "GET", replies+"/1.pdf", nil)
	f.must(t, http.StatusForbidden, "auditor", "GET", replies+"/1.xml", nil)

	var dis api.Disclosure
	f.confirmRequester(t, id)
	f.must(t, http.StatusCreated, "discloser", "POST", "/v1/orders/"+id+"/disclosures", map[string]any{}).json(t, &dis)
	var got api.Disclosure
	f.must(t, http.StatusOK, "discloser", "GET", "/v1/disclosures/"+dis.ID, nil).json(t, &got)
	if got.SHA256 != dis.SHA256 || len(got.Items) != 2 {
		t.Fatalf("disclosure: %+v", got)
	}
	pkg := f.must(t, http.StatusOK, "discloser", "GET", dis.Download, nil)
	if sha256Hex(pkg.body) != dis.SHA256 {
		t.Fatal("the downloaded package is not the one logged")
	}
	verifyPackage(t, f, pkg.body)

	// The events tell who did what.
	events := f.events(t, "auditor", id)
	var types []string
	for _, e := range events {
		types = append(types, string(e.Type))
	}
	for _, want := range []chain.EventType{chain.OrderReceived, chain.CaptureCompleted, chain.ItemAccessed, chain.OrderExtended, chain.OrderReplied, chain.DisclosureCreated} {
		if !slices.Contains(types, string(want)) {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	accessed := 0
	for _, e := range events {
		if e.Type == chain.ItemAccessed {
			accessed++
			if !strings.HasPrefix(e.Actor, "custodian (custodian") && !strings.HasPrefix(e.Actor, "discloser (discloser") {
				t.Errorf("item.accessed by %q", e.Actor)
			}
		}
		if e.Type == chain.OrderReceived && !strings.HasPrefix(e.Actor, "intake (intake, token ") {
			t.Errorf("order.received by %q", e.Actor)
		}
	}
	if accessed != 2 { // the item read and the download
		t.Errorf("%d item.accessed events, want 2", accessed)
	}

	// The log and its proofs are served.
	cp := f.must(t, http.StatusOK, "auditor", "GET", "/v1/checkpoint", nil)
	if _, err := chain.ParseCheckpoint(cp.body, f.log.Verifier()); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	proof := f.must(t, http.StatusOK, "auditor", "GET", "/v1/proofs/inclusion/1", nil)
	if _, err := chain.ParseProof(proof.body); err != nil {
		t.Fatalf("proof: %v\n%s", err, proof.body)
	}
	f.must(t, http.StatusNotFound, "auditor", "GET", "/v1/proofs/inclusion/999999", nil)
	f.must(t, http.StatusOK, "auditor", "GET", "/metrics", nil)
	f.must(t, http.StatusOK, "", "GET", "/healthz", nil)
	f.must(t, http.StatusOK, "", "GET", "/readyz", nil)
}

// events pages through every event of order as token sees them.
func (f *fixture) events(t *testing.T, token, order string) []*chain.Event {
	t.Helper()
	var out []*chain.Event
	from := uint64(0)
	for {
		var page api.EventPage
		f.must(t, http.StatusOK, token, "GET", "/v1/events?limit=7&order="+order+"&from="+itoa(from), nil).json(t, &page)
		for _, ev := range page.Events {
			e, err := chain.ParseEvent(ev.Event)
			if err != nil {
				t.Fatalf("event %d: %v", ev.Index, err)
			}
			out = append(out, e)
		}
		if page.Next >= page.Size {
			return out
		}
		from = page.Next
	}
}

// verifyPackage checks a downloaded zip package with the verifier the
// investigator runs, trusting only the agent's key.
func verifyPackage(t *testing.T, f *fixture, pkg []byte) {
	t.Helper()
	if _, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg))); err != nil {
		t.Fatalf("the package is not a zip: %v", err)
	}
	path := filepath.Join(t.TempDir(), "package.zip")
	if err := os.WriteFile(path, pkg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := disclosurepkg.Open(ctx, path, disclosurepkg.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	trust, err := chain.ParseTrustLine(f.log.Key().Verifier)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := disclosurepkg.Verify(ctx, p.FS, trust)
	if err != nil || rep.Result != disclosurepkg.ResultOK {
		t.Fatalf("the package does not verify: %v", err)
	}
}

// TestEveryRouteRefusesTheWrongCaller sends each authenticated route a
// request without credentials, with a bad token, and with each role it
// does not allow: each is a JSON 401 or 403, and the log does not change.
func TestEveryRouteRefusesTheWrongCaller(t *testing.T) {
	f := newFixture(t)
	id := f.createOrder(t, "intake", "LE-1", false)
	before := f.logSize(t)
	sample := map[string]string{"{id}": id, "{sha256}": strings.Repeat("a", 64), "{index}": "0"}
	for _, rt := range f.srv.routes {
		if rt.roles == nil {
			continue
		}
		path := rt.pattern
		for k, v := range sample {
			path = strings.ReplaceAll(path, k, v)
		}
		t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
			for _, token := range []string{"", "custos_01KB0000000000000000000000_" + strings.Repeat("a", 52), "not-a-token"} {
				r := f.do(t, token, rt.method, path, map[string]any{})
				if r.status != http.StatusUnauthorized || r.errorCode(t) != "unauthenticated" || r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("token %q: %d %s", token, r.status, r.body)
				}
			}
			for _, role := range auth.Roles() {
				if slices.Contains(rt.roles, role) {
					continue
				}
				r := f.do(t, string(role), rt.method, path, map[string]any{})
				if r.status != http.StatusForbidden || r.errorCode(t) != "forbidden" {
					t.Errorf("as %s: %d %s", role, r.status, r.body)
				}
			}
		})
	}
	if after := f.logSize(t); after != before {
		t.Fatalf("refused requests changed the log: %d entries, then %d", before, after)
	}
}

// TestConfidentialOrdersAreInvisibleToOthers: a confidential order is
// seen by whom it is assigned to, and by no one else, not even in the
// events or jobs.
func TestConfidentialOrdersAreInvisibleToOthers(t *testing.T) {
	f := newFixture(t)
	secret := f.createOrder(t, "intake", "LE-SECRET", true)
	open := f.createOrder(t, "bob", "LE-OPEN", false)
	// Intake reads no order (its answer was its receipt); intake's own
	// custody note about the order it received is taken.
	f.must(t, http.StatusForbidden, "intake", "GET", "/v1/orders/"+secret, nil)
	f.must(t, http.StatusCreated, "intake", "POST", "/v1/notes", map[string]string{"order": secret, "note": "paper original filed"})
	f.must(t, http.StatusNotFound, "bob", "POST", "/v1/notes", map[string]string{"order": secret, "note": "x"})
	for _, who := range []string{"custodian", "auditor", "discloser"} {
		r := f.must(t, http.StatusNotFound, who, "GET", "/v1/orders/"+secret, nil)
		if strings.Contains(string(r.body), "LE-SECRET") {
			t.Errorf("%s: the answer names the order: %s", who, r.body)
		}
		var list []api.OrderSummary
		f.must(t, http.StatusOK, who, "GET", "/v1/orders", nil).json(t, &list)
		if len(list) != 1 || list[0].Order.ID != open {
			t.Errorf("%s lists %+v", who, list)
		}
	}
	var page api.EventPage
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/events?limit=1000", nil).json(t, &page)
	if strings.Contains(string(f.do(t, "auditor", "GET", "/v1/events?limit=1000", nil).body), secret) {
		t.Errorf("the auditor sees events of the confidential order")
	}
	f.must(t, http.StatusNotFound, "custodian", "POST", "/v1/orders/"+secret+"/captures", map[string]any{})
	f.must(t, http.StatusNotFound, "custodian", "POST", "/v1/orders/"+secret+"/hold", map[string]string{"legal_basis": "x"})

	// Assigned to a role, the order is seen by that role.
	o := anOrder("LE-CUST", true)
	o["confidentiality"] = map[string]any{"confidential": true, "assigned": []string{"role:custodian", "intake"}}
	var created order.Order
	f.must(t, http.StatusCreated, "intake", "POST", "/v1/orders", o).json(t, &created)
	f.must(t, http.StatusOK, "custodian", "GET", "/v1/orders/"+created.ID, nil)
	f.must(t, http.StatusNotFound, "discloser", "GET", "/v1/orders/"+created.ID, nil)
	j := f.capture(t, created.ID)
	f.must(t, http.StatusOK, "custodian", "GET", "/v1/jobs/"+j.ID, nil)
	f.must(t, http.StatusNotFound, "auditor", "GET", "/v1/jobs/"+j.ID, nil)
	var js []*jobs.Job
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/jobs", nil).json(t, &js)
	if len(js) != 0 {
		t.Errorf("the auditor lists jobs of an order it may not see: %d", len(js))
	}
}

// TestBadRequestsChangeNothing: malformed JSON, unknown fields, oversized
// bodies, path traversal in ids, unknown routes and methods are each a
// clear JSON error, and the log does not change.
func TestBadRequestsChangeNothing(t *testing.T) {
	f := newFixture(t)
	id := f.createOrder(t, "intake", "LE-1", false)
	before := f.logSize(t)
	big := `{"reference":"` + strings.Repeat("x", DefaultMaxBody) + `"}`
	cases := []struct {
		name, token, method, path string
		body                      any
		status                    int
		code                      string
	}{
		{"malformed order", "intake", "POST", "/v1/orders", `{"reference":`, 400, "malformed_json"},
		{"order as YAML", "intake", "POST", "/v1/orders", "reference: x\n", 400, "malformed_json"},
		{"unknown order field", "intake", "POST", "/v1/orders", withField(anOrder("LE-2", false), "colour", "red"), 400, "invalid_order"},
		{"invalid order", "intake", "POST", "/v1/orders", withField(anOrder("LE-2", false), "requesting_state", "XX"), 400, "invalid_order"},
		{"oversized order", "intake", "POST", "/v1/orders", big, 413, "too_large"},
		{"oversized step", "custodian", "POST", "/v1/orders/" + id + "/hold", big, 413, "too_large"},
		{"malformed step", "custodian", "POST", "/v1/orders/" + id + "/hold", `{"legal_basis": 7}`, 400, "malformed_json"},
		{"unknown step field", "custodian", "POST", "/v1/orders/" + id + "/hold", `{"legal_basis":"x","until":"never"}`, 400, "malformed_json"},
		{"two values", "custodian", "POST", "/v1/orders/" + id + "/hold", `{"legal_basis":"x"}{}`, 400, "malformed_json"},
		{"missing basis", "custodian", "POST", "/v1/orders/" + id + "/hold", `{}`, 400, "bad_request"},
		{"bad expiry", "custodian", "POST", "/v1/orders/" + id + "/extend", `{"expires":"soon","legal_basis":"x"}`, 400, "bad_request"},
		{"unknown capture field", "custodian", "POST", "/v1/orders/" + id + "/captures", `{"source":"mail"}`, 400, "malformed_json"},
		{"ad-hoc source", "custodian", "POST", "/v1/orders/" + id + "/captures", `{"sources":["file:///etc/passwd"]}`, 400, "bad_request"},
		{"unknown source", "custodian", "POST", "/v1/orders/" + id + "/captures", `{"sources":["nope"]}`, 400, "bad_request"},
		{"bad cut-off", "custodian", "POST", "/v1/orders/" + id + "/captures", `{"cut_off":"yesterday"}`, 400, "bad_request"},
		{"traversal in an order id", "auditor", "GET", "/v1/orders/..%2F..%2Fetc%2Fpasswd", nil, 400, "bad_path"},
		{"dot segments", "auditor", "GET", "/v1/orders/../tokens", nil, 400, "bad_path"},
		{"encoded dot segments", "auditor", "GET", "/v1/orders/%2E%2E/tokens", nil, 400, "bad_path"},
		{"doubled slash", "auditor", "GET", "/v1//orders", nil, 400, "bad_path"},
		{"traversal in a job id", "auditor", "GET", "/v1/jobs/..%2F" + id, nil, 400, "bad_path"},
		{"traversal in a disclosure id", "discloser", "GET", "/v1/disclosures/..%2Fx", nil, 400, "bad_path"},
		{"traversal in an item digest", "custodian", "GET", "/v1/orders/" + id + "/items/..%2F..%2Forder.json", nil, 400, "bad_path"},
		{"invalid order id", "auditor", "GET", "/v1/orders/..evil", nil, 400, "bad_request"},
		{"invalid job id", "auditor", "GET", "/v1/jobs/x%00y", nil, 404, "not_found"},
		{"invalid disclosure id", "discloser", "GET", "/v1/disclosures/abc", nil, 400, "bad_request"},
		{"unknown item", "custodian", "GET", "/v1/orders/" + id + "/items/order.json", nil, 404, "not_found"},
		{"unknown order", "auditor", "GET", "/v1/orders/01KB00000000000000000000ZZ", nil, 404, "not_found"},
		{"unknown token", "admin", "DELETE", "/v1/tokens/01KB00000000000000000000ZZ", nil, 404, "not_found"},
		{"bad role", "admin", "POST", "/v1/tokens", `{"name":"x","role":"root"}`, 400, "bad_request"},
		{"unknown route", "auditor", "GET", "/v1/nothing", nil, 404, "not_found"},
		{"wrong method", "auditor", "PUT", "/v1/orders", nil, 405, "method_not_allowed"},
		{"text body", "custodian", "POST", "/v1/orders/" + id + "/release", nil, 415, "unsupported_media_type"},
		{"purge without a reason", "custodian", "POST", "/v1/orders/" + id + "/purge", `{}`, 400, "bad_request"},
		{"purge a received order", "custodian", "POST", "/v1/orders/" + id + "/purge", `{"reason":"x"}`, 409, "conflict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r *response
			if c.code == "unsupported_media_type" {
				r = f.doType(t, c.token, c.method, c.path, "text/plain", "reason")
			} else {
				r = f.do(t, c.token, c.method, c.path, c.body)
			}
			if r.status != c.status {
				t.Fatalf("%d, want %d: %s", r.status, c.status, r.body)
			}
			if code := r.errorCode(t); code != c.code {
				t.Fatalf("code %q, want %q: %s", code, c.code, r.body)
			}
		})
	}
	if after := f.logSize(t); after != before {
		t.Fatalf("bad requests changed the log: %d entries, then %d", before, after)
	}
	js, err := os.ReadDir(filepath.Join(f.dir, "jobs"))
	if err == nil && len(js) > 0 {
		t.Fatalf("bad requests queued %d jobs", len(js))
	}
}

func withField(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func (f *fixture) doType(t *testing.T, token, method, path, ct, body string) *response {
	t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.tokens[token])
	req.Header.Set("Content-Type", ct)
	res, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return &response{status: res.StatusCode, header: res.Header, body: b.Bytes()}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestFixityJobFindsTampering: a fixity job over an order reads every item
// back; an item altered in the store is reported in the job's result, the
// log records fixity.failed, and the metric counts it.
func TestFixityJobFindsTampering(t *testing.T) {
	f := newFixture(t)
	id := f.createOrder(t, "intake", "LE-FIX", false)
	f.capture(t, id)
	var j jobs.Job
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+id+"/fixity?wait=60s", nil).json(t, &j)
	var rep api.FixityReport
	if err := json.Unmarshal(j.Result, &rep); err != nil || j.State != jobs.Succeeded || rep.Checked != 2 || rep.Failed != 0 {
		t.Fatalf("fixity of an intact order: %v %+v %s", err, j, j.Result)
	}
	// Alter one stored item behind the store's back.
	var d api.OrderDetail
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/orders/"+id, nil).json(t, &d)
	path := filepath.Join(f.dir, "store", "objects", filepath.FromSlash(d.Items[0].Key))
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read through the API, the altered item never arrives whole: the
	// answer is cut off, and fixity.failed is logged.
	req, err := http.NewRequest("GET", f.http.URL+"/v1/orders/"+id+"/items/"+d.Items[0].SHA256, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.tokens["custodian"])
	if res, err := f.http.Client().Do(req); err == nil {
		got, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr == nil && sha256Hex(got) != d.Items[0].SHA256 && len(got) == len(b) {
			t.Fatal("the altered item was served whole with a clean end")
		}
	}
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+id+"/fixity?wait=60s", nil).json(t, &j)
	if err := json.Unmarshal(j.Result, &rep); err != nil || rep.Failed != 1 || rep.Items[0].OK || rep.Items[0].Key != d.Items[0].Key {
		t.Fatalf("fixity of an altered item: %v %s", err, j.Result)
	}
	// One fixity.failed from the job, and one per read that found the
	// item altered (an HTTP client may retry a GET cut off before its
	// first byte, and each read is an access of its own).
	byJob, byRead := 0, 0
	for _, e := range f.events(t, "auditor", id) {
		switch {
		case e.Type == chain.FixityFailed && e.Details["via"] == "api read":
			byRead++
		case e.Type == chain.FixityFailed:
			byJob++
		}
	}
	if byJob != 1 || byRead < 1 {
		t.Fatalf("fixity.failed: %d from the job, %d from reads", byJob, byRead)
	}
	m := f.must(t, http.StatusOK, "auditor", "GET", "/metrics", nil)
	if !strings.Contains(string(m.body), fmt.Sprintf("custos_fixity_failures_total %d\n", byJob+byRead)) {
		t.Fatal("the metric does not count the failure")
	}
}

// TestTheOtherRoutesHappyPath covers what the order's life does not: a
// hold and its lift, release and purge, a consistency proof, cancelling a
// job, and tokens made, listed and revoked through the API.
func TestTheOtherRoutesHappyPath(t *testing.T) {
	f := newFixture(t)
	o := anOrder("LE-29", false)
	o["profile"] = "budapest-29"
	var created order.Order
	f.must(t, http.StatusCreated, "intake", "POST", "/v1/orders", o).json(t, &created)
	id := created.ID
	f.capture(t, id)

	var res api.StepResult
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+id+"/hold", map[string]string{"legal_basis": "MLA request 2026/77 pending"}).json(t, &res)
	if res.Order.Status != order.StatusHeld || res.Store == nil || res.Store.Objects == 0 {
		t.Fatalf("hold: %+v", res)
	}
	f.must(t, http.StatusOK, "custodian", "DELETE", "/v1/orders/"+id+"/hold", map[string]string{"reason": "MLA decided"}).json(t, &res)
	if res.Order.Status == order.StatusHeld {
		t.Fatalf("lift: still held")
	}
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+id+"/release", map[string]string{"reason": "withdrawn"}).json(t, &res)
	if res.Order.Status != order.StatusReleased {
		t.Fatalf("release: %s", res.Order.Status)
	}
	f.must(t, http.StatusOK, "custodian", "POST", "/v1/orders/"+id+"/purge", map[string]string{"reason": "withdrawn"}).json(t, &res)
	if res.Purged == nil || res.Kept == nil || len(*res.Kept) != 2 {
		t.Fatalf("purge under retention should keep both items: %+v", res)
	}

	// A custody note about the order, by whoever sends it.
	var note api.Event
	f.must(t, http.StatusCreated, "custodian", "POST", "/v1/notes", map[string]string{"order": id, "note": "paper copy received by courier"}).json(t, &note)
	if e, err := chain.ParseEvent(note.Event); err != nil || e.Type != chain.CustodyNote || e.Order != id || !strings.HasPrefix(e.Actor, "custodian (custodian") {
		t.Fatalf("note: %v %s", err, note.Event)
	}
	f.must(t, http.StatusBadRequest, "custodian", "POST", "/v1/notes", map[string]string{"note": " "})

	// Consistency between two kept checkpoints.
	sizes, err := chain.KeptCheckpointSizes(f.log.FS())
	if err != nil || len(sizes) < 2 {
		t.Fatalf("kept checkpoints: %v %v", sizes, err)
	}
	older, newer := sizes[0], sizes[len(sizes)-1]
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/proofs/consistency?old="+itoa(older)+"&new="+itoa(newer), nil)
	f.must(t, http.StatusNotFound, "auditor", "GET", "/v1/proofs/consistency?old="+itoa(older)+"&new="+itoa(newer+1000), nil)

	// A job queued behind a busy queue can be cancelled.
	id2 := f.createOrder(t, "intake", "LE-CANCEL", false)
	var j jobs.Job
	f.must(t, http.StatusAccepted, "custodian", "POST", "/v1/orders/"+id2+"/captures", map[string]any{}).json(t, &j)
	r := f.do(t, "custodian", "POST", "/v1/jobs/"+j.ID+"/cancel", nil)
	switch r.status {
	case http.StatusOK:
		r.json(t, &j)
		f.must(t, http.StatusOK, "custodian", "GET", "/v1/jobs/"+j.ID+"?wait=30s", nil).json(t, &j)
		if j.State != jobs.Cancelled && j.State != jobs.Succeeded {
			t.Fatalf("cancelled job: %+v", j)
		}
	case http.StatusConflict: // it had already ended
	default:
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}

	// Tokens: made (the secret shown once), listed without secrets,
	// revoked, and refused from then on.
	var nt struct {
		Token  auth.Token `json:"token"`
		Secret string     `json:"secret"`
	}
	f.must(t, http.StatusCreated, "admin", "POST", "/v1/tokens", map[string]string{"name": "robot", "role": "auditor"}).json(t, &nt)
	f.tokens["robot"] = nt.Secret
	f.must(t, http.StatusOK, "robot", "GET", "/v1/checkpoint", nil)
	list := f.must(t, http.StatusOK, "admin", "GET", "/v1/tokens", nil)
	if strings.Contains(string(list.body), nt.Secret) || !strings.Contains(string(list.body), nt.Token.ID) {
		t.Fatal("the token list shows a secret, or not the new token")
	}
	f.must(t, http.StatusOK, "admin", "DELETE", "/v1/tokens/"+nt.Token.ID, nil)
	f.must(t, http.StatusUnauthorized, "robot", "GET", "/v1/checkpoint", nil)
	f.must(t, http.StatusBadRequest, "admin", "POST", "/v1/tokens", map[string]string{"name": "bad\nname", "role": "auditor"})
}

// TestOrderWithDocument receives an order with its document in one
// multipart request: the document is preserved as the order's first item,
// under its own (made safe) name, and the upload is not kept.
func TestOrderWithDocument(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{})
	orderJSON, err := json.Marshal(anOrder("LE-DOC", false))
	if err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.7\n% the order of the Staatsanwaltschaft\n")
	send := func(parts map[string][]byte, name string) *response {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, k := range []string{"order", "document"} {
			v, ok := parts[k]
			if !ok {
				continue
			}
			var w io.Writer
			if k == "document" {
				w, err = mw.CreateFormFile("document", name)
			} else {
				w, err = mw.CreateFormField(k)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(v); err != nil {
				t.Fatal(err)
			}
		}
		mw.Close()
		return f.doType(t, "intake", "POST", "/v1/orders", mw.FormDataContentType(), body.String())
	}
	r := send(map[string][]byte{"order": orderJSON, "document": pdf}, "../../etc/Order 2026-11.pdf")
	if r.status != http.StatusCreated || r.header.Get(api.DocumentErrorHeader) != "" {
		t.Fatalf("order with document: %d %s %s", r.status, r.header.Get(api.DocumentErrorHeader), r.body)
	}
	var o order.Order
	r.json(t, &o)
	if o.Document == nil || o.Document.Name != "Order_2026-11.pdf" || o.Document.SHA256 != sha256Hex(pdf) || o.Document.MediaType != "application/pdf" {
		t.Fatalf("document: %+v", o.Document)
	}
	var d api.OrderDetail
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/orders/"+o.ID, nil).json(t, &d)
	if len(d.Items) != 1 || d.Items[0].SHA256 != sha256Hex(pdf) {
		t.Fatalf("the document is not the order's item: %+v", d.Items)
	}
	if left, _ := os.ReadDir(filepath.Join(f.dir, "uploads")); len(left) != 0 {
		t.Fatalf("uploads left behind: %v", left)
	}
	before := f.logSize(t)
	for name, parts := range map[string]map[string][]byte{
		"no order":   {"document": pdf},
		"empty file": {"order": orderJSON, "document": {}},
		"bad order":  {"order": []byte(`{"reference":`), "document": pdf},
	} {
		if r := send(parts, "x.pdf"); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if f.logSize(t) != before {
		t.Fatal("refused uploads changed the log")
	}
}

func TestDisclosurePackagesAreRemovedAfterTheirRetention(t *testing.T) {
	var skew atomic.Int64
	f := newFixtureWith(t, fixtureOptions{now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	f.srv.cfg.DisclosureRetention = 7 * 24 * time.Hour // before any sweep: New checked it, Run has not read it
	validateAnswers(t, f)                              // the 410 and the record's removal time are described
	id := f.createOrder(t, "intake", "LE-2026-9", false)
	f.capture(t, id)
	f.confirmRequester(t, id)
	var dis api.Disclosure
	f.must(t, http.StatusCreated, "discloser", "POST", "/v1/orders/"+id+"/disclosures", map[string]any{}).json(t, &dis)
	pkg := filepath.Join(f.dir, "disclosures", dis.File)

	// Within its retention the package is kept and served.
	skew.Store(int64(7*24*time.Hour - time.Minute))
	if n, err := f.srv.sweepDisclosures(); n != 0 || err != nil {
		t.Fatalf("sweep within the retention: %d, %v", n, err)
	}
	f.must(t, http.StatusOK, "discloser", "GET", dis.Download, nil)

	// After it, the package goes; its record stays, saying when. A
	// package left without a record (the agent stopped before writing
	// it) goes too.
	orphan := filepath.Join(f.dir, "disclosures", ulid.Make().String()+".zip")
	partial := orphan + ".partial-1" // a package being written is not one
	for _, p := range []string{orphan, partial} {
		if err := os.WriteFile(p, []byte("PK"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	skew.Store(int64(7*24*time.Hour + time.Minute))
	if n, err := f.srv.sweepDisclosures(); n != 2 || err != nil {
		t.Fatalf("sweep past the retention: %d, %v", n, err)
	}
	for _, p := range []string{pkg, orphan} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s after the sweep: %v", p, err)
		}
	}
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("a package being written, after the sweep: %v", err)
	}
	var got api.Disclosure
	f.must(t, http.StatusOK, "discloser", "GET", "/v1/disclosures/"+dis.ID, nil).json(t, &got)
	if got.Removed.IsZero() || got.SHA256 != dis.SHA256 || len(got.Items) != 2 {
		t.Fatalf("record after the sweep: %+v", got)
	}
	if code := f.must(t, http.StatusGone, "discloser", "GET", dis.Download, nil).errorCode(t); code != "removed" {
		t.Fatalf("download of a removed package: %s", code)
	}
	if n, err := f.srv.sweepDisclosures(); n != 0 || err != nil {
		t.Fatalf("second sweep: %d, %v", n, err)
	}

	// Only the download that sent the package is logged as an access; the
	// evidence itself is still in the store.
	accessed := 0
	for _, e := range f.events(t, "auditor", id) {
		if e.Type == chain.ItemAccessed {
			accessed++
		}
	}
	if accessed != 1 {
		t.Fatalf("%d item.accessed events, want 1", accessed)
	}
	var d api.OrderDetail
	f.must(t, http.StatusOK, "auditor", "GET", "/v1/orders/"+id, nil).json(t, &d)
	f.must(t, http.StatusOK, "custodian", "GET", "/v1/orders/"+id+"/items/"+d.Items[0].SHA256, nil)
}
