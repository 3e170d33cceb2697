package order

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/custos-evidence/custos/chain"
)

var updateOrderGolden = flag.Bool("update-order-golden", false, "rewrite agent/testdata/order-record.json")

// orderNow is when the test orders are recorded: at their receipt, which
// is the agent's clock when an order arrives.
var orderNow = orderReceived

// fixedEntropy makes order ids reproducible.
func fixedEntropy() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x5a}, 10)) }

// testFlags is the order of testdata/order-file.yaml on the command line.
func testFlags() Flags {
	return Flags{
		Reference: "AZ 123 Js 456/26", Authority: "Staatsanwaltschaft Berlin", RequestingState: "de",
		Profile:        "budapest-29",
		LegalBasis:     "Council of Europe Convention on Cybercrime, art. 29;\na request for mutual assistance will follow.\n",
		OffenceSummary: "Computer fraud (StGB 263a) against customers of a web shop.",
		Selectors: []string{"email:alice@example.net", "ip:203.0.113.7:443@2026-11-20T10:00:00+01:00",
			"phone:+49 30 1234567"},
		Categories: "traffic, subscriber", From: "2026-10-01T00:00:00Z", To: "2026-11-20T00:00:00Z",
		IssuedAt: "2026-11-19T15:30:00+01:00", SignedAt: "2026-11-19T16:00:00+01:00", Confidential: true, NoNotificationUntil: "2027-06-30",
	}
}

