package order

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidForm is matched by every refusal of an EU form as it was
// sent (FormError): malformed, incomplete, contradicting the orders
// received, or asking what the Regulation does not allow (a second
// extension). The same form is refused again; nothing was recorded.
var ErrInvalidForm = errors.New("invalid EU form")

// FormError is a refused EU form. Its message names the form's field;
// Problems, when the form failed its mapping, lists each one.
type FormError struct {
	Err error
}

func (e *FormError) Error() string        { return e.Err.Error() }
func (e *FormError) Unwrap() error        { return e.Err }
func (e *FormError) Is(target error) bool { return target == ErrInvalidForm }

// Problems lists the fields the form was refused for, each with its
// problem.
func (e *FormError) Problems() []*FieldError {
	var ve *ValidationError
	var fe *FieldError
	switch {
	case errors.As(e.Err, &ve):
		return ve.Problems
	case errors.As(e.Err, &fe):
		return []*FieldError{fe}
	}
	return nil
}

func formError(err error) error {
	if err == nil {
		return nil
	}
	return &FormError{Err: err}
}

// FormType is the kind of EU certificate (Regulation (EU) 2023/1543) a
// form is.
type FormType string

// The forms ParseForm reads. Annex III (EPOC-FORM-3), the addressee's
// reply, is known and refused: it is written, not imported.
const (
	FormEPOC         FormType = "epoc"                 // Annex I: European Production Order Certificate
	FormEPOCPR       FormType = "epoc-pr"              // Annex II: European Preservation Order Certificate
	FormConfirmation FormType = "epoc-pr-confirmation" // Annex V: a subsequent production request follows
	FormExtension    FormType = "epoc-pr-extension"    // Annex VI: the one extension of a preservation
)

// The namespaces of the forms: the generic one, and each form's own.
const (
	FormNamespace       = "http://data.europa.eu/edm/1/ns/epoc"
	formNamespacePrefix = "http://data.europa.eu/edm/1/ns/forms/"
)

// formSpec is one form: its type, root element, annex and own namespace.
type formSpec struct {
	typ   FormType
	root  string
	annex string
	ns    string
}

func formSpecs() []formSpec {
	return []formSpec{
		{FormEPOC, "EPOC", "Annex I (EPOC)", formNamespacePrefix + "EPOC-FORM_1#"},
		{FormEPOCPR, "EPOC-PR", "Annex II (EPOC-PR)", formNamespacePrefix + "EPOC-PR-FORM-2#"},
		{"", "EPOC-Reply", "Annex III (the addressee's reply)", formNamespacePrefix + "EPOC-FORM-3#"},
		{FormConfirmation, "EPOC-PR-Confirmation", "Annex V (confirmation of a subsequent production request)", formNamespacePrefix + "EPOC-PR-FORM-5#"},
		{FormExtension, "EPOC-PR-Extension", "Annex VI (extension of a preservation)", formNamespacePrefix + "EPOC-PR-FORM-6#"},
	}
}

func formSpecOf(t FormType) (formSpec, bool) {
	for _, s := range formSpecs() {
		if s.typ == t && t != "" {
			return s, true
		}
	}
	return formSpec{}, false
}

// Annex names the annex of the Regulation that fixes form type t.
func (t FormType) Annex() string {
	if s, ok := formSpecOf(t); ok {
		return s.annex
	}
	return string(t)
}

// Form is what an order received as an EU certificate (an EPOC-PR or an
// EPOC) records of the form beyond the order's own fields (see
// docs/orders.md for the mapping). With the form's XML, preserved byte for
// byte as the order's document (SHA256), nothing of the form is lost.
type Form struct {
	Type          FormType `json:"type"`
	Namespace     string   `json:"namespace"`
	CertificateID string   `json:"certificate_id"`
	SHA256        string   `json:"sha256"` // the form's XML
	// Production marks an EPOC: the data is to be produced, not only
	// preserved; Emergency is its emergency flag (Section B). Their
	// deadlines (Section C) are in Fields as the form gives them.
	Production bool       `json:"production,omitempty"`
	Emergency  bool       `json:"emergency,omitempty"`
	Data       []FormData `json:"data"` // each data category with its time range
	// Fields are the form's fields the record does not map, in document
	// order.
	Fields []FormField `json:"fields,omitempty"`
	// Applied are the Annex V and VI forms applied to the order since.
	Applied []AppliedForm `json:"applied,omitempty"`
}

