package order

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SelectorType names what kind of identifier a selector is.
type SelectorType string

// The selector types an order may name.
const (
	SelectorAccount  SelectorType = "account"  // a customer or account number
	SelectorEmail    SelectorType = "email"    // a mailbox: local@domain
	SelectorPhone    SelectorType = "phone"    // a number in E.164 form: +4930123456
	SelectorIP       SelectorType = "ip"       // an address, port, timestamp and zone
	SelectorUsername SelectorType = "username" // a login or handle
	SelectorURL      SelectorType = "url"      // an absolute URL with a host
	SelectorDevice   SelectorType = "device"   // a device id: IMEI, MAC, serial, advertising id
)

// selectorTypes lists the selector types in the order error messages name them.
func selectorTypes() []SelectorType {
	return []SelectorType{SelectorAccount, SelectorEmail, SelectorPhone, SelectorIP,
		SelectorUsername, SelectorURL, SelectorDevice}
}

// maxSelectorValue bounds one selector's value, in bytes.
const maxSelectorValue = 1024

// Selector is one typed identifier an order names: whose data is to be
// preserved. In JSON and YAML it is {"type": "email", "value": "..."}; on
// the command line (ParseSelector) it is TYPE:VALUE, split at the first
// colon:
//
//	account:CUST-0042
//	email:alice@example.net
//	phone:+49 30 1234567            separators ( ) - . and spaces are dropped: +49301234567
//	ip:203.0.113.7:443@2026-11-20T10:00:00+01:00
//	ip:[2001:db8::7]:443@2026-11-20T09:00:00Z
//	username:alice_1
//	url:https://social.example/u/alice
//	device:356938035643809
//
// An ip selector names the address, the port and the moment, with its time
// zone, because behind carrier-grade NAT one public address serves many
// customers at once: the address alone, or with a time whose zone is
// unknown, identifies nobody. The value is ADDRESS:PORT@RFC3339 (an IPv6
// address in brackets); the moment keeps the offset the order gave.
type Selector struct {
	Type  SelectorType `json:"type"`
	Value string       `json:"value"`
}

// String returns the selector in its command-line form, TYPE:VALUE.
func (s Selector) String() string { return string(s.Type) + ":" + s.Value }

// ParseSelector parses the command-line form TYPE:VALUE and returns the
// selector in its normal form (see Normalize).
func ParseSelector(s string) (Selector, error) {
	typ, value, ok := strings.Cut(s, ":")
	if !ok {
		return Selector{}, fmt.Errorf("selector %q: want TYPE:VALUE with TYPE one of %s", printable(s), typeList())
	}
	return Selector{Type: SelectorType(strings.ToLower(strings.TrimSpace(typ))), Value: value}.Normalize()
}

// Normalize checks the selector and returns it in normal form: surrounding
// white space trimmed, a phone number reduced to + and digits, an ip
// selector's address in its shortest form. The error names the type and
// the value and says what is wrong.
func (s Selector) Normalize() (Selector, error) {
	v := strings.TrimSpace(s.Value)
	if s.Type == "" {
		return s, fmt.Errorf("selector %q has no type: want TYPE:VALUE with TYPE one of %s", printable(s.Value), typeList())
	}
	if !knownSelectorType(s.Type) {
		return s, fmt.Errorf("unknown selector type %q (want one of %s)", printable(string(s.Type)), typeList())
	}
	if v == "" {
		return s, fmt.Errorf("%s: the value is empty", s.Type)
	}
	if len(v) > maxSelectorValue {
		return s, fmt.Errorf("%s: the value is %d bytes, more than %d", s.Type, len(v), maxSelectorValue)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return s, fmt.Errorf("%s %q: holds control characters or invalid UTF-8", s.Type, printable(v))
	}
	var err error
	switch s.Type {
	case SelectorEmail:
		err = checkEmail(v)
	case SelectorPhone:
		v, err = normalPhone(v)
	case SelectorIP:
		v, err = normalIP(v)
	case SelectorURL:
		err = checkURL(v)
	case SelectorUsername, SelectorDevice:
		if strings.ContainsFunc(v, unicode.IsSpace) {
			err = errors.New("must not contain white space")
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s %q: %w", s.Type, printable(s.Value), err)
	}
	return Selector{Type: s.Type, Value: v}, nil
}

// IPEndpoint returns an ip selector's address and port and the moment it
// names, in the zone the order gave.
func (s Selector) IPEndpoint() (netip.AddrPort, time.Time, error) {
	if s.Type != SelectorIP {
		return netip.AddrPort{}, time.Time{}, fmt.Errorf("selector %s is not an ip selector", s)
	}
	return parseIPSelector(s.Value)
}

func knownSelectorType(t SelectorType) bool {
	for _, k := range selectorTypes() {
		if t == k {
			return true
		}
	}
	return false
}

func typeList() string {
	var b strings.Builder
	for i, t := range selectorTypes() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
	}
	return b.String()
}

