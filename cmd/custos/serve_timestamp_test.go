package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/tsatest"
)

// The daemon asks for tokens on a clock of its own: an order received
// through the API is covered by a token within log.timestamp.every and a
// checkpoint, although the scheduler's tick is left at its default minute,
// and the token reaches the store's mirror; an authority that is down is
// logged, naming it, and preservation goes on. A package disclosed
// through the API carries the good authority's token over its signed
// statement, and custos verify --tsa-roots says when it was disclosed.
func TestServeTimestamps(t *testing.T) {
	bin := custosBinary(t)
	dir := t.TempDir()
	good := tsatest.New(t, tsatest.Options{Name: "Good TSA"})
	down := tsatest.New(t, tsatest.Options{Name: "Down TSA", Down: true})
	var entries []string
	for name, a := range map[string]*tsatest.TSA{"good": good, "down": down} {
		chainFile := filepath.Join(dir, name+".pem")
		if err := os.WriteFile(chainFile, a.ChainPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, fmt.Sprintf("      - {name: %s, url: %q, chain: %q}\n", name, a.URL(), chainFile))
	}
	export := filepath.Join(dir, "export")
	if err := os.MkdirAll(export, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(export, "a.eml"), []byte("Subject: a\n\nalpha"), 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "custos.yaml")
	if err := os.WriteFile(config, []byte("log:\n  timestamp:\n    every: 1s\n    tsa:\n"+strings.Join(entries, "")+
		"sources:\n  mailbox:\n    type: dir\n    categories: [content]\n    root: "+export+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	env := []string{"CUSTOS_DATA_DIR=" + data, "CUSTOS_CONFIG=" + config, "CUSTOS_KEY_PASSPHRASE=serve timestamps",
		"CUSTOS_LOG_CHECKPOINT_INTERVAL=200ms", "CUSTOS_SCHEDULER_MIRROR_EVERY=1s"}
	d := startDaemon(t, bin, env)
	admin, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	var nt struct {
		Secret string `json:"secret"`
	}
	d.call(t, strings.TrimSpace(string(admin)), "POST", "/v1/tokens", map[string]string{"name": "intake-1", "role": "intake"}, http.StatusCreated, &nt)
	var order struct {
		ID string `json:"id"`
	}
	received := time.Now()
	d.call(t, nt.Secret, "POST", "/v1/orders", map[string]any{
		"reference": "TSA-1", "authority": "Court", "requesting_state": "NL", "profile": "eu-epoc-pr",
		"legal_basis": "Regulation (EU) 2023/1543, art. 6", "categories": []string{"content"},
		"selectors": []map[string]string{{"type": "email", "value": "alice@example.net"}},
	}, http.StatusCreated, &order)

	// The bound is every (1s) + 2 s; 15 s leaves room for a loaded
	// machine and is still far below the scheduler's tick (1 minute), which
	// drove the requests before.
	logDir := filepath.Join(data, "log")
	deadline := received.Add(15 * time.Second)
	var kept []chain.KeptTimestamp
	for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if kept, err = chain.KeptTimestamps(os.DirFS(logDir)); err == nil && len(kept) > 0 {
			break
		}
	}
	if len(kept) == 0 || kept[0].TSA != "good" {
		t.Fatalf("no token of the good authority %v after the order's receipt: %+v %v\n%s", time.Since(received), kept, err, d.stderr)
	}
	t.Logf("order received through the API to its first token kept: %v", time.Since(received).Round(time.Millisecond))
	for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if strings.Contains(d.stderr.String(), `"tsa":"down"`) {
			break
		}
	}
	if out := d.stderr.String(); !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, `"tsa":"down"`) || strings.Contains(out, down.URL()) {
		t.Fatalf("the down authority is not logged as a WARN naming it (and only it):\n%s", out)
	}
	// log show --timestamps through the daemon (GET /v1/timestamps): an
	// auditor reads the tokens, as the command lists them in process;
	// another role may not.
	var at struct {
		Secret string `json:"secret"`
	}
	d.call(t, strings.TrimSpace(string(admin)), "POST", "/v1/tokens", map[string]string{"name": "auditor-1", "role": "auditor"}, http.StatusCreated, &at)
	client := func(token string) *exec.Cmd {
		cmd := exec.Command(bin, "log", "show", "--timestamps", "--output", "json")
		cmd.Env = append(os.Environ(), "CUSTOS_CONFIG="+config, "CUSTOS_SERVER_URL="+d.url, "CUSTOS_TOKEN="+token)
		return cmd
	}
	out, err := client(at.Secret).Output()
	if err != nil || !strings.Contains(string(out), `"tsa":"good"`) || !strings.Contains(string(out), `"digest_matches":true`) ||
		!strings.Contains(string(out), `"file":"log/`+kept[0].File+`"`) {
		t.Fatalf("log show --timestamps through the daemon: %v\n%s", err, out)
	}
	if out, err := client(nt.Secret).CombinedOutput(); err == nil || !strings.Contains(string(out), "403") && !strings.Contains(string(out), "may not") {
		t.Fatalf("log show --timestamps as intake: %v\n%s", err, out)
	}
	serveDiscloseStamped(t, d, bin, strings.TrimSpace(string(admin)), order.ID, dir, good)
	d.stop(t)
	// The store's mirror holds the token (the local store is under the data directory).
	var mirrored bool
	_ = filepath.WalkDir(data, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, filepath.Join("log", "timestamps", filepath.Base(kept[0].File))) && !strings.HasPrefix(p, logDir) {
			mirrored = true
		}
		return nil
	})
	if !mirrored {
		t.Fatalf("the token %s is not in the store's mirror", kept[0].File)
	}
}

