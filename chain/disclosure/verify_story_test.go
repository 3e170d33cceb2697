package disclosure_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// The events must tell a lawful story: each case is a package built from
// a log that tells another, every signature and proof genuine.
func TestVerifyPackageStory(t *testing.T) {
	cases := []struct {
		name string
		o    pkgOptions
		fail map[string]string // as in tamperCase; none: the package verifies
	}{
		{name: "a capture begun after the order expired", o: pkgOptions{expiresIn: 30 * time.Second},
			fail: map[string]string{disclosure.CheckCaptureWindow: "when the order had expired"}},
		{name: "a held order captured after its former expiry", o: pkgOptions{held: true, expiresIn: 59500 * time.Millisecond}},
		{name: "an item preserved outside its capture", o: pkgOptions{itemCapture: "01J9Z3K4M5N6P7Q8R9S0T1V2X9"},
			fail: map[string]string{disclosure.CheckCaptureWindow: "which no earlier capture.started began"}},
		{name: "a purged item disclosed", o: pkgOptions{purgeFirst: true},
			fail: map[string]string{disclosure.CheckItemsPreserved: "was purged"}},
		{name: "a released order disclosed", o: pkgOptions{finalStatus: "released"},
			fail: map[string]string{disclosure.CheckOrderStatus: `"released"`}},
		{name: "times going backwards", o: pkgOptions{lastBack: 2 * time.Hour},
			fail: map[string]string{disclosure.CheckEventTimes: "times go backwards"}},
		{name: "concurrent appends a little out of time order", o: pkgOptions{lastBack: 2*time.Second + 30*time.Second}},
		{name: "an order received with no expiry", o: pkgOptions{noExpiry: true},
			fail: map[string]string{disclosure.CheckCaptureWindow: "order.received names no expires_at"}},
		{name: "a capture whose cut-off is not a time", o: pkgOptions{cutOff: "yesterday"},
			fail: map[string]string{disclosure.CheckCaptureWindow: `cut_off "yesterday" is not an RFC 3339 time`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newSmallPackage(t, tc.o)
			rep := verifyPackage(t, fx.dir, fx.trust)
			if len(tc.fail) == 0 {
				if rep.Result != disclosure.ResultOK {
					t.Fatalf("a lawful package fails:\n%s", reportText(rep))
				}
				return
			}
			if rep.Result == disclosure.ResultOK {
				t.Fatalf("verifies:\n%s", reportText(rep))
			}
			var want []string
			for name, where := range tc.fail {
				want = append(want, name)
				if !hasProblem(rep.Check(name), where) {
					t.Errorf("check %s does not fail naming %q:\n%s", name, where, reportText(rep))
				}
			}
			if got := rep.Failed(); !slices.Equal(got, want) {
				t.Errorf("failed checks %v, want only %v:\n%s", got, want, reportText(rep))
			}
		})
	}
}

// A package signed with an ECDSA P-256 key verifies with the key given as
// a note verifier line or as PEM; an Ed25519 one with its PEM key.
func TestVerifyPackageKeys(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ecfx := buildPackage(t, ec, pkgOptions{}, smallPayload)
	edfx := newSmallPackage(t, pkgOptions{})
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fx   *pkgFixture
		key  []byte // what --key names
		ok   bool
	}{
		{"ECDSA, verifier line", ecfx, []byte(ecfx.key.Verifier + "\n"), true},
		{"ECDSA, PEM", ecfx, pemOf(t, ecfx.key.Public), true},
		{"Ed25519, verifier line", edfx, []byte(edfx.key.Verifier), true},
		{"Ed25519, PEM", edfx, pemOf(t, edfx.key.Public), true},
		{"ECDSA, another PEM key", ecfx, pemOf(t, other.Public()), false},
		{"ECDSA package, the Ed25519 key", ecfx, []byte(edfx.key.Verifier), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trust, err := chain.ParseTrust(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			rep := verifyPackage(t, tc.fx.dir, trust)
			if (rep.Result == disclosure.ResultOK) != tc.ok {
				t.Fatalf("result %s, want ok=%v:\n%s", rep.Result, tc.ok, reportText(rep))
			}
			if !tc.ok && (!hasProblem(rep.Check(disclosure.CheckCheckpoint), "custody/checkpoint") || !hasProblem(rep.Check(disclosure.CheckAttestationSignature), "trusted key")) {
				t.Errorf("the wrong key is not named as such:\n%s", reportText(rep))
			}
			if tc.ok && rep.Key != tc.fx.key.Verifier {
				t.Errorf("report names key %q, want %q", rep.Key, tc.fx.key.Verifier)
			}
		})
	}
}

func pemOf(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The report's JSON and text forms are stable: golden files pin them.
func TestPackageReportForms(t *testing.T) {
	fx := newSmallPackage(t, pkgOptions{})
	rep := verifyPackage(t, fx.dir, fx.trust)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "package-report.json", append(js, '\n'))
	golden(t, "package-report.txt", []byte(reportText(rep)))

	bad := fx.copy(t)
	bad.editLines(t, "custody/events.jsonl", func(l []string) []string { l[3], l[4] = l[4], l[3]; return l })
	rep = verifyPackage(t, bad.dir, bad.trust)
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(rep); err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b.Bytes(), &generic); err != nil {
		t.Fatal(err)
	}
	if generic["result"] != "failed" {
		t.Fatalf("result %v", generic["result"])
	}
	golden(t, "package-report-failed.txt", []byte(reportText(rep)))
}

