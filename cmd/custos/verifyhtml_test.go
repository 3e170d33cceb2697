package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

func TestVerifyHTMLIsSelfContainedAndEscaped(t *testing.T) {
	idx := uint64(3)
	r := &disclosure.Report{
		Result: disclosure.ResultFailed, Order: "01JD8Z3K4M5N6P7Q8R9S0T1V2W", Key: "custos-agent+1234abcd+AQ==", Files: 20, PayloadBytes: 30,
		BagInfo: map[string]string{"External-Identifier": "<script>alert(1)</script>", "Custos-Order-Id": "01JD8Z3K4M5N6P7Q8R9S0T1V2W",
			"Source-Organization": "Forged Provider Ltd"},
		BagInfoUnsigned: []string{"Source-Organization"},
		Items:           []disclosure.ReportItem{{Path: "data/mail/1.eml", Size: 5, SHA256: strings.Repeat("a", 64), SHA512: strings.Repeat("b", 128), PreservedIndex: &idx}},
		Events: []disclosure.ReportEvent{{Index: 3, Proven: true, Event: &chain.Event{Type: chain.ItemPreserved, Time: time.Unix(0, 0), Actor: "custodian",
			Details: map[string]string{"name": "1.eml"}}}},
		Checks: []*disclosure.Check{
			{Name: "bag manifests", Result: disclosure.ResultOK, Summary: "1 file"},
			{Name: "dsse statement", Result: disclosure.ResultFailed, Summary: "signature", Problems: []disclosure.Problem{{File: "custody/attestation.dsse.json", What: "bad signature"}}},
		},
	}
	var buf bytes.Buffer
	if err := writeVerifyHTML(&buf, "pkg.zip", strings.Repeat("c", 64), r, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{`id="verdict" class="verdict failed"`, "FAILED: 1 of 2 checks do not hold", "data/mail/1.eml", "bad signature",
		"item.preserved", "&lt;script&gt;alert(1)&lt;/script&gt;", "default-src 'none'",
		"<dd>Forged Provider Ltd <em class=\"unsigned\">(unsigned: only bag-info.txt says so"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(page, "(unsigned:") != 1 {
		t.Errorf("the page marks %d fields unsigned, want only Source-Organization", strings.Count(page, "(unsigned:"))
	}
	if strings.Contains(page, "<script") || regexp.MustCompile(`(src|href)=`).MatchString(page) {
		t.Errorf("page loads or runs something:\n%s", page)
	}
	r.Result = disclosure.ResultOK
	r.Checks = r.Checks[:1]
	buf.Reset()
	if err := writeVerifyHTML(&buf, "pkg.zip", "", r, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "VERIFIED: every check holds") {
		t.Errorf("verified page lacks its verdict")
	}
}

// TestVerifyHTMLNamesStatusChanges: the investigator's timeline says what
// an order.amended did (issue 20), and which reply an order.replied was,
// keeping the event type beside it.
func TestVerifyHTMLNamesStatusChanges(t *testing.T) {
	amended := func(d map[string]string) disclosure.ReportEvent {
		return disclosure.ReportEvent{Index: 7, Proven: true, Event: &chain.Event{Type: chain.OrderAmended, Time: time.Unix(0, 0), Actor: "custodian", Details: d}}
	}
	r := &disclosure.Report{Result: disclosure.ResultOK, Order: "01JD8Z3K4M5N6P7Q8R9S0T1V2W", Events: []disclosure.ReportEvent{
		amended(map[string]string{"previous_status": "preserved", "status": "disclosed"}),
		amended(map[string]string{"previous_status": "held", "status": "preserved", "hold_lifted": "true"}),
		amended(map[string]string{"status": "preserved", "amended": "reference,selectors"}),
		{Index: 9, Proven: true, Event: &chain.Event{Type: chain.OrderReplied, Time: time.Unix(0, 0), Actor: "custodian", Details: chain.ReplyDetails{
			Kind: chain.ReplyCannotComply, Number: 2, Ground: "conflicting-obligations",
			XMLSHA256: strings.Repeat("a", 64), HTMLSHA256: strings.Repeat("b", 64), EnvelopeSHA256: strings.Repeat("c", 64)}.Put(nil)}},
	}}
	var buf bytes.Buffer
	if err := writeVerifyHTML(&buf, "pkg", "", r, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"preserved \u2192 disclosed (order.amended)", "hold lifted (order.amended)", "amended: reference,selectors (order.amended)",
		"reply 2 to the authority: cannot comply, conflicting-obligations (order.replied)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
}

// The page says what the trusted tokens prove about time, or plainly that
// time was not checked.
func TestVerifyHTMLSaysTime(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)
	after := int64(42)
	for _, tc := range []struct {
		time *disclosure.ReportTime
		want []string
	}{
		{&disclosure.ReportTime{}, []string{"Not checked: no timestamp authority roots were given"}},
		{&disclosure.ReportTime{Checked: true, Received: &disclosure.TimeClaim{Index: 1, NoLaterThan: at, TSA: "qtsa", Authority: "CN=Q"}, SealedAfterSeconds: &after,
			FirstSealed: &disclosure.TimeClaim{Index: 4, NoLaterThan: at.Add(42 * time.Second), TSA: "qtsa", Authority: "CN=Q"}},
			[]string{"no later than 2026-12-07T10:00:05Z (entry 1; token of qtsa, CN=Q)", "no later than 2026-12-07T10:00:47Z (entry 4;", "42 seconds after the receipt", "<dt>disclosed</dt><dd>no trusted token"}},
		{&disclosure.ReportTime{Checked: true, Disclosed: &disclosure.StatementClaim{File: "custody/timestamps/attestation.qtsa.tsr", NoLaterThan: at.Add(time.Hour), TSA: "qtsa", Authority: "CN=Q"},
			EarlierDisclosure: &disclosure.TimeClaim{Index: 9, NoLaterThan: at.Add(time.Minute), TSA: "qtsa", Authority: "CN=Q"}},
			[]string{"<dt>disclosed</dt><dd>no later than 2026-12-07T11:00:05Z (the package's signed statement; token of qtsa, CN=Q)",
				"<dt>an earlier disclosure</dt><dd>no later than 2026-12-07T10:01:05Z (entry 9; token of qtsa, CN=Q)"}},
	} {
		r := &disclosure.Report{Result: disclosure.ResultOK, Time: tc.time, Checks: []*disclosure.Check{{Name: "files", Result: disclosure.ResultOK}}}
		var buf bytes.Buffer
		if err := writeVerifyHTML(&buf, "pkg", "", r, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.want {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("page lacks %q", want)
			}
		}
	}
}
