package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
)

// The tamper matrix of issue 5 through the CLI: one order captured and
// disclosed as a directory, a zip, a tar and an age-encrypted tar; each
// case tampers with a copy of one of them and runs `custos verify`, which
// must exit 3 naming the failed check and the file or event concerned.
// chain/disclosure/verify_test.go and open_test.go hold the finer cases of the
// library; this is what an investigator sees.

// tamperPkgs are the clean packages of the matrix and what the cases need
// to tamper with them.
type tamperPkgs struct {
	pkg      map[string]string // "dir", "zip", "tar", "age": the same order disclosed four ways
	key      string            // the provider's note verifier file
	otherKey string            // another deployment's
	identity string            // age identity file that opens pkg["age"]
	ageID    *age.X25519Identity
	events   []pkgEventLine // custody/events.jsonl of pkg["dir"]
}

// pkgEventLine is one line of custody/events.jsonl.
type pkgEventLine struct {
	Index uint64 `json:"index"`
	raw   string
}

// line returns the position in events of the first line containing every
// one of subs.
func (p *tamperPkgs) line(t *testing.T, subs ...string) int {
	t.Helper()
next:
	for i, l := range p.events {
		for _, s := range subs {
			if !strings.Contains(l.raw, s) {
				continue next
			}
		}
		return i
	}
	t.Fatalf("no event line contains all of %q", subs)
	return -1
}

