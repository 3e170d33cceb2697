package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// formFile is one of the EU forms of agent/order's tests, edited by the
// replacer pairs given, as a file of its own.
func formFile(t *testing.T, name string, edits ...string) (path, sum string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("order", "testdata", "forms", name))
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.NewReplacer(edits...).Replace(string(b)))
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return path, hex.EncodeToString(s[:])
}

// snapshot is what the fixture holds: the log's size and every file of
// the records, the store and the spool with its size.
func (f *registryFixture) snapshot(t *testing.T) string {
	t.Helper()
	n, err := f.log.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat("|", int(n)))
	for _, d := range []string{"orders", "store", "spool"} {
		_ = filepath.WalkDir(filepath.Join(f.dir, d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				fi, _ := e.Info()
				b.WriteString("\n" + p + " " + fi.ModTime().String())
			}
			return nil
		})
	}
	return b.String()
}

// holds reports whether order v holds an item whose SHA-256 is sum.
func (f *registryFixture) holds(t *testing.T, v *OrderView, sum string) bool {
	t.Helper()
	items, err := f.reg.Items(context.Background(), v.State)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Digest.SHA256 == sum {
			return true
		}
	}
	return false
}

func TestImportForms(t *testing.T) {
	f := newRegistryFixture(t)
	ctx := context.Background()
	opts := ImportOptions{Actor: "intake", Assign: []string{"intake"}}
	prPath, prSum := formFile(t, "epoc-pr.xml")
	res, err := f.reg.Import(ctx, &Document{Path: prPath}, opts)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Order
	if res.Applied || o.Form == nil || o.Form.SHA256 != prSum || o.Document == nil || o.Document.SHA256 != prSum ||
		o.Profile != "eu-epoc-pr" || o.Reference != "276 Js 1123/26" || !o.Confidentiality.Confidential {
		t.Fatalf("imported %+v form %+v document %+v", o, o.Form, o.Document)
	}
	v, err := f.reg.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !f.holds(t, v, prSum) {
		t.Errorf("the form's XML %s is not an item of the order", prSum)
	}
	src := []capture.NamedSource{{Name: "mail", Source: &fakeSource{items: map[string]string{"a": "alpha"}, order: []string{"a"}}}}
	if _, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Sources: src, Actor: "custodian", CutOff: time.Now()}); err != nil {
		t.Fatal(err)
	}

	viPath, viSum := formFile(t, "annex-vi.xml")
	res, err = f.reg.Import(ctx, &Document{Path: viPath}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || res.Order.ID != o.ID || res.Order.Status != order.StatusExtended || !res.Order.ExpiresAt.After(o.ExpiresAt) {
		t.Errorf("Annex VI: %+v", res.Order)
	}
	if v, err = f.reg.Get(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if !f.holds(t, v, viSum) {
		t.Errorf("the Annex VI %s is not an item of the order", viSum)
	}

	// Refused, and nothing recorded: each leaves the fixture as it was.
	before := f.snapshot(t)
	second, _ := formFile(t, "annex-vi.xml", "000051", "000052")
	again, _ := formFile(t, "epoc-pr.xml")
	doctype, _ := formFile(t, "epoc-pr.xml", "<EPOC-PR ", "<!DOCTYPE EPOC-PR [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<EPOC-PR ")
	collides, _ := formFile(t, "annex-v.xml", "<FileNumber>276 Js 1123/26</FileNumber>\n    <IssuedAt>", "<FileNumber>276 Js 9/26</FileNumber>\n    <IssuedAt>")
	for _, tc := range []struct{ name, path, want string }{
		{"second extension", second, "allows one extension"},
		{"the same Annex VI again", viPath, "EPOC-PR-Extension/CertificateID"},
		{"the same EPOC-PR again", again, "EPOC-PR/CertificateID"},
		{"doctype", doctype, "DOCTYPE"},
		{"reference of another file number", collides, "EPOC-PR-Confirmation/PreservationOrder/FileNumber"},
	} {
		_, err := f.reg.Import(ctx, &Document{Path: tc.path}, opts)
		if !errors.Is(err, order.ErrInvalidForm) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidForm saying %q", tc.name, err, tc.want)
		}
		if after := f.snapshot(t); after != before {
			t.Errorf("%s: refused, and recorded:\n%s\nbefore:\n%s", tc.name, after, before)
		}
	}

	vPath, vSum := formFile(t, "annex-v.xml")
	if res, err = f.reg.Import(ctx, &Document{Path: vPath}, opts); err != nil {
		t.Fatal(err)
	}
	if res.Order.Status != order.StatusHeld || len(res.Order.Form.Applied) != 2 {
		t.Errorf("Annex V: %+v", res.Order)
	}
	var steps []string
	for _, e := range f.verifiedEvents(t, o.ID) {
		if e.Type == chain.OrderExtended || e.Type == chain.OrderHeld {
			if len(e.Items) != 1 || e.Details["form_sha256"] != e.Items[0].SHA256 {
				t.Errorf("%s names no form: %+v", e.Type, e)
			}
			steps = append(steps, string(e.Type)+" "+e.Items[0].SHA256)
		}
	}
	if want := []string{"order.extended " + viSum, "order.held " + vSum}; strings.Join(steps, ",") != strings.Join(want, ",") {
		t.Errorf("steps %v, want %v", steps, want)
	}
}
