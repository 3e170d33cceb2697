package server

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/storage"
)

// Made-up HTTP methods, unauthenticated, do not mint a time series each.
func TestMetricsMethodsAreBounded(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 500; i++ {
		req, _ := http.NewRequest(fmt.Sprintf("X%06d", i), f.http.URL+"/nope", nil)
		res, err := f.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	r := f.must(t, 200, "auditor", "GET", "/metrics", nil)
	n := strings.Count(string(r.body), `custos_api_requests_total{method="X`)
	t.Logf("series minted by unauthenticated junk methods: %d", n)
	if n >= 500 {
		t.Errorf("unbounded label cardinality: %d series", n)
	}
}

// A long client file name for an uploaded document is shortened, not a 500.
func TestLongUploadNameIsShortened(t *testing.T) {
	f := newFixture(t)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormField("order")
	if _, err := w.Write([]byte(`{"reference":"LE-DOC","authority":"Staatsanwaltschaft Berlin","requesting_state":"DE","profile":"budapest-16","legal_basis":"x","selectors":[{"type":"email","value":"alice@example.net"}],"categories":["content"]}`)); err != nil {
		t.Fatal(err)
	}
	w, _ = mw.CreateFormFile("document", strings.Repeat("a", 300)+".pdf")
	if _, err := w.Write([]byte("%PDF-1.4 hello")); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", f.http.URL+"/v1/orders", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+f.tokens["intake"])
	res, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	t.Logf("%d %s", res.StatusCode, body)
	if res.StatusCode >= 500 {
		t.Errorf("bad input answered %d", res.StatusCode)
	}
}

// A purged confidential order whose record is gone (restored onto a new
// data directory) stays hidden from every reader not assigned to it.
func TestPurgedConfidentialOrderStaysHidden(t *testing.T) {
	var skew atomic.Int64
	store, err := storage.NewLocal(filepath.Join(t.TempDir(), "store"), func() time.Time {
		return time.Now().Add(time.Duration(skew.Load()))
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, fixtureOptions{store: store})
	o := anOrder("LE-SECRET-PURGED", true)
	o["confidentiality"] = map[string]any{"confidential": true, "assigned": []string{"role:custodian"}}
	var created order.Order
	f.must(t, 201, "intake", "POST", "/v1/orders", o).json(t, &created)
	f.must(t, 404, "discloser", "GET", "/v1/orders/"+created.ID, nil)
	f.must(t, 200, "custodian", "POST", "/v1/orders/"+created.ID+"/release", map[string]string{"reason": "done"})
	skew.Store(int64(400 * 24 * time.Hour)) // retention passed
	r := f.must(t, 200, "custodian", "POST", "/v1/orders/"+created.ID+"/purge", map[string]string{"reason": "expired"})
	t.Logf("purge: %s", r.body)
	// The data directory is restored elsewhere: the local records are gone.
	os.RemoveAll(filepath.Join(f.dir, "orders"))
	for _, who := range []string{"bob", "auditor", "discloser"} {
		r := f.do(t, who, "GET", "/v1/orders/"+created.ID, nil)
		ev := f.do(t, who, "GET", "/v1/events?order="+created.ID, nil)
		t.Logf("%s: order %d %s\n events %s", who, r.status, r.body, ev.body)
		if r.status == 200 || strings.Contains(string(ev.body), created.ID) {
			t.Errorf("%s sees the purged confidential order", who)
		}
	}
}

// An item the log names and the store lacks is tampering, not "internal".
func TestMissingItemIsTampering(t *testing.T) {
	f := newFixture(t)
	id := f.createOrder(t, "intake", "LE-M", false)
	f.capture(t, id)
	var d api.OrderDetail
	f.must(t, 200, "custodian", "GET", "/v1/orders/"+id, nil).json(t, &d)
	sum := d.Items[0].SHA256
	for _, sub := range []string{"objects", "meta"} {
		os.RemoveAll(filepath.Join(f.dir, "store", sub, "orders", id, "items"))
	}
	r := f.do(t, "custodian", "GET", "/v1/orders/"+id+"/items/"+sum, nil)
	t.Logf("%d %s", r.status, r.body)
	if r.errorCode(t) != "tamper" {
		t.Errorf("evidence missing from the store answered %s", r.body)
	}
}

// One damaged confidential record: the list leaves it out for everyone
// (naming nothing), and no one sees its events.
func TestDamagedConfidentialRecordStaysHidden(t *testing.T) {
	f := newFixture(t)
	secret := f.createOrder(t, "intake", "LE-SECRET", true)
	f.createOrder(t, "bob", "LE-OPEN", false)
	os.RemoveAll(filepath.Join(f.dir, "orders", secret))
	os.RemoveAll(filepath.Join(f.dir, "store", "objects", "orders", secret))
	os.RemoveAll(filepath.Join(f.dir, "store", "meta", "orders", secret))
	r := f.do(t, "discloser", "GET", "/v1/orders", nil)
	t.Logf("discloser list: %d %s", r.status, r.body)
	if r.status != 200 || strings.Contains(string(r.body), secret) {
		t.Errorf("the discloser's list fails or names the confidential order")
	}
	ev := f.do(t, "auditor", "GET", "/v1/events", nil)
	if strings.Contains(string(ev.body), "LE-SECRET") {
		t.Errorf("auditor sees the confidential order's events")
	}
}
