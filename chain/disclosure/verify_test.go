package disclosure_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// verifyPackage verifies dir and checks that the error agrees with the
// report: nil when it verified, tampering (never another error) when not.
func verifyPackage(t *testing.T, dir string, trust *chain.Trust) *disclosure.Report {
	t.Helper()
	rep, err := disclosure.Verify(context.Background(), os.DirFS(dir), trust)
	if rep == nil {
		t.Fatalf("no report: %v", err)
	}
	switch {
	case rep.Result == disclosure.ResultOK && err != nil:
		t.Fatalf("verified, but with an error: %v", err)
	case rep.Result != disclosure.ResultOK && !errors.Is(err, chain.ErrTamper):
		t.Fatalf("failed (%v) without a tampering error: %v", rep.Failed(), err)
	case rep.Result != disclosure.ResultOK && errors.Is(err, chain.ErrTamper):
		var te *chain.TamperError
		if !errors.As(err, &te) {
			t.Fatalf("error %v holds no *TamperError", err)
		}
	}
	if len(rep.Checks) != 25 {
		t.Fatalf("%d checks reported, want every one of the 25", len(rep.Checks))
	}
	return rep
}

func reportText(rep *disclosure.Report) string {
	var b strings.Builder
	_ = rep.WriteText(&b)
	return b.String()
}

func TestVerifyPackageUntampered(t *testing.T) {
	fx := newSmallPackage(t, pkgOptions{})
	rep := verifyPackage(t, fx.dir, fx.trust)
	if rep.Result != disclosure.ResultOK {
		t.Fatalf("the untampered package fails:\n%s", reportText(rep))
	}
	if rep.PayloadBytes == 0 || len(rep.Items) != len(smallPayload) || len(rep.Events) != len(fx.indexes) {
		t.Fatalf("report counts: %d bytes, %d items, %d events", rep.PayloadBytes, len(rep.Items), len(rep.Events))
	}
	for _, it := range rep.Items {
		if it.PreservedIndex == nil {
			t.Errorf("%s: no preserved index", it.Path)
		}
	}
	for _, e := range rep.Events {
		if !e.Proven {
			t.Errorf("event %d not proven", e.Index)
		}
	}
	text := reportText(rep)
	if n := strings.Count(text, "\n"); n != 27 || !strings.Contains(text, "verified: order "+pkgOrderID) {
		t.Errorf("text form: %d lines:\n%s", n, text)
	}
}

// fxCopy returns a copy of fx in a new directory, to tamper with.
func (fx *pkgFixture) copy(t *testing.T) *pkgFixture {
	c := *fx
	c.dir = copyDir(t, fx.dir)
	return &c
}

func (fx *pkgFixture) path(name string) string {
	return filepath.Join(fx.dir, filepath.FromSlash(name))
}

func (fx *pkgFixture) proof(i int) string {
	return fmt.Sprintf("custody/proofs/%d.tlog-proof", fx.indexes[i])
}

// editLines changes the lines of a text file of the package.
func (fx *pkgFixture) editLines(t *testing.T, name string, f func([]string) []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(fx.read(t, name)), "\n"), "\n")
	fx.write(t, name, []byte(strings.Join(f(lines), "\n")+"\n"))
}

// resign signs the package's statement again after change alters it:
// what only the holder of the key could do.
func (fx *pkgFixture) resign(t *testing.T, change func(*testStatement)) {
	t.Helper()
	st := fx.statement(t)
	change(st)
	fx.sign(t, st)
}

type tamperCase struct {
	name   string
	tamper func(t *testing.T, fx *pkgFixture)
	trust  func(t *testing.T, fx *pkgFixture) *chain.Trust
	// fail lists checks that must fail, each with a problem whose file,
	// event index ("event N") or text contains the given string.
	fail map[string]string
}