// newTestOrder records the order f describes, failing the test on error.
func newTestOrder(t testing.TB, f Flags) *Order {
	t.Helper()
	o, err := orderFromFlags(testProfiles(t), f)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func orderFromFlags(ps *Profiles, f Flags) (*Order, error) {
	draft, err := f.Draft(orderNow)
	if err != nil {
		return nil, err
	}
	return NewOrder(draft, ps, orderNow, rand.Reader)
}

func TestNewOrderFromFlags(t *testing.T) {
	o := newTestOrder(t, testFlags())
	if err := chain.ValidateOrderID(o.ID); err != nil {
		t.Fatal(err)
	}
	if id := ulid.MustParse(o.ID); ulid.Time(id.Time()).UnixMilli() != orderNow.UnixMilli() {
		t.Errorf("id %s has time %s, want %s", o.ID, ulid.Time(id.Time()), orderNow)
	}
	if o.Status != StatusReceived || o.Version != Version || o.RequestingState != "DE" {
		t.Errorf("status %s, v %d, state %s", o.Status, o.Version, o.RequestingState)
	}
	if want := endOf("2027-01-19"); !o.ExpiresAt.Equal(want) {
		t.Errorf("expires %s, want budapest-29's default %s", o.ExpiresAt, want)
	}
	if got := o.Selectors[2].Value; got != "+49301234567" {
		t.Errorf("phone selector %q, want it in normal form", got)
	}
	if !reflect.DeepEqual(o.Categories, []Category{CategorySubscriber, CategoryTraffic}) {
		t.Errorf("categories %v, want canonical order", o.Categories)
	}
	if want := endOf("2027-06-30"); !o.Confidentiality.NoNotificationUntil.Equal(want) || !o.Confidentiality.Confidential {
		t.Errorf("confidentiality %+v", o.Confidentiality)
	}
	// Received at the agent's clock; the authority's dates as given.
	f := testFlags()
	f.Expires = "60d"
	o = newTestOrder(t, f)
	if !o.ReceivedAt.Equal(orderNow) || !o.ExpiresAt.Equal(endOf("2027-01-19")) {
		t.Errorf("received %s, expires %s", o.ReceivedAt, o.ExpiresAt)
	}
	if !o.IssuedAt.Equal(time.Date(2026, 11, 19, 14, 30, 0, 0, time.UTC)) || !o.SignedAt.Equal(time.Date(2026, 11, 19, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("issued %s, signed %s", o.IssuedAt, o.SignedAt)
	}
}

// fieldProblem returns the message of err's problem with field, failing
// the test when err is no ValidationError or has none.
func fieldProblem(t *testing.T, err error, field string) string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	for _, p := range ve.Problems {
		if p.Field == field {
			return p.Msg
		}
	}
	t.Fatalf("error %v names no problem with %s", err, field)
	return ""
}

func TestOrderValidationErrors(t *testing.T) {
	ps := testProfiles(t)
	for _, tc := range []struct {
		name, field, want string
		change            func(f *Flags)
	}{
		{"no reference", "reference", "missing", func(f *Flags) { f.Reference = "" }},
		{"blank authority", "authority", "missing", func(f *Flags) { f.Authority = "  " }},
		{"control character", "reference", "holds control characters", func(f *Flags) { f.Reference = "AZ\a1" }},
		{"long authority", "authority", "more than 512", func(f *Flags) { f.Authority = strings.Repeat("a", 513) }},
		{"no state", "requesting_state", "missing", func(f *Flags) { f.RequestingState = "" }},
		{"unassigned state", "requesting_state", `"XX" is not an ISO 3166-1 alpha-2 country code`, func(f *Flags) { f.RequestingState = "XX" }},
		{"alpha-3 state", "requesting_state", `"DEU" is not an ISO 3166-1`, func(f *Flags) { f.RequestingState = "DEU" }},
		{"no profile", "profile", "missing", func(f *Flags) { f.Profile = "" }},
		{"unknown profile", "profile", `unknown profile "us-2703" (want one of budapest-16,`, func(f *Flags) { f.Profile = "us-2703" }},
		{"no legal basis", "legal_basis", "missing", func(f *Flags) { f.LegalBasis = "" }},
		{"long offence", "offence_summary", "more than 8192", func(f *Flags) { f.OffenceSummary = strings.Repeat("x", 8193) }},
		{"no selectors", "selectors", "missing: name at least one (TYPE:VALUE", func(f *Flags) { f.Selectors = nil }},
		{"bare ip", "selectors[2]", `ip "203.0.113.7": needs a port, a timestamp and a time zone (ip:203.0.113.7:443@2026-11-20T10:00:00+01:00)`,
			func(f *Flags) { f.Selectors[2] = "ip:203.0.113.7" }},
		{"untyped selector", "selectors[0]", `selector "alice@example.net" has no type: want TYPE:VALUE`,
			func(f *Flags) { f.Selectors[0] = "alice@example.net" }},
		{"bad email", "selectors[0]", `email "alice@": want a bare address local@domain`, func(f *Flags) { f.Selectors[0] = "email:alice@" }},
		{"repeated selector", "selectors[2]", "email:alice@example.net repeats selectors[0]",
			func(f *Flags) { f.Selectors[2] = "email: alice@example.net" }},
		{"no categories", "categories", "missing: name at least one of subscriber, traffic, content", func(f *Flags) { f.Categories = " , " }},
		{"unknown category", "categories[1]", `unknown category "location"`, func(f *Flags) { f.Categories = "location,traffic" }},
		{"repeated category", "categories[1]", "traffic given twice", func(f *Flags) { f.Categories = "traffic,traffic" }},
		{"window backwards", "window.to", "2026-09-30T00:00:00Z is before window.from 2026-10-01T00:00:00Z", func(f *Flags) { f.To = "2026-09-30T00:00:00Z" }},
		{"window date", "window.from", `"2026-10-01" is not an RFC 3339 time`, func(f *Flags) { f.From = "2026-10-01" }},
		{"too long", "expires_at", "later than profile us-2703f allows without an extension: at most 90 days",
			func(f *Flags) { f.Profile, f.Expires = "us-2703f", "91d" }},
		{"too short", "expires_at", "sooner than profile budapest-29 allows: at least 60 days", func(f *Flags) { f.Expires = "2027-01-18" }},
		{"custom without expiry", "expires_at", "profile custom has no default period: the order must give its expiry",
			func(f *Flags) { f.Profile = "custom" }},
		{"unreadable expiry", "expires_at", `"soon" is not a date (2027-02-18), an RFC 3339 time or a duration`, func(f *Flags) { f.Expires = "soon" }},
		{"expiry already past", "expires_at", "2026-11-19T23:59:59Z is already past (the order is received now, 2026-11-20T10:00:00Z): no order is received expired",
			func(f *Flags) { f.Expires = "2026-11-19" }},
		{"expiry now", "expires_at", "is already past", func(f *Flags) { f.Profile, f.Expires = "custom", orderNow.Format(time.RFC3339) }},
		{"backdated receipt", "received_at", "set by the agent's clock when the order arrives, not by its sender: give the authority's own dates as issued_at and signed_at",
			func(f *Flags) { f.ReceivedAt = "2020-01-01T00:00:00Z" }},
		{"receipt given as now", "received_at", "set by the agent's clock", func(f *Flags) { f.ReceivedAt = orderNow.Format(time.RFC3339) }},
		{"future issue", "issued_at", "2027-01-01T00:00:00Z is in the future", func(f *Flags) { f.IssuedAt = "2027-01-01T00:00:00Z" }},
		{"signature without zone", "signed_at", "is not an RFC 3339 time", func(f *Flags) { f.SignedAt = "2026-11-19T10:00:00" }},
		{"notification before receipt", "confidentiality.no_notification_until", "is before the order's receipt",
			func(f *Flags) { f.NoNotificationUntil = "2026-11-01" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testFlags()
			f.Selectors = append([]string(nil), f.Selectors...)
			tc.change(&f)
			o, err := orderFromFlags(ps, f)
			if o != nil || err == nil {
				t.Fatalf("accepted: %+v", o)
			}
			if msg := fieldProblem(t, err, tc.field); !strings.Contains(msg, tc.want) {
				t.Errorf("%s: %q, want %q", tc.field, msg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.field+": ") {
				t.Errorf("message %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestOrderValidationReportsAll(t *testing.T) {
	f := testFlags()
	f.Reference, f.RequestingState, f.Selectors = "", "XX", []string{"email:alice@example.net", "ip:203.0.113.7"}
	_, err := orderFromFlags(testProfiles(t), f)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 {
		t.Fatalf("%v, want 3 problems", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	if got := strings.Join(fields, " "); got != "reference requesting_state selectors[1]" {
		t.Errorf("problems with %s, want them in field order", got)
	}
	if !strings.HasPrefix(err.Error(), "invalid order: 3 problems:\n  reference: missing\n  requesting_state:") {
		t.Errorf("message:\n%s", err)
	}
}

// TestNewOrderRefusesAgentFields: what only the lifecycle sets cannot come
// in with a new order.
func TestNewOrderRefusesAgentFields(t *testing.T) {
	ps := testProfiles(t)
	for field, change := range map[string]func(o *Order){
		"id":         func(o *Order) { o.ID = "01J9Z3K4M5N6P7Q8R9S0T1V2W3" },
		"status":     func(o *Order) { o.Status = StatusPreserved },
		"extensions": func(o *Order) { o.Extensions = []Extension{{LegalBasis: "x"}} },
		"document":   func(o *Order) { o.Document = &DocumentRef{SHA256: strings.Repeat("a", 64)} },
	} {
		f := testFlags()
		draft, err := f.Draft(orderNow)
		if err != nil {
			t.Fatal(err)
		}
		change(draft)
		before, _ := canonicalJSON(draft)
		if _, err := NewOrder(draft, ps, orderNow, rand.Reader); err == nil {
			t.Errorf("%s: accepted", field)
		} else {
			fieldProblem(t, err, field)
		}
		if after, _ := canonicalJSON(draft); !bytes.Equal(before, after) {
			t.Errorf("%s: NewOrder changed the draft", field)
		}
	}
}

func TestCountries(t *testing.T) {
	for _, c := range []string{"AD", "DE", "US", "BR", "VN", "ZW", "SS", "BQ"} {
		if !isCountry(c) {
			t.Errorf("%s refused", c)
		}
	}
	for _, c := range []string{"", "D", "de", "XK", "EU", "UK", "ZZ", "DA", "D ", " D", "DEU", "E "} {
		if isCountry(c) {
			t.Errorf("%q accepted", c)
		}
	}
	if n := len(strings.Fields(iso3166Alpha2)); n != 249 {
		t.Errorf("%d codes, want 249", n)
	}
}

// TestOrderFileFormats: the same order as YAML, as JSON and as flags is
// recorded identically.
func TestOrderFileFormats(t *testing.T) {
	ps := testProfiles(t)
	var records [][]byte
	for _, name := range []string{"order-file.yaml", "order-file.json", ""} {
		var draft *Order
		var err error
		if name == "" {
			f := testFlags()
			draft, err = f.Draft(orderNow)
		} else {
			data, rerr := os.ReadFile(filepath.Join("testdata", name))
			if rerr != nil {
				t.Fatal(rerr)
			}
			draft, err = ParseFile(data, orderNow)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, err := NewOrder(draft, ps, orderNow, fixedEntropy())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rec, err := Format(o)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
	}
	if !bytes.Equal(records[0], records[1]) || !bytes.Equal(records[0], records[2]) {
		t.Errorf("records differ:\nyaml  %s\njson  %s\nflags %s", records[0], records[1], records[2])
	}
	golden := filepath.Join("testdata", "order-record.json")
	if *updateOrderGolden {
		if err := os.WriteFile(golden, records[0], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestOrderFileFormats -update-order-golden creates it)", err)
	}
	if !bytes.Equal(records[0], want) {
		t.Errorf("record\n%s\nwant (%s)\n%s", records[0], golden, want)
	}
}

func TestParseOrderFileErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "order-file.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"unknown field", string(base) + "urgency: high\n", "urgency: unknown field"},
		{"unknown selector field", strings.Replace(string(base), "{type: email, value: alice@example.net}",
			"{type: email, value: alice@example.net, note: x}", 1), "note: unknown field"},
		{"wrong type", strings.Replace(string(base), "reference: AZ 123 Js 456/26", "reference: 42", 1),
			"reference: want a string, not a JSON number"},
		{"wrong nested type", strings.Replace(string(base), "confidential: true", "confidential: [yes]", 1),
			"confidentiality.confidential: want true or false, not a JSON array"},
		{"bad expiry", string(base) + "expires_at: next spring\n", `expires_at: "next spring" is not a date`},
		{"numeric expiry", string(base) + "expires_at: 90\n", "expires_at: want a time as a string, not 90"},
		{"bad window", strings.Replace(string(base), "from: 2026-10-01T00:00:00Z", "from: 2026-10-01", 1),
			`window.from: "2026-10-01" is not an RFC 3339 time`},
		{"backdated receipt", string(base) + "received_at: 2020-01-01T00:00:00Z\n", "received_at: set by the agent's clock when the order arrives"},
		{"receipt given", string(base) + "received_at: today\n", "received_at: set by the agent's clock"},
		{"bad issue date", strings.Replace(string(base), "issued_at: 2026-11-19T15:30:00+01:00", "issued_at: yesterday", 1),
			`issued_at: "yesterday" is not an RFC 3339 time`},
		{"bad notification date", strings.Replace(string(base), "no_notification_until: 2027-06-30", "no_notification_until: 2027-13-01", 1),
			"confidentiality.no_notification_until:"},
		{"repeated key", string(base) + "profile: us-2703f\n", "profile given twice"},
		{"list", "- reference: x\n", "want a mapping of fields"},
		{"two documents", string(base) + "---\nreference: y\n", "more than one YAML document"},
		{"broken JSON", `{"reference": "x",`, "order file:"},
		{"too big", "reference: " + strings.Repeat("x", MaxSize), "more than 1048576"},
	} {
		o, err := ParseFile([]byte(tc.file), orderNow)
		if err == nil {
			t.Errorf("%s: accepted %+v", tc.name, o)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// An expiry given as a duration counts from the receipt: now.
	o, err := ParseFile([]byte(string(base)+"expires_at: 60d\n"), orderNow)
	if err != nil || !o.ExpiresAt.Equal(endOf("2027-01-19")) {
		t.Errorf("expires_at 60d: %v %v", o, err)
	}
}

func TestOrderRecordRoundTrip(t *testing.T) {
	o := newTestOrder(t, testFlags())
	o.LegacyDigests = true
	o.Document = &DocumentRef{SHA256: strings.Repeat("ab", 32), Name: "Ersuchen <2026>.pdf", MediaType: "application/pdf", Size: 123456}
	rec, err := Format(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"authority":"Staatsanwaltschaft Berlin","categories":["subscriber","traffic"],`,
		`"name":"Ersuchen <2026>.pdf"`, `"status":"received","v":1,"window":{`} {
		if !bytes.Contains(rec, []byte(want)) {
			t.Errorf("record %s lacks %s", rec, want)
		}
	}
	back, err := Parse(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("read back\n%+v\nwant\n%+v", back, o)
	}
	// A zone other than UTC is recorded in UTC.
	o.ExpiresAt = o.ExpiresAt.In(time.FixedZone("CET", 3600))
	again, err := Format(o)
	if err != nil || !bytes.Equal(again, rec) {
		t.Errorf("record with a CET expiry differs:\n%s\n%s", again, rec)
	}
}

func TestReadOrderRefuses(t *testing.T) {
	rec, err := Format(newTestOrder(t, testFlags()))
	if err != nil {
		t.Fatal(err)
	}
	s := string(rec)
	for name, tc := range map[string]struct{ in, want string }{
		"unknown field":    {strings.Replace(s, `{"authority"`, `{"agent":"x","authority"`, 1), "agent: unknown field"},
		"white space":      {strings.Replace(s, `,"categories"`, `, "categories"`, 1), "not in canonical form"},
		"trailing value":   {s + "{}", "more than one JSON value"},
		"version 2":        {strings.Replace(s, `"v":1,`, `"v":2,`, 1), "version 2, want 1"},
		"no version":       {strings.Replace(s, `"v":1,`, ``, 1), "version 0, want 1"},
		"bad id":           {strings.Replace(s, `"id":"`, `"id":"x`, 1), "id: order id"},
		"bad status":       {strings.Replace(s, `"status":"received"`, `"status":"lost"`, 1), `status: unknown status "lost"`},
		"local time":       {strings.Replace(s, `"expires_at":"2027-01-19T23:59:59Z"`, `"expires_at":"2027-01-20T00:59:59+01:00"`, 1), "not in canonical form"},
		"not JSON":         {"order", "not valid JSON"},
		"selector form":    {strings.Replace(s, `"+49301234567"`, `"+49 30 1234567"`, 1), "selectors[2]: phone:+49 30 1234567 is not in normal form (phone:+49301234567)"},
		"lower-case state": {strings.Replace(s, `"requesting_state":"DE"`, `"requesting_state":"de"`, 1), `requesting_state: "de" is not an ISO 3166-1`},
	} {
		if _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func FuzzReadOrder(f *testing.F) {
	o := newTestOrder(f, testFlags())
	rec, err := Format(o)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Format(o)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("read %q but formatted %q, %v", b, again, err)
		}
	})
}

func FuzzParseOrderFile(f *testing.F) {
	for _, name := range []string{"order-file.yaml", "order-file.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ps := testProfiles(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		draft, err := ParseFile(b, orderNow)
		if err != nil {
			return
		}
		o, err := NewOrder(draft, ps, orderNow, fixedEntropy())
		if err != nil {
			return
		}
		rec, err := Format(o)
		if err != nil {
			t.Fatalf("a new order does not format: %v", err)
		}
		if _, err := Parse(rec); err != nil {
			t.Fatalf("a new order's record does not read back: %v", err)
		}
	})
}
