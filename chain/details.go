package chain

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The details of an event are a flat map of strings (Event.Details). Those
// that more than one package writes or reads, the agent that logs them and
// the disclosure package's writer and verifier, have a typed form here: a
// struct whose Put adds its keys to a details map and a Read function that
// takes them back from an event. The keys and the text of their values are
// part of the event format: changing one changes every log written since.

// OrderDocumentSource is the source name of the capture that preserves an
// order's own document at receipt (capture.started names it among its
// sources): its item is the order, not data the order names, and serves
// no data category.
const OrderDocumentSource = "order-document"

// OrderStatus is an order's status as its order events name it (the status
// and previous_status details). The agent's lifecycle decides which status
// may follow which; the log and a package's verifier read the names.
type OrderStatus string

// The order statuses.
const (
	StatusReceived   OrderStatus = "received"
	StatusPreserving OrderStatus = "preserving"
	StatusPreserved  OrderStatus = "preserved"
	StatusExtended   OrderStatus = "extended"
	StatusHeld       OrderStatus = "held"
	StatusDisclosed  OrderStatus = "disclosed"
	StatusReleased   OrderStatus = "released"
	StatusPurged     OrderStatus = "purged"
)

// OrderStatuses lists every order status, in the order of an order's life.
func OrderStatuses() []OrderStatus {
	return []OrderStatus{StatusReceived, StatusPreserving, StatusPreserved, StatusExtended,
		StatusHeld, StatusDisclosed, StatusReleased, StatusPurged}
}

// AllowsDisclosure reports whether an order in status s may be disclosed:
// once preserved, extended or held, and again after a disclosure.
func (s OrderStatus) AllowsDisclosure() bool {
	switch s {
	case StatusPreserved, StatusExtended, StatusHeld, StatusDisclosed:
		return true
	}
	return false
}