func tamperCases() []tamperCase {
	flip := func(t *testing.T, fx *pkgFixture) {
		mutate(t, fx.path("data/mail/inbox.mbox"), func(b []byte) []byte { b[3] ^= 1; return b })
	}
	return []tamperCase{
		{name: "a flipped byte in a data file", tamper: flip, fail: map[string]string{
			disclosure.CheckManifestSHA256: "data/mail/inbox.mbox", disclosure.CheckManifestSHA512: "data/mail/inbox.mbox", disclosure.CheckSHA256SUMS: "data/mail/inbox.mbox",
		}},
		{name: "a flipped byte in a data file, manifests rewritten", tamper: func(t *testing.T, fx *pkgFixture) { flip(t, fx); fx.seal(t) }, fail: map[string]string{
			disclosure.CheckAttestationSubjects: "data/mail/inbox.mbox", disclosure.CheckItemsPreserved: "data/mail/inbox.mbox", disclosure.CheckAttestationStatement: "data/mail/inbox.mbox",
		}},
		{name: "a removed data file", tamper: func(t *testing.T, fx *pkgFixture) { os.Remove(fx.path("data/traffic/records.csv")) }, fail: map[string]string{
			disclosure.CheckManifestSHA256: "data/traffic/records.csv", disclosure.CheckManifestSHA512: "data/traffic/records.csv",
			disclosure.CheckSHA256SUMS: "data/traffic/records.csv", disclosure.CheckPayloadOxum: "in 5 files",
		}},
		{name: "a removed data file, manifests rewritten", tamper: func(t *testing.T, fx *pkgFixture) {
			os.Remove(fx.path("data/traffic/records.csv"))
			fx.seal(t)
		}, fail: map[string]string{disclosure.CheckAttestationSubjects: "data/traffic/records.csv", disclosure.CheckAttestationStatement: "data/traffic/records.csv"}},
		{name: "an added data file", tamper: func(t *testing.T, fx *pkgFixture) {
			writeFiles(t, fx.dir, map[string]string{"data/mail/planted.mbox": "From mallory\n"})
		}, fail: map[string]string{
			disclosure.CheckManifestSHA256: "data/mail/planted.mbox", disclosure.CheckManifestSHA512: "data/mail/planted.mbox",
			disclosure.CheckSHA256SUMS: "data/mail/planted.mbox", disclosure.CheckPayloadOxum: "in 7 files",
		}},
		{name: "an added data file, manifests rewritten", tamper: func(t *testing.T, fx *pkgFixture) {
			writeFiles(t, fx.dir, map[string]string{"data/mail/planted.mbox": "From mallory\n"})
			fx.seal(t)
		}, fail: map[string]string{disclosure.CheckAttestationSubjects: "data/mail/planted.mbox", disclosure.CheckItemsPreserved: "data/mail/planted.mbox"}},
		{name: "an edited manifest line", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "manifest-sha512.txt", func(l []string) []string { l[1] = "0" + l[1][1:]; return l })
		}, fail: map[string]string{disclosure.CheckManifestSHA512: "data/mail/sent.mbox", disclosure.CheckTagManifest: "manifest-sha512.txt"}},
		{name: "an edited event", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "custody/events.jsonl", func(l []string) []string {
				l[2] = strings.Replace(l[2], "custodian@provider.example", "custodian@provider.exbmple", 1)
				return l
			})
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckProofs: "event 4", disclosure.CheckChain: "event 6"}},
		{name: "a dropped event", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "custody/events.jsonl", func(l []string) []string { return append(l[:4:4], l[5:]...) })
			os.Remove(fx.path(fx.proof(4)))
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckChain: "the line before is event 6"}},
		{name: "a dropped event, its proof left", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "custody/events.jsonl", func(l []string) []string { return append(l[:4:4], l[5:]...) })
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckChain: "event 8", disclosure.CheckProofs: "a proof without its event"}},
		{name: "two events swapped", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "custody/events.jsonl", func(l []string) []string { l[3], l[4] = l[4], l[3]; return l })
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckEvents: "not in log order", disclosure.CheckChain: "event 7"}},
		{name: "a proof from another event", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, fx.proof(3), fx.read(t, fx.proof(2)))
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckProofs: "a proof of another event"}},
		{name: "a proof from another event, its index rewritten", tamper: func(t *testing.T, fx *pkgFixture) {
			p, err := chain.ParseProof(fx.read(t, fx.proof(2)))
			if err != nil {
				t.Fatal(err)
			}
			p.Index = fx.indexes[3]
			text, _ := chain.FormatProof(p)
			fx.write(t, fx.proof(3), text)
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckProofs: "not the log's entry"}},
		{name: "a missing proof", tamper: func(t *testing.T, fx *pkgFixture) {
			os.Remove(fx.path(fx.proof(5)))
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckProofs: "missing"}},
		{name: "an altered checkpoint", tamper: func(t *testing.T, fx *pkgFixture) {
			mutate(t, fx.path("custody/checkpoint"), func(b []byte) []byte {
				return bytes.Replace(b, []byte(fmt.Sprintf("\n%d\n", fx.cp.Size)), []byte(fmt.Sprintf("\n%d\n", fx.cp.Size+1)), 1)
			})
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckCheckpoint: "does not verify", disclosure.CheckProofs: "custody/checkpoint"}},
		{name: "a checkpoint signed by another key", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, "custody/checkpoint", resignNote(t, fx.read(t, "custody/checkpoint"), 9))
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckCheckpoint: "carries no signature by key", disclosure.CheckProofs: "custody/checkpoint"}},
		{name: "a wrong trusted key", trust: func(t *testing.T, fx *pkgFixture) *chain.Trust {
			tr, err := chain.ParseTrustLine(mustKey(t, testSigner(t, 9)).Verifier)
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}, fail: map[string]string{disclosure.CheckCheckpoint: "custody/checkpoint", disclosure.CheckAttestationSignature: "trusted key", disclosure.CheckKeys: "custody/keys/custos.pub"}},
		{name: "a DSSE statement with one subject changed", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.resign(t, func(st *testStatement) { st.subjects[2].Digest["sha512"] = strings.Repeat("ab", 64) })
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckAttestationSubjects: "data/order-document/order.pdf"}},
		{name: "a DSSE statement changed, not signed again", tamper: func(t *testing.T, fx *pkgFixture) {
			mutate(t, fx.path("custody/attestation.dsse.json"), func(b []byte) []byte {
				var env map[string]any
				if err := json.Unmarshal(b, &env); err != nil {
					t.Fatal(err)
				}
				payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
				payload = bytes.Replace(payload, []byte("data/mail/sent.mbox"), []byte("data/mail/sent.mbo_"), 1)
				env["payload"] = base64.StdEncoding.EncodeToString(payload)
				b, _ = json.Marshal(env)
				return b
			})
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckAttestationSignature: "verifies with the trusted key", disclosure.CheckAttestationSubjects: "data/mail/sent.mbo_"}},
		{name: "a file not in the format", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, "notes.txt", []byte("hello\n"))
			fx.write(t, "custody/extra.json", []byte("{}\n"))
			fx.write(t, "custody/proofs/x.tlog-proof", fx.read(t, fx.proof(0)))
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckFiles: "notes.txt"}},
		{name: "a symbolic link", tamper: func(t *testing.T, fx *pkgFixture) {
			if err := os.Symlink("/etc/passwd", fx.path("data/mail/passwd")); err != nil {
				t.Fatal(err)
			}
		}, fail: map[string]string{disclosure.CheckFiles: "data/mail/passwd"}},
		{name: "Payload-Oxum wrong", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "bag-info.txt", func(l []string) []string { l[2] = "Payload-Oxum: 170.6"; return l })
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckPayloadOxum: "169 bytes in 6 files"}},
		{name: "bag-info's reference changed", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "bag-info.txt", func(l []string) []string { l[3] = "External-Identifier: AZ 0815/26"; return l })
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckBagInfo: "External-Identifier"}},
		{name: "order.json edited", tamper: func(t *testing.T, fx *pkgFixture) {
			mutate(t, fx.path("custody/order.json"), func(b []byte) []byte { return bytes.Replace(b, []byte(`"DE"`), []byte(`"FR"`), 1) })
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckOrderRecord: "custody/order.json"}},
		{name: "a tag file edited", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, "README.txt", []byte("Trust the key in custody/keys.\n"))
		}, fail: map[string]string{disclosure.CheckTagManifest: "README.txt", disclosure.CheckSHA256SUMS: "README.txt"}},
		{name: "an edited SHA256SUMS line", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "SHA256SUMS", func(l []string) []string { l[0] = strings.Repeat("0", 64) + l[0][64:]; return l })
		}, fail: map[string]string{disclosure.CheckSHA256SUMS: "README.txt"}},
		{name: "bagit.txt changed", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, "bagit.txt", []byte("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"))
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckBagIt: "bagit.txt"}},
		{name: "a statement disclosed before the order's last event", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.resign(t, func(st *testStatement) {
				st.predicate["disclosed_at"] = pkgReceived.Add(time.Hour).Format(time.RFC3339Nano)
			})
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckEventTimes: "after the disclosure", disclosure.CheckBagInfo: "Custos-Disclosed-At"}},
		{name: "keys replaced", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, "custody/keys/custos.vkey", []byte(mustKey(t, testSigner(t, 9)).Verifier+"\n"))
			fx.sealTags(t)
		}, fail: map[string]string{disclosure.CheckKeys: "custody/keys/custos.vkey"}},
	}
}