// custosRun runs custos in-process and returns its exit code and output.
func custosRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"custos"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func custosMust(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := custosRun(t, args...)
	if code != 0 {
		t.Fatalf("custos %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildTamperPkgs adds an order with its document, captures two files and
// discloses the order four ways, all through the CLI.
func buildTamperPkgs(t *testing.T) *tamperPkgs {
	t.Setenv("CUSTOS_KEY_PASSPHRASE", testPassphrase)
	t.Setenv("CUSTOS_LOG_CHECKPOINT_INTERVAL", "100ms")
	t.Setenv("CUSTOS_ACTOR", "custodian@example.net")
	work := t.TempDir()
	data := filepath.Join(work, "data")
	writeTree(t, work, map[string]string{
		"order.pdf":              "%PDF-1.4 the order\n",
		"export/mail/a.eml":      "From: alice\nhi\n",
		"export/logs/access.log": "2026-11-01T10:00:00Z alice GET /\n",
	})
	custosMust(t, "--data-dir", data, "keys", "generate")
	id := strings.TrimSpace(custosMust(t, "--data-dir", data, "order", "add", "--reference", "LE-7", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16",
		"--selector", "email:alice@example.net", "--categories", "content,traffic", "--document", filepath.Join(work, "order.pdf")))
	custosMust(t, "--data-dir", data, "capture", "--source", "file://"+filepath.Join(work, "export"), "--category", "content", id)

	ageID, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := &tamperPkgs{
		pkg: map[string]string{
			"dir": filepath.Join(work, "pkg"), "zip": filepath.Join(work, "pkg.zip"), "tar": filepath.Join(work, "pkg.tar"),
			"age": filepath.Join(work, "sealed.tar.age"),
		},
		key:      filepath.Join(data, "keys", "custos.key.vkey"),
		otherKey: filepath.Join(work, "other", "keys", "custos.key.vkey"),
		identity: filepath.Join(work, "identity.txt"),
		ageID:    ageID,
	}
	custosMust(t, "--data-dir", data, "order", "verify-requester", "--method", "callback", "--result", "confirmed", "--note", "called the authority back", id)
	for _, kind := range []string{"dir", "zip", "tar"} {
		custosMust(t, "--data-dir", data, "disclose", "--out", p.pkg[kind], id)
	}
	custosMust(t, "--data-dir", data, "disclose", "--out", filepath.Join(work, "sealed.tar"), "--recipient", ageID.Recipient().String(), id)
	writeTree(t, work, map[string]string{"identity.txt": ageID.String() + "\n"})
	custosMust(t, "--data-dir", filepath.Join(work, "other"), "keys", "generate")

	b, err := os.ReadFile(filepath.Join(p.pkg["dir"], "custody", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" {
			continue
		}
		e := pkgEventLine{raw: l}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("events.jsonl: %v", err)
		}
		p.events = append(p.events, e)
	}
	return p
}

// copyPkg copies the clean package of kind into a new directory and returns
// the copy's path, of the same base name.
func (p *tamperPkgs) copyPkg(t *testing.T, kind string) string {
	t.Helper()
	src := p.pkg[kind]
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if kind == "dir" {
		if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

type verifyTamperCase struct {
	name   string
	from   string // the clean package to copy: dir, zip, tar or age
	tamper func(t *testing.T, pkg string)
	key    func(p *tamperPkgs) string // the --key; nil: the provider's
	json   bool                       // verify --json
	// want lists the failed checks and problems the report must show;
	// stderr, what custos must say there besides "tampering detected"
	// (archives that cannot be opened have no report, only this).
	want   []wantProblem
	stderr []string
}

// verifyTamperCases are the kinds of tampering, each its own case.
func verifyTamperCases(t *testing.T, p *tamperPkgs) []verifyTamperCase {
	const (
		eml       = "data/export/mail/a.eml"
		accessLog = "data/export/logs/access.log"
	)
	at := func(i int) string { return fmt.Sprintf("event %d: ", p.events[i].Index) }
	// The batch that sealed the capture's two files (the order document
	// has a batch of its own).
	sealed := p.line(t, `"type":"items.sealed"`, `"count":"2"`)
	preservedEml, preservedLog := sealed, sealed
	editEvent := func(t *testing.T, pkg string) {
		editEvents(t, pkg, func(l []string) []string {
			l[sealed] = string(replaceOnce(t, []byte(l[sealed]), `"count":"2"`, `"count":"3"`))
			return l
		})
	}
	proofOf := func(i int) string { return fmt.Sprintf("custody/proofs/%d.tlog-proof", p.events[i].Index) }
	q := regexp.QuoteMeta
	return []verifyTamperCase{
		{name: "a flipped byte in a data file", from: "dir",
			tamper: func(t *testing.T, pkg string) { editPkgFile(t, pkg, eml, flipLowBitOfFirstByte) },
			want: []wantProblem{
				{"manifest-sha256", `^` + q(eml) + `: SHA-256 of the file is`},
				{"manifest-sha512", `^` + q(eml) + `: SHA-512 of the file is`},
				{"sha256sums", `^` + q(eml) + `: `},
				{"attestation-subjects", `^` + q(eml) + `: the signed statement says SHA-256`},
				{"items-preserved", `^` + q(eml) + `: no item.preserved event`},
			}},
		{name: "a removed data file", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				if err := os.Remove(filepath.Join(pkg, filepath.FromSlash(accessLog))); err != nil {
					t.Fatal(err)
				}
			},
			want: []wantProblem{
				{"manifest-sha256", `^` + q(accessLog) + `: listed in manifest-sha256.txt but not a file`},
				{"payload-oxum", `in 2 files`},
				{"attestation-subjects", `^` + q(accessLog) + `: a subject of the signed statement but not a payload file`},
			}},
		{name: "an added data file", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				writeTree(t, pkg, map[string]string{"data/export/mail/planted.eml": "From: mallory\n"})
			},
			want: []wantProblem{
				{"manifest-sha256", `^data/export/mail/planted.eml: not listed in manifest-sha256.txt`},
				{"payload-oxum", `in 4 files`},
				{"attestation-subjects", `^data/export/mail/planted.eml: a payload file that is not a subject`},
				{"items-preserved", `^data/export/mail/planted.eml: no item.preserved event`},
			}},
		{name: "an edited manifest line", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				editPkgFile(t, pkg, "manifest-sha256.txt", func(b []byte) []byte {
					i := bytes.Index(b, []byte("  "+eml+"\n"))
					b[i-1] ^= 1 // the last hex digit of its line
					return b
				})
			},
			want: []wantProblem{
				{"manifest-sha256", `^` + q(eml) + `: SHA-256 of the file is .*, manifest-sha256.txt says`},
				{"tagmanifest-sha256", `^manifest-sha256.txt: `},
			}},
		{name: "an edited event", from: "dir", tamper: editEvent,
			want: []wantProblem{
				{"proofs", `^` + q(proofOf(preservedEml)) + `: ` + at(preservedEml)},
				{"chain", `^custody/events.jsonl: ` + at(preservedEml+1) + `links to event`},
				{"records", `seals 3 records`},
			}},
		{name: "a dropped event", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				if err := os.Remove(filepath.Join(pkg, proofOf(preservedLog))); err != nil {
					t.Fatal(err)
				}
				editEvents(t, pkg, func(l []string) []string { return slices.Delete(l, preservedLog, preservedLog+1) })
			},
			want: []wantProblem{
				{"chain", `^custody/events.jsonl: ` + at(preservedLog+1) + fmt.Sprintf(`links to event %d .*, but the line before is event %d`, p.events[preservedLog].Index, p.events[preservedLog-1].Index)},
				{"items-preserved", `^` + q(accessLog) + `: no item.preserved event`},
			}},
		{name: "two events swapped", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				editEvents(t, pkg, func(l []string) []string { l[2], l[3] = l[3], l[2]; return l })
			},
			want: []wantProblem{
				{"events", `^custody/events.jsonl: ` + at(2) + `line 4: index .* the events are not in log order`},
				{"chain", `^custody/events.jsonl: ` + at(3)},
			}},
		{name: "a proof from another event", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				editPkgFile(t, pkg, proofOf(preservedEml), func([]byte) []byte {
					b, err := os.ReadFile(filepath.Join(pkg, proofOf(preservedEml-1)))
					if err != nil {
						t.Fatal(err)
					}
					return b
				})
				resealTags(t, pkg)
			},
			want: []wantProblem{{"proofs", `^` + q(proofOf(preservedEml)) + `: ` + at(preservedEml)}}},
		{name: "an altered checkpoint", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				editPkgFile(t, pkg, "custody/checkpoint", func(b []byte) []byte {
					lines := strings.SplitN(string(b), "\n", 3) // origin, tree size, the rest
					size, err := strconv.ParseUint(lines[1], 10, 64)
					if err != nil {
						t.Fatalf("checkpoint size: %v", err)
					}
					lines[1] = strconv.FormatUint(size+1, 10)
					return []byte(strings.Join(lines, "\n"))
				})
				resealTags(t, pkg)
			},
			want: []wantProblem{
				{"checkpoint", `^custody/checkpoint: `},
				{"proofs", `^custody/checkpoint: inclusion not checked`},
			}},
		{name: "a checkpoint signed by another key", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				editPkgFile(t, pkg, "custody/checkpoint", func(b []byte) []byte { return resignCheckpoint(t, b) })
				resealTags(t, pkg)
			},
			want: []wantProblem{
				{"checkpoint", `^custody/checkpoint: .*no signature by key`},
				{"proofs", `^custody/checkpoint: inclusion not checked`},
			}},
		{name: "a wrong --key", from: "zip", key: func(p *tamperPkgs) string { return p.otherKey },
			stderr: []string{`: not signed by the key you trust: `},
			want: []wantProblem{
				{"checkpoint", `^custody/checkpoint: `},
				{"attestation-signature", `^custody/attestation.dsse.json: `},
				{"keys", `^custody/keys/custos.vkey: names another key than the trusted one`},
			}},
		{name: "a truncated zip", from: "zip",
			tamper: func(t *testing.T, pkg string) { truncateHalf(t, pkg) },
			stderr: []string{`tampering detected: pkg.zip: .*not a valid zip`}},
		{name: "a zip-slip path", from: "zip",
			tamper: func(t *testing.T, pkg string) {
				rewriteZip(t, pkg, pkg, nil, func(w *zip.Writer) error {
					f, err := w.Create("../evil")
					if err == nil {
						_, err = f.Write([]byte("planted outside the package\n"))
					}
					return err
				})
			},
			stderr: []string{`tampering detected: \.\./evil: .*escapes the package`}},
		{name: "a zip rebuilt with a data file changed", from: "zip",
			tamper: func(t *testing.T, pkg string) { rewriteZip(t, pkg, pkg, changeEntry(eml, flipLowBitOfFirstByte), nil) },
			want:   []wantProblem{{"manifest-sha256", `^` + q(eml) + `: SHA-256 of the file is`}}},
		{name: "a symlink in a tar", from: "tar",
			tamper: func(t *testing.T, pkg string) {
				in, err := os.ReadFile(pkg)
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				rewriteTar(t, bytes.NewReader(in), &out, nil, func(w *tar.Writer) error {
					return w.WriteHeader(&tar.Header{Name: "data/export/passwd", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd", Mode: 0o777})
				})
				if err := os.WriteFile(pkg, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			stderr: []string{`tampering detected: data/export/passwd: symbolic link to "/etc/passwd" refused`}},
		{name: "a truncated tar", from: "tar",
			tamper: func(t *testing.T, pkg string) { truncateHalf(t, pkg) },
			stderr: []string{`tampering detected: .*truncated`}},
		{name: "a DSSE statement with one subject changed, the old signature kept", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				editPkgFile(t, pkg, "custody/attestation.dsse.json", func(b []byte) []byte { return changeSubject(t, b, eml) })
				resealTags(t, pkg)
			},
			want: []wantProblem{
				{"attestation-signature", `^custody/attestation.dsse.json: `},
				{"attestation-subjects", `^` + q(eml) + `: the signed statement says SHA-256`},
			}},
		{name: "Payload-Oxum wrong", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				editPkgFile(t, pkg, "bag-info.txt", func(b []byte) []byte {
					return regexp.MustCompile(`Payload-Oxum: \d+`).ReplaceAll(b, []byte("Payload-Oxum: 1"))
				})
				resealTags(t, pkg)
			},
			want: []wantProblem{{"payload-oxum", `^bag-info.txt: Payload-Oxum is "1\.3"; the payload is \d+ bytes in 3 files`}}},
		{name: "a directory not in the format", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				writeTree(t, pkg, map[string]string{"data-extra/x": "x\n"})
				resealTags(t, pkg)
			},
			want: []wantProblem{
				{"files", `^data-extra/: directory is not part of the package format`},
				{"files", `^data-extra/x: file is not part of the package format`},
			}},
		{name: "a file in custody/ not in the format", from: "dir",
			tamper: func(t *testing.T, pkg string) {
				writeTree(t, pkg, map[string]string{"custody/extra": "{}\n"})
				resealTags(t, pkg)
			},
			want: []wantProblem{{"files", `^custody/extra: file is not part of the package format`}}},
		{name: "an age package re-encrypted with a data file changed", from: "age",
			tamper: func(t *testing.T, pkg string) {
				reencryptAge(t, pkg, p.ageID, changeEntry(eml, flipLowBitOfFirstByte))
			},
			want: []wantProblem{{"manifest-sha256", `^` + q(eml) + `: SHA-256 of the file is`}}},
		{name: "an age package with a flipped byte", from: "age",
			tamper: func(t *testing.T, pkg string) {
				editPkgFile(t, pkg, "", func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
			},
			stderr: []string{`tampering detected: .*damaged package`}},
		{name: "an edited event, --json", from: "dir", tamper: editEvent, json: true,
			want: []wantProblem{
				{"proofs", `^` + q(proofOf(preservedEml)) + `: ` + at(preservedEml)},
				{"chain", `^custody/events.jsonl: ` + at(preservedEml+1)},
			}},
	}
}