// OrderDetails are the details every order event (order.received,
// order.amended, order.extended, order.held, order.released) carries: what
// the step made of the order.
type OrderDetails struct {
	Status         OrderStatus // "status": the order's status after the event
	PreviousStatus OrderStatus // "previous_status": before it, when the event changed it; else ""
	OrderSHA256    string      // "order_sha256": SHA-256 (hex) of the order's canonical record after the event
	// ExpiresAt is "expires_at" (RFC 3339, UTC, whole seconds), set by the
	// events that set the expiry (order.received, order.extended, a lifted
	// hold); zero otherwise.
	ExpiresAt time.Time
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d OrderDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["status"] = string(d.Status)
	if d.PreviousStatus != "" {
		m["previous_status"] = string(d.PreviousStatus)
	}
	m["order_sha256"] = d.OrderSHA256
	if !d.ExpiresAt.IsZero() {
		m["expires_at"] = d.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return m
}

// ReadOrderDetails reads the order details of e. An event that names no
// order_sha256 is not an order event: its OrderSHA256 is "". An expires_at
// that is not an RFC 3339 time is an error; the other fields are read all
// the same.
func ReadOrderDetails(e *Event) (OrderDetails, error) {
	d := OrderDetails{
		Status:         OrderStatus(e.Details["status"]),
		PreviousStatus: OrderStatus(e.Details["previous_status"]),
		OrderSHA256:    e.Details["order_sha256"],
	}
	var err error
	d.ExpiresAt, err = detailTime(e, "expires_at")
	return d, err
}

// CaptureDetails name the capture an event belongs to: capture.started,
// capture.completed, capture.failed and the item events of the capture.
type CaptureDetails struct {
	Capture string // "capture": the capture's id
	// CutOff is "cut_off" (RFC 3339 with nanoseconds, UTC) on
	// capture.started: data created after it is not captured. Zero
	// elsewhere.
	CutOff time.Time
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d CaptureDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["capture"] = d.Capture
	if !d.CutOff.IsZero() {
		m["cut_off"] = d.CutOff.UTC().Format(time.RFC3339Nano)
	}
	return m
}

// ReadCaptureDetails reads the capture details of e; Capture is "" for an
// event of no capture. A cut_off that is not an RFC 3339 time is an error;
// Capture is read all the same.
func ReadCaptureDetails(e *Event) (CaptureDetails, error) {
	d := CaptureDetails{Capture: e.Details["capture"]}
	var err error
	d.CutOff, err = detailTime(e, "cut_off")
	return d, err
}

// ItemDetails are the details of item.preserved that describe the item
// (its digests are the event's Items[0]).
type ItemDetails struct {
	Capture    string   // "capture": the capture that preserved it
	Source     string   // "source": the name of the source it came from
	Name       string   // "name": its name in that source
	Size       int64    // "size": its length in bytes, decimal
	Categories []string // "categories": the source's data categories, comma-separated; absent when none
	MediaType  string   // "media_type": absent when unknown
	Key        string   // "key": where the store holds its content
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d ItemDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["capture"], m["source"], m["name"] = d.Capture, d.Source, d.Name
	m["size"] = strconv.FormatInt(d.Size, 10)
	m["key"] = d.Key
	if len(d.Categories) > 0 {
		m["categories"] = strings.Join(d.Categories, ",")
	}
	if d.MediaType != "" {
		m["media_type"] = d.MediaType
	}
	return m
}

// ReadItemDetails reads the item details of an item.preserved event. A
// size that is not a decimal byte count is an error.
func ReadItemDetails(e *Event) (ItemDetails, error) {
	d := ItemDetails{
		Capture: e.Details["capture"], Source: e.Details["source"], Name: e.Details["name"],
		MediaType: e.Details["media_type"], Key: e.Details["key"],
	}
	if c := e.Details["categories"]; c != "" {
		d.Categories = strings.Split(c, ",")
	}
	size, err := strconv.ParseInt(e.Details["size"], 10, 64)
	if err != nil || size < 0 {
		return d, fmt.Errorf("%s event: size %q is not a byte count", e.Type, e.Details["size"])
	}
	d.Size = size
	return d, nil
}

// DisclosureDetails are the details of disclosure.created: what left, to
// whom, and which package it was.
type DisclosureDetails struct {
	Recipient      string // "recipient": the recipients' keys as given, or "none"
	PackageSHA256  string // "package_sha256": of the .zip, .tar or .age file, or of a directory's tagmanifest-sha256.txt
	Package        string // "package": the package's file or directory name
	Format         string // "format": dir, zip or tar
	Encrypted      bool   // "encrypted": with age, to the recipients
	Items          int    // "items": how many items it discloses
	Partial        bool   // "partial": the order holds items it leaves out
	CheckpointSize uint64 // "checkpoint_size": the checkpoint its proofs are against
	Events         int    // "events": how many custody events it carries
	// ItemsRoot ("items_root", hex) is the RFC 6962 Merkle root over the
	// disclosed items' SHA-256 digests (each leaf the 32 bytes of one),
	// in ascending order: it names exactly what was disclosed, in one
	// value however many items, and no partial package that carries this
	// event learns from it what it does not disclose. Empty on events
	// written before it (they list the items' digests instead).
	ItemsRoot string
	// Clearance says what allowed the disclosure: the requester check and
	// an emergency order's approval (see Clearance).
	Clearance Clearance
}

// DisclosedItemsRoot is the ItemsRoot of a disclosure of the items whose
// SHA-256 digests (hex) are sums, in any order.
func DisclosedItemsRoot(sums []string) (string, error) {
	sorted := slices.Clone(sums)
	slices.Sort(sorted)
	leaves := make([][]byte, len(sorted))
	for i, s := range sorted {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return "", fmt.Errorf("disclosed item %q is not a SHA-256 digest", s)
		}
		leaves[i] = b
	}
	return hex.EncodeToString(NewRecordTree(leaves).Root()), nil
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d DisclosureDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["recipient"], m["package_sha256"], m["package"], m["format"] = d.Recipient, d.PackageSHA256, d.Package, d.Format
	m["encrypted"], m["partial"] = strconv.FormatBool(d.Encrypted), strconv.FormatBool(d.Partial)
	m["items"], m["events"] = strconv.Itoa(d.Items), strconv.Itoa(d.Events)
	m["checkpoint_size"] = strconv.FormatUint(d.CheckpointSize, 10)
	if d.ItemsRoot != "" {
		m["items_root"] = d.ItemsRoot
	}
	d.Clearance.put(m)
	return m
}

// ReadDisclosureDetails reads the details of a disclosure.created event.
// A flag, count or size that does not parse is an error.
func ReadDisclosureDetails(e *Event) (DisclosureDetails, error) {
	d := DisclosureDetails{
		Recipient: e.Details["recipient"], PackageSHA256: e.Details["package_sha256"],
		Package: e.Details["package"], Format: e.Details["format"], ItemsRoot: e.Details["items_root"],
	}
	var errs []string
	parse := func(key string, f func(string) error) {
		if err := f(e.Details[key]); err != nil {
			errs = append(errs, fmt.Sprintf("%s %q", key, e.Details[key]))
		}
	}
	parse("encrypted", func(s string) (err error) { d.Encrypted, err = strconv.ParseBool(s); return })
	parse("partial", func(s string) (err error) { d.Partial, err = strconv.ParseBool(s); return })
	parse("items", func(s string) (err error) { d.Items, err = strconv.Atoi(s); return })
	parse("events", func(s string) (err error) { d.Events, err = strconv.Atoi(s); return })
	parse("checkpoint_size", func(s string) (err error) { d.CheckpointSize, err = strconv.ParseUint(s, 10, 64); return })
	d.Clearance = readClearance(e, &errs)
	if len(errs) > 0 {
		return d, fmt.Errorf("%s event: %s do not parse", e.Type, strings.Join(errs, ", "))
	}
	return d, nil
}