// serveDiscloseStamped captures order id through the daemon d, discloses
// it and verifies the package downloaded with good's root: it carries
// good's token over its statement, which dates the disclosure; the
// authority that is down was left out with a WARN naming it.
func serveDiscloseStamped(t *testing.T, d *daemon, bin, admin, id, dir string, good *tsatest.TSA) {
	t.Helper()
	token := func(role string) string {
		var nt struct {
			Secret string `json:"secret"`
		}
		d.call(t, admin, "POST", "/v1/tokens", map[string]string{"name": role + "-1", "role": role}, http.StatusCreated, &nt)
		return nt.Secret
	}
	custodian, discloser := token("custodian"), token("discloser")
	var job struct {
		State string `json:"state"`
	}
	d.call(t, custodian, "POST", "/v1/orders/"+id+"/captures?wait=2m", map[string]any{"cut_off": "now"}, http.StatusOK, &job)
	if job.State != "succeeded" {
		t.Fatalf("capture job: %+v", job)
	}
	d.call(t, custodian, "POST", "/v1/orders/"+id+"/requester-checks",
		map[string]string{"method": "portal", "result": "confirmed", "note": "the reference is in the court's portal"}, http.StatusCreated, nil)
	var dis struct {
		Download string `json:"download"`
	}
	d.call(t, discloser, "POST", "/v1/orders/"+id+"/disclosures", map[string]any{"format": "tar"}, http.StatusCreated, &dis)
	pkg := filepath.Join(dir, "package.tar")
	if err := os.WriteFile(pkg, d.call(t, discloser, "GET", dis.Download, nil, http.StatusOK, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.stderr.String(), `"msg":"disclosure statement left without a token of this timestamp authority: it gave none","tsa":"down"`) {
		t.Fatalf("the authority down at the disclosure is not logged as a WARN naming it:\n%s", d.stderr)
	}
	roots := filepath.Join(dir, "good-root.pem")
	if err := os.WriteFile(roots, good.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command(bin, "verify", "--key", filepath.Join(dir, "data", "keys", "custos.key.vkey"), "--tsa-roots", roots, pkg)
	verify.Env = []string{"HOME=" + dir}
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "; disclosed no later than ") || !strings.Contains(string(out), "custody/timestamps/attestation.good.tsr") {
		t.Fatalf("custos verify --tsa-roots of the package disclosed through the daemon: %v\n%s", err, out)
	}
}
