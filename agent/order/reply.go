package order

import (
	"bytes"
	_ "embed"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// Replies to an order's authority (docs/orders.md, "Replies"): the
// confirmation that the data was preserved, in Custos's own namespace,
// and EU Form 3 (Annex III of Regulation (EU) 2023/1543), the
// addressee's reply when it cannot comply, in that form's namespace.
// Both are written from the order and what the custody log says of it;
// ParseReply reads either back with the forms' own XML reader.

// ReplyNamespace is Annex III's own namespace; ConfirmationNamespace is
// the namespace of the preservation confirmation, which no Annex fixes.
const (
	ReplyNamespace        = formNamespacePrefix + "EPOC-FORM-3#"
	ConfirmationNamespace = "https://custos-evidence.org/ns/preservation-confirmation/v1"
)

// The root elements of the replies.
const (
	replyRoot        = "EPOC-Reply"
	confirmationRoot = "PreservationConfirmation"
)

// Ground is an Annex III ground on which the addressee cannot comply,
// as a stable token.
type Ground string

// The Annex III grounds.
const (
	// GroundNonExecution: the order is not executed for a reason the
	// others do not name (the data was not stored when the order was
	// received, immunities or privileges): the explanation says which.
	GroundNonExecution Ground = "non-execution"
	// GroundImpossibility: de facto impossibility, for circumstances
	// not attributable to the addressee.
	GroundImpossibility Ground = "de-facto-impossibility"
	// GroundIncomplete: the order is incomplete, or contains manifest
	// errors, so it cannot be executed as it stands.
	GroundIncomplete Ground = "incomplete-or-erroneous"
	// GroundConflict: compliance would conflict with obligations under
	// the law of a third country (art. 17).
	GroundConflict Ground = "conflicting-obligations"
)

// Grounds lists the Annex III grounds in the form's order.
func Grounds() []Ground {
	return []Ground{GroundNonExecution, GroundImpossibility, GroundIncomplete, GroundConflict}
}

// Text is the ground in the form's words.
func (g Ground) Text() string {
	switch g {
	case GroundNonExecution:
		return "The order cannot be executed (non-execution) for the reasons explained"
	case GroundImpossibility:
		return "De facto impossibility due to circumstances not attributable to the addressee"
	case GroundIncomplete:
		return "The order is incomplete or contains manifest errors"
	case GroundConflict:
		return "Compliance would conflict with obligations under the applicable law of a third country"
	}
	return string(g)
}

// ParseGround reads a ground's token, naming every token when s is none.
func ParseGround(s string) (Ground, error) {
	var names []string
	for _, g := range Grounds() {
		if string(g) == s {
			return g, nil
		}
		names = append(names, string(g))
	}
	return "", fmt.Errorf("%q is no Annex III ground (want %s)", printable(clip(s)), strings.Join(names, ", "))
}

// maxExplanation bounds a reply's explanation.
const maxExplanation = 16 << 10

// Reply is a reply to write: its kind and number, the order it answers,
// and what the custody log says of the order's preservation.
type Reply struct {
	Kind   chain.ReplyKind
	Number int // the order's replies so far, plus one
	Order  *Order
	At     time.Time // when it is written
	Agent  string    // the agent that writes it
	Actor  string    // who asked for it
	// Ground and Explanation are a cannot-comply reply's (Explanation is
	// required for GroundNonExecution, optional otherwise).
	Ground      Ground
	Explanation string
	Preserved   Preservation
}

// Preservation is what the custody log says was preserved of an order's
// data (its own document left out): the batches sealed, by root and
// count (a capture of 450,000 items is a few hundred batches), and the
// items preserved before batches, by digest.
type Preservation struct {
	FirstSealed time.Time // the first items.sealed (or item.preserved) event's time; zero: nothing sealed
	Items       int
	Bytes       int64
	Batches     []SealedRef
	Older       []chain.Digest // items preserved one by one, before batches
}

// SealedRef is one sealed batch as a reply names it: its items.sealed
// event's log index and time, and the batch's manifest digest and root.
type SealedRef struct {
	LogIndex       uint64
	SealedAt       time.Time
	Capture        string
	Batch          int
	Count          int
	Bytes          int64
	ManifestSHA256 string
	Root           string // hex
}

// Check refuses a reply that cannot be written: what CheckRequest
// refuses, and a confirmation with nothing sealed.
func (r *Reply) Check() error {
	if err := r.CheckRequest(); err != nil {
		return err
	}
	if r.Kind == chain.ReplyPreserved && r.Preserved.FirstSealed.IsZero() {
		return errors.New("nothing of the order's data is sealed yet: there is no preservation to confirm")
	}
	return nil
}

// CheckRequest refuses what was asked of a reply whatever the order: an
// unknown kind, a ground that is none, a confirmation with a ground, a
// missing, oversized or unprintable explanation.
func (r *Reply) CheckRequest() error {
	switch r.Kind {
	case chain.ReplyPreserved:
		if r.Ground != "" || r.Explanation != "" {
			return errors.New("a preservation confirmation takes no ground or explanation")
		}
	case chain.ReplyCannotComply:
		if _, err := ParseGround(string(r.Ground)); err != nil {
			return err
		}
		if r.Ground == GroundNonExecution && strings.TrimSpace(r.Explanation) == "" {
			return fmt.Errorf("ground %s needs an explanation: the ground alone does not say why", r.Ground)
		}
	default:
		return fmt.Errorf("%q is no reply kind (want %s or %s)", printable(string(r.Kind)), chain.ReplyPreserved, chain.ReplyCannotComply)
	}
	var ps problems
	ps.checkText("explanation", r.Explanation, false, maxExplanation, true)
	if len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// replyOrder is the order a reply answers, as both replies give it.
type replyOrder struct {
	CertificateType string `xml:"CertificateType,omitempty"`
	CertificateID   string `xml:"CertificateID,omitempty"`
	IssuedAt        string `xml:"IssuedAt,omitempty"`
	FileNumber      string `xml:"FileNumber"`
	ReceivedAt      string `xml:"ReceivedAt"`
	CustosOrderID   string `xml:"CustosOrderID"`
	LegalBasis      string `xml:"LegalBasis"`
}

type replyAuthority struct {
	Name       string `xml:"Name,omitempty"`
	State      string `xml:"State,omitempty"`
	FileNumber string `xml:"FileNumber,omitempty"`
}

type replyAddressee struct {
	Type  string `xml:"type,attr,omitempty"`
	Name  string `xml:"Name,omitempty"`
	State string `xml:"State,omitempty"`
}

type replyIdentifier struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type replyCategory struct {
	Type string `xml:"type,attr"`
	From string `xml:"From,omitempty"`
	To   string `xml:"To,omitempty"`
}

type replyBatch struct {
	LogIndex       uint64 `xml:"logIndex,attr"`
	SealedAt       string `xml:"sealedAt,attr"`
	Capture        string `xml:"capture,attr"`
	Number         int    `xml:"batch,attr"`
	Count          int    `xml:"count,attr"`
	Bytes          int64  `xml:"bytes,attr"`
	ManifestSHA256 string `xml:"ManifestSHA256"`
	Root           string `xml:"Root"`
}

type replyItem struct {
	SHA256 string `xml:"sha256,attr"`
	SHA512 string `xml:"sha512,attr,omitempty"`
}

type replyPreservation struct {
	Preserved      bool         `xml:"preserved,attr"`
	FirstSealedAt  string       `xml:"FirstSealedAt,omitempty"`
	PreservedUntil string       `xml:"PreservedUntil,omitempty"`
	Items          int          `xml:"Items"`
	Bytes          int64        `xml:"Bytes"`
	Batches        []replyBatch `xml:"Batch"`
	Older          []replyItem  `xml:"Item"`
}

type replyContact struct {
	Agent string `xml:"Agent"`
	Actor string `xml:"Actor"`
}

type replyGround struct {
	Code string `xml:"code,attr"`
	Text string `xml:",chardata"`
}

// annexIII is EU Form 3 as Custos writes it (docs/orders.md).
type annexIII struct {
	XMLName  xml.Name `xml:"EPOC-Reply"`
	NS       string   `xml:"xmlns,attr"`
	Version  string   `xml:"version,attr"`
	Number   int      `xml:"ReplyNumber"`
	IssuedAt string   `xml:"IssuedAt"`
	SectionA struct {
		IssuingAuthority    replyAuthority  `xml:"IssuingAuthority"`
		ValidatingAuthority *replyAuthority `xml:"ValidatingAuthority,omitempty"`
	} `xml:"SectionA"`
	SectionB struct {
		Addressee replyAddressee `xml:"Addressee"`
	} `xml:"SectionB"`
	SectionC struct {
		Order replyOrder `xml:"Order"`
	} `xml:"SectionC"`
	SectionD struct {
		Ground      replyGround `xml:"Ground"`
		Explanation string      `xml:"Explanation,omitempty"`
	} `xml:"SectionD"`
	SectionE struct {
		Identifiers  []replyIdentifier `xml:"Identifier"`
		Categories   []replyCategory   `xml:"Category"`
		Preservation replyPreservation `xml:"Preservation"`
	} `xml:"SectionE"`
	SectionF struct {
		Contact replyContact `xml:"Contact"`
	} `xml:"SectionF"`
}

// confirmation is the preservation confirmation (docs/orders.md).
type confirmation struct {
	XMLName      xml.Name          `xml:"PreservationConfirmation"`
	NS           string            `xml:"xmlns,attr"`
	Version      string            `xml:"version,attr"`
	Number       int               `xml:"ReplyNumber"`
	IssuedAt     string            `xml:"IssuedAt"`
	Order        replyOrder        `xml:"Order"`
	Authority    replyAuthority    `xml:"IssuingAuthority"`
	Preservation replyPreservation `xml:"Preservation"`
	Contact      replyContact      `xml:"Contact"`
}

// XML writes the reply: Annex III for a cannot-comply reply, the
// preservation confirmation for the other, indented, with the XML
// declaration. encoding/xml escapes every value.
func (r *Reply) XML() ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	var v any
	if r.Kind == chain.ReplyCannotComply {
		v = r.annexIII()
	} else {
		v = &confirmation{NS: ConfirmationNamespace, Version: "1", Number: r.Number, IssuedAt: utcStamp(r.At),
			Order: r.order(), Authority: r.issuing(), Preservation: r.preservation(), Contact: r.contact()}
	}
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("reply %d of order %s: %w", r.Number, r.Order.ID, err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

func (r *Reply) annexIII() *annexIII {
	f := &annexIII{NS: ReplyNamespace, Version: "1.0", Number: r.Number, IssuedAt: utcStamp(r.At)}
	f.SectionA.IssuingAuthority = r.issuing()
	if v := (replyAuthority{Name: r.formField("SectionA/ValidatingAuthority/Name"), FileNumber: r.formField("SectionA/ValidatingAuthority/FileNumber")}); v != (replyAuthority{}) {
		f.SectionA.ValidatingAuthority = &v
	}
	f.SectionB.Addressee = replyAddressee{Type: r.formField("SectionB/Addressee/@type"),
		Name: r.formField("SectionB/Addressee/Name"), State: r.formField("SectionB/Addressee/State")}
	f.SectionC.Order = r.order()
	f.SectionD.Ground = replyGround{Code: string(r.Ground), Text: r.Ground.Text()}
	f.SectionD.Explanation = r.Explanation
	for _, s := range r.Order.Selectors {
		f.SectionE.Identifiers = append(f.SectionE.Identifiers, replyIdentifier{Type: string(s.Type), Value: s.Value})
	}
	f.SectionE.Categories = r.categories()
	f.SectionE.Preservation = r.preservation()
	f.SectionF.Contact = r.contact()
	return f
}

// formField is the verbatim field of the order's form at path (below
// its root), or "".
func (r *Reply) formField(path string) string {
	f := r.Order.Form
	if f == nil {
		return ""
	}
	spec, _ := formSpecOf(f.Type)
	for _, fl := range f.Fields {
		if fl.Path == spec.root+"/"+path {
			return strings.TrimSpace(fl.Value)
		}
	}
	return ""
}

func (r *Reply) order() replyOrder {
	o := r.Order
	ro := replyOrder{FileNumber: o.Reference, ReceivedAt: utcStamp(o.ReceivedAt), CustosOrderID: o.ID, LegalBasis: o.LegalBasis}
	if !o.IssuedAt.IsZero() {
		ro.IssuedAt = utcStamp(o.IssuedAt)
	}
	if o.Form != nil {
		spec, _ := formSpecOf(o.Form.Type)
		ro.CertificateType, ro.CertificateID = spec.root, o.Form.CertificateID
	}
	return ro
}

func (r *Reply) issuing() replyAuthority {
	return replyAuthority{Name: r.Order.Authority, State: r.Order.RequestingState, FileNumber: r.Order.Reference}
}

// categories are the form's data categories with their ranges, or the
// order's categories and window.
func (r *Reply) categories() []replyCategory {
	var out []replyCategory
	if f := r.Order.Form; f != nil {
		for _, d := range f.Data {
			out = append(out, replyCategory{Type: d.Category, From: utcStampOrEmpty(d.From), To: utcStampOrEmpty(d.To)})
		}
		return out
	}
	for _, c := range r.Order.Categories {
		out = append(out, replyCategory{Type: string(c), From: utcStampOrEmpty(r.Order.Window.From), To: utcStampOrEmpty(r.Order.Window.To)})
	}
	return out
}

func (r *Reply) preservation() replyPreservation {
	p := r.Preserved
	rp := replyPreservation{Preserved: !p.FirstSealed.IsZero(), Items: p.Items, Bytes: p.Bytes}
	if rp.Preserved {
		rp.FirstSealedAt = utcStamp(p.FirstSealed)
		if !r.Order.ExpiresAt.IsZero() {
			rp.PreservedUntil = utcStamp(r.Order.ExpiresAt)
		}
	}
	for _, b := range p.Batches {
		rp.Batches = append(rp.Batches, replyBatch{LogIndex: b.LogIndex, SealedAt: utcStamp(b.SealedAt), Capture: b.Capture, Number: b.Batch,
			Count: b.Count, Bytes: b.Bytes, ManifestSHA256: b.ManifestSHA256, Root: b.Root})
	}
	for _, d := range p.Older {
		rp.Older = append(rp.Older, replyItem(d))
	}
	return rp
}

func (r *Reply) contact() replyContact { return replyContact{Agent: r.Agent, Actor: r.Actor} }

func utcStampOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return utcStamp(t)
}

// ParsedReply is what ParseReply reads back from a reply's XML.
type ParsedReply struct {
	Kind          chain.ReplyKind
	Number        int
	IssuedAt      time.Time
	OrderID       string
	CertificateID string
	FileNumber    string
	Authority     string
	Ground        Ground
	Explanation   string
	Identifiers   int
	Preserved     bool
	FirstSealed   time.Time
	Items         int
	Batches       int
}

// ParseReply reads a reply back with the forms' XML reader (the same
// refusals and limits as an imported form): Annex III in its own or the
// generic namespace, or the preservation confirmation in its own. A
// missing mandatory field is named.
func ParseReply(data []byte, now time.Time) (*ParsedReply, error) {
	root, ns, err := readFormXML(data)
	if err != nil {
		return nil, err
	}
	fr := &formReader{now: now}
	p := &ParsedReply{}
	var order, pres *xmlNode
	switch {
	case root.name == replyRoot && (ns == ReplyNamespace || ns == FormNamespace):
		p.Kind = chain.ReplyCannotComply
		a := fr.one(root, replyRoot, "SectionA", true)
		p.Authority = fr.text(fr.one(a, replyRoot+"/SectionA", "IssuingAuthority", true), replyRoot+"/SectionA/IssuingAuthority", "Name", true)
		order = fr.one(fr.one(root, replyRoot, "SectionC", true), replyRoot+"/SectionC", "Order", true)
		d := fr.one(root, replyRoot, "SectionD", true)
		if g := fr.one(d, replyRoot+"/SectionD", "Ground", true); g != nil {
			code, _ := g.attr("code")
			if p.Ground, err = ParseGround(code); err != nil {
				fr.ps.add(replyRoot+"/SectionD/Ground/@code", "%v", err)
			}
		}
		p.Explanation = fr.text(d, replyRoot+"/SectionD", "Explanation", false)
		e := fr.one(root, replyRoot, "SectionE", true)
		if e != nil {
			p.Identifiers = len(e.all("Identifier"))
		}
		pres = fr.one(e, replyRoot+"/SectionE", "Preservation", true)
	case root.name == confirmationRoot && ns == ConfirmationNamespace:
		p.Kind = chain.ReplyPreserved
		order = fr.one(root, confirmationRoot, "Order", true)
		p.Authority = fr.text(fr.one(root, confirmationRoot, "IssuingAuthority", true), confirmationRoot+"/IssuingAuthority", "Name", true)
		pres = fr.one(root, confirmationRoot, "Preservation", true)
	default:
		return nil, fmt.Errorf("reply XML: <%s> in %q is no reply (want <%s> in %s, or <%s> in %s)", printable(root.name), printable(ns),
			replyRoot, ReplyNamespace, confirmationRoot, ConfirmationNamespace)
	}
	path := root.name
	if n, err := strconv.Atoi(fr.text(root, path, "ReplyNumber", true)); err == nil && n > 0 {
		p.Number = n
	} else {
		fr.ps.add(path+"/ReplyNumber", "not a reply number")
	}
	p.IssuedAt = fr.date(root, path, "IssuedAt", true)
	p.readOrder(fr, order)
	p.readPreservation(fr, pres)
	if err := fr.ps.err(); err != nil {
		return nil, fmt.Errorf("reply XML: %w", err)
	}
	return p, nil
}

func (p *ParsedReply) readOrder(fr *formReader, n *xmlNode) {
	path := "Order"
	p.OrderID = fr.text(n, path, "CustosOrderID", true)
	p.CertificateID = fr.text(n, path, "CertificateID", false)
	p.FileNumber = fr.text(n, path, "FileNumber", true)
	if p.OrderID != "" {
		if err := chain.ValidateOrderID(p.OrderID); err != nil {
			fr.ps.add(path+"/CustosOrderID", "%v", err)
		}
	}
}

func (p *ParsedReply) readPreservation(fr *formReader, n *xmlNode) {
	if n == nil {
		return
	}
	path := "Preservation"
	v, _ := n.attr("preserved")
	p.Preserved = v == "true"
	p.FirstSealed = fr.date(n, path, "FirstSealedAt", p.Preserved)
	items, err := strconv.Atoi(fr.text(n, path, "Items", true))
	if err != nil || items < 0 {
		fr.ps.add(path+"/Items", "not a count")
	}
	p.Items = items
	p.Batches = len(n.all("Batch"))
	if p.Kind == chain.ReplyPreserved && !p.Preserved {
		fr.ps.add(path+"/@preserved", "a confirmation of preservation must say preserved=\"true\"")
	}
}

//go:embed reply.html.tmpl
var replyHTMLText string

// replyTemplate is the reply's page, parsed once.
var replyTemplate = template.Must(template.New("reply").Parse(replyHTMLText))

// replyPage is what the reply's HTML page shows: the XML's values.
type replyPage struct {
	Title, Subtitle string
	AnnexIII        bool
	Number          int
	IssuedAt        string
	Order           replyOrder
	Authority       replyAuthority
	Validating      *replyAuthority
	Addressee       replyAddressee
	Ground          struct{ Code, Text string }
	Explanation     string
	Identifiers     []replyIdentifier
	Categories      []replyCategory
	Preservation    replyPreservation
	Contact         replyContact
}

// HTML writes the reply's readable page (html/template: every value
// escaped), from the same values as its XML.
func (r *Reply) HTML() ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	p := &replyPage{Number: r.Number, IssuedAt: utcStamp(r.At), Order: r.order(), Authority: r.issuing(),
		Preservation: r.preservation(), Contact: r.contact()}
	if r.Kind == chain.ReplyCannotComply {
		f := r.annexIII()
		p.Title = "Annex III: information on the impossibility to execute the order"
		p.Subtitle = "EU Form 3, Regulation (EU) 2023/1543: the addressee cannot comply with the order below."
		p.AnnexIII, p.Validating, p.Addressee = true, f.SectionA.ValidatingAuthority, f.SectionB.Addressee
		p.Ground.Code, p.Ground.Text, p.Explanation = f.SectionD.Ground.Code, f.SectionD.Ground.Text, f.SectionD.Explanation
		p.Identifiers, p.Categories = f.SectionE.Identifiers, f.SectionE.Categories
	} else {
		p.Title = "Confirmation of preservation"
		p.Subtitle = "The data the order below names was preserved: the batches sealed for it are listed with their digests."
	}
	var b bytes.Buffer
	if err := replyTemplate.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("reply %d of order %s: %w", r.Number, r.Order.ID, err)
	}
	return b.Bytes(), nil
}