// FormData is one data category a form names, as it names it
// (subscriber, identification, traffic, content), with its time range.
type FormData struct {
	Category string    `json:"category"`
	From     time.Time `json:"from,omitzero"`
	To       time.Time `json:"to,omitzero"`
}

// AppliedForm is an Annex V or VI form applied to an order: the custody
// event that applied it names its SHA-256, and its XML is an item of the
// order.
type AppliedForm struct {
	Type          FormType    `json:"type"`
	Namespace     string      `json:"namespace"`
	CertificateID string      `json:"certificate_id"`
	SHA256        string      `json:"sha256"`
	IssuedAt      time.Time   `json:"issued_at"`
	At            time.Time   `json:"at"` // when it was applied
	Fields        []FormField `json:"fields,omitempty"`
}

// FormReference is the preservation order an Annex V or VI names.
type FormReference struct {
	CertificateID string
	FileNumber    string // "" when the form gives none
	IssuedAt      time.Time
}

// ParsedForm is an EU form as ParseForm read it: for an EPOC-PR or EPOC
// the draft of the order it makes (Draft, for NewOrder, its Form set);
// for an Annex V or VI the order it names (Refers) and what applying it
// records (Applied, its At set when applied).
type ParsedForm struct {
	Type    FormType
	SHA256  string
	Draft   *Order
	Refers  *FormReference
	Applied *AppliedForm
}

// CertificateID is the form's own certificate id.
func (f *ParsedForm) CertificateID() string {
	if f.Draft != nil {
		return f.Draft.Form.CertificateID
	}
	return f.Applied.CertificateID
}

func (f *Form) clone() *Form {
	if f == nil {
		return nil
	}
	c := *f
	c.Data = append([]FormData(nil), f.Data...)
	c.Fields = append([]FormField(nil), f.Fields...)
	c.Applied = append([]AppliedForm(nil), f.Applied...)
	return &c
}

// formCategory maps the forms' data categories onto the order's. Data
// requested for the sole purpose of identifying the user (art. 3(10)) is
// traffic data to a capture; the form's own name stays in Form.Data.
func formCategory(c string) (Category, bool) {
	switch c {
	case "subscriber":
		return CategorySubscriber, true
	case "identification", "traffic":
		return CategoryTraffic, true
	case "content":
		return CategoryContent, true
	}
	return "", false
}

// ParseForm reads an EU form in XML (see docs/orders.md): an EPOC-PR
// (Annex II) or EPOC (Annex I) becomes the draft of an order under the
// eu-epoc-pr profile; an Annex V or VI names the order it applies to.
// now is the agent's clock: no date of the form may be after it. Every
// problem is reported, each naming the form's field by its path
// (EPOC-PR/SectionA/IssuingAuthority/FileNumber); nothing is read from
// anywhere but data.
func ParseForm(data []byte, now time.Time) (*ParsedForm, error) {
	pf, err := parseForm(data, now)
	if err != nil {
		return nil, formError(err)
	}
	return pf, nil
}

func parseForm(data []byte, now time.Time) (*ParsedForm, error) {
	root, ns, err := readFormXML(data)
	if err != nil {
		return nil, err
	}
	spec, err := formOf(root.name, ns)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	fr := &formReader{now: now.UTC()}
	pf := &ParsedForm{Type: spec.typ, SHA256: hex.EncodeToString(sum[:])}
	if s := root.value(); s != "" {
		fr.ps.add(spec.root, "text %q among the sections", printable(clip(s)))
	}
	switch spec.typ {
	case FormEPOC, FormEPOCPR:
		pf.Draft = fr.order(root, spec, ns, pf.SHA256)
	default:
		pf.Refers, pf.Applied = fr.applied(root, spec, ns, pf.SHA256)
	}
	fields := pf.fields()
	size := 0
	for _, f := range fields {
		size += len(f.Path) + len(f.Value)
	}
	if size > maxFormFieldBytes {
		fr.ps.add(spec.root, "the fields not mapped take %d bytes, more than %d an order record keeps", size, maxFormFieldBytes)
	}
	if err := fr.ps.err(); err != nil {
		return nil, err
	}
	return pf, nil
}

