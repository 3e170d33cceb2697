package order

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

func readForm(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "forms", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// formValues lists every non-blank text and attribute value of a form's
// XML (namespace declarations aside), read with the standard decoder.
func formValues(t *testing.T, data []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			for _, a := range tk.Attr {
				if a.Name.Space != "xmlns" && a.Name.Local != "xmlns" {
					out = append(out, a.Value)
				}
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(tk)); s != "" {
				out = append(out, s)
			}
		}
	}
}

// receive makes the order a form's draft becomes.
func receive(t *testing.T, pf *ParsedForm, ps *Profiles) *Order {
	t.Helper()
	o, err := NewOrder(pf.Draft, ps, orderNow, fixedEntropy())
	if err != nil {
		t.Fatalf("NewOrder: %v", err)
	}
	return o
}

func TestParseFormOrders(t *testing.T) {
	ps := testProfiles(t)
	for _, tc := range []struct {
		file                  string
		typ                   FormType
		production, emergency bool
		selectors             int
		categories            []Category
		data                  []string
		namespace             string
	}{
		{"epoc-pr.xml", FormEPOCPR, false, false, 2, []Category{CategorySubscriber, CategoryTraffic, CategoryContent}, []string{"subscriber", "traffic", "content"}, "http://data.europa.eu/edm/1/ns/forms/EPOC-PR-FORM-2#"},
		{"epoc-emergency.xml", FormEPOC, true, true, 1, []Category{CategorySubscriber, CategoryTraffic}, []string{"identification", "subscriber"}, FormNamespace},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data := readForm(t, tc.file)
			pf, err := ParseForm(data, orderNow)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			f := pf.Draft.Form
			if pf.Type != tc.typ || f.Type != tc.typ || f.Production != tc.production || f.Emergency != tc.emergency {
				t.Errorf("type %s/%s production %v emergency %v, want %s %v %v", pf.Type, f.Type, f.Production, f.Emergency, tc.typ, tc.production, tc.emergency)
			}
			if f.Namespace != tc.namespace {
				t.Errorf("namespace %s, want the form's %s", f.Namespace, tc.namespace)
			}
			if f.SHA256 != hex.EncodeToString(sum[:]) || pf.SHA256 != f.SHA256 {
				t.Errorf("form sha256 %s, want the XML's %x", f.SHA256, sum)
			}
			o := receive(t, pf, ps)
			if o.Profile != "eu-epoc-pr" || len(o.Selectors) != tc.selectors || !slices.Equal(o.Categories, tc.categories) {
				t.Errorf("profile %s selectors %v categories %v", o.Profile, o.Selectors, o.Categories)
			}
			var got []string
			for _, d := range o.Form.Data {
				got = append(got, d.Category)
			}
			if strings.Join(got, ",") != strings.Join(tc.data, ",") {
				t.Errorf("form data categories %v, want %v", got, tc.data)
			}
			rec, err := Format(o)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(rec)
			if err != nil {
				t.Fatalf("the record does not read back: %v", err)
			}
			if !sameJSON(back.Form, o.Form) {
				t.Errorf("the form reads back as %+v", back.Form)
			}
			// Nothing is lost: every value of the form is in the record,
			// mapped or verbatim.
			recText := string(rec)
			for _, v := range formValues(t, data) {
				js, _ := marshalJSON(v)
				if !strings.Contains(recText, strings.Trim(string(bytes.TrimSpace(js)), `"`)) && !inSelectorsOrDates(o, v) {
					t.Errorf("the record lost %q", v)
				}
			}
		})
	}
}

// inSelectorsOrDates reports whether v is a date or selector of o in
// another notation (dates are kept in UTC, selectors in normal form).
func inSelectorsOrDates(o *Order, v string) bool {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.Equal(o.IssuedAt) || t.Equal(o.SignedAt) || formHasTime(o.Form, t)
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return formHasTime(o.Form, t)
	}
	for _, s := range o.Selectors {
		if n, err := (Selector{Type: s.Type, Value: v}).Normalize(); err == nil && n == s {
			return true
		}
	}
	return false
}

func formHasTime(f *Form, t time.Time) bool {
	for _, d := range f.Data {
		if d.From.Equal(t) || d.To.Equal(t) {
			return true
		}
	}
	return false
}

