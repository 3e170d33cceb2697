package order

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed profiles.yaml
var builtinProfiles []byte

// Days is a period in whole days, written "90d" (a bare number is read as
// days too).
type Days int

// String returns the period as written: "90d".
func (d Days) String() string { return strconv.Itoa(int(d)) + "d" }

// MarshalJSON writes "90d".
func (d Days) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "90d" or 90.
func (d *Days) UnmarshalJSON(b []byte) error {
	var n int
	if json.Unmarshal(b, &n) != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return badValue(fmt.Sprintf("want a number of days such as \"90d\", not %s", b), *d)
		}
		num, ok := strings.CutSuffix(s, "d")
		var err error
		if n, err = strconv.Atoi(num); !ok || err != nil {
			return badValue(fmt.Sprintf("want a number of days such as \"90d\", not %q", s), *d)
		}
	}
	if n < 0 {
		return badValue(fmt.Sprintf("a period of %d days is negative", n), *d)
	}
	*d = Days(n)
	return nil
}

// ExtensionCount is how many extensions a profile allows: a number, or
// Unlimited (written "unlimited").
type ExtensionCount int

// Unlimited allows any number of extensions.
const Unlimited ExtensionCount = -1

// String returns "unlimited" or the number.
func (c ExtensionCount) String() string {
	if c == Unlimited {
		return "unlimited"
	}
	return strconv.Itoa(int(c))
}

// MarshalJSON writes "unlimited" or the number.
func (c ExtensionCount) MarshalJSON() ([]byte, error) {
	if c == Unlimited {
		return []byte(`"unlimited"`), nil
	}
	return []byte(strconv.Itoa(int(c))), nil
}

// UnmarshalJSON reads "unlimited" or a number from 0.
func (c *ExtensionCount) UnmarshalJSON(b []byte) error {
	if string(b) == `"unlimited"` {
		*c = Unlimited
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil || n < 0 {
		return badValue(fmt.Sprintf("want a number of extensions from 0, or \"unlimited\", not %s", b), *c)
	}
	*c = ExtensionCount(n)
	return nil
}

// ExtensionRule is how a profile lets an order outlive its first expiry.
type ExtensionRule struct {
	Count ExtensionCount `json:"count"`
	// Period is the most one extension adds to the current expiry; zero
	// sets no limit (the extension must then name its expiry).
	Period Days `json:"period,omitempty"`
	// While is the condition under which preservation continues with no
	// fixed end (a pending mutual assistance request, a confirmed
	// production order): an order may be held only in a profile that
	// names one, and the hold records it.
	While string `json:"while,omitempty"`
}

// Profile is the rule set of one legal instrument: its default period,
// the limits on an order's expiry, its extensions and reminders.
type Profile struct {
	Name       string `json:"-"` // the key it is defined under
	Title      string `json:"title"`
	Instrument string `json:"instrument"` // the citation: "18 U.S.C. 2703(f)(2)"
	// DefaultPeriod gives the expiry of an order that names none; zero
	// means the order must name it.
	DefaultPeriod Days `json:"default_period,omitempty"`
	// MaxInitialPeriod bounds the expiry an order may name at receipt;
	// zero: no limit.
	MaxInitialPeriod Days `json:"max_initial_period,omitempty"`
	// MinPeriod is the shortest preservation the instrument allows.
	MinPeriod  Days          `json:"min_period,omitempty"`
	Extensions ExtensionRule `json:"extensions"`
	// Reminders are the days before the expiry at which the custodian is
	// reminded.
	Reminders []Days `json:"reminders,omitempty"`
	// TSA names the timestamp authority (a name in log.timestamp.tsa) the
	// instrument calls for, such as a qualified one under eIDAS for an
	// EU order; "" names none. A deployment that has a profile naming an
	// authority it does not configure is refused at start.
	TSA string `json:"tsa,omitempty"`
}

var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// validate reports the first field of the profile that makes no sense.
func (p *Profile) validate() error {
	switch {
	case !profileName.MatchString(p.Name):
		return errors.New("the name must be lower-case letters, digits and hyphens")
	case strings.TrimSpace(p.Title) == "":
		return errors.New("title: missing")
	case strings.TrimSpace(p.Instrument) == "":
		return errors.New("instrument: missing")
	case p.MaxInitialPeriod != 0 && p.DefaultPeriod > p.MaxInitialPeriod:
		return fmt.Errorf("default_period %s is longer than max_initial_period %s", p.DefaultPeriod, p.MaxInitialPeriod)
	case p.DefaultPeriod != 0 && p.DefaultPeriod < p.MinPeriod:
		return fmt.Errorf("default_period %s is shorter than min_period %s", p.DefaultPeriod, p.MinPeriod)
	case p.MaxInitialPeriod != 0 && p.MaxInitialPeriod < p.MinPeriod:
		return fmt.Errorf("max_initial_period %s is shorter than min_period %s", p.MaxInitialPeriod, p.MinPeriod)
	case p.Extensions.Count < Unlimited:
		return fmt.Errorf("extensions.count %d is negative", p.Extensions.Count)
	}
	return nil
}

// Describe is one line for people: the profile's periods and extensions.
func (p *Profile) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): ", p.Name, p.Instrument)
	if p.DefaultPeriod == 0 {
		b.WriteString("explicit expiry")
	} else {
		fmt.Fprintf(&b, "%d days", p.DefaultPeriod)
	}
	if p.MinPeriod != 0 {
		fmt.Fprintf(&b, ", at least %d days", p.MinPeriod)
	}
	if p.MaxInitialPeriod != 0 {
		fmt.Fprintf(&b, ", at most %d days at first", p.MaxInitialPeriod)
	}
	switch c := p.Extensions.Count; {
	case c == 0:
		b.WriteString(", no extension")
	case p.Extensions.Period != 0:
		fmt.Fprintf(&b, ", %s extension(s) of up to %d days", c, p.Extensions.Period)
	default:
		fmt.Fprintf(&b, ", %s extension(s)", c)
	}
	if p.Extensions.While != "" {
		fmt.Fprintf(&b, "; held while %s", p.Extensions.While)
	}
	return b.String()
}