// fields are the form's verbatim fields.
func (f *ParsedForm) fields() []FormField {
	if f.Draft != nil {
		return f.Draft.Form.Fields
	}
	if f.Applied != nil {
		return f.Applied.Fields
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// formOf finds the form a root element in namespace ns is.
func formOf(root, ns string) (formSpec, error) {
	known := ns == FormNamespace
	for _, s := range formSpecs() {
		known = known || ns == s.ns
	}
	if !known {
		return formSpec{}, &FieldError{Field: "namespace", Msg: fmt.Sprintf("%q is no EU form namespace (want %s or %s<form>#)", printable(ns), FormNamespace, formNamespacePrefix)}
	}
	for _, s := range formSpecs() {
		if s.root != root {
			continue
		}
		switch {
		case ns != FormNamespace && ns != s.ns:
			return formSpec{}, &FieldError{Field: "namespace", Msg: fmt.Sprintf("%q is not the namespace of %s (%s)", printable(ns), s.annex, s.ns)}
		case s.typ == "":
			return formSpec{}, &FieldError{Field: root, Msg: s.annex + " is written by the addressee, not imported"}
		}
		return s, nil
	}
	var roots []string
	for _, s := range formSpecs() {
		if s.typ != "" {
			roots = append(roots, s.root)
		}
	}
	return formSpec{}, &FieldError{Field: "form", Msg: fmt.Sprintf("unknown form type <%s> (want %s)", printable(root), strings.Join(roots, ", "))}
}

// formReader maps a form's tree, collecting problems.
type formReader struct {
	ps  problems
	now time.Time
}

// one returns the single child name of n, adding a problem when it is
// missing (if required) or repeated. A nil n (a missing parent, already
// named) has no children.
func (fr *formReader) one(n *xmlNode, path, name string, required bool) *xmlNode {
	if n == nil {
		return nil
	}
	ks := n.all(name)
	switch {
	case len(ks) == 0:
		if required {
			fr.ps.add(path+"/"+name, "missing%s", otherNamespace(n, name))
		}
		return nil
	case len(ks) > 1:
		fr.ps.add(path+"/"+name, "given %d times, once allowed", len(ks))
	}
	return ks[0]
}

// present checks that n has a child name, without reading it: its
// content stays in the verbatim fields.
func (fr *formReader) present(n *xmlNode, path, name string) {
	if n == nil {
		return
	}
	for _, k := range n.kids {
		if k.name == name {
			return
		}
	}
	fr.ps.add(path+"/"+name, "missing%s", otherNamespace(n, name))
}

// otherNamespace says, when n has an element called name in another
// namespace than the form's, which one: the likeliest cause of a missing
// field is a prefix or default namespace left off.
func otherNamespace(n *xmlNode, name string) string {
	for _, k := range n.kids {
		if ns, local, ok := strings.Cut(strings.TrimPrefix(k.name, "{"), "}"); ok && strings.HasPrefix(k.name, "{") && local == name {
			if ns == "" {
				return fmt.Sprintf(" (<%s> is there in no namespace, not the form's)", name)
			}
			return fmt.Sprintf(" (<%s> is there in namespace %q, not the form's)", name, printable(ns))
		}
	}
	return ""
}

// text is the trimmed text of the single child name of n.
func (fr *formReader) text(n *xmlNode, path, name string, required bool) string {
	k := fr.one(n, path, name, required)
	if k == nil {
		return ""
	}
	v := k.value()
	switch {
	case len(k.kids) > 0:
		fr.ps.add(path+"/"+name, "want text, not elements")
	case v == "" && required:
		fr.ps.add(path+"/"+name, "missing (empty)")
	}
	return v
}

// date reads a date (2026-11-20, midnight UTC) or an RFC 3339 time, and
// refuses one after now.
func (fr *formReader) date(n *xmlNode, path, name string, required bool) time.Time {
	s := fr.text(n, path, name, required)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			fr.ps.add(path+"/"+name, "%q is not a date (2026-11-20) or an RFC 3339 time", printable(clip(s)))
			return time.Time{}
		}
	}
	t = t.UTC()
	if t.After(fr.now.Add(maxFutureAt)) {
		fr.ps.add(path+"/"+name, "%s is in the future (now is %s)", utcStamp(t), utcStamp(fr.now))
	}
	return t
}

