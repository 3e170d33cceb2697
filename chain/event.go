package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// EventVersion is the only custody event encoding version this package writes
// and reads. A later version gets a new number; ParseEvent refuses numbers it
// does not know rather than guessing at their meaning.
const EventVersion = 1

// MaxEventSize bounds one encoded event. It is the C2SP tlog-tiles entry
// limit, so every event that formats also fits in the log.
const MaxEventSize = 64 << 10

// EventType names what happened in a custody event.
type EventType string

// The custody event types of the specification. Types outside this list are
// refused by Validate so that a typo never reaches the permanent log.
const (
	OrderReceived     EventType = "order.received"
	OrderAmended      EventType = "order.amended"
	OrderExtended     EventType = "order.extended"
	OrderHeld         EventType = "order.held"
	CaptureStarted    EventType = "capture.started"
	ItemPreserved     EventType = "item.preserved"
	ItemStored        EventType = "item.stored"
	ItemsSealed       EventType = "items.sealed"
	CaptureCompleted  EventType = "capture.completed"
	CaptureFailed     EventType = "capture.failed"
	FixityVerified    EventType = "fixity.verified"
	FixityFailed      EventType = "fixity.failed"
	ItemAccessed      EventType = "item.accessed"
	DisclosureCreated EventType = "disclosure.created"
	// DisclosureAbandoned records that a start found and removed what a
	// disclosure killed before it was checked and moved into place had
	// written (a partial package: copies of evidence).
	DisclosureAbandoned EventType = "disclosure.abandoned"
	OrderReleased       EventType = "order.released"
	ItemPurged          EventType = "item.purged"
	KeyRotated          EventType = "key.rotated"
	LogOpened           EventType = "log.opened"
	LogRecovered        EventType = "log.recovered"
	CustodyNote         EventType = "custody.note"
	// OrderReviewed records the enforcing authority's review of a
	// production order (confirmed or objected); the deadline events
	// record each production deadline computed (deadline.set), a share of
	// its time passed (deadline.warning), and whether it was met by a
	// disclosure (deadline.met) or passed without one (deadline.missed).
	OrderReviewed   EventType = "order.reviewed"
	DeadlineSet     EventType = "deadline.set"
	DeadlineWarning EventType = "deadline.warning"
	DeadlineMissed  EventType = "deadline.missed"
	DeadlineMet     EventType = "deadline.met"
	// OrderReplied records a reply to the order's authority (a
	// confirmation that the data was preserved, or an Annex III that the
	// provider cannot comply) written, signed and stored: ReplyDetails.
	OrderReplied EventType = "order.replied"
	// RequesterVerified and RequesterFailed record a check of an order's
	// requester (a call back to the authority, its portal, a known
	// channel): the newest one decides whether the order may be
	// disclosed. DisclosureApproved is a second identity's approval of
	// an emergency order's next disclosure. See RequesterDetails.
	RequesterVerified  EventType = "requester.verified"
	RequesterFailed    EventType = "requester.failed"
	DisclosureApproved EventType = "disclosure.approved"
)

var knownTypes = map[EventType]bool{
	OrderReceived: true, OrderAmended: true, OrderExtended: true, OrderHeld: true,
	CaptureStarted: true, ItemPreserved: true, ItemStored: true, ItemsSealed: true, CaptureCompleted: true,
	CaptureFailed: true, FixityVerified: true, FixityFailed: true, ItemAccessed: true,
	DisclosureCreated: true, DisclosureAbandoned: true, OrderReleased: true, ItemPurged: true, KeyRotated: true,
	LogOpened: true, LogRecovered: true, CustodyNote: true,
	OrderReviewed: true, DeadlineSet: true, DeadlineWarning: true, DeadlineMissed: true, DeadlineMet: true,
	OrderReplied: true, RequesterVerified: true, RequesterFailed: true, DisclosureApproved: true,
}

// Digest identifies one preserved item by its content hashes, lower-case hex.
type Digest struct {
	SHA256 string `json:"sha256"`
	SHA512 string `json:"sha512,omitempty"`
}