func TestParseFormVerbatimFields(t *testing.T) {
	pf, err := ParseForm(readForm(t, "epoc-pr.xml"), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range pf.Draft.Form.Fields {
		got[f.Path] = f.Value
	}
	// Paths are the form's own, values untouched; mapped fields are not
	// repeated.
	for path, want := range map[string]string{
		"EPOC-PR/@version": "1.0",
		"EPOC-PR/SectionA/IssuingAuthority/Contact/Email":       "epoc@sta.berlin.example",
		"EPOC-PR/SectionA/ValidatingAuthority/FileNumber":       "352 Gs 881/26",
		"EPOC-PR/SectionB/Addressee/@type":                      "designated-establishment",
		"EPOC-PR/SectionE/MaximumPenalty":                       "10 years",
		"EPOC-PR/SectionL/Transmission/@channel":                "e-codex",
		"EPOC-PR/SectionD/Category[1]":                          "",
		"EPOC-PR/SectionA/IssuingAuthority/Address":             "Turmstraße 91, 10559 Berlin",
		"EPOC-PR/SectionF/SubsequentRequest":                    "European Production Order",
		"EPOC-PR/SectionA/ValidatingAuthority/Name":             "Amtsgericht Tiergarten",
		"EPOC-PR/SectionA/IssuingAuthority/Contact/Phone":       "+49 30 9014 0",
		"EPOC-PR/SectionB/Addressee/Name":                       "Example Mail Services Ireland Ltd",
		"EPOC-PR/SectionL/Transmission":                         "DE-BER-STA-AP",
		"EPOC-PR/Language":                                      "en",
		"EPOC-PR/SectionB/Addressee/State":                      "IE",
		"EPOC-PR/SectionA/IssuingAuthority/FileNumber (mapped)": "",
	} {
		path, mapped := strings.CutSuffix(path, " (mapped)")
		v, ok := got[path]
		switch {
		case mapped && ok:
			t.Errorf("%s is mapped and kept verbatim too", path)
		case !mapped && path == "EPOC-PR/SectionD/Category[1]" && ok:
			t.Errorf("%s is mapped (Form.Data) and kept verbatim too", path)
		case !mapped && path != "EPOC-PR/SectionD/Category[1]" && (!ok || v != want):
			t.Errorf("%s = %q (present %v), want %q", path, v, ok, want)
		}
	}
}

func TestParseFormApplied(t *testing.T) {
	for file, typ := range map[string]FormType{"annex-v.xml": FormConfirmation, "annex-vi.xml": FormExtension} {
		pf, err := ParseForm(readForm(t, file), orderNow)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if pf.Type != typ || pf.Draft != nil || pf.Refers.CertificateID != "DE-BER-EPOCPR-2026-000417" || pf.Applied.SHA256 != pf.SHA256 {
			t.Errorf("%s: %+v refers %+v", file, pf, pf.Refers)
		}
		if !pf.Refers.IssuedAt.Equal(time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)) {
			t.Errorf("%s: refers to the order of %s", file, pf.Refers.IssuedAt)
		}
	}
}

