package chain_test

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
)

var (
	detailsTime = time.Date(2027, 2, 18, 23, 59, 59, 0, time.UTC)
	detailsCut  = time.Date(2026, 11, 26, 12, 0, 1, 250_000_000, time.FixedZone("CET", 3600))
	detailsSum  = strings.Repeat("ab", 32)
)

// Each typed form of the details writes exactly the keys and values the
// log has always held (the maps below are what the agent logged before
// the typed forms existed), and reads them back.
func TestDetailsPutAndRead(t *testing.T) {
	cases := []struct {
		name  string
		typ   chain.EventType
		put   func() map[string]string
		want  map[string]string
		check func(*chain.Event) (any, error)
		back  any
	}{
		{
			name: "order.received", typ: chain.OrderReceived,
			put: func() map[string]string {
				return chain.OrderDetails{Status: chain.StatusReceived, OrderSHA256: detailsSum, ExpiresAt: detailsTime.In(time.FixedZone("X", 7200))}.
					Put(map[string]string{"reference": "LE-1"})
			},
			want:  map[string]string{"reference": "LE-1", "status": "received", "order_sha256": detailsSum, "expires_at": "2027-02-18T23:59:59Z"},
			check: func(e *chain.Event) (any, error) { return chain.ReadOrderDetails(e) },
			back:  chain.OrderDetails{Status: chain.StatusReceived, OrderSHA256: detailsSum, ExpiresAt: detailsTime},
		},
		{
			name: "order.amended, status changed", typ: chain.OrderAmended,
			put: func() map[string]string {
				return chain.OrderDetails{Status: chain.StatusPreserved, PreviousStatus: chain.StatusPreserving, OrderSHA256: detailsSum}.Put(nil)
			},
			want:  map[string]string{"status": "preserved", "previous_status": "preserving", "order_sha256": detailsSum},
			check: func(e *chain.Event) (any, error) { return chain.ReadOrderDetails(e) },
			back:  chain.OrderDetails{Status: chain.StatusPreserved, PreviousStatus: chain.StatusPreserving, OrderSHA256: detailsSum},
		},
		{
			name: "capture.started", typ: chain.CaptureStarted,
			put: func() map[string]string {
				return chain.CaptureDetails{Capture: "01J9Z3K4M5N6P7Q8R9S0T1V2X0", CutOff: detailsCut}.Put(map[string]string{"sources": "mail (dir)"})
			},
			want:  map[string]string{"capture": "01J9Z3K4M5N6P7Q8R9S0T1V2X0", "cut_off": "2026-11-26T11:00:01.25Z", "sources": "mail (dir)"},
			check: func(e *chain.Event) (any, error) { return chain.ReadCaptureDetails(e) },
			back:  chain.CaptureDetails{Capture: "01J9Z3K4M5N6P7Q8R9S0T1V2X0", CutOff: detailsCut.UTC()},
		},
		{
			name: "capture.completed", typ: chain.CaptureCompleted,
			put: func() map[string]string {
				return chain.CaptureDetails{Capture: "c1"}.Put(map[string]string{"preserved": "3"})
			},
			want:  map[string]string{"capture": "c1", "preserved": "3"},
			check: func(e *chain.Event) (any, error) { return chain.ReadCaptureDetails(e) },
			back:  chain.CaptureDetails{Capture: "c1"},
		},
		{
			name: "item.preserved", typ: chain.ItemPreserved,
			put: func() map[string]string {
				return chain.ItemDetails{Capture: "c1", Source: "mail", Name: "inbox/1.eml", Size: 1234, Categories: []string{"content", "traffic"},
					MediaType: "message/rfc822", Key: "orders/o/items/" + detailsSum}.Put(map[string]string{"stored": "store"})
			},
			want: map[string]string{"capture": "c1", "source": "mail", "name": "inbox/1.eml", "size": "1234", "categories": "content,traffic",
				"media_type": "message/rfc822", "key": "orders/o/items/" + detailsSum, "stored": "store"},
			check: func(e *chain.Event) (any, error) { return chain.ReadItemDetails(e) },
			back: chain.ItemDetails{Capture: "c1", Source: "mail", Name: "inbox/1.eml", Size: 1234, Categories: []string{"content", "traffic"},
				MediaType: "message/rfc822", Key: "orders/o/items/" + detailsSum},
		},
		{
			name: "item.preserved, no categories or media type", typ: chain.ItemPreserved,
			put: func() map[string]string {
				return chain.ItemDetails{Capture: "c1", Source: "s", Name: "", Size: 0, Key: "k"}.Put(nil)
			},
			want:  map[string]string{"capture": "c1", "source": "s", "name": "", "size": "0", "key": "k"},
			check: func(e *chain.Event) (any, error) { return chain.ReadItemDetails(e) },
			back:  chain.ItemDetails{Capture: "c1", Source: "s", Key: "k"},
		},
		{
			name: "disclosure.created", typ: chain.DisclosureCreated,
			put: func() map[string]string {
				return chain.DisclosureDetails{Recipient: "none", PackageSHA256: detailsSum, Package: "pkg.zip", Format: "zip", Items: 3,
					Partial: true, CheckpointSize: 42, Events: 11}.Put(nil)
			},
			want: map[string]string{"recipient": "none", "package_sha256": detailsSum, "package": "pkg.zip", "format": "zip", "encrypted": "false",
				"items": "3", "partial": "true", "checkpoint_size": "42", "events": "11"},
			check: func(e *chain.Event) (any, error) { return chain.ReadDisclosureDetails(e) },
			back: chain.DisclosureDetails{Recipient: "none", PackageSHA256: detailsSum, Package: "pkg.zip", Format: "zip", Items: 3,
				Partial: true, CheckpointSize: 42, Events: 11},
		},
		{
			name: "disclosure.created, cleared", typ: chain.DisclosureCreated,
			put: func() map[string]string {
				return chain.DisclosureDetails{Recipient: "none", PackageSHA256: detailsSum, Package: "p", Format: "dir", Items: 1, CheckpointSize: 9, Events: 5,
					Clearance: chain.Clearance{RequesterMethod: "callback", RequesterEvent: 4, ApprovedBy: "bob", ApprovalEvent: 6}}.Put(nil)
			},
			want: map[string]string{"recipient": "none", "package_sha256": detailsSum, "package": "p", "format": "dir", "encrypted": "false",
				"items": "1", "partial": "false", "checkpoint_size": "9", "events": "5",
				"requester_method": "callback", "requester_event": "4", "approved_by": "bob", "approval_event": "6"},
			check: func(e *chain.Event) (any, error) { return chain.ReadDisclosureDetails(e) },
			back: chain.DisclosureDetails{Recipient: "none", PackageSHA256: detailsSum, Package: "p", Format: "dir", Items: 1, CheckpointSize: 9, Events: 5,
				Clearance: chain.Clearance{RequesterMethod: "callback", RequesterEvent: 4, ApprovedBy: "bob", ApprovalEvent: 6}},
		},
		{
			name: "requester.verified", typ: chain.RequesterVerified,
			put: func() map[string]string {
				return chain.RequesterDetails{Method: chain.MethodVerifiedChannel, Note: "received through portal-fr", Channel: "portal-fr"}.Put(nil)
			},
			want:  map[string]string{"method": "verified-channel", "note": "received through portal-fr", "channel": "portal-fr"},
			check: func(e *chain.Event) (any, error) { return chain.ReadRequesterDetails(e) },
			back:  chain.RequesterDetails{Method: chain.MethodVerifiedChannel, Note: "received through portal-fr", Channel: "portal-fr"},
		},
		{
			name: "disclosure.approved", typ: chain.DisclosureApproved,
			put:   func() map[string]string { return chain.ApprovalDetails{Identity: "bob"}.Put(nil) },
			want:  map[string]string{"identity": "bob"},
			check: func(e *chain.Event) (any, error) { return chain.ReadApprovalDetails(e) },
			back:  chain.ApprovalDetails{Identity: "bob"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.put()
			if !maps.Equal(got, tc.want) {
				t.Fatalf("details %v, want %v", got, tc.want)
			}
			e := &chain.Event{Version: chain.EventVersion, Type: tc.typ, Time: detailsTime, Order: orderA, Actor: "a", Agent: "agent-1", Details: got}
			enc, err := chain.FormatEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := chain.ParseEvent(enc)
			if err != nil {
				t.Fatal(err)
			}
			back, err := tc.check(parsed)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.back) {
				t.Fatalf("read back %+v, want %+v", back, tc.back)
			}
		})
	}
}

