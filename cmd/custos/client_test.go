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
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("custos %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// secondsLeft is the one field of order list and show that moves with the
// clock between two runs.
var secondsLeft = regexp.MustCompile(`"seconds_left":\s*-?[0-9]+`)

// TestClientModeMatchesInProcess runs the CLI against a daemon with
// --server and checks that it prints what the same commands print
// in-process on the same data directory; and that, while the daemon runs,
// an in-process command is refused with a pointer to --server.
func TestClientModeMatchesInProcess(t *testing.T) {
	bin := custosBinary(t)
	s := newFaultSetup(t, 64<<10)
	d := startDaemon(t, bin, s.env)
	tok := s.tokens(t, d, "intake", "custodian", "discloser")
	as := func(role string) []string {
		return append(slices.Clone(s.env), "CUSTOS_SERVER_URL="+d.url, "CUSTOS_TOKEN="+tok[role])
	}

	// Refused in-process while the daemon holds the directory, pointing at it.
	cmd := exec.Command(bin, "order", "list")
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--server "+d.url) {
		t.Fatalf("in-process order list beside the daemon: %v\n%s", err, out)
	}

	id := strings.TrimSpace(runCLI(t, bin, as("intake"), 0, "order", "add", "--reference", "CLIENT-1", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:bob@example.net",
		"--categories", "content"))
	if !regexp.MustCompile(`^[0-9A-Z]{26}$`).MatchString(id) {
		t.Fatalf("order add printed %q", id)
	}
	// An order with its document, through the daemon.
	doc := filepath.Join(s.dir, "order.pdf")
	if err := os.WriteFile(doc, []byte("%PDF-1.7\nthe order\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withDoc := runCLI(t, bin, as("intake"), 0, "--output", "json", "order", "add", "--reference", "CLIENT-2", "--authority", "Court",
		"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:bob@example.net",
		"--categories", "content", "--document", doc)
	if !strings.Contains(withDoc, `"name":"order.pdf"`) {
		t.Fatalf("order add --document through the daemon printed:\n%s", withDoc)
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
	// Bad input is a usage error through the daemon too.
	runCLI(t, bin, as("custodian"), 2, "order", "extend", "--basis", "x", "--expires", "soon", id)
	runCLI(t, bin, as("auditor-none"), 2, "order", "show", "not-an-id")

	if idx := runCLI(t, bin, as("custodian"), 0, "log", "note", "--order", id, "called the authority"); !regexp.MustCompile(`^\d+\n$`).MatchString(idx) {
		t.Fatalf("log note through the daemon printed %q", idx)
	}
	// Tokens through the daemon, with the first admin token.
	admin, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	asAdmin := append(slices.Clone(s.env), "CUSTOS_SERVER_URL="+d.url, "CUSTOS_TOKEN="+strings.TrimSpace(string(admin)))
	tok["auditor"] = strings.TrimSpace(runCLI(t, bin, asAdmin, 0, "token", "create", "--role", "auditor", "--name", "client-auditor"))
	if list := runCLI(t, bin, asAdmin, 0, "token", "list"); !strings.Contains(list, "client-auditor") || strings.Contains(list, tok["auditor"]) {
		t.Fatalf("token list through the daemon:\n%s", list)
	}
	fix := runCLI(t, bin, as("custodian"), 0, "fixity")
	if !regexp.MustCompile(`(?m)^ok   orders/\S+/items/[0-9a-f]{64} 65536 bytes$`).MatchString(fix) || !strings.HasSuffix(fix, "2 items checked, 0 failed\n") {
		t.Fatalf("fixity through the daemon printed:\n%s", fix)
	}
	pkg := filepath.Join(s.dir, "package.zip")
	dis := runCLI(t, bin, as("discloser"), 0, "disclose", "--out", pkg, id)
	if !strings.Contains(dis, "package "+pkg+" (sha256 ") {
		t.Fatalf("disclose printed:\n%s", dis)
	}
	runCLI(t, bin, []string{"HOME=" + s.dir}, 0, "verify", "--key", filepath.Join(s.data, "keys", "custos.key.vkey"), pkg)

	remote := map[string]string{
		"show": runCLI(t, bin, as("custodian"), 0, "--output", "json", "order", "show", id),
		"list": runCLI(t, bin, as("custodian"), 0, "--output", "json", "order", "list"),
		"text": runCLI(t, bin, as("custodian"), 0, "order", "list"),
		"log":  runCLI(t, bin, as("auditor"), 0, "log", "show", "--order", id),
	}
	proof := runCLI(t, bin, as("custodian"), 0, "log", "prove", "1")
	if _, err := chain.ParseProof([]byte(proof)); err != nil {
		t.Fatalf("log prove through the daemon: %v\n%s", err, proof)
	}
	if cp := runCLI(t, bin, as("custodian"), 0, "log", "checkpoint"); !strings.HasPrefix(cp, "custos-agent\n") {
		t.Fatalf("log checkpoint through the daemon:\n%s", cp)
	}
	d.stop(t)
	local := map[string]string{
		"show": runCLI(t, bin, s.env, 0, "--output", "json", "order", "show", id),
		"list": runCLI(t, bin, s.env, 0, "--output", "json", "order", "list"),
		"text": runCLI(t, bin, s.env, 0, "order", "list"),
		"log":  runCLI(t, bin, s.env, 0, "log", "show", "--order", id),
	}
	for k := range remote {
		r, l := secondsLeft.ReplaceAllString(remote[k], ""), secondsLeft.ReplaceAllString(local[k], "")
		if r != l {
			t.Errorf("%s through the daemon:\n%s\nin-process:\n%s", k, remote[k], local[k])
		}
	}
	var shown struct {
		Order struct {
			Status string `json:"status"`
		} `json:"order"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(local["show"]), &shown); err != nil || shown.Order.Status != "disclosed" || len(shown.Items) != 1 {
		t.Fatalf("order after the client's steps: %v %+v", err, shown)
	}
}