// Events dropped from the end of events.jsonl leave every other check
// whole (the chain still links, every remaining proof holds); only the
// signed statement, which names the count and the newest event, says so.
// So do a case.jsonld or README.txt rewritten after signing.
func TestVerifyPackageStatementBindsEventsAndTagFiles(t *testing.T) {
	fx := newSmallPackage(t, pkgOptions{})

	dropped := fx.copy(t)
	var lastIndex uint64
	dropped.editLines(t, "custody/events.jsonl", func(l []string) []string {
		var line struct {
			Index uint64 `json:"index"`
		}
		if err := json.Unmarshal([]byte(l[len(l)-1]), &line); err != nil {
			t.Fatal(err)
		}
		lastIndex = line.Index
		return l[:len(l)-1]
	})
	if err := os.Remove(filepath.Join(dropped.dir, "custody", "proofs", strconv.FormatUint(lastIndex, 10)+".tlog-proof")); err != nil {
		t.Fatal(err)
	}
	dropped.sealTags(t)
	rep := verifyPackage(t, dropped.dir, dropped.trust)
	if c := rep.Check(disclosure.CheckAttestationStatement); c.Result != disclosure.ResultFailed || !strings.Contains(fmt.Sprint(c.Problems), "events were added or removed") {
		t.Errorf("dropped newest event: attestation-statement %+v", c)
	}

	for _, name := range []string{"case.jsonld", "README.txt"} {
		edited := fx.copy(t)
		edited.write(t, name, append(edited.read(t, name), "edited\n"...))
		edited.sealTags(t)
		rep := verifyPackage(t, edited.dir, edited.trust)
		if c := rep.Check(disclosure.CheckAttestationStatement); c.Result != disclosure.ResultFailed || !strings.Contains(fmt.Sprint(c.Problems), name) {
			t.Errorf("%s edited: attestation-statement %+v", name, c)
		}
	}
}

// TestVerifyReportsAdverseEvents: a capture.failed and a fixity.failed in
// the order's story are summarised in the text and JSON reports, even
// though the package verifies; a story without one has an empty list
// (issue 18 item 6).
func TestVerifyReportsAdverseEvents(t *testing.T) {
	fx := newSmallPackage(t, pkgOptions{fixityFailed: true})
	rep := verifyPackage(t, fx.dir, fx.trust)
	if rep.Result != disclosure.ResultOK {
		t.Fatalf("the package fails: %v\n%s", rep.Failed(), reportText(rep))
	}
	var types []string
	for _, a := range rep.AdverseEvents {
		types = append(types, string(a.Type))
		if !a.Proven || a.What == "" {
			t.Errorf("adverse event %+v: not proven or no summary", a)
		}
	}
	if strings.Join(types, " ") != "capture.failed fixity.failed" {
		t.Fatalf("adverse events %v, want capture.failed and fixity.failed", types)
	}
	text := reportText(rep)
	for _, want := range []string{"ADVERSE 2 adverse events in the order's story:", "capture.failed: \"source unreachable;",
		"fixity.failed: \"the stored item's SHA-256 differs; sha256:", "; 2 adverse events in the order's story, listed above\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"adverse_events":[{"index":`) || !strings.Contains(string(js), `"type":"fixity.failed"`) {
		t.Errorf("JSON report lacks the adverse events: %s", js)
	}
	clean := verifyPackage(t, newSmallPackage(t, pkgOptions{}).dir, fx.trust)
	if js, _ := json.Marshal(clean); len(clean.AdverseEvents) != 0 || !strings.Contains(string(js), `"adverse_events":[]`) || strings.Contains(reportText(clean), "ADVERSE") {
		t.Errorf("a clean story reports adverse events: %v", clean.AdverseEvents)
	}
}

// TestVerifyExtraFiles: the files an operating system or archiver adds
// to a copy (.DS_Store anywhere, ._NAME, a top-level __MACOSX/) are set
// aside and named as extra files, not as tampering: the package verifies
// without them. Any other file outside the format still fails the files
// check (issue 18 item 7).
func TestVerifyExtraFiles(t *testing.T) {
	base := newSmallPackage(t, pkgOptions{})
	fx := base.copy(t)
	writeFiles(t, fx.dir, map[string]string{
		".DS_Store": "\x00\x00\x00\x01Bud1", "data/mail/.DS_Store": "Bud1", "data/mail/._inbox.mbox": "\x00\x05\x16\x07",
		"__MACOSX/data/mail/._sent.mbox": "\x00\x05\x16\x07",
	})
	rep := verifyPackage(t, fx.dir, fx.trust)
	if rep.Result != disclosure.ResultOK {
		t.Fatalf("extra files fail the package: %v\n%s", rep.Failed(), reportText(rep))
	}
	want := []string{".DS_Store", "__MACOSX/", "data/mail/.DS_Store", "data/mail/._inbox.mbox"}
	if fmt.Sprint(rep.ExtraFiles) != fmt.Sprint(want) {
		t.Fatalf("extra files %v, want %v", rep.ExtraFiles, want)
	}
	text := reportText(rep)
	if !strings.Contains(text, "EXTRA   data/mail/.DS_Store: not part of the package") || !strings.Contains(text, "; 4 extra files not part of the package set aside\n") {
		t.Errorf("text report:\n%s", text)
	}
	fx = base.copy(t)
	writeFiles(t, fx.dir, map[string]string{"Thumbs.db": "x", "data/mail/.DS_Store": "Bud1"})
	rep = verifyPackage(t, fx.dir, fx.trust)
	if c := rep.Check(disclosure.CheckFiles); c.Result == disclosure.ResultOK || fmt.Sprint(rep.ExtraFiles) != "[data/mail/.DS_Store]" {
		t.Fatalf("Thumbs.db at the root: files check %s, extra %v", c.Result, rep.ExtraFiles)
	}
}