// Details that do not parse are errors naming the key and the value;
// absent optional ones are zero.
func TestDetailsReadRefusals(t *testing.T) {
	ev := func(typ chain.EventType, d map[string]string) *chain.Event {
		return &chain.Event{Type: typ, Details: d}
	}
	cases := []struct {
		name string
		read func() error
		want string // "" when the read succeeds
	}{
		{"expires_at not a time", func() error {
			_, err := chain.ReadOrderDetails(ev(chain.OrderExtended, map[string]string{"order_sha256": detailsSum, "expires_at": "tomorrow"}))
			return err
		}, `expires_at "tomorrow"`},
		{"no order details", func() error {
			d, err := chain.ReadOrderDetails(ev(chain.CustodyNote, map[string]string{"note": "x"}))
			if err == nil && d != (chain.OrderDetails{}) {
				t.Errorf("a note reads as %+v", d)
			}
			return err
		}, ""},
		{"cut_off not a time", func() error {
			_, err := chain.ReadCaptureDetails(ev(chain.CaptureStarted, map[string]string{"capture": "c", "cut_off": "2026-13-01"}))
			return err
		}, `cut_off "2026-13-01"`},
		{"size not a number", func() error {
			_, err := chain.ReadItemDetails(ev(chain.ItemPreserved, map[string]string{"size": "12kB"}))
			return err
		}, `size "12kB"`},
		{"size missing", func() error { _, err := chain.ReadItemDetails(ev(chain.ItemPreserved, nil)); return err }, `size ""`},
		{"size negative", func() error {
			_, err := chain.ReadItemDetails(ev(chain.ItemPreserved, map[string]string{"size": "-1"}))
			return err
		}, `size "-1"`},
		{"disclosure counts", func() error {
			_, err := chain.ReadDisclosureDetails(ev(chain.DisclosureCreated, map[string]string{"encrypted": "yes", "partial": "false",
				"items": "3", "events": "x", "checkpoint_size": "7"}))
			return err
		}, `encrypted "yes", events "x"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// The statuses that allow a disclosure are the ones the package verifier
// has always accepted.
func TestOrderStatusAllowsDisclosure(t *testing.T) {
	var allowed []chain.OrderStatus
	for _, s := range chain.OrderStatuses() {
		if s.AllowsDisclosure() {
			allowed = append(allowed, s)
		}
	}
	want := []chain.OrderStatus{chain.StatusPreserved, chain.StatusExtended, chain.StatusHeld, chain.StatusDisclosed}
	if !reflect.DeepEqual(allowed, want) {
		t.Fatalf("statuses allowing disclosure %v, want %v", allowed, want)
	}
	if chain.OrderStatus("Preserved").AllowsDisclosure() || chain.OrderStatus("").AllowsDisclosure() {
		t.Fatal("an unknown status allows disclosure")
	}
	if n := len(chain.OrderStatuses()); n != 8 {
		t.Fatalf("%d statuses", n)
	}
}

// TestReplyDetails: an order.replied's details read back as written, and
// an unknown kind, a bad number or a digest that is not SHA-256 is named.
func TestReplyDetails(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	d := chain.ReplyDetails{Kind: chain.ReplyCannotComply, Number: 2, Ground: "conflicting-obligations", XMLSHA256: sum, HTMLSHA256: sum, EnvelopeSHA256: sum}
	e := &chain.Event{Type: chain.OrderReplied, Details: d.Put(nil)}
	got, err := chain.ReadReplyDetails(e)
	if err != nil || got != d {
		t.Fatalf("read back %+v, %v; want %+v", got, err, d)
	}
	for key, bad := range map[string]string{"kind": "maybe", "reply": "0", "xml_sha256": "AB", "envelope_sha256": ""} {
		m := d.Put(nil)
		m[key] = bad
		if _, err := chain.ReadReplyDetails(&chain.Event{Type: chain.OrderReplied, Details: m}); err == nil {
			t.Errorf("%s %q: read without an error", key, bad)
		}
	}
	for ext, want := range map[string]string{
		"xml":       "orders/01J9Z3K4M5N6P7Q8R9S0T1V2W3/replies/" + sum + ".xml",
		"html":      "orders/01J9Z3K4M5N6P7Q8R9S0T1V2W3/replies/" + sum + ".html",
		"dsse.json": "orders/01J9Z3K4M5N6P7Q8R9S0T1V2W3/replies/" + sum + ".dsse.json",
	} {
		if k := chain.ReplyKey("01J9Z3K4M5N6P7Q8R9S0T1V2W3", d.XMLSHA256, ext); k != want {
			t.Errorf("ReplyKey(%s) = %s, want %s", ext, k, want)
		}
	}
}
