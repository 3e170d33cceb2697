package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVerifyBenignCopies: an intact package archived again from inside its
// directory with tar (entries "./...") verifies, exit 0; a copy carrying
// .DS_Store and __MACOSX/ verifies with its extra files named, exit 4,
// not 3: it was not tampered with (issue 18 item 7). Nothing is left in
// the verifier's temporary directory.
func TestVerifyBenignCopies(t *testing.T) {
	p := buildTamperPkgs(t)
	pkg := p.copyPkg(t, "dir")
	retarred := filepath.Join(t.TempDir(), "retarred.tar")
	if out, err := exec.Command("tar", "-C", pkg, "-cf", retarred, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	code, stdout, stderr := verifyIn(t, p, retarred, p.key)
	if code != exitOK || !regexp.MustCompile(`(?m)^verified: order `).MatchString(stdout) {
		t.Fatalf("tar -cf x.tar . of an intact package: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	writeTree(t, pkg, map[string]string{
		".DS_Store": "Bud1", "data/export/.DS_Store": "Bud1", "__MACOSX/data/export/mail/._a.eml": "\x00\x05\x16\x07",
	})
	code, stdout, stderr = verifyIn(t, p, pkg, p.key)
	if code != exitExtra || strings.Contains(stderr, "tampering") ||
		!strings.Contains(stdout, "EXTRA   __MACOSX/: not part of the package") || !strings.Contains(stdout, "; 3 extra files not part of the package set aside") ||
		!strings.Contains(stderr, "the copy holds extra files that are not part of the package") {
		t.Fatalf("a copy with .DS_Store and __MACOSX/: exit %d, want %d\n%s%s", code, exitExtra, stdout, stderr)
	}
	code, stdout, _ = verifyIn(t, p, pkg, p.key, "--json")
	if code != exitExtra || !strings.Contains(stdout, `"extra_files":[".DS_Store","__MACOSX/","data/export/.DS_Store"]`) || !strings.Contains(stdout, `"result":"ok"`) {
		t.Fatalf("--json: exit %d\n%.2000s", code, stdout)
	}
}
