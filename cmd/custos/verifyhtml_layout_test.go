package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// TestVerifyHTMLFitsTheWindow renders the report of a failed verification
// whose problems hold long unbroken digests and keys, in the Chromium the
// tests use, at 1280 px and at the width of an A4 page printed at 96 dpi
// (794 px): nothing may run past the window's right edge, where it is cut
// off on screen and on paper (issue 20). The page is measured as written,
// with one script added after it that reports the widths into the DOM.
func TestVerifyHTMLFitsTheWindow(t *testing.T) {
	browser := chromiumForTest(t)
	long := strings.Repeat("9ac983f7", 24)
	idx := uint64(3)
	r := &disclosure.Report{
		Result: disclosure.ResultFailed, Order: "01JD8Z3K4M5N6P7Q8R9S0T1V2W", Key: "custos.test/agent-1+9ac983f7+" + long, Files: 20, PayloadBytes: 30,
		BagInfo: map[string]string{"Custos-Order-Id": "01JD8Z3K4M5N6P7Q8R9S0T1V2W", "External-Identifier": "AZ-" + long},
		Items: []disclosure.ReportItem{{Path: "data/mail/" + long + ".eml", Name: long + ".eml", Source: "file:///srv/" + long, Size: 5,
			SHA256: strings.Repeat("a", 64), SHA512: strings.Repeat("b", 128), PreservedIndex: &idx}},
		Events: []disclosure.ReportEvent{{Index: 3, Proven: false, Event: &chain.Event{Type: chain.ItemsSealed, Time: time.Unix(0, 0),
			Actor: "custodian-" + long, Details: map[string]string{"capture": long, "name": long}}}},
		Checks: []*disclosure.Check{
			{Name: "checkpoint", Result: disclosure.ResultFailed, Summary: "1 problem", Problems: []disclosure.Problem{
				{File: "custody/checkpoint", What: "checkpoint carries no signature by key other+c7feb832 (signed by custos.test/agent-1+" + long + ")"}}},
			{Name: "manifest-sha256", Result: disclosure.ResultFailed, Summary: "sha256 " + long, Problems: []disclosure.Problem{
				{File: "data/mail/" + long + ".eml", What: "sha256 is " + long + ", the manifest says " + long}}},
		},
	}
	var page bytes.Buffer
	if err := writeVerifyHTML(&page, "/home/investigator/"+long+".zip", strings.Repeat("c", 64), r, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	// The measuring script, allowed by the copy's policy only.
	html := strings.Replace(page.String(), "default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1)
	html = strings.Replace(html, "</body>", `<script>
const wide = [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + "." + e.className);
document.body.setAttribute("data-measure", window.innerWidth + " " + document.documentElement.scrollWidth + " " + wide.slice(0, 5).join(","));
</script></body>`, 1)
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	measure := regexp.MustCompile(`data-measure="(\d+) (\d+) ([^"]*)"`)
	for _, width := range []string{"1280", "794"} {
		dom, log := runChromium(t, browser, "--dump-dom", "--window-size="+width+",900", "file://"+path)
		m := measure.FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("width %s: the page reported no measure; chromium logged:\n%s", width, strings.Join(pageErrors(log), "\n"))
		}
		if m[1] != width || m[2] != width || m[3] != "" {
			t.Errorf("window %s px: the page is %s px wide in a viewport of %s; past the right edge: %s", width, m[2], m[1], m[3])
		}
	}
}