// endOfDay is the last second of t's day in UTC.
func endOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 23, 59, 59, 0, time.UTC)
}

// periodEnd is the end of a period of n days from t: the end (UTC) of the
// n-th day after t's day. The day of t itself is not counted.
func periodEnd(t time.Time, n Days) time.Time {
	return endOfDay(t.UTC().AddDate(0, 0, int(n)))
}

// DefaultExpiry is the expiry of an order received at received that names
// none. A profile without a default period (custom) returns an error:
// the order must name its expiry.
func (p *Profile) DefaultExpiry(received time.Time) (time.Time, error) {
	if p.DefaultPeriod == 0 {
		return time.Time{}, fmt.Errorf("profile %s has no default period: the order must give its expiry", p.Name)
	}
	return periodEnd(received, p.DefaultPeriod), nil
}

// ErrProfileRule matches, through errors.Is, a step the order's profile
// does not allow (an expiry too soon or too late, one extension too many).
var ErrProfileRule = errors.New("not allowed by the order's profile")

type ruleError struct{ msg string }

func (e *ruleError) Error() string        { return e.msg }
func (e *ruleError) Is(target error) bool { return target == ErrProfileRule }

func ruleErrorf(format string, args ...any) error {
	return &ruleError{msg: fmt.Sprintf(format, args...)}
}

