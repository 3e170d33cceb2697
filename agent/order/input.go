package order

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ParseFile reads an order file, JSON or YAML, with the fields of an
// order record less those the agent sets (received_at among them: the
// receipt is the agent's clock when the order arrives, now). Unknown
// fields are refused. expires_at and
// confidentiality.no_notification_until may be a date (the end of that
// day, UTC), an RFC 3339 time or a duration after receipt (90d, 2160h);
// issued_at and signed_at, the authority's own dates, are RFC 3339 times.
// The result is a draft for NewOrder; errors name the field.
func ParseFile(data []byte, now time.Time) (*Order, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("order file is %d bytes, more than %d", len(data), MaxSize)
	}
	tree, err := yamlToTree(data)
	if err != nil {
		return nil, fmt.Errorf("order file: %w", err)
	}
	m, ok := tree.(map[string]any)
	if !ok {
		return nil, errors.New("order file: want a mapping of fields (reference, authority, ...)")
	}
	var ps problems
	received := now
	if _, ok := m["received_at"]; ok {
		ps.add("received_at", "%s", receivedAtGiven)
	}
	resolveFileTime(&ps, m, "issued_at", received, false)
	resolveFileTime(&ps, m, "signed_at", received, false)
	resolveFileTime(&ps, m, "expires_at", received, true)
	if w, ok := m["window"].(map[string]any); ok {
		resolveFileTime(&ps, w, "window.from", received, false)
		resolveFileTime(&ps, w, "window.to", received, false)
	}
	if c, ok := m["confidentiality"].(map[string]any); ok {
		resolveFileTime(&ps, c, "confidentiality.no_notification_until", received, true)
	}
	if len(ps) > 0 {
		return nil, ps.err()
	}
	var o Order
	if err := decodeTree(m, &o); err != nil {
		ps.addErr("", err)
		return nil, ps.err()
	}
	return &o, nil
}

// resolveFileTime rewrites the time m holds under the last part of field
// as RFC 3339, adding a problem naming field if it is not one.
func resolveFileTime(ps *problems, m map[string]any, field string, base time.Time, flexible bool) {
	key := field[strings.LastIndex(field, ".")+1:]
	v, ok := m[key]
	if !ok {
		return
	}
	t, err := fileTime(v, base, flexible)
	if err != nil {
		ps.add(field, "%s", err)
		return
	}
	m[key] = t.Format(time.RFC3339Nano)
}

func fileTime(v any, base time.Time, flexible bool) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("want a time as a string, not %v", v)
	}
	if flexible {
		return ParseExpiry(s, base)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-20T10:00:00+01:00)", printable(s))
	}
	return t.UTC(), nil
}

// Flags is an order as `custos order add` takes it on the command
// line; Draft turns it into a draft for NewOrder.
type Flags struct {
	Reference       string
	Authority       string
	RequestingState string
	Profile         string
	LegalBasis      string
	OffenceSummary  string
	Selectors       []string // TYPE:VALUE each (ParseSelector)
	Categories      string   // comma-separated: subscriber,traffic,content
	From, To        string   // RFC 3339; empty: open
	// ReceivedAt must be empty: the receipt is the agent's clock (NewOrder).
	ReceivedAt string
	// IssuedAt and SignedAt are the authority's own dates, RFC 3339;
	// empty: not given.
	IssuedAt, SignedAt string
	Expires            string // a date, an RFC 3339 time or a duration (ParseExpiry); empty: the profile's default
	Confidential       bool
	// NoNotificationUntil is a date, an RFC 3339 time or a duration.
	NoNotificationUntil string
	LegacyDigests       bool
	// Production makes it a production order, AuthorityNotified a flag
	// of one (refused without it). Emergency makes it an emergency order:
	// a production order's deadline is 8 hours, and any emergency order's
	// disclosure needs a second identity's approval.
	Production, Emergency, AuthorityNotified bool
}

// Draft turns the flags into a draft order for NewOrder, which checks it.
// Only a time it cannot read is an error here, naming the order's field.
func (f *Flags) Draft(now time.Time) (*Order, error) {
	var ps problems
	o := &Order{
		Reference: f.Reference, Authority: f.Authority, RequestingState: f.RequestingState,
		Profile: f.Profile, LegalBasis: f.LegalBasis, OffenceSummary: f.OffenceSummary,
		Confidentiality: Confidentiality{Confidential: f.Confidential}, LegacyDigests: f.LegacyDigests,
		Emergency: f.Emergency,
	}
	switch {
	case f.Production:
		o.Production = &Production{Emergency: f.Emergency, AuthorityNotified: f.AuthorityNotified}
	case f.AuthorityNotified:
		ps.add("production", "authority_notified is a flag of a production order: give production too")
	}
	received := now
	if f.ReceivedAt != "" {
		ps.add("received_at", "%s", receivedAtGiven)
	}
	for _, s := range f.Selectors {
		// Kept as given: NewOrder names a bad one with the other problems.
		typ, value, ok := strings.Cut(s, ":")
		if !ok {
			typ, value = "", s
		}
		o.Selectors = append(o.Selectors, Selector{Type: SelectorType(strings.ToLower(strings.TrimSpace(typ))), Value: value})
	}
	for c := range strings.SplitSeq(f.Categories, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.Categories = append(o.Categories, Category(c))
		}
	}
	flagTimes := []struct {
		field, value string
		dst          *time.Time
		flexible     bool
	}{
		{"window.from", f.From, &o.Window.From, false},
		{"window.to", f.To, &o.Window.To, false},
		{"issued_at", f.IssuedAt, &o.IssuedAt, false},
		{"signed_at", f.SignedAt, &o.SignedAt, false},
		{"expires_at", f.Expires, &o.ExpiresAt, true},
		{"confidentiality.no_notification_until", f.NoNotificationUntil, &o.Confidentiality.NoNotificationUntil, true},
	}
	for _, ft := range flagTimes {
		if ft.value == "" {
			continue
		}
		t, err := fileTime(ft.value, received, ft.flexible)
		if err != nil {
			ps.add(ft.field, "%s", err)
			continue
		}
		*ft.dst = t
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return o, nil
}
