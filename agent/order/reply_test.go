package order

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// replyTo is a reply of kind to the order imported from the forms'
// EPOC-PR, with two batches sealed.
func replyTo(t *testing.T, kind chain.ReplyKind) *Reply {
	t.Helper()
	sealed := orderNow.Add(90 * time.Second)
	return &Reply{
		Kind: kind, Number: 1, Order: imported(t, testProfiles(t)), At: orderNow.Add(time.Hour),
		Agent: "agent-1", Actor: "custodian@example",
		Preserved: Preservation{FirstSealed: sealed, Items: 450_000, Bytes: 9 << 30, Batches: []SealedRef{
			{LogIndex: 7, SealedAt: sealed, Capture: "c1", Batch: 0, Count: 225_000, Bytes: 5 << 30,
				ManifestSHA256: strings.Repeat("a", 64), Root: strings.Repeat("b", 64)},
			{LogIndex: 9, SealedAt: sealed.Add(time.Minute), Capture: "c1", Batch: 1, Count: 225_000, Bytes: 4 << 30,
				ManifestSHA256: strings.Repeat("c", 64), Root: strings.Repeat("d", 64)},
		}},
	}
}

// TestReplyCannotComply: Annex III written for the imported EPOC-PR has
// its sections filled from the order and its form, and reads back with
// the forms' own reader; ParseForm refuses it as the form the addressee
// writes.
func TestReplyCannotComply(t *testing.T) {
	r := replyTo(t, chain.ReplyCannotComply)
	r.Ground, r.Explanation = GroundConflict, "US law (18 U.S.C. 2702) forbids disclosing the content of a US person's mail."
	data, err := r.XML()
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, new(struct{})); err != nil {
		t.Fatalf("not well-formed: %v", err)
	}
	got, err := ParseReply(data, r.At)
	if err != nil {
		t.Fatalf("ParseReply: %v\n%s", err, data)
	}
	want := ParsedReply{Kind: chain.ReplyCannotComply, Number: 1, IssuedAt: r.At, OrderID: r.Order.ID,
		CertificateID: "DE-BER-EPOCPR-2026-000417", FileNumber: "276 Js 1123/26", Authority: "Staatsanwaltschaft Berlin",
		Ground: GroundConflict, Explanation: r.Explanation, Identifiers: 2, Preserved: true, FirstSealed: r.Preserved.FirstSealed,
		Items: 450_000, Batches: 2}
	if *got != want {
		t.Fatalf("read back\n got %+v\nwant %+v", *got, want)
	}
	for _, s := range []string{
		`<EPOC-Reply xmlns="` + ReplyNamespace + `"`,
		"<Name>Amtsgericht Tiergarten</Name>", "<FileNumber>352 Gs 881/26</FileNumber>", // Section A, validating authority
		`<Addressee type="designated-establishment">`, "<Name>Example Mail Services Ireland Ltd</Name>", // Section B
		"<CertificateType>EPOC-PR</CertificateType>", `<Ground code="conflicting-obligations">`,
		`<Identifier type="email">Alice.Example@mail.example</Identifier>`,
		`<Category type="traffic">`, "<From>2026-09-01T00:00:00Z</From>",
		`<Batch logIndex="9" sealedAt="2026-`, "<Root>" + strings.Repeat("d", 64) + "</Root>",
	} {
		if !strings.Contains(string(data), s) {
			t.Errorf("the reply lacks %s\n%s", s, data)
		}
	}
	if _, err := ParseForm(data, r.At); err == nil || !strings.Contains(err.Error(), "not imported") {
		t.Errorf("ParseForm of a reply: %v, want it refused as written by the addressee", err)
	}
}

// TestReplyPreserved: the confirmation names the order, the first sealed
// time and each batch's root and count, not each item, and reads back.
func TestReplyPreserved(t *testing.T) {
	r := replyTo(t, chain.ReplyPreserved)
	data, err := r.XML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReply(data, r.At)
	if err != nil {
		t.Fatalf("ParseReply: %v\n%s", err, data)
	}
	if got.Kind != chain.ReplyPreserved || got.OrderID != r.Order.ID || got.CertificateID != "DE-BER-EPOCPR-2026-000417" ||
		!got.FirstSealed.Equal(r.Preserved.FirstSealed) || got.Items != 450_000 || got.Batches != 2 || !got.Preserved {
		t.Fatalf("read back %+v", got)
	}
	if !strings.Contains(string(data), `<PreservationConfirmation xmlns="`+ConfirmationNamespace+`" version="1">`) {
		t.Errorf("root:\n%s", data)
	}
	if len(data) > 4096 {
		t.Errorf("a confirmation of two batches of 450,000 items is %d bytes: it should name batches, not items", len(data))
	}
}