// verifyIn runs custos verify on pkg with TMPDIR set to an empty directory,
// and checks that the directory is empty again afterwards: whatever an
// archive held, it was extracted there and removed.
func verifyIn(t *testing.T, p *tamperPkgs, pkg, key string, extra ...string) (int, string, string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	args := append([]string{"verify", "--key", key}, extra...)
	if strings.HasSuffix(pkg, ".age") {
		args = append(args, "--identity", p.identity)
	}
	code, stdout, stderr := custosRun(t, append(args, pkg)...)
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("verify left %d entries in its temporary directory (%v)", len(left), err)
	}
	return code, stdout, stderr
}

func TestVerifyTamperMatrix(t *testing.T) {
	p := buildTamperPkgs(t)
	for _, kind := range []string{"dir", "zip", "tar", "age"} {
		t.Run("untampered "+kind, func(t *testing.T) {
			code, stdout, stderr := verifyIn(t, p, p.copyPkg(t, kind), p.key)
			if code != 0 || !regexp.MustCompile(`(?m)^verified: order `).MatchString(stdout) {
				t.Fatalf("exit %d, want 0 and verified:\n%s%s", code, stdout, stderr)
			}
		})
	}
	for _, tc := range verifyTamperCases(t, p) {
		t.Run(tc.name, func(t *testing.T) {
			pkg := p.copyPkg(t, tc.from)
			if tc.tamper != nil {
				tc.tamper(t, pkg)
			}
			key := p.key
			if tc.key != nil {
				key = tc.key(p)
			}
			var extra []string
			if tc.json {
				extra = []string{"--json"}
			}
			code, stdout, stderr := verifyIn(t, p, pkg, key, extra...)
			t.Logf("exit %d\n%s%s", code, stdout, stderr)
			if code != exitTamper {
				t.Errorf("exit %d, want %d", code, exitTamper)
			}
			always := `tampering detected`
			if tc.key != nil { // only the trusted key differs
				always = `not signed by the key you trust`
			}
			for _, re := range append([]string{always}, tc.stderr...) {
				if !regexp.MustCompile(re).MatchString(stderr) {
					t.Errorf("stderr lacks %s", re)
				}
			}
			if tc.want == nil {
				if stdout != "" {
					t.Errorf("a refused package has a report on stdout")
				}
				return
			}
			failed := reportProblems(stdout)
			if tc.json {
				var result string
				result, failed = jsonProblems(t, stdout)
				if result != "failed" {
					t.Errorf(`--json: "result":%q, want "failed"`, result)
				}
			}
			for _, w := range tc.want {
				lines, ok := failed[w.check]
				if !ok {
					t.Errorf("check %s did not fail", w.check)
					continue
				}
				if !slices.ContainsFunc(lines, regexp.MustCompile(w.match).MatchString) {
					t.Errorf("check %s lists no problem matching %s: %q", w.check, w.match, lines)
				}
				if !regexp.MustCompile(`: [a-z0-9, -]*\b` + w.check + `\b[a-z0-9, -]* failed: (tampering detected|not signed by the key you trust)`).MatchString(stderr) {
					t.Errorf("stderr does not name %s among the failed checks", w.check)
				}
			}
		})
	}
}
