//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The HTML report of `custos verify --html`, opened in a real browser:
// Debian's chromium, headless, which scripts/with-verify-tools.sh installs
// and names in CUSTOS_TEST_CHROMIUM. For a verified and a tampered
// package, each reported by the CLI itself, the rendered DOM must hold the
// verdict, the browser must log nothing about the page (the page runs no
// script and loads nothing, so any console message, such as a load its
// Content-Security-Policy refused, is a defect), and a screenshot must show
// the verdict's banner in its colour near the top of the page.

// browserTimeout bounds one run of the browser; past it the browser and
// every process it started are killed.
const browserTimeout = 60 * time.Second

// bannerColours are the verdict banner's background and border in
// verify.html.tmpl (.ok and .failed).
var (
	verifiedBanner = []color.RGBA{{0xe3, 0xf4, 0xe1, 0xff}, {0x2e, 0x8b, 0x37, 0xff}}
	failedBanner   = []color.RGBA{{0xfb, 0xe3, 0xe1, 0xff}, {0xc0, 0x39, 0x2b, 0xff}}
)

// renderCase is a report and what the browser must show of it.
type renderCase struct {
	name        string
	report      verifyReportFile
	class       string       // of #verdict, after "verdict "
	banner, not []color.RGBA // its banner's colours, and the other verdict's
}

func TestVerifyHTMLInChromium(t *testing.T) {
	browser := chromiumForTest(t)
	reports := verifyReportsForBrowser(t)
	for _, tc := range []renderCase{
		{"verified", reports[0], "ok", verifiedBanner, failedBanner},
		{"failed", reports[1], "failed", failedBanner, verifiedBanner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRenderedDOM(t, browser, tc)
			checkScreenshot(t, browser, tc)
		})
	}
}

// checkRenderedDOM loads the report and checks the DOM chromium built.
func checkRenderedDOM(t *testing.T, browser string, tc renderCase) {
	start := time.Now()
	dom, log := runChromium(t, browser, "--dump-dom", "file://"+tc.report.path)
	t.Logf("--dump-dom took %v", time.Since(start).Round(time.Millisecond))
	if bad := pageErrors(log); len(bad) > 0 {
		t.Errorf("chromium reported problems with the page:\n%s", strings.Join(bad, "\n"))
	}
	class, text, err := verdictInDOM(dom)
	if err != nil {
		t.Fatalf("rendered DOM of %s: %v", tc.report.path, err)
	}
	if class != "verdict "+tc.class || text != tc.report.verdict {
		t.Errorf("rendered verdict is %q (class %q), want %q (class %q)", text, class, tc.report.verdict, "verdict "+tc.class)
	}
	// A disclosed file is named <b>&amp.eml: the browser shows the name
	// as text and makes no element of it.
	if !strings.Contains(dom, "mail/&lt;b&gt;&amp;amp.eml") || strings.Contains(dom, "<b>") {
		t.Errorf("the file named <b>&amp.eml is not shown as text in the rendered DOM:\n%s", dom)
	}
}

// checkScreenshot takes a 1200x900 screenshot of the report and looks for
// the verdict's banner in its top third by its colours.
func checkScreenshot(t *testing.T, browser string, tc renderCase) {
	shot := filepath.Join(t.TempDir(), "page.png")
	start := time.Now()
	_, log := runChromium(t, browser, "--screenshot="+shot, "--window-size=1200,900", "file://"+tc.report.path)
	t.Logf("--screenshot took %v", time.Since(start).Round(time.Millisecond))
	if bad := pageErrors(log); len(bad) > 0 {
		t.Errorf("chromium reported problems with the page:\n%s", strings.Join(bad, "\n"))
	}
	img := decodePNG(t, shot)
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Fatalf("screenshot is %dx%d, want 1200x900", b.Dx(), b.Dy())
	}
	top := image.Rect(0, 0, 1200, 300)
	// The banner is about 1000 by 65 pixels: its background covers tens
	// of thousands, its 2-pixel border a few thousand.
	for i, atLeast := range []int{20000, 1500} {
		if n := countColour(img, top, tc.banner[i], 6); n < atLeast {
			t.Errorf("top third of the screenshot has %d pixels of %s, want at least %d: the %s banner is not shown",
				n, hexColour(tc.banner[i]), atLeast, tc.name)
		}
		if n := countColour(img, top, tc.not[i], 6); n > 50 {
			t.Errorf("top third of the screenshot has %d pixels of %s, the other verdict's colour", n, hexColour(tc.not[i]))
		}
	}
	if t.Failed() {
		t.Logf("screenshot kept at %s", keepShot(shot))
	}
}

