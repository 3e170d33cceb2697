package disclosure_test

import (
	"context"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/custos-evidence/custos/chain/disclosure"
)

// TestOpenPackageNamesRecipient: Open says which recipient's identity
// decrypted the package, for age and SSH identities alike.
func TestOpenPackageNamesRecipient(t *testing.T) {
	other, id := openX25519(t), openX25519(t)
	sshKey, sshRec := openSSHKey(t, "")
	for name, tc := range map[string]struct {
		to   age.Recipient
		ids  []age.Identity
		want string
	}{
		"age":             {id.Recipient(), []age.Identity{other, id}, id.Recipient().String()},
		"age from a file": {id.Recipient(), openParseIDs(t, []byte(other.String()+"\n"+id.String()+"\n"), nil), id.Recipient().String()},
		"ssh":             {sshRec, openParseIDs(t, sshKey, nil), "ssh-ed25519 "},
	} {
		t.Run(name, func(t *testing.T) {
			path := openWriteFile(t, "package.tar.age", openEncrypt(t, openTar(t, openGoodEntries()), tc.to))
			p, err := disclosure.Open(context.Background(), path, disclosure.OpenOptions{Identities: tc.ids, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if !strings.HasPrefix(p.Outer.Recipient, tc.want) || strings.Contains(p.Outer.Recipient, "\n") {
				t.Fatalf("Outer.Recipient = %q, want %q", p.Outer.Recipient, tc.want)
			}
		})
	}
}

// TestReportCheckRecipient: a package decrypted with a recipient the
// signed statement does not name fails the recipient check (issue 18
// item 4); one decrypted with the named recipient passes; a package not
// encrypted gets no such check.
func TestReportCheckRecipient(t *testing.T) {
	named, other := openX25519(t), openX25519(t)
	fx := newSmallPackage(t, pkgOptions{recipient: named.Recipient().String()})
	for _, tc := range []struct {
		name  string
		outer disclosure.OuterFile
		want  disclosure.Result
		what  string
	}{
		{"the named recipient", disclosure.OuterFile{Path: "p.age", Encrypted: true, Recipient: named.Recipient().String()}, disclosure.ResultOK, ""},
		{"another recipient", disclosure.OuterFile{Path: "p.age", Encrypted: true, Recipient: other.Recipient().String()}, disclosure.ResultFailed, "encrypted again, to another recipient"},
		{"not encrypted", disclosure.OuterFile{Path: "p.zip"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := verifyPackage(t, fx.dir, fx.trust)
			if rep.Result != disclosure.ResultOK {
				t.Fatalf("the package fails: %v", rep.Failed())
			}
			rep.CheckRecipient(tc.outer)
			c := rep.Check(disclosure.CheckRecipient)
			switch {
			case tc.want == "" && c != nil:
				t.Fatalf("a recipient check for a package not encrypted: %+v", c)
			case tc.want == "":
				return
			case c == nil || c.Result != tc.want || rep.Result != tc.want:
				t.Fatalf("check %+v, report %s; want %s", c, rep.Result, tc.want)
			case tc.what != "" && !strings.Contains(c.Problems[0].What, tc.what):
				t.Fatalf("problem %q, want %q", c.Problems[0].What, tc.what)
			}
			if tc.want == disclosure.ResultFailed && rep.Err() == nil {
				t.Fatal("a failed recipient check, and no error")
			}
		})
	}
}
