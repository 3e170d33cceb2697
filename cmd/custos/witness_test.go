package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/witnesstest"
)

// TestWitnessedPackage runs custos with two witnesses (Ed25519 and
// ML-DSA-44), fail-closed: the package's checkpoint carries both
// cosignatures, verify --witness-policy reports them and the quorum
// met, verify without it says witnesses were not checked, and an altered
// cosignature is tampering. A witness down then blocks the next
// checkpoint, and the command says why.
func TestWitnessedPackage(t *testing.T) {
	t.Setenv("CUSTOS_KEY_PASSPHRASE", testPassphrase)
	t.Setenv("CUSTOS_LOG_CHECKPOINT_INTERVAL", "100ms")
	t.Setenv("CUSTOS_ACTOR", "custodian@example.net")
	t.Setenv("CUSTOS_AGENT_ID", "custos.test/witnessed")
	work := t.TempDir()
	data := filepath.Join(work, "data")
	writeTree(t, work, map[string]string{
		"order.pdf":         "%PDF-1.4 the order\n",
		"export/mail/a.eml": "From: alice\nhi\n",
	})
	custosMust(t, "--data-dir", data, "keys", "generate")
	key := filepath.Join(data, "keys", "custos.key.vkey")
	trust := vkeyTrust(t, key)
	ws, err := witnesstest.Both(trust.Note)
	if err != nil {
		t.Fatal(err)
	}
	ed, ml := ws[0], ws[1]
	defer ed.Close()
	defer ml.Close()
	policy := filepath.Join(work, "witnesses.policy")
	writeTree(t, work, map[string]string{"witnesses.policy": string(witnesstest.Policy(2, ed, ml))})
	t.Setenv("CUSTOS_LOG_WITNESSES", policy)
	t.Setenv("CUSTOS_LOG_WITNESS_FAIL_OPEN", "false")

	id := strings.TrimSpace(custosMust(t, "--data-dir", data, "order", "add", "--reference", "LE-9", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16",
		"--selector", "email:alice@example.net", "--categories", "content", "--document", filepath.Join(work, "order.pdf")))
	custosMust(t, "--data-dir", data, "capture", "--source", "file://"+filepath.Join(work, "export"), "--category", "content", id)
	pkg := filepath.Join(work, "pkg")
	custosMust(t, "--data-dir", data, "order", "verify-requester", "--method", "callback", "--result", "confirmed", "--note", "called the authority back", id)
	custosMust(t, "--data-dir", data, "disclose", "--out", pkg, id)

	sch, _ := compileReportSchema(t)
	code, stdout, stderr := custosRun(t, "verify", "--key", key, "--witness-policy", policy, "--json", pkg)
	if code != exitOK {
		t.Fatalf("verify --witness-policy: exit %d\n%s%s", code, stdout, stderr)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("report does not conform to the schema: %v", err)
	}
	var rep struct {
		Witnesses struct {
			Checked    bool     `json:"checked"`
			Signatures int      `json:"signatures"`
			Cosigned   []string `json:"cosigned"`
			QuorumMet  bool     `json:"quorum_met"`
		} `json:"witnesses"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	w := rep.Witnesses
	slices.Sort(w.Cosigned)
	if !w.Checked || !w.QuorumMet || w.Signatures != 2 || !slices.Equal(w.Cosigned, []string{ed.Name, ml.Name}) {
		t.Fatalf("witnesses reported: %+v", w)
	}

	code, stdout, _ = custosRun(t, "verify", "--key", key, pkg)
	if code != exitOK || !strings.Contains(stdout, "witnesses not checked (no witness policy given): the checkpoint carries 2 signatures besides the log's") {
		t.Fatalf("verify without a policy: exit %d\n%s", code, stdout)
	}

	// One byte of the ML-DSA cosignature changed (its key hash kept).
	altered := filepath.Join(t.TempDir(), "pkg")
	if err := os.CopyFS(altered, os.DirFS(pkg)); err != nil {
		t.Fatal(err)
	}
	editPkgFile(t, altered, "custody/checkpoint", func(b []byte) []byte {
		lines := strings.SplitAfter(string(b), "\n")
		for i, l := range lines {
			if !strings.HasPrefix(l, "— "+ml.Name+" ") {
				continue
			}
			f := strings.Fields(l)
			sig, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			sig[len(sig)-1] ^= 1
			lines[i] = "— " + ml.Name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
			return []byte(strings.Join(lines, ""))
		}
		t.Fatalf("no cosignature by %s in the package's checkpoint:\n%s", ml.Name, b)
		return nil
	})
	code, stdout, _ = custosRun(t, "verify", "--key", key, "--witness-policy", policy, altered)
	if code != exitTamper || !strings.Contains(stdout, "FAILED  witnesses") || !strings.Contains(stdout, "the cosignature by witness "+ml.Name) {
		t.Fatalf("altered cosignature: exit %d\n%s", code, stdout)
	}

	checkLogVerifyWitnesses(t, data, policy, trust.Note)

	// Fail-closed: a witness down, the next checkpoint is not published,
	// and the command fails naming the quorum and the witness.
	ml.SetDown(true)
	code, stdout, stderr = custosRun(t, "--data-dir", data, "order", "add", "--reference", "LE-10", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16",
		"--selector", "email:bob@example.net", "--categories", "content")
	if code == exitOK || !strings.Contains(stderr, "witness quorum not met") || !strings.Contains(stderr, ml.URL()) {
		t.Fatalf("witness down, fail-closed: exit %d\n%s%s", code, stdout, stderr)
	}
	ml.SetDown(false)
}

// checkLogVerifyWitnesses: log verify --witness-policy checks the
// cosignatures kept with the checkpoints of the log in data: with the
// policy the log was cosigned under, the newest checkpoint meets the
// quorum; with a policy naming a witness that never saw the log, it does
// not, and log verify fails; a kept cosignature altered is tampering.
func checkLogVerifyWitnesses(t *testing.T, data, policy string, logKey note.Verifier) {
	t.Helper()
	code, stdout, stderr := custosRun(t, "--data-dir", data, "log", "verify", "--witness-policy", policy)
	if code != exitOK || !regexp.MustCompile(`(?m)^witnesses: +[0-9]+ of [0-9]+ kept checkpoints meet the quorum of quorum 2 of 2 .*; the newest \(size [0-9]+\) meets it$`).MatchString(stdout) {
		t.Fatalf("log verify --witness-policy: exit %d\n%s%s", code, stdout, stderr)
	}
	stranger, err := witnesstest.New("stranger.witness.test", witnesstest.Ed25519, logKey)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	other := filepath.Join(t.TempDir(), "other.policy")
	if err := os.WriteFile(other, witnesstest.Policy(1, stranger), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = custosRun(t, "--data-dir", data, "log", "verify", "--witness-policy", other)
	if code != exitTamper || !strings.Contains(stdout, "does NOT meet it") || !strings.Contains(stdout, "NOT WITNESSED") || !strings.Contains(stderr, "does not meet the witness policy's quorum") {
		t.Fatalf("log verify with a policy whose witness never cosigned: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = custosRun(t, "--data-dir", data, "log", "verify", "--witness-policy", filepath.Join(data, "keys", "custos.key.vkey"))
	if code != exitUsage || !strings.Contains(stderr, "--witness-policy") {
		t.Fatalf("log verify with a file that is no policy: exit %d\n%s", code, stderr)
	}

	// One byte of the newest kept cosignature changed.
	dir := filepath.Join(data, "log", chain.CosignaturesDir)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("no kept cosignatures: %v", err)
	}
	sizes := make([]int, 0, len(ents))
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			sizes = append(sizes, n)
		}
	}
	file := filepath.Join(dir, strconv.Itoa(slices.Max(sizes)))
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.WriteFile(file, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	}()
	lines := strings.SplitAfter(string(orig), "\n")
	f := strings.Fields(lines[len(lines)-2])
	sig, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	lines[len(lines)-2] = f[0] + " " + f[1] + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
	if err := os.WriteFile(file, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = custosRun(t, "--data-dir", data, "log", "verify", "--witness-policy", policy)
	if code != exitTamper || !strings.Contains(stdout, "does not verify") {
		t.Fatalf("log verify with an altered cosignature: exit %d\n%s", code, stdout)
	}
}
