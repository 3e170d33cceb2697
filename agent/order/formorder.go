package order

import (
	"fmt"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// maxFormFields bounds the verbatim fields of one form.
const maxFormFields = 2 * maxFormElements

// validate checks a form as an order record holds it.
func (f *Form) validate(ps *problems) {
	if f.Type != FormEPOC && f.Type != FormEPOCPR {
		ps.add("form.type", "%q is no form an order is received as (want %s or %s)", printable(string(f.Type)), FormEPOCPR, FormEPOC)
	}
	ps.checkText("form.namespace", f.Namespace, true, maxShortText, false)
	ps.checkText("form.certificate_id", f.CertificateID, true, maxShortText, false)
	if !isLowerHex(f.SHA256, 64) {
		ps.add("form.sha256", "%q is not 64 lower-case hex digits", printable(f.SHA256))
	}
	for i, d := range f.Data {
		if _, ok := formCategory(d.Category); !ok {
			ps.add(fmt.Sprintf("form.data[%d].category", i), "unknown data category %q", printable(d.Category))
		}
	}
	checkFields(ps, "form.fields", f.Fields)
	for i, a := range f.Applied {
		field := fmt.Sprintf("form.applied[%d]", i)
		if a.Type != FormConfirmation && a.Type != FormExtension {
			ps.add(field+".type", "%q is no form applied to an order (want %s or %s)", printable(string(a.Type)), FormConfirmation, FormExtension)
		}
		ps.checkText(field+".certificate_id", a.CertificateID, true, maxShortText, false)
		if !isLowerHex(a.SHA256, 64) {
			ps.add(field+".sha256", "%q is not 64 lower-case hex digits", printable(a.SHA256))
		}
		if a.At.IsZero() {
			ps.add(field+".at", "missing")
		}
		checkFields(ps, field+".fields", a.Fields)
	}
}

func checkFields(ps *problems, field string, fs []FormField) {
	if len(fs) > maxFormFields {
		ps.add(field, "%d fields, more than %d", len(fs), maxFormFields)
		return
	}
	for i, f := range fs {
		ps.checkText(fmt.Sprintf("%s[%d].path", field, i), f.Path, true, MaxFormSize, false)
		ps.checkText(fmt.Sprintf("%s[%d].value", field, i), f.Value, false, MaxFormSize, true)
	}
}

// utc puts the form's times in UTC.
func (f *Form) utc() {
	for i := range f.Data {
		f.Data[i].From, f.Data[i].To = f.Data[i].From.UTC(), f.Data[i].To.UTC()
	}
	for i := range f.Applied {
		f.Applied[i].IssuedAt, f.Applied[i].At = f.Applied[i].IssuedAt.UTC(), f.Applied[i].At.UTC()
	}
}

// certificates lists the certificate ids o was received or changed by.
func (o *Order) certificates() []string {
	if o.Form == nil {
		return nil
	}
	ids := []string{o.Form.CertificateID}
	for _, a := range o.Form.Applied {
		ids = append(ids, a.CertificateID)
	}
	return ids
}

// CheckNew refuses a form that the orders received already know: its
// certificate id is one an order was received or changed by (the same
// form again), or, for an EPOC-PR or EPOC, its issuing authority's file
// number and state are those of an order of the same type (a reference
// that would name two orders). orders are every order the agent holds.
func (f *ParsedForm) CheckNew(orders []*Order) error {
	id := f.CertificateID()
	root := f.root()
	for _, o := range orders {
		for _, c := range o.certificates() {
			if c == id {
				return formError(&FieldError{Field: root + "/CertificateID", Msg: fmt.Sprintf("%q is already recorded, by order %s", printable(id), o.ID)})
			}
		}
		if d := f.Draft; d != nil && o.Form != nil && o.Form.Type == f.Type &&
			o.Reference == d.Reference && o.RequestingState == d.RequestingState {
			return formError(&FieldError{Field: root + "/SectionA/IssuingAuthority/FileNumber", Msg: fmt.Sprintf(
				"%q of %s is the file number of order %s (certificate %s) already: a second %s under it would make the reference name two orders",
				printable(d.Reference), d.RequestingState, o.ID, o.Form.CertificateID, f.Type.Annex())})
		}
	}
	return nil
}

func (f *ParsedForm) root() string {
	if s, ok := formSpecOf(f.Type); ok {
		return s.root
	}
	return string(f.Type)
}

// Target finds the order an Annex V or VI applies to among orders: the
// one received as the EPOC-PR whose certificate id the form names. A file
// number the form gives must be that order's; one that is another
// order's is a collision, named as such. orders are every order the
// agent holds.
func (f *ParsedForm) Target(orders []*Order) (*Order, error) {
	o, err := f.target(orders)
	return o, formError(err)
}

func (f *ParsedForm) target(orders []*Order) (*Order, error) {
	if f.Refers == nil {
		return nil, fmt.Errorf("%s applies to no order: it is received as one", f.Type.Annex())
	}
	ref, pp := f.Refers, f.root()+"/PreservationOrder"
	var target, byFile *Order
	for _, o := range orders {
		switch {
		case o.Form != nil && o.Form.CertificateID == ref.CertificateID:
			target = o
		case ref.FileNumber != "" && o.Reference == ref.FileNumber:
			byFile = o
		}
	}
	switch {
	case target == nil && byFile != nil:
		return nil, &FieldError{Field: pp + "/CertificateID", Msg: fmt.Sprintf(
			"no order was received as certificate %q; its file number %q is order %s's, which was not: apply the form by hand (order hold, order extend)",
			printable(ref.CertificateID), printable(ref.FileNumber), byFile.ID)}
	case target == nil:
		return nil, &FieldError{Field: pp + "/CertificateID", Msg: fmt.Sprintf("no order was received as certificate %q", printable(ref.CertificateID))}
	case target.Form.Type != FormEPOCPR:
		return nil, &FieldError{Field: pp + "/CertificateID", Msg: fmt.Sprintf("%q is order %s's %s, not an EPOC-PR", printable(ref.CertificateID), target.ID, target.Form.Type.Annex())}
	case ref.FileNumber != "" && ref.FileNumber != target.Reference && byFile != nil:
		return nil, &FieldError{Field: pp + "/FileNumber", Msg: fmt.Sprintf(
			"%q collides with order %s: certificate %q is order %s, whose file number is %q",
			printable(ref.FileNumber), byFile.ID, printable(ref.CertificateID), target.ID, printable(target.Reference))}
	case ref.FileNumber != "" && ref.FileNumber != target.Reference:
		return nil, &FieldError{Field: pp + "/FileNumber", Msg: fmt.Sprintf("%q is not the file number of order %s (certificate %q): %q",
			printable(ref.FileNumber), target.ID, printable(ref.CertificateID), printable(target.Reference))}
	case !target.IssuedAt.IsZero() && !ref.IssuedAt.Equal(target.IssuedAt):
		return nil, &FieldError{Field: pp + "/IssuedAt", Msg: fmt.Sprintf("%s is not the date of issue of order %s (certificate %q): %s",
			utcStamp(ref.IssuedAt), target.ID, printable(ref.CertificateID), utcStamp(target.IssuedAt))}
	}
	return target, nil
}

// ApplyForm applies an Annex V or VI (f, for which Target found o) under
// o's profile p: Annex VI is the one extension, by the profile's period;
// Annex V holds the order until the data is produced. The form is
// recorded in o.Form.Applied and its custody event (order.extended or
// order.held) names its SHA-256 as an item and in form_sha256; c.Reason
// is set from the form. A second Annex VI is refused, as is anything the
// step refuses by hand (a held, expired or not yet preserving order). o
// is not changed.
func (o *Order) ApplyForm(p *Profile, f *ParsedForm, c Change) (*Order, *chain.Event, error) {
	a := f.Applied
	if a == nil || o.Form == nil || o.Form.CertificateID != f.Refers.CertificateID {
		return nil, nil, fmt.Errorf("order %s was not received as the certificate the form names", o.ID)
	}
	for _, prev := range o.Form.Applied {
		if prev.Type == FormExtension && a.Type == FormExtension {
			return nil, nil, formError(&FieldError{Field: f.root(), Msg: fmt.Sprintf(
				"order %s was extended already by Annex VI certificate %q on %s: Regulation (EU) 2023/1543 allows one extension",
				o.ID, printable(prev.CertificateID), utcStamp(prev.At))})
		}
	}
	applied := *a
	applied.At = c.At.UTC()
	c.Reason = fmt.Sprintf("%s certificate %s of %s for order certificate %s (form sha256 %s)",
		a.Type.Annex(), a.CertificateID, a.IssuedAt.Format(time.DateOnly), o.Form.CertificateID, a.SHA256)
	record := func(n *Order) { n.Form.Applied = append(n.Form.Applied, applied) }
	var (
		n   *Order
		e   *chain.Event
		err error
	)
	if a.Type == FormExtension {
		n, e, err = o.extend(p, time.Time{}, c, record)
	} else {
		n, e, err = o.hold(p, c, record)
	}
	if err != nil {
		return nil, nil, err
	}
	e.Items = []chain.Digest{{SHA256: a.SHA256}}
	e.Details["form"], e.Details["form_sha256"], e.Details["form_certificate_id"] = string(a.Type), a.SHA256, a.CertificateID
	return n, e, nil
}