// CheckExpiry reports whether an order received at received may expire at
// expires under the profile without any extension: not before receipt, no
// sooner than the minimum period, no later than the maximum initial
// period. The error names the profile and the limit.
func (p *Profile) CheckExpiry(received, expires time.Time) error {
	switch {
	case !expires.After(received):
		return ruleErrorf("%s is not after the order's receipt (%s)", utcStamp(expires), utcStamp(received))
	case p.MinPeriod != 0 && expires.Before(received.Add(time.Duration(p.MinPeriod)*24*time.Hour)):
		return ruleErrorf("%s is sooner than profile %s allows: at least %d days (%s), until %s or later",
			utcStamp(expires), p.Name, p.MinPeriod, p.Instrument, utcStamp(received.Add(time.Duration(p.MinPeriod)*24*time.Hour)))
	case p.MaxInitialPeriod != 0 && expires.After(periodEnd(received, p.MaxInitialPeriod)):
		return ruleErrorf("%s is later than profile %s allows without an extension: at most %d days (%s), until %s",
			utcStamp(expires), p.Name, p.MaxInitialPeriod, p.Instrument, utcStamp(periodEnd(received, p.MaxInitialPeriod)))
	}
	return nil
}

// ExtensionExpiry checks one more extension of an order that expires at
// current and has been extended done times, and returns its new expiry:
// requested, or when that is zero the current expiry plus the profile's
// extension period. It refuses an extension beyond the profile's count or
// period, and one that does not move the expiry later.
func (p *Profile) ExtensionExpiry(current time.Time, done int, requested time.Time) (time.Time, error) {
	rule := p.Extensions
	if rule.Count != Unlimited && done >= int(rule.Count) {
		return time.Time{}, ruleErrorf("profile %s allows %s (%s); the order has %d already",
			p.Name, plural(int(rule.Count), "extension"), p.Instrument, done)
	}
	if requested.IsZero() {
		if rule.Period == 0 {
			return time.Time{}, ruleErrorf("profile %s sets no extension period: give the new expiry", p.Name)
		}
		return periodEnd(current, rule.Period), nil
	}
	if !requested.After(current) {
		return time.Time{}, ruleErrorf("new expiry %s is not after the current expiry %s", utcStamp(requested), utcStamp(current))
	}
	if rule.Period != 0 && requested.After(periodEnd(current, rule.Period)) {
		return time.Time{}, ruleErrorf("new expiry %s is later than profile %s allows: %d days per extension (%s), until %s",
			utcStamp(requested), p.Name, rule.Period, p.Instrument, utcStamp(periodEnd(current, rule.Period)))
	}
	return requested, nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func utcStamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ParseExpiry reads an expiry as an order or an extension gives it:
//
//	2027-02-18                 a date: the end of that day, 23:59:59 UTC
//	2027-02-18T12:00:00+01:00  an RFC 3339 time
//	90d                        a number of days after base, counted as
//	                           profiles count them (the end of the 90th day)
//	2160h                      a Go duration after base
//
// base is the order's receipt, or for an extension the current expiry.
func ParseExpiry(s string, base time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return endOfDay(t), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if num, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || n > 100*366 {
			return time.Time{}, fmt.Errorf("%q is not a number of days from 1", printable(s))
		}
		return periodEnd(base, Days(n)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q is not a date (2027-02-18), an RFC 3339 time or a duration (90d, 2160h)", printable(s))
	}
	return base.UTC().Add(d), nil
}

// Profiles is a set of jurisdiction profiles by name.
type Profiles struct {
	byName map[string]*Profile
}

// LoadProfiles returns the built-in profiles (profiles.yaml) changed and
// extended by overrides, keyed by profile name as the configuration's
// `profiles:` key holds them. An override of a built-in profile changes the
// fields it names and keeps the others (a nested extensions block replaces
// the fields it names); any other name defines a new profile, which must
// give its title and instrument. Unknown fields are refused, named.
func LoadProfiles(overrides map[string]any) (*Profiles, error) {
	tree, err := yamlToTree(builtinProfiles)
	if err != nil {
		return nil, fmt.Errorf("built-in profiles: %w", err)
	}
	ps := &Profiles{byName: map[string]*Profile{}}
	builtin, _ := tree.(map[string]any)
	if err := ps.merge(builtin, "built-in profile"); err != nil {
		return nil, err
	}
	if err := ps.merge(overrides, "configured profile"); err != nil {
		return nil, err
	}
	return ps, nil
}

func (ps *Profiles) merge(defs map[string]any, what string) error {
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := &Profile{Name: name}
		if old, ok := ps.byName[name]; ok {
			cp := *old
			cp.Reminders = append([]Days(nil), old.Reminders...)
			p = &cp
		}
		if err := decodeTree(defs[name], p); err != nil {
			return fmt.Errorf("%s %s: %w", what, name, err)
		}
		if err := p.validate(); err != nil {
			return fmt.Errorf("%s %q: %w", what, name, err)
		}
		ps.byName[name] = p
	}
	return nil
}

