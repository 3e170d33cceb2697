package server

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
)

// postForm sends an EU form's XML to POST /v1/forms as token.
func (f *fixture) postForm(t *testing.T, token string, form []byte) *response {
	t.Helper()
	return f.send(t, token, "POST", "/v1/forms", "application/xml", bytes.NewReader(form))
}

// euForm is a form of agent/order's tests, edited by the replacer pairs.
func euForm(t *testing.T, name string, edits ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "order", "testdata", "forms", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(edits...).Replace(string(b)))
}

// TestImportFormsThroughTheAPI: the intake imports an EPOC-PR, its
// Annex VI and Annex V; refused forms are 400 invalid_form naming the
// form's field, record nothing, and the daemon serves on.
func TestImportFormsThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	// Not confidential, so that the custodian sees it to capture.
	pr := euForm(t, "epoc-pr.xml", "<Confidential>true</Confidential>", "<Confidential>false</Confidential>")
	if r := f.postForm(t, "custodian", pr); r.status != http.StatusForbidden {
		t.Errorf("a custodian imports a form: %d %s", r.status, r.body)
	}
	r := f.postForm(t, "intake", pr)
	var res api.ImportResult
	if r.status != http.StatusCreated {
		t.Fatalf("EPOC-PR: %d %s", r.status, r.body)
	}
	r.json(t, &res)
	if res.Applied || res.Order == nil || res.Order.Form == nil || res.Form.Type != order.FormEPOCPR || res.Order.Document == nil ||
		res.Order.Document.SHA256 != res.Form.SHA256 || r.header.Get("Location") != "/v1/orders/"+res.Order.ID {
		t.Fatalf("EPOC-PR: %s", r.body)
	}
	id := res.Order.ID
	f.capture(t, id)

	refused := func(name string, form []byte, status int, want string) {
		t.Helper()
		before := f.logSize(t)
		r := f.postForm(t, "intake", form)
		var e struct {
			Error struct {
				Code, Message string
				Fields        []api.FieldError
			} `json:"error"`
		}
		r.json(t, &e)
		if r.status != status || !strings.Contains(e.Error.Message, want) || (status == http.StatusBadRequest && e.Error.Code != "invalid_form") {
			t.Errorf("%s: %d %s, want %d saying %q", name, r.status, r.body, status, want)
		}
		if after := f.logSize(t); after != before {
			t.Errorf("%s: refused, and the log grew from %d to %d entries", name, before, after)
		}
		// The daemon serves on.
		f.must(t, http.StatusOK, "custodian", "GET", "/v1/orders/"+id, nil)
	}
	r = f.postForm(t, "intake", euForm(t, "epoc-unknown-category.xml"))
	if !strings.Contains(string(r.body), `"field":"EPOC/SectionD/Category[1]/@type"`) {
		t.Errorf("an unknown category: %d %s, want the field named in fields", r.status, r.body)
	}
	refused("missing file number", euForm(t, "epoc-pr-missing-file-number.xml"), http.StatusBadRequest, "EPOC-PR/SectionA/IssuingAuthority/FileNumber: missing")
	refused("doctype", euForm(t, "epoc-pr.xml", "<EPOC-PR ", "<!DOCTYPE EPOC-PR [<!ENTITY x SYSTEM \"http://evil.example/x\">]><EPOC-PR "), http.StatusBadRequest, "DOCTYPE")
	refused("the same EPOC-PR again", pr, http.StatusBadRequest, "is already recorded, by order "+id)
	refused("several MiB", bytes.Repeat([]byte("<a>"), 1<<20), http.StatusRequestEntityTooLarge, "more than")

	r = f.postForm(t, "intake", euForm(t, "annex-vi.xml"))
	res = api.ImportResult{}
	if r.status != http.StatusOK {
		t.Fatalf("Annex VI: %d %s", r.status, r.body)
	}
	r.json(t, &res)
	if !res.Applied || res.Order != nil || res.Step.Order != id || res.Step.Status != order.StatusExtended || res.Step.Store.Objects == 0 {
		t.Errorf("Annex VI: %s", r.body)
	}
	refused("second extension", euForm(t, "annex-vi.xml", "000051", "000052"), http.StatusBadRequest, "allows one extension")

	r = f.postForm(t, "intake", euForm(t, "annex-v.xml"))
	res = api.ImportResult{}
	r.json(t, &res)
	if r.status != http.StatusOK || res.Step == nil || res.Step.Status != order.StatusHeld || res.Form.Type != order.FormConfirmation || strings.Contains(string(r.body), "CUST-0042") {
		t.Errorf("Annex V: %d %s", r.status, r.body)
	}
}
