package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEmergencyDisclosureOnEachBackend: an emergency order's disclosure
// needs a second identity's approval, in-process (the identity is the
// actor) and through the daemon (the token's name) alike; the same
// identity approving twice, or disclosing on its own approval, is
// refused, changing nothing.
func TestEmergencyDisclosureOnEachBackend(t *testing.T) {
	bin := custosBinary(t)
	for _, b := range custodyBackends {
		t.Run(b.name, func(t *testing.T) {
			s := newFaultSetup(t, 1<<10)
			sess := b.start(t, bin, s)
			defer sess.stop(t)
			as := sess.env
			// A second discloser: a token of its own through the daemon,
			// an actor of its own in-process.
			sess.tokens["approver"] = strings.TrimSpace(runCLI(t, bin, as("admin"), 0, "token", "create", "--role", "discloser", "--name", "client-approver"))

			id := strings.TrimSpace(runCLI(t, bin, as("intake"), 0, "order", "add", "--reference", "URGENT-1", "--authority", "LKA",
				"--requesting-state", "DE", "--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:bob@example.net",
				"--categories", "content", "--emergency"))
			runCLI(t, bin, as("custodian"), 0, "capture", "--source", "big", id)
			runCLI(t, bin, as("custodian"), 0, "order", "verify-requester", "--method", "known-channel", "--result", "confirmed",
				"--note", "the LKA liaison line", id)

			pkg := filepath.Join(s.dir, "p.zip")
			if _, stderr := runCLIStderr(t, bin, as("discloser"), 1, "disclose", "--out", pkg, id); !strings.Contains(stderr, "a second identity must approve its disclosure first") {
				t.Fatalf("disclose without approval said:\n%s", stderr)
			}
			if out := runCLI(t, bin, as("approver"), 0, "disclose", "--approve", "--note", "threat to life", id); !strings.Contains(out, "next disclosure approved") {
				t.Fatalf("disclose --approve printed %q", out)
			}
			if _, stderr := runCLIStderr(t, bin, as("approver"), 1, "disclose", "--approve", id); !strings.Contains(stderr, "already approved its next disclosure") {
				t.Fatalf("a second approval by the same identity said:\n%s", stderr)
			}
			if _, stderr := runCLIStderr(t, bin, as("approver"), 1, "disclose", "--out", pkg, id); !strings.Contains(stderr, "who discloses: another identity must approve") {
				t.Fatalf("the approver disclosing said:\n%s", stderr)
			}
			if _, err := os.Stat(pkg); err == nil {
				t.Fatal("a refused disclosure left a package")
			}
			if out := runCLI(t, bin, as("discloser"), 0, "disclose", "--out", pkg, id); !strings.Contains(out, "package "+pkg+" (sha256 ") {
				t.Fatalf("disclose printed:\n%s", out)
			}
			runCLI(t, bin, []string{"HOME=" + s.dir}, 0, "verify", "--key", filepath.Join(s.data, "keys", "custos.key.vkey"), pkg)
		})
	}
}

// TestVerifiedChannelThroughTheDaemon: an order received by an intake
// token that intake.verified_channels names is logged with
// requester.verified, method verified-channel, at receipt, and discloses
// without a person's check; one from another intake token waits for it.
func TestVerifiedChannelThroughTheDaemon(t *testing.T) {
	bin := custosBinary(t)
	s := newFaultSetup(t, 1<<10, "CUSTOS_INTAKE_VERIFIED_CHANNELS=portal-fr")
	d := startDaemon(t, bin, s.env)
	defer d.stop(t)
	tok := s.tokens(t, d, "intake", "custodian", "discloser", "auditor")
	admin, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	var portal struct {
		Secret string `json:"secret"`
	}
	d.call(t, strings.TrimSpace(string(admin)), "POST", "/v1/tokens", map[string]string{"name": "portal-fr", "role": "intake"}, http.StatusCreated, &portal)
	tok["portal-fr"] = portal.Secret
	as := func(who string) []string {
		return append(slices.Clone(s.env), "CUSTOS_SERVER_URL="+d.url, "CUSTOS_TOKEN="+tok[who])
	}
	add := func(who, ref string) string {
		id := strings.TrimSpace(runCLI(t, bin, as(who), 0, "order", "add", "--reference", ref, "--authority", "Tribunal judiciaire de Paris",
			"--requesting-state", "FR", "--profile", "budapest-16", "--legal-basis", "art. 16", "--selector", "email:bob@example.net",
			"--categories", "content"))
		runCLI(t, bin, as("custodian"), 0, "capture", "--source", "big", id)
		return id
	}
	viaPortal, viaMail := add("portal-fr", "PORTAL-1"), add("intake", "MAIL-1")

	if out := runCLI(t, bin, as("discloser"), 0, "disclose", "--out", filepath.Join(s.dir, "portal.zip"), viaPortal); !strings.Contains(out, "package ") {
		t.Fatalf("disclose of the portal's order printed:\n%s", out)
	}
	log := runCLI(t, bin, as("auditor"), 0, "--output", "json", "log", "show", "--order", viaPortal)
	for _, want := range []string{`"type":"requester.verified"`, `"method":"verified-channel"`, `"channel":"portal-fr"`, `"requester_method":"verified-channel"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the portal order's events lack %s:\n%s", want, log)
		}
	}
	if _, stderr := runCLIStderr(t, bin, as("discloser"), 1, "disclose", "--out", filepath.Join(s.dir, "mail.zip"), viaMail); !strings.Contains(stderr, "requester_unverified") &&
		!strings.Contains(stderr, "its requester was never verified") {
		t.Fatalf("disclose of the mailed order said:\n%s", stderr)
	}
}