// Event is one entry of the custody log.
//
// Its JSON encoding is canonical: object keys in lexicographic order, no
// insignificant white space, times in UTC with RFC 3339 nanosecond precision,
// no HTML escaping. FormatEvent produces it and ParseEvent accepts nothing
// else, so the same event always hashes to the same leaf.
type Event struct {
	Version   int       `json:"v"`
	Type      EventType `json:"type"`
	Time      time.Time `json:"time"`
	Order     string    `json:"order,omitempty"`
	Items     []Digest  `json:"items,omitempty"`
	Actor     string    `json:"actor"`
	Agent     string    `json:"agent"`
	Host      string    `json:"host,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Authority string    `json:"authority,omitempty"`
	// Prev is the SHA-256 (hex) of the canonical encoding of the previous
	// event of the same order, and PrevIndex its log index. Both are empty
	// on an order's first event and on events that belong to no order.
	Prev      string            `json:"prev,omitempty"`
	PrevIndex *uint64           `json:"prev_index,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// wireEvent fixes the key order of the encoding: fields sorted by JSON name.
type wireEvent struct {
	Actor     string            `json:"actor"`
	Agent     string            `json:"agent"`
	Authority string            `json:"authority,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
	Host      string            `json:"host,omitempty"`
	Items     []Digest          `json:"items,omitempty"`
	Order     string            `json:"order,omitempty"`
	Prev      string            `json:"prev,omitempty"`
	PrevIndex *uint64           `json:"prev_index,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Time      string            `json:"time"`
	Type      EventType         `json:"type"`
	Version   int               `json:"v"`
}

// ErrNonCanonical reports an event encoding that parses but is not the
// canonical form FormatEvent would produce.
var ErrNonCanonical = errors.New("event is not in canonical form")

// ErrUnknownVersion reports an event whose version this package cannot read.
var ErrUnknownVersion = errors.New("unknown event version")

// isHex reports whether s is n lower-case hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Validate reports the first field of e that cannot be logged.
func (e *Event) Validate() error {
	switch {
	case e.Version != EventVersion:
		return fmt.Errorf("%w %d", ErrUnknownVersion, e.Version)
	case !knownTypes[e.Type]:
		return fmt.Errorf("event type %q is not a custody event type", e.Type)
	case e.Time.IsZero():
		return errors.New("event time is missing")
	case e.Actor == "":
		return errors.New("event actor is missing")
	case e.Agent == "":
		return errors.New("event agent is missing")
	}
	if e.Order != "" {
		if err := ValidateOrderID(e.Order); err != nil {
			return err
		}
	}
	for i, d := range e.Items {
		if !isHex(d.SHA256, 64) {
			return fmt.Errorf("event item %d: sha256 %q is not 64 lower-case hex digits", i, d.SHA256)
		}
		if d.SHA512 != "" && !isHex(d.SHA512, 128) {
			return fmt.Errorf("event item %d: sha512 %q is not 128 lower-case hex digits", i, d.SHA512)
		}
	}
	if (e.Prev == "") != (e.PrevIndex == nil) {
		return errors.New("event prev and prev_index must be set together")
	}
	if e.Prev != "" && !isHex(e.Prev, 64) {
		return fmt.Errorf("event prev %q is not 64 lower-case hex digits", e.Prev)
	}
	valid := utf8.ValidString(e.Actor) && utf8.ValidString(e.Agent) && utf8.ValidString(e.Host) &&
		utf8.ValidString(e.Reason) && utf8.ValidString(e.Authority)
	for k, v := range e.Details {
		valid = valid && utf8.ValidString(k) && utf8.ValidString(v)
	}
	if !valid {
		return errors.New("event holds text that is not valid UTF-8")
	}
	return nil
}

// FormatEvent returns the canonical encoding of e. The time is converted to
// UTC; everything else is encoded as given.
func FormatEvent(e *Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b := appendEvent(make([]byte, 0, 256), e)
	if len(b) > MaxEventSize {
		return nil, fmt.Errorf("event is %d bytes, more than the %d a log entry may hold", len(b), MaxEventSize)
	}
	return b, nil
}

// ParseEvent decodes a canonical event encoding. It refuses unknown
// versions, unknown fields, invalid events and any encoding that differs, by
// even one byte, from what FormatEvent produces for the decoded event.
func ParseEvent(b []byte) (*Event, error) {
	return parseEvent(b, nil)
}

// parseEvent is ParseEvent with a scratch buffer for the round trip, which
// it grows as needed; verification reuses one per worker.
func parseEvent(b []byte, scratch *[]byte) (*Event, error) {
	if len(b) > MaxEventSize {
		return nil, fmt.Errorf("event is %d bytes, more than %d", len(b), MaxEventSize)
	}
	var w wireEvent
	if err := decodeWire(b, &w); err != nil {
		// A later version may have fields this one does not know: say so.
		var probe struct {
			Version *int `json:"v"`
		}
		if json.Unmarshal(b, &probe) == nil && probe.Version != nil && *probe.Version != EventVersion {
			return nil, fmt.Errorf("%w %d", ErrUnknownVersion, *probe.Version)
		}
		return nil, err
	}
	if w.Version == 0 && !bytes.Contains(b, []byte(`"v":`)) {
		return nil, errors.New("event has no version (\"v\")")
	}
	if w.Version != EventVersion {
		return nil, fmt.Errorf("%w %d", ErrUnknownVersion, w.Version)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return nil, fmt.Errorf("event time %q: %w", w.Time, err)
	}
	e := &Event{
		Version: w.Version, Type: w.Type, Time: t, Order: w.Order, Items: w.Items,
		Actor: w.Actor, Agent: w.Agent, Host: w.Host, Reason: w.Reason, Authority: w.Authority,
		Prev: w.Prev, PrevIndex: w.PrevIndex, Details: w.Details,
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var buf []byte
	if scratch != nil {
		buf = (*scratch)[:0]
	}
	again := appendEvent(buf, e)
	if scratch != nil {
		*scratch = again
	}
	if !bytes.Equal(again, b) {
		return nil, ErrNonCanonical
	}
	return e, nil
}

// EventHash is the hash by which the next event of the same order links to
// this one: SHA-256 over the canonical encoding, lower-case hex.
func EventHash(encoded []byte) string {
	h := sha256.Sum256(encoded)
	return hex.EncodeToString(h[:])
}

// ValidateOrderID reports whether id is a ULID in canonical upper-case form:
// 26 characters of Crockford base32, the first at most '7'.
func ValidateOrderID(id string) error {
	ok := len(id) == 26 && id[0] >= '0' && id[0] <= '7'
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U')
	}
	if !ok {
		return fmt.Errorf("order id %q is not a valid id (a 26-character ULID such as 01J9Z3K4M5N6P7Q8R9S0T1V2W3)", strings.ToValidUTF8(id, "?"))
	}
	return nil
}