func checkEmail(v string) error {
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Name != "" || addr.Address != v {
		return errors.New("want a bare address local@domain")
	}
	_, domain, _ := strings.Cut(v, "@")
	if !strings.Contains(domain, ".") && !strings.HasPrefix(domain, "[") {
		return fmt.Errorf("domain %q has no dot", domain)
	}
	return nil
}

// normalPhone drops the usual separators and checks the E.164 form: +, a
// country code not starting with 0, at most 15 digits in all.
func normalPhone(v string) (string, error) {
	d := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')':
			return -1
		}
		return r
	}, v)
	digits, ok := strings.CutPrefix(d, "+")
	if !ok {
		return "", errors.New("want the international E.164 form: + and the country code (+4930123456)")
	}
	if len(digits) < 2 || len(digits) > 15 || digits[0] == '0' || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", errors.New("want + and 2 to 15 digits, the first not 0 (E.164)")
	}
	return d, nil
}

// ipExample shows the whole ip form, with addr when the order gave one.
func ipExample(addr netip.Addr) string {
	if !addr.IsValid() {
		addr = netip.MustParseAddr("203.0.113.7")
	}
	return "ip:" + netip.AddrPortFrom(addr, 443).String() + "@2026-11-20T10:00:00+01:00"
}

func normalIP(v string) (string, error) {
	ap, at, err := parseIPSelector(v)
	if err != nil {
		return "", err
	}
	return ap.String() + "@" + at.Format(time.RFC3339Nano), nil
}

// parseIPSelector parses ADDRESS:PORT@RFC3339. Each missing part is named,
// with the example of the whole form.
func parseIPSelector(v string) (netip.AddrPort, time.Time, error) {
	hostPort, stamp, hasStamp := strings.Cut(v, "@")
	if a, err := netip.ParseAddr(strings.Trim(hostPort, "[]")); err == nil && a.Zone() == "" {
		// A bare address: say everything that is missing at once.
		if !hasStamp {
			return netip.AddrPort{}, time.Time{}, fmt.Errorf("needs a port, a timestamp and a time zone (%s)", ipExample(a))
		}
		return netip.AddrPort{}, time.Time{}, fmt.Errorf("needs a port: ADDRESS:PORT@TIME (%s)", ipExample(a))
	}
	ap, err := netip.ParseAddrPort(hostPort)
	if err != nil {
		return netip.AddrPort{}, time.Time{}, fmt.Errorf("%q is not ADDRESS:PORT, an IPv6 address in brackets (%s)", printable(hostPort), ipExample(netip.Addr{}))
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, time.Time{}, errors.New("an address with an interface zone (%...) names no public endpoint")
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, time.Time{}, errors.New("port 0 is not a port")
	}
	if !hasStamp {
		return netip.AddrPort{}, time.Time{}, fmt.Errorf("needs a timestamp and a time zone: carrier-grade NAT makes an address and port without a moment ambiguous (%s)", ipExample(ap.Addr()))
	}
	at, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		if _, lerr := time.Parse("2006-01-02T15:04:05.999999999", stamp); lerr == nil {
			return netip.AddrPort{}, time.Time{}, fmt.Errorf("timestamp %q needs a time zone (Z or an offset such as +01:00): without one the moment is ambiguous", printable(stamp))
		}
		return netip.AddrPort{}, time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339 with a time zone (%s)", printable(stamp), ipExample(ap.Addr()))
	}
	return ap, at, nil
}

// printable keeps a value readable in an error: invalid UTF-8 replaced and
// very long values cut.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 80 {
		s = s[:77] + "..."
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

// checkURL wants an absolute URL with a scheme and a host.
func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme == "" || u.Host == "" {
		return errors.New("want an absolute URL with a scheme and a host (https://host/path)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a port", p)
		}
	}
	return nil
}