func TestParseFormRefused(t *testing.T) {
	prForm := string(readForm(t, "epoc-pr.xml"))
	edit := func(old, new string) []byte {
		if !strings.Contains(prForm, old) {
			t.Fatalf("epoc-pr.xml holds no %q", old)
		}
		return []byte(strings.Replace(prForm, old, new, 1))
	}
	nested := func(depth int) []byte {
		return []byte(`<EPOC-PR xmlns="http://data.europa.eu/edm/1/ns/epoc">` + strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth) + `</EPOC-PR>`)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want []string // each in the error
	}{
		{"missing file number", readForm(t, "epoc-pr-missing-file-number.xml"), []string{"EPOC-PR/SectionA/IssuingAuthority/FileNumber: missing"}},
		{"unknown category", readForm(t, "epoc-unknown-category.xml"), []string{"EPOC/SectionD/Category[1]/@type", `"location"`}},
		{"annex v without its order", readForm(t, "annex-v-missing-reference.xml"), []string{"EPOC-PR-Confirmation/PreservationOrder: missing"}},
		{"annex vi before its order", readForm(t, "annex-vi-before-order.xml"), []string{"EPOC-PR-Extension/IssuedAt", "before the preservation order's date of issue"}},
		{"doctype", edit(`<EPOC-PR `, "<!DOCTYPE EPOC-PR>\n<EPOC-PR "), []string{"DOCTYPE", "line 3"}},
		{"external entity", edit(`<EPOC-PR `, "<!DOCTYPE EPOC-PR [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<EPOC-PR "), []string{"DOCTYPE", "no entities"}},
		{"entity reference", edit(`<Language>en</Language>`, `<Language>&xxe;</Language>`), []string{"xxe"}},
		{"processing instruction", edit(`<Language>`, `<?xml-stylesheet href="x.xsl"?><Language>`), []string{"processing instruction <?xml-stylesheet?>"}},
		{"several MiB", append(nested(0)[:0:0], bytes.Repeat([]byte("<a>"), 3<<20/3)...), []string{"form is 3145728 bytes, more than 262144"}},
		{"nested deep", nested(5000), []string{"nested more than 12 deep"}},
		{"many elements", []byte(`<EPOC-PR xmlns="http://data.europa.eu/edm/1/ns/epoc">` + strings.Repeat("<a/>", 5000) + `</EPOC-PR>`), []string{"more than 4000 elements"}},
		{"second root", append(edit("", ""), []byte("<EPOC-PR/>")...), []string{"second root element"}},
		{"unknown namespace", edit(`EPOC-PR-FORM-2#`, `EPOC-PR-FORM-9#`), []string{"namespace", "EPOC-PR-FORM-9#"}},
		{"another form's namespace", edit(`EPOC-PR-FORM-2#`, `EPOC-PR-FORM-6#`), []string{"namespace", "not the namespace of Annex II"}},
		{"unknown form type", []byte(`<EPOC-PR-Withdrawal xmlns="http://data.europa.eu/edm/1/ns/epoc"/>`), []string{"form: unknown form type <EPOC-PR-Withdrawal>"}},
		{"annex iii", []byte(`<EPOC-Reply xmlns="http://data.europa.eu/edm/1/ns/forms/EPOC-FORM-3#"/>`), []string{"EPOC-Reply", "not imported"}},
		{"issued in the future", edit(`<IssuedAt>2026-11-18T09:30:00+01:00</IssuedAt>`, `<IssuedAt>2027-01-04</IssuedAt>`), []string{"EPOC-PR/IssuedAt: 2027-01-04T00:00:00Z is in the future"}},
		{"signed before issue", edit(`<SignedAt>2026-11-18T09:42:00+01:00</SignedAt>`, `<SignedAt>2026-11-17T09:42:00+01:00</SignedAt>`), []string{"EPOC-PR/SignedAt", "before the form's date of issue"}},
		{"data in the future", edit(`<To>2026-11-15</To>`, `<To>2026-12-31</To>`), []string{"EPOC-PR/SectionD/Category[3]/To", "in the future"}},
		{"range reversed", edit(`<From>2026-10-01</From>`, `<From>2026-11-16</From>`), []string{"EPOC-PR/SectionD/Category[3]/To", "before From"}},
		{"identifier without type", edit(`<Identifier type="account">`, `<Identifier>`), []string{"EPOC-PR/SectionD/Identifier[1]/@type: missing"}},
		{"bad identifier", edit(`Alice.Example@mail.example`, `not-a-mailbox`), []string{"EPOC-PR/SectionD/Identifier[2]"}},
		{"file number twice", edit(`<Address>`, `<FileNumber>1</FileNumber><Address>`), []string{"EPOC-PR/SectionA/IssuingAuthority/FileNumber: given 2 times"}},
		{"no legal basis", edit(`<LegalBasis>Regulation (EU) 2023/1543, art. 6; § 100a StPO</LegalBasis>`, ``), []string{"EPOC-PR/SectionE/LegalBasis: missing"}},
		{"file number too long", edit(`<FileNumber>276 Js 1123/26</FileNumber>`, `<FileNumber>`+strings.Repeat("7", 600)+`</FileNumber>`), []string{"EPOC-PR/SectionA/IssuingAuthority/FileNumber: 600 bytes, more than 512"}},
		{"section in no namespace", []byte(strings.NewReplacer("<epoc:SectionE>", `<SectionE xmlns="">`, "</epoc:SectionE>", "</SectionE>").Replace(string(readForm(t, "epoc-emergency.xml")))),
			[]string{"EPOC/SectionE: missing (<SectionE> is there in no namespace, not the form's)"}},
		{"bad state", edit(`<State>DE</State>`, `<State>XX</State>`), []string{"EPOC-PR/SectionA/IssuingAuthority/State"}},
		{"bad date", edit(`<IssuedAt>2026-11-18T09:30:00+01:00</IssuedAt>`, `<IssuedAt>18.11.2026</IssuedAt>`), []string{"EPOC-PR/IssuedAt", "not a date"}},
		{"no addressee", []byte(strings.NewReplacer("<Addressee ", "<Recipient ", "</Addressee>", "</Recipient>").Replace(prForm)), []string{"EPOC-PR/SectionB/Addressee: missing"}},
		{"not utf-8", edit(`encoding="UTF-8"`, `encoding="ISO-8859-1"`), []string{"form XML"}},
		{"too many verbatim bytes", edit(`<Language>en</Language>`, strings.Repeat("<Note>"+strings.Repeat("x", 1000)+"</Note>", 70)), []string{"EPOC-PR: the fields not mapped take"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pf, err := ParseForm(tc.data, orderNow)
			if err == nil {
				t.Fatalf("accepted: %+v", pf)
			}
			if !errors.Is(err, ErrInvalidForm) {
				t.Errorf("%v does not match ErrInvalidForm", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// imported receives the forms' EPOC-PR and brings it to preserved, as a
// capture does.
func imported(t *testing.T, ps *Profiles) *Order {
	t.Helper()
	pf, err := ParseForm(readForm(t, "epoc-pr.xml"), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	o := receive(t, pf, ps)
	for _, s := range []Status{StatusPreserving, StatusPreserved} {
		if o, _, err = o.Transition(s, testChange(orderNow)); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func testChange(at time.Time) Change {
	return Change{Actor: "custodian@example", Agent: "agent-1", Host: "host", At: at}
}

func TestFormCollisions(t *testing.T) {
	ps := testProfiles(t)
	o := imported(t, ps)
	orders := []*Order{o}
	again, err := ParseForm(readForm(t, "epoc-pr.xml"), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.CheckNew(orders); err == nil || !strings.Contains(err.Error(), "EPOC-PR/CertificateID") || !strings.Contains(err.Error(), o.ID) {
		t.Errorf("the same EPOC-PR again: %v", err)
	}
	other, err := ParseForm([]byte(strings.Replace(string(readForm(t, "epoc-pr.xml")), "000417", "000999", 1)), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.CheckNew(orders); err == nil || !strings.Contains(err.Error(), "EPOC-PR/SectionA/IssuingAuthority/FileNumber") {
		t.Errorf("another EPOC-PR under the same file number: %v", err)
	}
	epoc, err := ParseForm(readForm(t, "epoc-emergency.xml"), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := epoc.CheckNew(orders); err != nil {
		t.Errorf("an unrelated EPOC: %v", err)
	}
	// A flag-made order under the file number the Annex V names, and the
	// EPOC-PR under another: the reference collides.
	flagOrder := *o
	flagOrder.ID, flagOrder.Form, flagOrder.Reference = "01JD0000000000000000000000", nil, "276 Js 1123/26"
	moved := *o
	moved.Reference = "276 Js 9999/26"
	v, err := ParseForm(readForm(t, "annex-v.xml"), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		orders []*Order
		want   string // "" finds o
	}{
		{"found", []*Order{&flagOrder, o}, ""},
		{"unknown certificate", []*Order{&flagOrder}, "PreservationOrder/CertificateID: no order was received as certificate"},
		{"file number of another order", []*Order{&flagOrder, &moved}, "PreservationOrder/FileNumber: \"276 Js 1123/26\" collides with order 01JD0000000000000000000000"},
		{"file number of no order", []*Order{&moved}, "is not the file number of order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Target(tc.orders)
			switch {
			case tc.want == "" && (err != nil || got.ID != o.ID):
				t.Errorf("got %v, %v", got, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestApplyForm(t *testing.T) {
	ps := testProfiles(t)
	p, err := ps.Lookup("eu-epoc-pr")
	if err != nil {
		t.Fatal(err)
	}
	o := imported(t, ps)
	vi, err := ParseForm(readForm(t, "annex-vi.xml"), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	at := orderNow.Add(time.Hour)
	n, e, err := o.ApplyForm(p, vi, testChange(at))
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != StatusExtended || !n.ExpiresAt.Equal(periodEnd(o.ExpiresAt, p.Extensions.Period)) || o.Status != StatusPreserved {
		t.Errorf("extended to %s (%s), from %s", n.ExpiresAt, n.Status, o.ExpiresAt)
	}
	if e.Type != chain.OrderExtended || len(e.Items) != 1 || e.Items[0].SHA256 != vi.SHA256 || e.Details["form_sha256"] != vi.SHA256 ||
		!strings.Contains(e.Reason, vi.SHA256) || len(n.Form.Applied) != 1 || !n.Form.Applied[0].At.Equal(at) {
		t.Errorf("event %+v, applied %+v", e, n.Form.Applied)
	}
	rec, err := Format(n)
	if err != nil {
		t.Fatal(err)
	}
	if e.Details["order_sha256"] != chain.EventHash(rec) {
		t.Error("the event names another record than the extended order's")
	}
	second := []byte(strings.Replace(string(readForm(t, "annex-vi.xml")), "000051", "000052", 1))
	vi2, err := ParseForm(second, orderNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.ApplyForm(p, vi2, testChange(at.Add(time.Hour))); err == nil || !strings.Contains(err.Error(), "EPOC-PR-Extension: order") ||
		!strings.Contains(err.Error(), "allows one extension") {
		t.Errorf("a second Annex VI: %v", err)
	}
	if err := vi.CheckNew([]*Order{n}); err == nil || !strings.Contains(err.Error(), "EPOC-PR-Extension/CertificateID") {
		t.Errorf("the same Annex VI again: %v", err)
	}
	v, err := ParseForm(readForm(t, "annex-v.xml"), orderNow)
	if err != nil {
		t.Fatal(err)
	}
	h, e, err := n.ApplyForm(p, v, testChange(at.Add(2*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != StatusHeld || h.CurrentHold == nil || e.Type != chain.OrderHeld || e.Items[0].SHA256 != v.SHA256 || len(h.Form.Applied) != 2 {
		t.Errorf("held %s, event %+v", h.Status, e)
	}
	if _, err := Parse(mustFormat(t, h)); err != nil {
		t.Errorf("the held order's record: %v", err)
	}
	// Received, not yet preserving: neither applies.
	pf, _ := ParseForm(readForm(t, "epoc-pr.xml"), orderNow)
	fresh := receive(t, pf, ps)
	if _, _, err := fresh.ApplyForm(p, v, testChange(at)); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("Annex V on a received order: %v", err)
	}
}

func mustFormat(t *testing.T, o *Order) []byte {
	t.Helper()
	b, err := Format(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAmendKeepsForm(t *testing.T) {
	ps := testProfiles(t)
	o := imported(t, ps)
	next := o.clone()
	next.Form.CertificateID = "OTHER"
	if _, _, err := o.Amend(next, Change{Actor: "a", Agent: "b", At: orderNow, Reason: "r"}); err == nil || !strings.Contains(err.Error(), "form: cannot be amended") {
		t.Errorf("amending the form: %v", err)
	}
}

func FuzzParseForm(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "forms"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(readForm(f, e.Name()))
	}
	ps := testProfiles(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := ParseForm(b, orderNow)
		if err != nil {
			return
		}
		sum := sha256.Sum256(b)
		if pf.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("form digest %s, want %x", pf.SHA256, sum)
		}
		if pf.Draft == nil {
			if pf.Refers == nil || pf.Applied == nil {
				t.Fatal("an applied form with no reference")
			}
			return
		}
		o, err := NewOrder(pf.Draft, ps, orderNow, fixedEntropy())
		if err != nil {
			return
		}
		rec, err := Format(o)
		if err != nil {
			t.Fatalf("an imported order does not format: %v", err)
		}
		back, err := Parse(rec)
		if err != nil {
			t.Fatalf("an imported order's record does not read back: %v", err)
		}
		if !sameJSON(back.Form, o.Form) {
			t.Fatal("the form changes in the record")
		}
	})
}

func TestParseFormByteOrderMark(t *testing.T) {
	data := append([]byte("\xef\xbb\xbf"), readForm(t, "annex-vi.xml")...)
	pf, err := ParseForm(data, orderNow)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); pf.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("digest %s is not of the bytes as sent", pf.SHA256)
	}
}
