package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/custos-evidence/custos/chain"
)

// Version is the version of the order record format (order.json).
const Version = 1

// MaxSize bounds an order file or record.
const MaxSize = 1 << 20

// Limits on an order's fields, in bytes or entries.
const (
	maxShortText = 512  // reference, authority
	maxLongText  = 8192 // legal basis, offence summary, extension and hold bases
	maxSelectors = 1000 // selectors of one order
	maxActor     = 256  // the actor recorded in extensions and holds
	maxFileName  = 1024 // the order document's name
	maxMediaType = 255  // the order document's media type
	maxFutureAt  = 5 * time.Minute
)

// Category is a kind of data an order names.
type Category string

// The data categories, in their canonical order.
const (
	CategorySubscriber Category = "subscriber"
	CategoryTraffic    Category = "traffic"
	CategoryContent    Category = "content"
)

func categories() []Category {
	return []Category{CategorySubscriber, CategoryTraffic, CategoryContent}
}

// Window is the time span of the data an order names; a zero end is open.
type Window struct {
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

// Confidentiality is what the order says about secrecy: Confidential
// orders are not revealed beyond the custodians, and the customer is not
// told of the order before NoNotificationUntil.
type Confidentiality struct {
	Confidential        bool      `json:"confidential"`
	NoNotificationUntil time.Time `json:"no_notification_until,omitzero"`
	// Assigned are who may see a confidential order through the API:
	// identity names, or role:ROLE for every identity of a role.
	Assigned []string `json:"assigned,omitempty"`
}

// Visible reports whether an identity of this name and role may see o
// through the API: every order that is not confidential, and a
// confidential one only when it is assigned to the name or the role.
func (o *Order) Visible(name, role string) bool {
	if !o.Confidentiality.Confidential {
		return true
	}
	return slices.Contains(o.Confidentiality.Assigned, name) || slices.Contains(o.Confidentiality.Assigned, "role:"+role)
}

// Extension is one extension of an order's expiry.
type Extension struct {
	At                time.Time `json:"at"`
	PreviousExpiresAt time.Time `json:"previous_expires_at"`
	ExpiresAt         time.Time `json:"expires_at"`
	LegalBasis        string    `json:"legal_basis"`
	Actor             string    `json:"actor"`
}

// Hold is an order kept with no fixed end while its profile's condition
// holds (a pending production or mutual assistance request).
type Hold struct {
	At    time.Time `json:"at"`
	Basis string    `json:"basis"` // what shows the condition holds
	While string    `json:"while"` // the profile's condition
	Actor string    `json:"actor"`
	// PreviousStatus is the status the order returns to when the hold is
	// lifted.
	PreviousStatus Status `json:"previous_status"`
}

// DocumentRef names the order document (the PDF, email or scan that
// carried the order), stored as an item of the order.
type DocumentRef struct {
	SHA256    string `json:"sha256"`
	Name      string `json:"name,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

// Order is a preservation order as recorded: what data, whose, under which
// authority and until when. Its JSON form (Format, Parse) is the
// record stored as orders/<id>/order.json; an order file given to
// `custos order add --file` has the same fields (ParseFile) less
// those the agent sets: v, id, status, extensions, hold, document.
//
//	v                  record version, 1
//	id                 ULID, assigned at receipt
//	reference          the authority's own reference for the order
//	authority          the issuing authority
//	requesting_state   ISO 3166-1 alpha-2 code of the state that asks ("DE")
//	profile            the jurisdiction profile: its periods and extensions
//	legal_basis        the legal basis, as the order states it
//	offence_summary    the offence and facts, as the order states them
//	received_at        when the provider received the order (RFC 3339): the
//	                   agent's clock when the order arrived, never the sender's
//	issued_at          when the authority issued the order, as it says
//	signed_at          when the authority signed it, as it says
//	selectors          [{type, value}]: whose data (see Selector)
//	categories         subscriber, traffic, content
//	window             {from, to}: the time span of the data; either end may be open
//	expires_at         when preservation ends unless extended or held
//	extensions         [{at, previous_expires_at, expires_at, legal_basis, actor}]
//	hold               {at, basis, while, actor, previous_status} while held
//	confidentiality    {confidential, no_notification_until}
//	legacy_digests     MD5 and SHA-1 wanted beside SHA-256 and SHA-512
//	emergency          an emergency order: its disclosure needs a second identity's approval
//	status             see Status
//	document           {sha256, name, media_type, size}: the order document item
//	production         a production order: {emergency, authority_notified,
//	                   review: {outcome, at, basis, actor}} (see Production)
//	form               the EU certificate the order came as: {type, namespace,
//	                   certificate_id, sha256, production, emergency, data,
//	                   fields, applied} (see Form and docs/orders.md)
//
// Times are UTC in a record; an order file may give expires_at and
// no_notification_until as a date or a duration (see ParseExpiry). The
// deadlines run from received_at; issued_at and signed_at are the
// authority's own dates, recorded as it gives them (records written before
// they existed have neither).
type Order struct {
	Version         int             `json:"v,omitempty"`
	ID              string          `json:"id,omitempty"`
	Reference       string          `json:"reference"`
	Authority       string          `json:"authority"`
	RequestingState string          `json:"requesting_state"`
	Profile         string          `json:"profile"`
	LegalBasis      string          `json:"legal_basis"`
	OffenceSummary  string          `json:"offence_summary,omitempty"`
	ReceivedAt      time.Time       `json:"received_at,omitzero"`
	IssuedAt        time.Time       `json:"issued_at,omitzero"`
	SignedAt        time.Time       `json:"signed_at,omitzero"`
	Selectors       []Selector      `json:"selectors"`
	Categories      []Category      `json:"categories"`
	Window          Window          `json:"window,omitzero"`
	ExpiresAt       time.Time       `json:"expires_at,omitzero"`
	Extensions      []Extension     `json:"extensions,omitempty"`
	CurrentHold     *Hold           `json:"hold,omitempty"`
	Confidentiality Confidentiality `json:"confidentiality"`
	LegacyDigests   bool            `json:"legacy_digests,omitempty"`
	// Emergency marks an order given as an emergency (an imminent threat
	// to life or safety) by flags or an order file; an EU form says so in
	// its Section B (Form.Emergency). See IsEmergency.
	Emergency bool         `json:"emergency,omitempty"`
	Status    Status       `json:"status,omitempty"`
	Document  *DocumentRef `json:"document,omitempty"`
	// Production makes the order a production order, with a deadline to
	// produce the data by (ProductionDue); nil for a preservation order.
	Production *Production `json:"production,omitempty"`
	// Form is the EU certificate the order was received as (ParseForm);
	// nil for an order received by flags or an order file.
	Form *Form `json:"form,omitempty"`
}

// ValidationError lists every problem found in an order.
type ValidationError struct {
	Problems []*FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid order: " + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid order: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// problems collects field errors.
type problems []*FieldError

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// addErr adds err, keeping the field a FieldError names below field.
func (ps *problems) addErr(field string, err error) {
	var fe *FieldError
	if errors.As(err, &fe) {
		if field != "" {
			fe = &FieldError{Field: field + "." + fe.Field, Msg: fe.Msg}
		}
		*ps = append(*ps, fe)
		return
	}
	*ps = append(*ps, &FieldError{Field: field, Msg: err.Error()})
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// clone returns a deep copy of o.
func (o *Order) clone() *Order {
	c := *o
	c.Selectors = append([]Selector(nil), o.Selectors...)
	c.Categories = append([]Category(nil), o.Categories...)
	c.Extensions = append([]Extension(nil), o.Extensions...)
	c.Confidentiality.Assigned = slices.Clone(o.Confidentiality.Assigned)
	if o.CurrentHold != nil {
		h := *o.CurrentHold
		c.CurrentHold = &h
	}
	if o.Document != nil {
		d := *o.Document
		c.Document = &d
	}
	c.Form = o.Form.clone()
	c.Production = o.Production.clone()
	return &c
}

// checkText adds a problem when a text field is missing (if required),
// too long or holds control characters (newlines and tabs allowed where
// multiline).
func (ps *problems) checkText(field, v string, required bool, limit int, multiline bool) {
	switch {
	case strings.TrimSpace(v) == "":
		if required {
			ps.add(field, "missing")
		}
	case len(v) > limit:
		ps.add(field, "%d bytes, more than %d", len(v), limit)
	case !utf8.ValidString(v):
		ps.add(field, "not valid UTF-8")
	case strings.ContainsFunc(v, func(r rune) bool {
		layout := r == '\n' || r == '\t' || r == '\r'
		return unicode.IsControl(r) && (!multiline || !layout)
	}):
		ps.add(field, "holds control characters")
	}
}

// Validate reports every problem of a complete order record, each naming
// its field. It does not check the profile's rules (the profile may have
// changed since the order was received); NewOrder and Extend do.
func (o *Order) Validate() error {
	var ps problems
	o.validateFields(&ps)
	o.validateState(&ps)
	return ps.err()
}

// validateFields checks what an order file gives.
func (o *Order) validateFields(ps *problems) {
	ps.checkText("reference", o.Reference, true, maxShortText, false)
	ps.checkText("authority", o.Authority, true, maxShortText, false)
	if o.RequestingState == "" {
		ps.add("requesting_state", "missing (an ISO 3166-1 alpha-2 code such as DE)")
	} else if !isCountry(o.RequestingState) {
		ps.add("requesting_state", "%q is not an ISO 3166-1 alpha-2 country code (such as DE, US, BR)", printable(o.RequestingState))
	}
	if o.Profile == "" {
		ps.add("profile", "missing")
	} else if !profileName.MatchString(o.Profile) {
		ps.add("profile", "%q is not a profile name", printable(o.Profile))
	}
	ps.checkText("legal_basis", o.LegalBasis, true, maxLongText, true)
	ps.checkText("offence_summary", o.OffenceSummary, false, maxLongText, true)
	o.validateSelectors(ps)
	o.validateCategories(ps)
	if !o.Window.From.IsZero() && !o.Window.To.IsZero() && o.Window.To.Before(o.Window.From) {
		ps.add("window.to", "%s is before window.from %s", utcStamp(o.Window.To), utcStamp(o.Window.From))
	}
	if n := o.Confidentiality.NoNotificationUntil; !n.IsZero() && !o.ReceivedAt.IsZero() && n.Before(o.ReceivedAt) {
		ps.add("confidentiality.no_notification_until", "%s is before the order's receipt (%s)", utcStamp(n), utcStamp(o.ReceivedAt))
	}
	for i, a := range o.Confidentiality.Assigned {
		ps.checkText(fmt.Sprintf("confidentiality.assigned[%d]", i), a, true, maxShortText, false)
	}
	if d := o.Document; d != nil {
		if !isLowerHex(d.SHA256, 64) {
			ps.add("document.sha256", "%q is not 64 lower-case hex digits", printable(d.SHA256))
		}
		ps.checkText("document.name", d.Name, false, maxFileName, false)
		ps.checkText("document.media_type", d.MediaType, false, maxMediaType, false)
		if d.Size < 0 {
			ps.add("document.size", "negative")
		}
	}
	if o.Form != nil {
		o.Form.validate(ps)
	}
	o.validateProduction(ps)
}

func (o *Order) validateSelectors(ps *problems) {
	switch {
	case len(o.Selectors) == 0:
		ps.add("selectors", "missing: name at least one (TYPE:VALUE, TYPE one of %s)", typeList())
		return
	case len(o.Selectors) > maxSelectors:
		ps.add("selectors", "%d selectors, more than %d", len(o.Selectors), maxSelectors)
		return
	}
	seen := map[Selector]int{}
	for i, s := range o.Selectors {
		field := fmt.Sprintf("selectors[%d]", i)
		n, err := s.Normalize()
		switch {
		case err != nil:
			ps.add(field, "%s", err)
		case n != s:
			ps.add(field, "%s is not in normal form (%s)", s, n)
		default:
			if j, dup := seen[n]; dup {
				ps.add(field, "%s repeats selectors[%d]", n, j)
			}
			seen[n] = i
		}
	}
}

func (o *Order) validateCategories(ps *problems) {
	if len(o.Categories) == 0 {
		ps.add("categories", "missing: name at least one of subscriber, traffic, content")
		return
	}
	seen := map[Category]bool{}
	for i, c := range o.Categories {
		field := fmt.Sprintf("categories[%d]", i)
		if c != CategorySubscriber && c != CategoryTraffic && c != CategoryContent {
			ps.add(field, "unknown category %q (want subscriber, traffic or content)", printable(string(c)))
		} else if seen[c] {
			ps.add(field, "%s given twice", c)
		}
		seen[c] = true
	}
}

// validateState checks what the agent sets: id, times, status, extensions
// and hold.
func (o *Order) validateState(ps *problems) {
	if o.Version != 0 && o.Version != Version {
		ps.add("v", "unknown order record version %d", o.Version)
	}
	if err := chain.ValidateOrderID(o.ID); err != nil {
		ps.add("id", "%s", err)
	}
	if o.ReceivedAt.IsZero() {
		ps.add("received_at", "missing")
	}
	if o.ExpiresAt.IsZero() {
		ps.add("expires_at", "missing")
	} else if !o.ReceivedAt.IsZero() && !o.ExpiresAt.After(o.ReceivedAt) {
		ps.add("expires_at", "%s is not after received_at %s", utcStamp(o.ExpiresAt), utcStamp(o.ReceivedAt))
	}
	if !o.Status.known() {
		ps.add("status", "unknown status %q (want one of %s)", printable(string(o.Status)), statusList())
	}
	prev := time.Time{}
	for i, e := range o.Extensions {
		field := fmt.Sprintf("extensions[%d]", i)
		switch {
		case e.At.IsZero() || e.ExpiresAt.IsZero() || e.PreviousExpiresAt.IsZero():
			ps.add(field, "at, previous_expires_at and expires_at are required")
		case !e.ExpiresAt.After(e.PreviousExpiresAt):
			ps.add(field+".expires_at", "%s is not after previous_expires_at %s", utcStamp(e.ExpiresAt), utcStamp(e.PreviousExpiresAt))
		case !prev.IsZero() && !e.PreviousExpiresAt.Equal(prev):
			ps.add(field+".previous_expires_at", "%s is not the expiry the extension before set (%s)", utcStamp(e.PreviousExpiresAt), utcStamp(prev))
		}
		ps.checkText(field+".legal_basis", e.LegalBasis, true, maxLongText, true)
		ps.checkText(field+".actor", e.Actor, true, maxActor, false)
		prev = e.ExpiresAt
	}
	if len(o.Extensions) > 0 && !prev.Equal(o.ExpiresAt) {
		ps.add("expires_at", "%s is not the expiry the last extension set (%s)", utcStamp(o.ExpiresAt), utcStamp(prev))
	}
	switch h := o.CurrentHold; {
	case (h != nil) != (o.Status == StatusHeld):
		ps.add("hold", "present exactly when the status is held (status %s)", o.Status)
	case h != nil:
		ps.checkText("hold.basis", h.Basis, true, maxLongText, true)
		ps.checkText("hold.while", h.While, true, maxLongText, true)
		ps.checkText("hold.actor", h.Actor, true, maxActor, false)
		if h.At.IsZero() {
			ps.add("hold.at", "missing")
		}
		if !h.PreviousStatus.known() || !StatusHeld.canBecome(h.PreviousStatus) {
			ps.add("hold.previous_status", "%q is no status a hold can return to", printable(string(h.PreviousStatus)))
		}
	}
}

func isLowerHex(s string, n int) bool {
	return len(s) == n && !strings.ContainsFunc(s, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f')
	})
}

// ArrivedAt is when the agent received o by its own clock: received_at,
// or the time in o's id (a ULID of the agent's clock when it recorded the
// order) when that is later. Records written before received_at was the
// agent's own may name an earlier receipt than the one that happened.
func (o *Order) ArrivedAt() time.Time {
	at := o.ReceivedAt
	if id, err := ulid.ParseStrict(o.ID); err == nil {
		if t := ulid.Time(id.Time()); t.After(at) {
			at = t
		}
	}
	return at
}

// receivedAtGiven is the problem of an order that names its own receipt.
const receivedAtGiven = "set by the agent's clock when the order arrives, not by its sender: " +
	"give the authority's own dates as issued_at and signed_at"

// NewOrder makes the order recorded at receipt from a draft (from an order
// file, the API or the command line): it assigns the id (a ULID of now,
// random bits from entropy), sets received_at to now (the agent's clock:
// a draft that gives one is refused, for a sender could otherwise backdate
// an order into expiry), puts the selectors and categories in normal form,
// resolves the expiry (the profile's default when the draft gives none)
// and checks it against the profile. An expiry already past is refused:
// no order is received expired. The status is received. Every problem is
// reported, each naming its field; the draft is not changed.
func NewOrder(draft *Order, ps *Profiles, now time.Time, entropy io.Reader) (*Order, error) {
	o := draft.clone()
	var errs problems
	if o.ID != "" {
		errs.add("id", "assigned by the agent: leave it out")
	}
	if o.Status != "" && o.Status != StatusReceived {
		errs.add("status", "a new order is received; its status changes only through its lifecycle")
	}
	if len(o.Extensions) > 0 || o.CurrentHold != nil {
		errs.add("extensions", "a new order has no extensions or hold; extend or hold it once recorded")
	}
	if o.Document != nil {
		errs.add("document", "set when the order document is stored as an item")
	}
	if o.Production != nil && o.Production.Review != nil {
		errs.add("production.review", "set when the enforcing authority's review is recorded (order review)")
		o.Production.Review = nil
	}
	o.Version, o.Status, o.Extensions, o.CurrentHold, o.Document = Version, StatusReceived, nil, nil, nil
	if !o.ReceivedAt.IsZero() {
		errs.add("received_at", "%s", receivedAtGiven)
	}
	o.ReceivedAt = now
	o.normalize()
	for _, t := range []struct {
		field string
		at    time.Time
	}{{"issued_at", o.IssuedAt}, {"signed_at", o.SignedAt}} {
		if t.at.After(now.Add(maxFutureAt)) {
			errs.add(t.field, "%s is in the future (now is %s)", utcStamp(t.at), utcStamp(now))
		}
	}
	o.validateFields(&errs)
	if profileName.MatchString(o.Profile) { // else validateFields named it
		o.resolveExpiry(ps, &errs)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	id, err := ulid.New(ulid.Timestamp(now), entropy)
	if err != nil {
		return nil, fmt.Errorf("new order id: %w", err)
	}
	o.ID = id.String()
	o.validateState(&errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return o, nil
}

// resolveExpiry sets the profile's default expiry when the order names
// none, and checks the one it names against the profile.
func (o *Order) resolveExpiry(ps *Profiles, errs *problems) {
	p, err := ps.Lookup(o.Profile)
	switch {
	case err != nil:
		errs.add("profile", "%s", err)
	case o.ExpiresAt.IsZero():
		if o.ExpiresAt, err = p.DefaultExpiry(o.ReceivedAt); err != nil {
			errs.add("expires_at", "%s", err)
		}
	case !o.ExpiresAt.After(o.ReceivedAt):
		errs.add("expires_at", "%s is already past (the order is received now, %s): no order is received expired",
			utcStamp(o.ExpiresAt), utcStamp(o.ReceivedAt))
	default:
		if err := p.CheckExpiry(o.ReceivedAt, o.ExpiresAt); err != nil {
			errs.add("expires_at", "%s", err)
		}
	}
}

// normalize trims the short texts, upper-cases the requesting state, puts
// times in UTC, selectors in normal form (those that fail
// are left for validation to name) and categories in canonical order.
func (o *Order) normalize() {
	o.Reference, o.Authority = strings.TrimSpace(o.Reference), strings.TrimSpace(o.Authority)
	o.Profile = strings.TrimSpace(o.Profile)
	o.RequestingState = strings.ToUpper(strings.TrimSpace(o.RequestingState))
	for _, t := range []*time.Time{&o.ReceivedAt, &o.IssuedAt, &o.SignedAt, &o.ExpiresAt, &o.Window.From, &o.Window.To, &o.Confidentiality.NoNotificationUntil} {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	for i, s := range o.Selectors {
		if n, err := s.Normalize(); err == nil {
			o.Selectors[i] = n
		}
	}
	var known []Category
	var rest []Category
	for _, c := range o.Categories {
		c = Category(strings.ToLower(strings.TrimSpace(string(c))))
		if c == CategorySubscriber || c == CategoryTraffic || c == CategoryContent {
			known = append(known, c)
		} else {
			rest = append(rest, c)
		}
	}
	o.Categories = o.Categories[:0]
	for _, want := range categories() {
		for _, c := range known {
			if c == want {
				o.Categories = append(o.Categories, c)
			}
		}
	}
	o.Categories = append(o.Categories, rest...)
}

// isCountry reports whether code is an officially assigned ISO 3166-1
// alpha-2 code.
func isCountry(code string) bool {
	return len(code) == 2 && code[0] >= 'A' && code[0] <= 'Z' && code[1] >= 'A' && code[1] <= 'Z' &&
		strings.Contains(iso3166Alpha2, code)
}

// iso3166Alpha2 holds the 249 officially assigned ISO 3166-1 alpha-2 codes,
// sorted, separated by spaces (from Debian's iso-codes 4.15.0). Two letters
// can only match a whole code: between any two codes stands a space.
const iso3166Alpha2 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW "

// Format returns the canonical record of o, as stored in
// orders/<id>/order.json: the fields above with keys sorted, no white
// space, no HTML escaping, times in UTC, version 1. The same order always
// gives the same bytes.
func Format(o *Order) ([]byte, error) {
	c := o.clone()
	c.Version = Version
	for _, t := range []*time.Time{&c.ReceivedAt, &c.IssuedAt, &c.SignedAt, &c.ExpiresAt, &c.Window.From, &c.Window.To, &c.Confidentiality.NoNotificationUntil} {
		*t = t.UTC()
	}
	for i := range c.Extensions {
		e := &c.Extensions[i]
		e.At, e.PreviousExpiresAt, e.ExpiresAt = e.At.UTC(), e.PreviousExpiresAt.UTC(), e.ExpiresAt.UTC()
	}
	if c.CurrentHold != nil {
		c.CurrentHold.At = c.CurrentHold.At.UTC()
	}
	if c.Form != nil {
		c.Form.utc()
	}
	if c.Production != nil && c.Production.Review != nil {
		c.Production.Review.At = c.Production.Review.At.UTC()
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("order %s: %w", printable(o.ID), err)
	}
	return canonicalJSON(c)
}

// canonicalJSON encodes v with object keys sorted and no white space.
func canonicalJSON(v any) ([]byte, error) {
	raw, err := marshalJSON(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	out, err := marshalJSON(tree) // maps encode with sorted keys
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out, []byte("\n")), nil
}

// marshalJSON encodes v as JSON without HTML escaping, with a final newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Parse reads a record Format wrote. It refuses unknown fields,
// another version, an invalid order and any encoding that is not exactly
// the canonical one.
func Parse(b []byte) (*Order, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("order record is %d bytes, more than %d", len(b), MaxSize)
	}
	var o Order
	if err := decodeJSONStrict(b, &o); err != nil {
		return nil, fmt.Errorf("order record: %w", err)
	}
	if o.Version != Version {
		return nil, fmt.Errorf("order record: version %d, want %d", o.Version, Version)
	}
	again, err := Format(&o)
	if err != nil {
		return nil, fmt.Errorf("order record: %w", err)
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("order record %s is not in canonical form", o.ID)
	}
	return &o, nil
}

// IsEmergency reports whether o is an emergency order, given as one by
// flags or an order file, by its EU form's Section B, or as an emergency
// production order: its disclosure needs a second identity's approval.
func (o *Order) IsEmergency() bool {
	return o.Emergency || (o.Form != nil && o.Form.Emergency) || (o.Production != nil && o.Production.Emergency)
}