// notBefore adds a problem when t is before the form's date of issue.
func (fr *formReader) notBefore(t, issued time.Time, field string) {
	if !t.IsZero() && !issued.IsZero() && t.Before(issued) {
		fr.ps.add(field, "%s is before the form's date of issue %s", utcStamp(t), utcStamp(issued))
	}
}

func (fr *formReader) boolean(n *xmlNode, path, name string) bool {
	switch s := fr.text(n, path, name, false); s {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	default:
		fr.ps.add(path+"/"+name, "%q is not true or false", printable(clip(s)))
		return false
	}
}

// order maps an EPOC-PR or EPOC onto the draft of an order.
func (fr *formReader) order(root *xmlNode, spec formSpec, ns, sum string) *Order {
	r := spec.root
	f := &Form{Type: spec.typ, Namespace: ns, SHA256: sum, Production: spec.typ == FormEPOC}
	o := &Order{Profile: "eu-epoc-pr", Form: f}
	f.CertificateID = fr.text(root, r, "CertificateID", true)
	fr.ps.checkText(r+"/CertificateID", f.CertificateID, false, maxShortText, false)
	o.IssuedAt = fr.date(root, r, "IssuedAt", true)
	o.SignedAt = fr.date(root, r, "SignedAt", false)
	fr.notBefore(o.SignedAt, o.IssuedAt, r+"/SignedAt")

	fr.sectionA(o, fr.one(root, r, "SectionA", true), r+"/SectionA")

	b := fr.one(root, r, "SectionB", true)
	fr.present(b, r+"/SectionB", "Addressee")
	if spec.typ == FormEPOC {
		f.Emergency = fr.boolean(b, r+"/SectionB", "Emergency")
		// The deadlines are kept verbatim; whether the enforcing authority
		// was notified decides the production deadline (Production).
		c := fr.one(root, r, "SectionC", true)
		notified := c != nil && fr.boolean(c, r+"/SectionC", "EnforcingAuthorityNotified")
		o.Production = &Production{Emergency: f.Emergency, AuthorityNotified: notified}
	}
	o.Confidentiality.Confidential = fr.boolean(b, r+"/SectionB", "Confidential")

	d := fr.one(root, r, "SectionD", true)
	fr.identifiers(o, d, r+"/SectionD")
	fr.categories(o, d, r+"/SectionD")

	fr.sectionE(o, fr.one(root, r, "SectionE", true), r+"/SectionE")
	fr.present(root, r, "SectionL")
	f.Fields = root.rest(r, nil)
	return o
}

// sectionA reads the issuing authority: the order's authority,
// requesting state and reference (its file number). The validating
// authority is kept verbatim.
func (fr *formReader) sectionA(o *Order, a *xmlNode, path string) {
	ia := fr.one(a, path, "IssuingAuthority", true)
	iap := path + "/IssuingAuthority"
	o.Authority = fr.text(ia, iap, "Name", true)
	o.RequestingState = strings.ToUpper(fr.text(ia, iap, "State", true))
	if o.RequestingState != "" && !isCountry(o.RequestingState) {
		fr.ps.add(iap+"/State", "%q is not an ISO 3166-1 alpha-2 country code (such as DE)", printable(clip(o.RequestingState)))
	}
	o.Reference = fr.text(ia, iap, "FileNumber", true)
	// What NewOrder checks again, named here as the form names it.
	fr.ps.checkText(iap+"/Name", o.Authority, false, maxShortText, false)
	fr.ps.checkText(iap+"/FileNumber", o.Reference, false, maxShortText, false)
}

// sectionE reads the grounds: the legal basis and the offence.
func (fr *formReader) sectionE(o *Order, e *xmlNode, path string) {
	o.LegalBasis = fr.text(e, path, "LegalBasis", true)
	o.OffenceSummary = fr.text(e, path, "Offence", false)
	fr.ps.checkText(path+"/LegalBasis", o.LegalBasis, false, maxLongText, true)
	fr.ps.checkText(path+"/Offence", o.OffenceSummary, false, maxLongText, true)
}