// resignNote signs the text of a signed note with another key of the
// same origin, in place of its signatures.
func resignNote(t *testing.T, raw []byte, seed byte) []byte {
	t.Helper()
	text, _, _ := bytes.Cut(raw, []byte("\n\n"))
	ns, _, err := chain.NewNoteSigner(testOrigin, testSigner(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	out, err := note.Sign(&note.Note{Text: string(text) + "\n"}, ns)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every kind of tampering fails verification with the check that should
// catch it naming the problem; the untampered copy passes.
func TestVerifyPackageTamper(t *testing.T) {
	base := newSmallPackage(t, pkgOptions{})
	if rep := verifyPackage(t, base.dir, base.trust); rep.Result != disclosure.ResultOK {
		t.Fatalf("the untampered package fails:\n%s", reportText(rep))
	}
	for _, tc := range tamperCases() {
		t.Run(tc.name, func(t *testing.T) {
			fx := base.copy(t)
			if tc.tamper != nil {
				tc.tamper(t, fx)
			}
			trust := fx.trust
			if tc.trust != nil {
				trust = tc.trust(t, fx)
			}
			rep := verifyPackage(t, fx.dir, trust)
			if rep.Result == disclosure.ResultOK {
				t.Fatalf("tampered package verifies:\n%s", reportText(rep))
			}
			for name, where := range tc.fail {
				if !hasProblem(rep.Check(name), where) {
					t.Errorf("check %s does not fail naming %q:\n%s", name, where, reportText(rep))
				}
			}
		})
	}
}

// hasProblem reports whether c failed with a problem naming where in its
// file, its event index or its text.
func hasProblem(c *disclosure.Check, where string) bool {
	if c == nil || c.Result != disclosure.ResultFailed {
		return false
	}
	for _, p := range c.Problems {
		s := p.File + " " + p.What
		if p.Index != nil {
			s += fmt.Sprintf(" event %d", *p.Index)
		}
		if strings.Contains(s, where) {
			return true
		}
	}
	return false
}

// TestVerifyBagInfoUnsignedFields changes each bag-info.txt field and
// reseals, as anyone can: a field compared with signed evidence fails the
// bag-info check; one that nothing signs (Source-Organization) still
// verifies, but the report lists it as unsigned, so that no report shows
// it as fact (issue 18 item 1).
func TestVerifyBagInfoUnsignedFields(t *testing.T) {
	base := newSmallPackage(t, pkgOptions{})
	if rep := verifyPackage(t, base.dir, base.trust); rep.Result != disclosure.ResultOK ||
		fmt.Sprint(rep.BagInfoUnsigned) != "[Source-Organization]" {
		t.Fatalf("untampered: %s, unsigned %v", rep.Result, rep.BagInfoUnsigned)
	}
	for _, label := range []string{"Source-Organization", "External-Identifier", "Internal-Sender-Identifier", "Custos-Order-Id",
		"Custos-Issuing-Authority", "Custos-Requesting-State", "Custos-Profile", "Custos-Legal-Basis", "Custos-Recipient",
		"Custos-Disclosed-At", "Bagging-Date", "Custos-Partial", "Custos-Package-Version", "Payload-Oxum"} {
		t.Run(label, func(t *testing.T) {
			fx := base.copy(t)
			fx.editLines(t, "bag-info.txt", func(lines []string) []string {
				for i, l := range lines {
					if strings.HasPrefix(l, label+": ") {
						lines[i] = label + ": 1999-01-01"
					}
				}
				return lines
			})
			fx.sealTags(t)
			rep := verifyPackage(t, fx.dir, fx.trust)
			if rep.Result == disclosure.ResultOK {
				if !slices.Contains(rep.BagInfoUnsigned, label) || !strings.Contains(rep.Check(disclosure.CheckBagInfo).Summary, "unsigned") {
					t.Fatalf("%s changed, the package verifies and the report does not call it unsigned: %v\n%s", label, rep.BagInfoUnsigned, reportText(rep))
				}
				return
			}
			if label == "Source-Organization" {
				t.Fatalf("unsigned field changed, verification fails: %v", rep.Failed())
			}
		})
	}
}

// TestVerifyDuplicateJSONKeys: an envelope that carries a second payload
// before the signed one (Go's decoder keeps the last key, others the
// first) is refused, as is order.json with a key given twice (issue 18
// item 3).
func TestVerifyDuplicateJSONKeys(t *testing.T) {
	base := newSmallPackage(t, pkgOptions{})
	fx := base.copy(t)
	env := fx.read(t, "custody/attestation.dsse.json")
	forged := base64.StdEncoding.EncodeToString([]byte(`{"_type":"forged"}`))
	fx.write(t, "custody/attestation.dsse.json", bytes.Replace(env, []byte(`"payload":`), []byte(`"payload":"`+forged+`","payload":`), 1))
	fx.sealTags(t)
	rep := verifyPackage(t, fx.dir, fx.trust)
	if c := rep.Check(disclosure.CheckAttestationSignature); c.Result == disclosure.ResultOK || !strings.Contains(fmt.Sprint(c.Problems), `duplicate key "payload"`) {
		t.Fatalf("an envelope with two payloads: %s %v", c.Result, c.Problems)
	}
	fx = base.copy(t)
	fx.write(t, "custody/order.json", bytes.Replace(fx.read(t, "custody/order.json"), []byte(`{`), []byte(`{"authority":"forged",`), 1))
	fx.sealTags(t)
	rep = verifyPackage(t, fx.dir, fx.trust)
	if c := rep.Check(disclosure.CheckOrderRecord); c.Result == disclosure.ResultOK || !strings.Contains(fmt.Sprint(c.Problems), `duplicate key "authority"`) {
		t.Fatalf("order.json with two authorities: %s %v", c.Result, c.Problems)
	}
}