// detailTime reads an RFC 3339 time detail; an absent one is the zero time.
func detailTime(e *Event, key string) (time.Time, error) {
	s, ok := e.Details[key]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s event: %s %q is not an RFC 3339 time", e.Type, key, s)
	}
	return t, nil
}

// IsDocumentCapture reports whether a capture.started's sources detail
// (each source "name (kind)", comma-separated) names the order's own
// document alone (OrderDocumentSource): its items are the order, not
// the data it names.
func IsDocumentCapture(sources string) bool {
	name, _, _ := strings.Cut(sources, " (")
	return name == OrderDocumentSource && !strings.Contains(sources, ", ")
}

// ReplyKind is the kind of reply an order.replied event records.
type ReplyKind string

// The replies to an order's authority.
const (
	// ReplyPreserved confirms that the data was preserved: the order,
	// when its first items were sealed, and the sealed batches' roots.
	ReplyPreserved ReplyKind = "preserved"
	// ReplyCannotComply is EU Form 3 (Annex III of Regulation (EU)
	// 2023/1543): the provider cannot comply, on a ground it names.
	ReplyCannotComply ReplyKind = "cannot-comply"
)

// ReplyDetails are the details of order.replied: which reply of the
// order it is, what kind, and the SHA-256 of each of its three files,
// so the reply is evidence. The files live under ReplyKey.
type ReplyDetails struct {
	Kind   ReplyKind // "kind"
	Number int       // "reply": 1 for the order's first reply, then 2, ...
	// Ground is "ground", the Annex III ground of a cannot-comply reply
	// (a token docs/orders.md lists); "" for a confirmation.
	Ground         string
	XMLSHA256      string // "xml_sha256": the reply in XML
	HTMLSHA256     string // "html_sha256": its readable page
	EnvelopeSHA256 string // "envelope_sha256": the DSSE envelope signing both
}

// ReplyKey is where a file of a reply of order lives in the store: the
// reply's three files are named by the SHA-256 (hex) of its XML, with
// ext "xml", "html" or "dsse.json" (orders/<order>/replies/<xml-sha256>.xml,
// SPEC section 5), written once, never replaced. The key does not carry
// the reply's number: its order.replied event does, with xmlSHA256, so
// every key is found from the log.
func ReplyKey(order, xmlSHA256, ext string) string {
	return "orders/" + order + "/replies/" + xmlSHA256 + "." + ext
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d ReplyDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["kind"], m["reply"] = string(d.Kind), strconv.Itoa(d.Number)
	if d.Ground != "" {
		m["ground"] = d.Ground
	}
	m["xml_sha256"], m["html_sha256"], m["envelope_sha256"] = d.XMLSHA256, d.HTMLSHA256, d.EnvelopeSHA256
	return m
}

// ReadReplyDetails reads the details of an order.replied event. An
// unknown kind, a number that is not positive or a digest that is not
// SHA-256 hex is an error.
func ReadReplyDetails(e *Event) (ReplyDetails, error) {
	d := ReplyDetails{
		Kind: ReplyKind(e.Details["kind"]), Ground: e.Details["ground"],
		XMLSHA256: e.Details["xml_sha256"], HTMLSHA256: e.Details["html_sha256"], EnvelopeSHA256: e.Details["envelope_sha256"],
	}
	n, err := strconv.Atoi(e.Details["reply"])
	switch {
	case d.Kind != ReplyPreserved && d.Kind != ReplyCannotComply:
		return d, fmt.Errorf("%s event: kind %q is no reply kind", e.Type, d.Kind)
	case err != nil || n < 1:
		return d, fmt.Errorf("%s event: reply %q is not a reply number", e.Type, e.Details["reply"])
	case !isHex(d.XMLSHA256, 64) || !isHex(d.HTMLSHA256, 64) || !isHex(d.EnvelopeSHA256, 64):
		return d, fmt.Errorf("%s event: a reply file's digest is not 64 lower-case hex digits", e.Type)
	}
	d.Number = n
	return d, nil
}