// identifiers reads Section D's identifiers as the order's selectors.
func (fr *formReader) identifiers(o *Order, d *xmlNode, path string) {
	if d == nil {
		return
	}
	ids := d.all("Identifier")
	if len(ids) == 0 {
		fr.ps.add(path+"/Identifier", "missing: name at least one (type one of %s)", typeList())
	}
	for i, k := range ids {
		field := fmt.Sprintf("%s/Identifier[%d]", path, i+1)
		typ, ok := k.attr("type")
		if !ok {
			fr.ps.add(field+"/@type", "missing (one of %s)", typeList())
			continue
		}
		s, err := Selector{Type: SelectorType(strings.TrimSpace(typ)), Value: k.value()}.Normalize()
		if err != nil {
			fr.ps.add(field, "%s", err)
			continue
		}
		o.Selectors = append(o.Selectors, s)
	}
}

// categories reads Section D's data categories and their time ranges:
// the order's categories, and its window spans every range (an open end
// of any range leaves that end open).
func (fr *formReader) categories(o *Order, d *xmlNode, path string) {
	if d == nil {
		return
	}
	cs := d.all("Category")
	if len(cs) == 0 {
		fr.ps.add(path+"/Category", "missing: name at least one of subscriber, identification, traffic, content")
	}
	openFrom, openTo := false, false
	seen := map[Category]bool{}
	for i, k := range cs {
		field := fmt.Sprintf("%s/Category[%d]", path, i+1)
		name, _ := k.attr("type")
		name = strings.TrimSpace(name)
		c, ok := formCategory(name)
		if !ok {
			fr.ps.add(field+"/@type", "unknown data category %q (want subscriber, identification, traffic or content)", printable(clip(name)))
			continue
		}
		fd := FormData{Category: name, From: fr.date(k, field, "From", false), To: fr.date(k, field, "To", false)}
		if !fd.From.IsZero() && !fd.To.IsZero() && fd.To.Before(fd.From) {
			fr.ps.add(field+"/To", "%s is before From %s", utcStamp(fd.To), utcStamp(fd.From))
		}
		o.Form.Data = append(o.Form.Data, fd)
		if !seen[c] {
			o.Categories = append(o.Categories, c)
			seen[c] = true
		}
		openFrom = openFrom || fd.From.IsZero()
		openTo = openTo || fd.To.IsZero()
		if !openFrom && (o.Window.From.IsZero() || fd.From.Before(o.Window.From)) {
			o.Window.From = fd.From
		}
		if !openTo && fd.To.After(o.Window.To) {
			o.Window.To = fd.To
		}
	}
	if openFrom {
		o.Window.From = time.Time{}
	}
	if openTo {
		o.Window.To = time.Time{}
	}
}

// applied reads an Annex V or VI: the order it names and what applying
// it records.
func (fr *formReader) applied(root *xmlNode, spec formSpec, ns, sum string) (*FormReference, *AppliedForm) {
	r := spec.root
	a := &AppliedForm{Type: spec.typ, Namespace: ns, SHA256: sum}
	a.CertificateID = fr.text(root, r, "CertificateID", true)
	fr.ps.checkText(r+"/CertificateID", a.CertificateID, false, maxShortText, false)
	a.IssuedAt = fr.date(root, r, "IssuedAt", true)
	fr.notBefore(fr.date(root, r, "SignedAt", false), a.IssuedAt, r+"/SignedAt")
	sa := fr.one(root, r, "SectionA", true)
	fr.present(sa, r+"/SectionA", "IssuingAuthority")
	po := fr.one(root, r, "PreservationOrder", true)
	pp := r + "/PreservationOrder"
	ref := &FormReference{
		CertificateID: fr.text(po, pp, "CertificateID", true),
		FileNumber:    fr.text(po, pp, "FileNumber", false),
		IssuedAt:      fr.date(po, pp, "IssuedAt", true),
	}
	if !ref.IssuedAt.IsZero() && !a.IssuedAt.IsZero() && a.IssuedAt.Before(ref.IssuedAt) {
		fr.ps.add(r+"/IssuedAt", "%s is before the preservation order's date of issue %s (%s/IssuedAt)", utcStamp(a.IssuedAt), utcStamp(ref.IssuedAt), pp)
	}
	if spec.typ == FormConfirmation {
		fr.present(root, r, "ProductionOrder")
	}
	a.Fields = root.rest(r, nil)
	return ref, a
}
