package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestVerifyReencryptedToAnotherRecipient: an intact package, decrypted
// and encrypted again to someone the provider did not disclose to, fails
// the recipient check with exit 3, naming both recipients; the package as
// disclosed passes it (issue 18 item 4).
func TestVerifyReencryptedToAnotherRecipient(t *testing.T) {
	p := buildTamperPkgs(t)
	code, stdout, stderr := verifyIn(t, p, p.copyPkg(t, "age"), p.key)
	if code != 0 || !regexp.MustCompile(`(?m)^ok +recipient +decrypted with `+p.ageID.Recipient().String()).MatchString(stdout) {
		t.Fatalf("as disclosed: exit %d\n%s%s", code, stdout, stderr)
	}
	mallory, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pkg := p.copyPkg(t, "age")
	enc, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(strings.NewReader(string(enc)), p.ageID)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	w, err := age.Encrypt(&out, mallory.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	rewriteTar(t, r, w, nil, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pkg, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	q := *p
	q.identity = filepath.Join(t.TempDir(), "mallory.txt")
	if err := os.WriteFile(q.identity, []byte(mallory.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = verifyIn(t, &q, pkg, p.key)
	if code != exitTamper || !strings.Contains(stdout, "decrypted with "+mallory.Recipient().String()+", but the signed statement names "+p.ageID.Recipient().String()) ||
		!strings.Contains(stderr, "recipient failed: tampering detected") {
		t.Fatalf("re-encrypted: exit %d, want %d and the recipient check failed:\n%s%s", code, exitTamper, stdout, stderr)
	}
}