// TestReplyRefused: what cannot be written is named, and a reply of
// another shape does not read back as one.
func TestReplyRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(r *Reply)
		want string
	}{
		{"unknown ground", func(r *Reply) { r.Kind, r.Ground = chain.ReplyCannotComply, "too-busy" }, `"too-busy" is no Annex III ground (want non-execution, de-facto-impossibility, incomplete-or-erroneous, conflicting-obligations)`},
		{"non-execution without explanation", func(r *Reply) { r.Kind, r.Ground = chain.ReplyCannotComply, GroundNonExecution }, "needs an explanation"},
		{"control characters", func(r *Reply) { r.Kind, r.Ground, r.Explanation = chain.ReplyCannotComply, GroundIncomplete, "a\x00b" }, "explanation: holds control characters"},
		{"nothing sealed", func(r *Reply) { r.Preserved = Preservation{} }, "nothing of the order's data is sealed yet"},
		{"ground on a confirmation", func(r *Reply) { r.Ground = GroundConflict }, "takes no ground"},
		{"unknown kind", func(r *Reply) { r.Kind = "maybe" }, `"maybe" is no reply kind`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := replyTo(t, chain.ReplyPreserved)
			tc.edit(r)
			_, xerr := r.XML()
			_, herr := r.HTML()
			if xerr == nil || herr == nil || !strings.Contains(xerr.Error(), tc.want) {
				t.Fatalf("XML: %v; HTML: %v; want %q", xerr, herr, tc.want)
			}
		})
	}
	for name, data := range map[string]string{
		"a form":        `<EPOC-PR xmlns="http://data.europa.eu/edm/1/ns/forms/EPOC-PR-FORM-2#"/>`,
		"no section D":  `<EPOC-Reply xmlns="` + ReplyNamespace + `"><ReplyNumber>1</ReplyNumber><IssuedAt>2026-01-01</IssuedAt></EPOC-Reply>`,
		"with DOCTYPE":  `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><PreservationConfirmation xmlns="` + ConfirmationNamespace + `"/>`,
		"not preserved": `<PreservationConfirmation xmlns="` + ConfirmationNamespace + `"><ReplyNumber>1</ReplyNumber><IssuedAt>2026-01-01</IssuedAt><Order><CustosOrderID>01J9Z3K4M5N6P7Q8R9S0T1V2W3</CustosOrderID><FileNumber>F</FileNumber></Order><IssuingAuthority><Name>A</Name></IssuingAuthority><Preservation preserved="false"><Items>0</Items></Preservation></PreservationConfirmation>`,
	} {
		if _, err := ParseReply([]byte(data), orderNow.Add(time.Hour)); err == nil {
			t.Errorf("%s: read as a reply", name)
		}
	}
}

// TestReplyHTML: the page shows the reply's values, escaped.
func TestReplyHTML(t *testing.T) {
	r := replyTo(t, chain.ReplyCannotComply)
	r.Ground, r.Explanation = GroundIncomplete, `Section D names <script>alert(1)</script> & no account`
	page, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Annex III", "Staatsanwaltschaft Berlin", "276 Js 1123/26", "DE-BER-EPOCPR-2026-000417",
		"The order is incomplete or contains manifest errors", "&lt;script&gt;alert(1)&lt;/script&gt; &amp; no account",
		"Example Mail Services Ireland Ltd", strings.Repeat("d", 64)} {
		if !strings.Contains(string(page), s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	if strings.Contains(string(page), "<script>") {
		t.Error("the page carries the explanation's markup unescaped")
	}
}

// FuzzReply: any explanation a reply takes is written and read back as
// given (trimmed), and ParseReply of anything either refuses it or reads
// a reply that names an order.
func FuzzReply(f *testing.F) {
	f.Add("US law <forbids> it & more", []byte(nil))
	f.Add("line one\r\nline two\ttabbed\r", []byte(`<EPOC-Reply xmlns="`+ReplyNamespace+`"/>`))
	f.Add("]]> &amp; \"quoted\"", []byte(`<PreservationConfirmation xmlns="`+ConfirmationNamespace+`"><ReplyNumber>1</ReplyNumber></PreservationConfirmation>`))
	f.Fuzz(func(t *testing.T, explanation string, data []byte) {
		r := replyTo(t, chain.ReplyCannotComply)
		r.Ground, r.Explanation = GroundIncomplete, explanation
		if r.CheckRequest() == nil {
			x, err := r.XML()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseReply(x, r.At)
			if err != nil {
				t.Fatalf("explanation %q: %v\n%s", explanation, err, x)
			}
			if got.Explanation != strings.TrimSpace(explanation) {
				t.Fatalf("explanation %q read back as %q", explanation, got.Explanation)
			}
		}
		if p, err := ParseReply(data, r.At); err == nil && (p.OrderID == "" || p.Number < 1) {
			t.Fatalf("read %+v from %q", p, data)
		}
	})
}

// TestReplyCannotComplyBeforeAnythingSealed: an Annex III may go before
// any data is preserved, and says so; an order received without a form
// leaves the form's fields out.
func TestReplyCannotComplyBeforeAnythingSealed(t *testing.T) {
	r := replyTo(t, chain.ReplyCannotComply)
	r.Ground, r.Explanation, r.Preserved = GroundNonExecution, "the account was closed in 2024: no data is stored", Preservation{}
	r.Order.Form = nil
	data, err := r.XML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseReply(data, r.At)
	if err != nil {
		t.Fatalf("ParseReply: %v\n%s", err, data)
	}
	if got.Preserved || !got.FirstSealed.IsZero() || got.Items != 0 || got.Batches != 0 || got.CertificateID != "" || got.Ground != GroundNonExecution {
		t.Errorf("read back %+v", got)
	}
	if !strings.Contains(string(data), `<Preservation preserved="false">`) {
		t.Errorf("the reply does not say nothing was preserved:\n%s", data)
	}
	if strings.Contains(string(data), "<CertificateType>") {
		t.Errorf("a reply to an order received without a form names a certificate:\n%s", data)
	}
}