// The console check above can fail: a page that runs a script, logs an
// error and loads an image its policy forbids is caught by it.
func TestChromiumPageErrorsAreSeen(t *testing.T) {
	browser := chromiumForTest(t)
	page := filepath.Join(t.TempDir(), "bad.html")
	err := os.WriteFile(page, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8">`+
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"></head>`+
		`<body><p id="verdict" class="verdict ok">VERIFIED: every check holds</p><img src="missing.png" alt="">`+
		`<script>console.error("boom"); notDefined();</script></body></html>`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, log := runChromium(t, browser, "--dump-dom", "file://"+page)
	bad := strings.Join(pageErrors(log), "\n")
	for _, want := range []string{"boom", "Uncaught ReferenceError", "Content Security Policy"} {
		if !strings.Contains(bad, want) {
			t.Errorf("the page's %q went unnoticed; chromium logged:\n%s", want, log)
		}
	}
}

// chromiumForTest returns the browser named by CUSTOS_TEST_CHROMIUM. Without
// one the test is skipped, or fails under CI=true.
func chromiumForTest(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CUSTOS_TEST_CHROMIUM"); b != "" {
		return b
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CUSTOS_TEST_CHROMIUM is not set under CI=true: run the tests through scripts/with-verify-tools.sh")
	}
	t.Skip("CUSTOS_TEST_CHROMIUM is not set: run the tests through scripts/with-verify-tools.sh")
	return ""
}

// runChromium runs the browser headless with its own profile and returns
// what it printed on stdout and its log. The sandbox is off: as root (CI)
// chromium refuses to start with it, and in a container without user
// namespaces it cannot set it up; the page it opens is our own.
func runChromium(t *testing.T, browser string, args ...string) (stdout, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	args = append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--force-device-scale-factor=1", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(t.TempDir(), "profile"),
		"--enable-logging=stderr", "--v=0",
	}, args...)
	cmd := exec.CommandContext(ctx, browser, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// Its own process group, so that a timeout kills the renderer, GPU and
	// zygote processes too, not only the launcher.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // anything it left behind
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s did not finish within %v and was killed; it logged:\n%s", browser, browserTimeout, errOut.String())
	}
	if err != nil {
		t.Fatalf("%s %s: %v; it logged:\n%s", browser, strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// pageErrors picks from chromium's log what the page caused: console
// messages (logged as INFO:CONSOLE by chromium 156 even for console.error),
// uncaught exceptions, refused loads and policy violations. The rest of the
// log (D-Bus, GPU and sandbox complaints of a headless machine) is not
// about the page.
func pageErrors(log string) []string {
	var bad []string
	for _, l := range strings.Split(log, "\n") {
		for _, mark := range []string{":CONSOLE", "Uncaught", "Refused to", "Content Security Policy", "Content-Security-Policy", "net::ERR_"} {
			if strings.Contains(l, mark) {
				bad = append(bad, l)
				break
			}
		}
	}
	return bad
}

var verdictElement = regexp.MustCompile(`(?s)<p\b([^>]*)\bid="verdict"([^>]*)>(.*?)</p>`)
var classAttr = regexp.MustCompile(`\bclass="([^"]*)"`)
var tags = regexp.MustCompile(`<[^>]*>`)

// verdictInDOM returns the class and the text of the #verdict element of a
// serialised DOM.
func verdictInDOM(dom string) (class, text string, err error) {
	ms := verdictElement.FindAllStringSubmatch(dom, -1)
	if len(ms) != 1 {
		return "", "", fmt.Errorf("%d elements with id verdict, want 1", len(ms))
	}
	if c := classAttr.FindStringSubmatch(ms[0][1] + ms[0][2]); c != nil {
		class = c[1]
	}
	text = strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(ms[0][3], ""))), " ")
	return class, text, nil
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

