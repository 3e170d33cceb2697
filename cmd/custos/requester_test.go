package main

import (
	"os"
	"path/filepath"
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