// Lookup returns the profile of that name, or an error listing the names.
func (ps *Profiles) Lookup(name string) (*Profile, error) {
	if p, ok := ps.byName[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("unknown profile %q (want one of %s)", printable(name), strings.Join(ps.Names(), ", "))
}

// Names lists the profile names, sorted.
func (ps *Profiles) Names() []string {
	names := make([]string, 0, len(ps.byName))
	for n := range ps.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// maxTreeNodes bounds what one YAML document may expand to, aliases
// included.
const maxTreeNodes = 100000

// yamlToTree parses one YAML (or JSON) document into maps, slices and
// scalars, as encoding/json would decode it. Timestamps stay the strings
// they were written as, so that a date keeps meaning a date; mapping keys
// must be strings and may not repeat.
func yamlToTree(b []byte) (any, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("more than one YAML document")
	}
	budget := maxTreeNodes
	return nodeToTree(&doc, &budget)
}

func nodeToTree(n *yaml.Node, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("more than %d values", maxTreeNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeToTree(n.Content[0], budget)
	case yaml.AliasNode:
		return nodeToTree(n.Alias, budget)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeToTree(c, budget)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				return nil, fmt.Errorf("line %d: a key that is not a string", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: %s given twice", k.Line, k.Value)
			}
			val, err := nodeToTree(v, budget)
			if err != nil {
				return nil, err
			}
			out[k.Value] = val
		}
		return out, nil
	}
	if n.ShortTag() == "!!timestamp" {
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

// FieldError is one problem with one field of an order or a profile.
// Field is the field's JSON path: "selectors[2]", "window.to".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// decodeTree decodes a tree of maps, slices and scalars into dst (a
// pointer to a struct with json tags), refusing unknown fields, and turns
// encoding/json's errors into ones that name the field.
func decodeTree(tree any, dst any) error {
	b, err := json.Marshal(tree)
	if err != nil {
		return fmt.Errorf("not a plain mapping of fields: %w", err)
	}
	return decodeJSONStrict(b, dst)
}

// decodeJSONStrict decodes exactly one JSON value into dst, refusing
// unknown fields; errors name the field.
func decodeJSONStrict(b []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "" && te.Offset == badValueOffset:
			return &FieldError{Field: te.Field, Msg: te.Value}
		case errors.As(err, &te) && te.Field != "":
			return &FieldError{Field: te.Field, Msg: fmt.Sprintf("want %s, not a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)}
		case errors.As(err, &te):
			return fmt.Errorf("want %s, not a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return &FieldError{Field: name, Msg: "unknown field"}
		case errors.As(err, &se):
			return fmt.Errorf("not valid JSON at byte %d: %w", se.Offset, err)
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// badValueOffset marks a json.UnmarshalTypeError made by badValue. The
// decoder fills in the path of the field an unmarshaller fails on only for
// that error type, so the package's unmarshallers return one, carrying
// their own message as its Value.
const badValueOffset = -1

func badValue(msg string, v any) error {
	return &json.UnmarshalTypeError{Value: msg, Type: reflect.TypeOf(v), Offset: badValueOffset}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct", "map":
		return "a mapping"
	case "bool":
		return "true or false"
	}
	return "a number"
}
