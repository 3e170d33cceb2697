package order

import (
	"strings"
	"testing"
	"time"
)

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"account:CUST-0042", "account:CUST-0042"},
		{"account: customer 12 34 ", "account:customer 12 34"},
		{"Email:alice@example.net", "email:alice@example.net"},
		{"phone:+49 30 123-456 (7)", "phone:+49301234567"},
		{"phone:+1.202.555.0100", "phone:+12025550100"},
		{"ip:203.0.113.7:443@2026-11-20T10:00:00+01:00", "ip:203.0.113.7:443@2026-11-20T10:00:00+01:00"},
		{"ip:[2001:0db8:0000::7]:8443@2026-11-20T09:00:00.5Z", "ip:[2001:db8::7]:8443@2026-11-20T09:00:00.5Z"},
		{"ip: 198.51.100.1:51000@2026-11-20T10:00:00-05:00", "ip:198.51.100.1:51000@2026-11-20T10:00:00-05:00"},
		{"username:alice_1", "username:alice_1"},
		{"url:https://social.example/u/alice?x=1", "url:https://social.example/u/alice?x=1"},
		{"device:356938035643809", "device:356938035643809"},
	} {
		got, err := ParseSelector(tc.in)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", tc.in, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("ParseSelector(%q) = %s, want %s", tc.in, got, tc.want)
		}
		// The normal form is a fixed point.
		again, err := got.Normalize()
		if err != nil || again != got {
			t.Errorf("Normalize(%s) = %s, %v; want it unchanged", got, again, err)
		}
	}
}

func TestParseSelectorErrors(t *testing.T) {
	long := "account:" + strings.Repeat("x", maxSelectorValue+1)
	for _, tc := range []struct{ in, want string }{
		{"alice@example.net", `want TYPE:VALUE with TYPE one of account, email, phone, ip, username, url, device`},
		{"imsi:262011234567890", `unknown selector type "imsi"`},
		{"email:", "email: the value is empty"},
		{long, "more than 1024"},
		{"account:a\x00b", "control characters"},
		{"email:alice", `email "alice": want a bare address local@domain`},
		{"email:alice@", `email "alice@": want a bare address`},
		{"email:Alice <alice@example.net>", "want a bare address"},
		{"email:alice@localhost", `domain "localhost" has no dot`},
		{"phone:030 1234567", "want the international E.164 form"},
		{"phone:+0301234567", "E.164"},
		{"phone:+1234567890123456", "2 to 15 digits"},
		{"phone:+49 30 CALL-ME", "E.164"},
		{"ip:203.0.113.7", `ip "203.0.113.7": needs a port, a timestamp and a time zone (ip:203.0.113.7:443@2026-11-20T10:00:00+01:00)`},
		{"ip:2001:db8::7", `needs a port, a timestamp and a time zone (ip:[2001:db8::7]:443@`},
		{"ip:203.0.113.7@2026-11-20T10:00:00Z", "needs a port"},
		{"ip:203.0.113.7:443", "needs a timestamp and a time zone: carrier-grade NAT"},
		{"ip:203.0.113.7:443@2026-11-20T10:00:00", `timestamp "2026-11-20T10:00:00" needs a time zone`},
		{"ip:203.0.113.7:443@yesterday", `timestamp "yesterday" is not RFC 3339`},
		{"ip:203.0.113.7:0@2026-11-20T10:00:00Z", "port 0 is not a port"},
		{"ip:203.0.113.0/24:443@2026-11-20T10:00:00Z", "is not ADDRESS:PORT"},
		{"ip:[fe80::1%eth0]:443@2026-11-20T10:00:00Z", "interface zone"},
		{"url:social.example/u/alice", "want an absolute URL with a scheme and a host"},
		{"url:mailto:alice@example.net", "want an absolute URL"},
		{"username:alice smith", "must not contain white space"},
		{"device:35 6938", "must not contain white space"},
	} {
		_, err := ParseSelector(tc.in)
		if err == nil {
			t.Errorf("ParseSelector(%q) accepted it", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSelector(%q) = %q, want it to say %q", tc.in, err, tc.want)
		}
	}
}

func TestIPEndpoint(t *testing.T) {
	s, err := ParseSelector("ip:[2001:db8::7]:443@2026-11-20T10:00:00+01:00")
	if err != nil {
		t.Fatal(err)
	}
	ap, at, err := s.IPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	if ap.String() != "[2001:db8::7]:443" {
		t.Errorf("address %s", ap)
	}
	if want := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC); !at.Equal(want) {
		t.Errorf("time %s, want %s", at, want)
	}
	if _, off := at.Zone(); off != 3600 {
		t.Errorf("zone offset %d, want the order's +01:00 kept", off)
	}
	if _, _, err := (Selector{Type: SelectorEmail, Value: "a@b.example"}).IPEndpoint(); err == nil {
		t.Error("an email selector gave an IP endpoint")
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"ip:203.0.113.7:443@2026-11-20T10:00:00+01:00", "phone:+49 30 1234", "email:a@b.example",
		"url:https://x.example/", "ip:[::1]:1@2026-01-01T00:00:00Z", "account:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSelector(in)
		if err != nil {
			return
		}
		again, err := ParseSelector(s.String())
		if err != nil {
			t.Fatalf("normal form %q does not parse: %v", s, err)
		}
		if again != s {
			t.Fatalf("normal form of %q is not stable: %q then %q", in, s, again)
		}
	})
}