// countColour counts the pixels in r within tol of c in every channel.
func countColour(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return -tol <= d && d <= tol }
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, c.R) && near(pg, c.G) && near(pb, c.B) {
				n++
			}
		}
	}
	return n
}

func hexColour(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// keepShot copies a failing screenshot out of the test's temporary
// directory so that it can be looked at.
func keepShot(path string) string {
	f, err := os.CreateTemp("", "custos-verify-report-*.png")
	if err != nil {
		return path + " (removed after the test)"
	}
	defer f.Close()
	b, err := os.ReadFile(path)
	if err == nil {
		_, err = f.Write(b)
	}
	if err != nil {
		return path + " (removed after the test)"
	}
	return f.Name()
}

// verifyReportFile is an HTML report and the verdict it must show.
type verifyReportFile struct{ path, verdict string }

// verifyReportsForBrowser runs custos in-process as an operator and an
// investigator would: an order is received, captured and disclosed, the
// package verified with --html, then a byte of a disclosed file flipped
// and the package verified again. It returns the two reports, verified
// then failed, with the verdicts the JSON reports of the same runs imply.
func verifyReportsForBrowser(t *testing.T) [2]verifyReportFile {
	t.Helper()
	work := t.TempDir()
	writeTree(t, work, map[string]string{
		"order.pdf":               "%PDF-1.4 the order\n",
		"export/mail/a.eml":       "From: alice\n\nhi\n",
		"export/logs/access.log":  "2026-11-01T10:00:00Z alice GET /\n",
		"export/mail/<b>&amp.eml": "a name the page must escape\n",
	})
	t.Setenv("CUSTOS_DATA_DIR", filepath.Join(work, "data"))
	t.Setenv("CUSTOS_KEY_PASSPHRASE", testPassphrase)
	t.Setenv("CUSTOS_ACTOR", "custodian@example.net")
	t.Setenv("CUSTOS_LOG_CHECKPOINT_INTERVAL", "100ms")
	custosMust(t, "keys", "generate")
	id := strings.TrimSpace(custosMust(t, "order", "add", "--reference", "LE-7", "--authority", "Court", "--requesting-state", "FR",
		"--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:alice@example.net",
		"--categories", "content,traffic", "--document", filepath.Join(work, "order.pdf")))
	custosMust(t, "capture", "--source", "file://"+filepath.Join(work, "export"), "--category", "content", id)
	pkg := filepath.Join(work, "pkg")
	custosMust(t, "order", "verify-requester", "--method", "callback", "--result", "confirmed", "--note", "called the authority back", id)
	custosMust(t, "disclose", "--out", pkg, id)
	key := filepath.Join(work, "data", "keys", "custos.key.vkey")

	var reports [2]verifyReportFile
	for i, exit := range []int{exitOK, exitTamper} {
		if i == 1 {
			editPkgFile(t, pkg, "data/export/mail/a.eml", flipLowBitOfFirstByte)
		}
		reports[i].path = filepath.Join(work, fmt.Sprintf("report-%d.html", i))
		code, out, errOut := custosRun(t, "verify", "--key", key, "--json", "--html", reports[i].path, pkg)
		if code != exit {
			t.Fatalf("verify run %d: exit %d, want %d\n%s", i, code, exit, errOut)
		}
		reports[i].verdict = verdictOfJSON(t, out)
	}
	return reports
}

// verdictOfJSON is the verdict the page must show for a JSON report.
func verdictOfJSON(t *testing.T, report string) string {
	t.Helper()
	var rep struct {
		Result string `json:"result"`
		Checks []struct {
			Result string `json:"result"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(report), &rep); err != nil {
		t.Fatalf("verify --json: %v", err)
	}
	failed := 0
	for _, c := range rep.Checks {
		if c.Result != "ok" {
			failed++
		}
	}
	switch {
	case rep.Result == "ok" && failed == 0:
		return "VERIFIED: every check holds"
	case rep.Result != "ok" && failed > 0:
		return fmt.Sprintf("FAILED: %d of %d checks do not hold", failed, len(rep.Checks))
	}
	t.Fatalf("verify --json: result %q with %d of %d checks failed", rep.Result, failed, len(rep.Checks))
	return ""
}
