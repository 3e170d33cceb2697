package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// runCLI runs the custos binary with env and returns its stdout, failing the
// test unless it exits with want.
func runCLI(t *testing.T, bin string, env []string, want int, args ...string) string {
	t.Helper()
	stdout, _ := runCLIStderr(t, bin, env, want, args...)
	return stdout
}

// runCLIStderr is runCLI that returns what the command wrote to stderr
// too.
func runCLIStderr(t *testing.T, bin string, env []string, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("custos %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// secondsLeft is the one field of order list and show that moves with the
// clock between two runs.
var secondsLeft = regexp.MustCompile(`"seconds_left":\s*-?[0-9]+`)

// custodyBackend is one implementation of the custody service the CLI's
// commands run on (custodyService): the agent in-process on the data
// directory, or a daemon serving it, the commands its clients (--server).
// custodySuite runs against each, as restic runs one suite against every
// backend.
type custodyBackend struct {
	name string
	// start readies the backend on the data directory of s.
	start func(t *testing.T, bin string, s *faultSetup) *custodySession
}

// custodySession is a backend ready for commands.
type custodySession struct {
	// tokens are the daemon's bearer tokens by role, "admin" included;
	// the suite adds those it makes.
	tokens map[string]string
	// env is the environment of a command acting in role.
	env func(role string) []string
	// stop stops what serves the data directory, which stays.
	stop func(t *testing.T)
}

var custodyBackends = []custodyBackend{
	{name: "in-process", start: startInProcess},
	{name: "daemon", start: startDaemonBackend},
}

// startInProcess: each command is the agent, acting as the role's person.
func startInProcess(t *testing.T, bin string, s *faultSetup) *custodySession {
	env := func(role string) []string {
		return append(slices.Clone(s.env), "CUSTOS_SERVER_URL=", "CUSTOS_ACTOR="+role+"@example.net")
	}
	runCLI(t, bin, env("admin"), 0, "keys", "generate")
	return &custodySession{tokens: map[string]string{}, env: env, stop: func(*testing.T) {}}
}

// startDaemonBackend starts `custos serve` (which makes the key and the
// first admin token) and makes a token per role; each command is its
// client. While the daemon runs, an in-process command is refused with a
// pointer to --server.
func startDaemonBackend(t *testing.T, bin string, s *faultSetup) *custodySession {
	d := startDaemon(t, bin, s.env)
	tok := s.tokens(t, d, "intake", "custodian", "discloser")
	admin, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	tok["admin"] = strings.TrimSpace(string(admin))

	// Refused in-process while the daemon holds the directory, pointing at it.
	cmd := exec.Command(bin, "order", "list")
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--server "+d.url) {
		t.Fatalf("in-process order list beside the daemon: %v\n%s", err, out)
	}
	return &custodySession{
		tokens: tok,
		env: func(role string) []string {
			return append(slices.Clone(s.env), "CUSTOS_SERVER_URL="+d.url, "CUSTOS_TOKEN="+tok[role])
		},
		stop: func(t *testing.T) { d.stop(t) },
	}
}

// TestCustodyService runs the custody suite against every backend.
func TestCustodyService(t *testing.T) {
	bin := custosBinary(t)
	for _, b := range custodyBackends {
		t.Run(b.name, func(t *testing.T) { custodySuite(t, bin, b) })
	}
}

// custodySuite takes orders through their life with the CLI on one
// backend, checking what each command prints; then, the backend stopped,
// it checks that the same reads in-process on the same data directory
// print the same bytes, so that a command prints the same whichever
// custody service runs it.
func custodySuite(t *testing.T, bin string, b custodyBackend) {
	s := newFaultSetup(t, 64<<10)
	sess := b.start(t, bin, s)
	as := sess.env

	id := strings.TrimSpace(runCLI(t, bin, as("intake"), 0, "order", "add", "--reference", "CLIENT-1", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:bob@example.net",
		"--categories", "content"))
	if !regexp.MustCompile(`^[0-9A-Z]{26}$`).MatchString(id) {
		t.Fatalf("order add printed %q", id)
	}
	// An order with its document.
	doc := filepath.Join(s.dir, "order.pdf")
	if err := os.WriteFile(doc, []byte("%PDF-1.7\nthe order\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withDoc := runCLI(t, bin, as("intake"), 0, "--output", "json", "order", "add", "--reference", "CLIENT-2", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:bob@example.net",
		"--categories", "content", "--document", doc)
	if !strings.Contains(withDoc, `"name":"order.pdf"`) {
		t.Fatalf("order add --document printed:\n%s", withDoc)
	}
	capture := runCLI(t, bin, as("custodian"), 0, "capture", "--source", "big", id)
	if !regexp.MustCompile(`(?m)^preserved big: big\.bin [0-9a-f]{64} 65536 bytes$`).MatchString(capture) ||
		!strings.Contains(capture, ": 1 preserved, 0 already preserved") {
		t.Fatalf("capture printed:\n%s", capture)
	}
	ext := runCLI(t, bin, as("custodian"), 0, "order", "extend", "--basis", "renewal", id)
	if !regexp.MustCompile(`^order \S+ extended to \S+ \(extension 1\); retention of \d+ objects extended\n$`).MatchString(ext) {
		t.Fatalf("order extend printed %q", ext)
	}
	// Bad input is a usage error, whoever is asked.
	runCLI(t, bin, as("custodian"), 2, "order", "extend", "--basis", "x", "--expires", "soon", id)
	runCLI(t, bin, as("auditor-none"), 2, "order", "show", "not-an-id")

	if idx := runCLI(t, bin, as("custodian"), 0, "log", "note", "--order", id, "called the authority"); !regexp.MustCompile(`^\d+\n$`).MatchString(idx) {
		t.Fatalf("log note printed %q", idx)
	}
	// Tokens, as an admin.
	sess.tokens["auditor"] = strings.TrimSpace(runCLI(t, bin, as("admin"), 0, "token", "create", "--role", "auditor", "--name", "client-auditor"))
	if list := runCLI(t, bin, as("admin"), 0, "token", "list"); !strings.Contains(list, "client-auditor") || strings.Contains(list, sess.tokens["auditor"]) {
		t.Fatalf("token list:\n%s", list)
	}
	fix := runCLI(t, bin, as("custodian"), 0, "fixity")
	if !regexp.MustCompile(`(?m)^ok   orders/\S+/items/[0-9a-f]{64} 65536 bytes$`).MatchString(fix) || !strings.HasSuffix(fix, "2 items checked, 0 failed\n") {
		t.Fatalf("fixity printed:\n%s", fix)
	}
	pkg := filepath.Join(s.dir, "package.zip")
	// A disclosure waits for a confirmed check of the requester.
	if _, stderr := runCLIStderr(t, bin, as("discloser"), 1, "disclose", "--out", pkg, id); !strings.Contains(stderr, "its requester was never verified") {
		t.Fatalf("disclose of an unverified order said:\n%s", stderr)
	}
	if out := runCLI(t, bin, as("custodian"), 0, "order", "verify-requester", "--method", "callback", "--result", "confirmed",
		"--note", "called the court registry", id); !regexp.MustCompile(`^order \S+: requester confirmed \(callback\); logged as entry \d+\n$`).MatchString(out) {
		t.Fatalf("order verify-requester printed %q", out)
	}
	dis := runCLI(t, bin, as("discloser"), 0, "disclose", "--out", pkg, id)
	if !strings.Contains(dis, "package "+pkg+" (sha256 ") {
		t.Fatalf("disclose printed:\n%s", dis)
	}
	runCLI(t, bin, []string{"HOME=" + s.dir}, 0, "verify", "--key", filepath.Join(s.data, "keys", "custos.key.vkey"), pkg)

	// An order held while its mutual assistance request is pending, then
	// released and purged: its item stays, under retention until expiry.
	held := strings.TrimSpace(runCLI(t, bin, as("intake"), 0, "order", "add", "--reference", "CLIENT-3", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-29", "--legal-basis", "art. 29", "--selector", "email:eve@example.net",
		"--categories", "content"))
	runCLI(t, bin, as("custodian"), 0, "capture", "--source", "big", held)
	if out := runCLI(t, bin, as("custodian"), 0, "order", "hold", "--basis", "MLA request 2026/77", held); !regexp.MustCompile(`^order \S+ held; legal hold set on [1-9]\d* objects\n$`).MatchString(out) {
		t.Fatalf("order hold printed %q", out)
	}
	if out := runCLI(t, bin, as("custodian"), 0, "order", "hold", "--lift", "--reason", "MLA decided", held); !strings.HasPrefix(out, "order "+held+": hold lifted, preserved again, expires ") {
		t.Fatalf("order hold --lift printed %q", out)
	}
	if out := runCLI(t, bin, as("custodian"), 0, "order", "release", "--reason", "withdrawn", held); !strings.HasPrefix(out, "order "+held+" released; its objects are retained until ") {
		t.Fatalf("order release printed %q", out)
	}
	var purged struct {
		Order struct {
			Status string `json:"status"`
		} `json:"order"`
		Purged []json.RawMessage `json:"purged"`
		Kept   []json.RawMessage `json:"kept"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, bin, as("custodian"), 0, "--output", "json", "order", "purge", "--reason", "withdrawn", held)), &purged); err != nil ||
		purged.Order.Status != "released" || purged.Purged == nil || len(purged.Purged) != 0 || len(purged.Kept) != 1 {
		t.Fatalf("order purge: %v %+v", err, purged)
	}

	// An EU form (not confidential, so that the custodian captures its
	// order) and its Annex VI; a second extension and a malformed form
	// are bad input, whoever is asked.
	pr := euFormFile(t, s.dir, "epoc-pr.xml", "<Confidential>true</Confidential>", "<Confidential>false</Confidential>")
	eu := strings.TrimSpace(runCLI(t, bin, as("intake"), 0, "order", "import", pr))
	runCLI(t, bin, as("custodian"), 0, "capture", "--source", "big", eu)
	if out := runCLI(t, bin, as("intake"), 0, "order", "import", euFormFile(t, s.dir, "annex-vi.xml")); !regexp.MustCompile(
		`^order ` + eu + ` extended to \S+ by Annex VI .* DE-BER-EPOCPR6-2026-000051 \(sha256 [0-9a-f]{64}\); retention of [1-9]\d* objects extended\n$`).MatchString(out) {
		t.Fatalf("order import of an Annex VI printed %q", out)
	}
	runCLI(t, bin, as("intake"), 2, "order", "import", euFormFile(t, s.dir, "annex-vi.xml", "000051", "000052"))
	runCLI(t, bin, as("intake"), 2, "order", "import", euFormFile(t, s.dir, "epoc-pr-missing-file-number.xml"))

	// A production order whose enforcing authority was notified: its
	// review confirmed, once, whoever is asked; its deadline in the lists
	// compared below.
	prod := strings.TrimSpace(runCLI(t, bin, as("intake"), 0, "order", "add", "--reference", "CLIENT-P", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "custom", "--legal-basis", "code 60-1", "--selector", "email:pat@example.net",
		"--categories", "content", "--expires", "60d", "--production", "--authority-notified"))
	runCLI(t, bin, as("custodian"), 2, "order", "review", "--confirmed", prod)
	if out := runCLI(t, bin, as("custodian"), 0, "order", "review", "--confirmed", "--basis", "mail of the enforcing authority", prod); !regexp.MustCompile(
		`^order ` + prod + `: the enforcing authority confirmed: production from \S+, due \S+\n$`).MatchString(out) {
		t.Fatalf("order review printed %q", out)
	}
	runCLI(t, bin, as("custodian"), 1, "order", "review", "--objected", "--basis", "again", prod)
	// Replies to the EU order's authority, by the custodian: a
	// confirmation, then an Annex III; a ground that is none is bad
	// input whoever is asked, and through the daemon the intake may not
	// reply (403).
	// The XML is stored under its own SHA-256 (SPEC section 5).
	if out := runCLI(t, bin, as("custodian"), 0, "order", "reply", "--preserved", eu); !func() bool {
		m := regexp.MustCompile(`^order ` + eu + `: reply 1 \(confirmation of preservation\) written, signed and logged \(order.replied, log index \d+\)\n  orders/` +
			eu + `/replies/([0-9a-f]{64}).xml  sha256 ([0-9a-f]{64})\n`).FindStringSubmatch(out)
		return m != nil && m[1] == m[2]
	}() {
		t.Fatalf("order reply --preserved printed %q", out)
	}
	if out := runCLI(t, bin, as("custodian"), 0, "order", "reply", "--cannot-comply", "incomplete-or-erroneous", "--explanation", "Section D names no account of ours", eu); !strings.HasPrefix(out,
		"order "+eu+": reply 2 (Annex III, cannot comply: incomplete-or-erroneous) written") {
		t.Fatalf("order reply --cannot-comply printed %q", out)
	}
	runCLI(t, bin, as("custodian"), 2, "order", "reply", "--cannot-comply", "too-busy", eu)
	back := filepath.Join(s.dir, "replies-back")
	if out := runCLI(t, bin, as("discloser"), 0, "order", "reply", "--get", "2", "--out", back, eu); strings.Count(out, "  sha256 ") != 3 {
		t.Fatalf("order reply --get printed %q", out)
	}
	if x, err := os.ReadFile(filepath.Join(back, "2.xml")); err != nil || !strings.Contains(string(x), `<Ground code="incomplete-or-erroneous">`) {
		t.Fatalf("reply 2 read back: %v\n%s", err, x)
	}
	if b.name == "daemon" {
		runCLI(t, bin, as("intake"), 1, "order", "reply", "--preserved", eu)
	}

	served := map[string]string{
		"show":   runCLI(t, bin, as("custodian"), 0, "--output", "json", "order", "show", id),
		"eu":     runCLI(t, bin, as("custodian"), 0, "order", "show", eu),
		"list":   runCLI(t, bin, as("custodian"), 0, "--output", "json", "order", "list"),
		"text":   runCLI(t, bin, as("custodian"), 0, "order", "list"),
		"log":    runCLI(t, bin, as("auditor"), 0, "log", "show", "--order", id),
		"report": reportFigures(t, runCLI(t, bin, as("auditor"), 0, "--output", "json", "report", "--from", "2000-01-01", "--to", "2099-12-31")),
	}
	if b.name == "daemon" { // the log is the auditor's to read (403)
		runCLI(t, bin, as("custodian"), 1, "log", "show", "--order", id)
		runCLI(t, bin, as("custodian"), 1, "report", "--from", "2000-01-01", "--to", "2099-12-31")
	}
	proof := runCLI(t, bin, as("auditor"), 0, "log", "prove", "1")
	if _, err := chain.ParseProof([]byte(proof)); err != nil {
		t.Fatalf("log prove: %v\n%s", err, proof)
	}
	if cp := runCLI(t, bin, as("auditor"), 0, "log", "checkpoint"); !regexp.MustCompile(`^[a-z0-9.-]+/custos-[0-9a-f]{8}\n`).MatchString(cp) {
		t.Fatalf("log checkpoint:\n%s", cp)
	}
	// A revoked token is refused from then on; in-process, tokens are
	// the daemon's business and nothing changes.
	var tokens []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, bin, as("admin"), 0, "--output", "json", "token", "list")), &tokens); err != nil || len(tokens) == 0 {
		t.Fatalf("token list: %v %+v", err, tokens)
	}
	last := tokens[len(tokens)-1]
	if last.Name != "client-auditor" {
		t.Fatalf("the newest token is %+v", last)
	}
	if out := runCLI(t, bin, as("admin"), 0, "token", "revoke", last.ID); !strings.HasPrefix(out, "token "+last.ID+" (client-auditor, auditor) revoked at ") {
		t.Fatalf("token revoke printed %q", out)
	}

	sess.stop(t)
	local := map[string]string{
		"show":   runCLI(t, bin, s.env, 0, "--output", "json", "order", "show", id),
		"eu":     runCLI(t, bin, s.env, 0, "order", "show", eu),
		"list":   runCLI(t, bin, s.env, 0, "--output", "json", "order", "list"),
		"text":   runCLI(t, bin, s.env, 0, "order", "list"),
		"log":    runCLI(t, bin, s.env, 0, "log", "show", "--order", id),
		"report": reportFigures(t, runCLI(t, bin, s.env, 0, "--output", "json", "report", "--from", "2000-01-01", "--to", "2099-12-31")),
	}
	// Five orders: one captured and disclosed, one released, one
	// imported from an EU form, captured and answered that the provider
	// cannot comply, one whose document alone, preserved at receipt, is
	// not its data, and a production order.
	if !strings.Contains(local["report"], `"accounts":6,"by_instrument":[{"key":"budapest-16","orders":2},{"key":"budapest-29","orders":1},{"key":"custom","orders":1},{"key":"eu-epoc-pr","orders":1}]`) ||
		!strings.Contains(local["report"], `"by_outcome":[{"key":"preserved","orders":0},{"key":"disclosed","orders":1},{"key":"cannot comply","orders":1},{"key":"released","orders":1},{"key":"pending","orders":2}]`) ||
		!strings.Contains(local["report"], `"by_requesting_state":[{"key":"FR","orders":4},{"key":"DE","orders":1}]`) ||
		!strings.Contains(local["list"], `"state":"open"`) || !strings.Contains(local["text"], " <- next ") ||
		!strings.Contains(local["report"], `"orders":3,"p95_seconds"`) {
		t.Errorf("report of the suite's orders: %s", local["report"])
	}
	for k := range served {
		r, l := secondsLeft.ReplaceAllString(served[k], ""), secondsLeft.ReplaceAllString(local[k], "")
		if r != l {
			t.Errorf("%s served by the %s backend:\n%s\nin-process:\n%s", k, b.name, served[k], local[k])
		}
	}
	var shown struct {
		Order struct {
			Status string `json:"status"`
		} `json:"order"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(local["show"]), &shown); err != nil || shown.Order.Status != "disclosed" || len(shown.Items) != 1 {
		t.Fatalf("order after the suite's steps: %v %+v", err, shown)
	}
	if !regexp.MustCompile(`(?m)^replies: +2\n  reply 1 \(preserved\) .*\n(    .*\n){3}  reply 2 \(cannot-comply: incomplete-or-erroneous\) `).MatchString(local["eu"]) {
		t.Errorf("order show of the EU order lists its replies as:\n%s", local["eu"])
	}
}

// reportFigures is a JSON report without the log size and checkpoint it
// was computed at, which differ as the log grows between two reports.
func reportFigures(t *testing.T, out string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("report --output json: %v\n%s", err, out)
	}
	delete(m, "log_size")
	delete(m, "checkpoint_root")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// euFormFile writes one of agent/order's test forms, edited by the
// replacer pairs, into dir.
func euFormFile(t *testing.T, dir, name string, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "agent", "order", "testdata", "forms", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "form-"+name)
	if err := os.WriteFile(path, []byte(strings.NewReplacer(edits...).Replace(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
