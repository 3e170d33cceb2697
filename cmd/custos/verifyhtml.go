package main

import (
	_ "embed"
	"encoding/base64"
	"html/template"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

//go:embed verify.html.tmpl
var verifyHTML string

// verifyPage is what the HTML report shows.
type verifyPage struct {
	OK          bool
	Package     string
	PackageSHA  string
	GeneratedAt string
	Report      *disclosure.Report
	Order       []labelValue // from bag-info.txt, each compared with signed evidence or marked unsigned
	Checkpoint  string
	Failed      int
	Events      []pageEvent
}

// labelValue is one field of bag-info.txt. Unsigned marks a value that no
// signed evidence was compared with: the page says so beside it.
type labelValue struct {
	Label, Value string
	Unsigned     bool
}

type pageEvent struct {
	Index  uint64
	Time   string
	Type   string
	Actor  string
	Detail string
	Proven bool
}

var verifyTemplate = template.Must(template.New("verify").Parse(verifyHTML))

// writeVerifyHTML writes the report as one self-contained page: no script,
// no style sheet, image or font fetched from anywhere, so it opens the same
// on an air-gapped machine and can be filed with the case.
func writeVerifyHTML(w io.Writer, pkg, pkgSHA string, r *disclosure.Report, now time.Time) error {
	p := verifyPage{
		OK: r.Result == disclosure.ResultOK, Package: pkg, PackageSHA: pkgSHA, Report: r,
		GeneratedAt: now.UTC().Format(time.RFC3339),
	}
	for _, c := range r.Checks {
		if c.Result != disclosure.ResultOK {
			p.Failed++
		}
	}
	for _, k := range []struct{ label, key string }{
		{"Order", "Custos-Order-Id"}, {"Reference", "External-Identifier"}, {"Issuing authority", "Custos-Issuing-Authority"},
		{"Requesting state", "Custos-Requesting-State"}, {"Profile", "Custos-Profile"}, {"Legal basis", "Custos-Legal-Basis"},
		{"Provider", "Source-Organization"}, {"Disclosed at", "Custos-Disclosed-At"}, {"Recipient", "Custos-Recipient"},
		{"Partial disclosure", "Custos-Partial"}, {"Payload", "Payload-Oxum"},
	} {
		if v, ok := r.BagInfo[k.key]; ok {
			p.Order = append(p.Order, labelValue{k.label, v, slices.Contains(r.BagInfoUnsigned, k.key)})
		}
	}
	if r.CheckpointSize > 0 {
		p.Checkpoint = r.Origin + ", size " + strconv.FormatUint(r.CheckpointSize, 10) + ", root " + base64.StdEncoding.EncodeToString(r.CheckpointHash)
	}
	for _, e := range r.Events {
		pe := pageEvent{Index: e.Index, Proven: e.Proven}
		if e.Event != nil {
			pe.Time = e.Event.Time.UTC().Format(time.RFC3339)
			pe.Type = eventTitle(e.Event)
			pe.Actor = e.Event.Actor
			pe.Detail = eventDetail(e.Event)
		}
		p.Events = append(p.Events, pe)
	}
	return verifyTemplate.Execute(w, p)
}

// eventTitle names what an event did, as an investigator reads it: an
// order.amended says which change it was (a new status, a hold lifted,
// fields amended), an order.replied which reply went to the authority,
// their type kept beside them.
func eventTitle(e *chain.Event) string {
	t := string(e.Type)
	if e.Type == chain.OrderReplied {
		d, err := chain.ReadReplyDetails(e)
		switch {
		case err != nil:
			return t
		case d.Kind == chain.ReplyCannotComply:
			return "reply " + strconv.Itoa(d.Number) + " to the authority: cannot comply, " + d.Ground + " (" + t + ")"
		default:
			return "reply " + strconv.Itoa(d.Number) + " to the authority: data preserved (" + t + ")"
		}
	}
	if e.Type != chain.OrderAmended {
		return t
	}
	d := e.Details
	switch {
	case d["hold_lifted"] == "true":
		return "hold lifted (" + t + ")"
	case d["amended"] != "":
		return "amended: " + d["amended"] + " (" + t + ")"
	case d["previous_status"] != "" && d["status"] != "" && d["previous_status"] != d["status"]:
		return d["previous_status"] + " → " + d["status"] + " (" + t + ")"
	}
	return t
}

// eventDetail is a one-line summary of an event for the timeline.
func eventDetail(e *chain.Event) string {
	var parts []string
	if e.Reason != "" {
		parts = append(parts, e.Reason)
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		switch k {
		case "status", "name", "source", "size", "expires_at", "recipient", "package_sha256", "capture":
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+e.Details[k])
	}
	for _, d := range e.Items {
		parts = append(parts, "sha256:"+d.SHA256)
	}
	return strings.Join(parts, "; ")
}
