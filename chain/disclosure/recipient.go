package disclosure

import (
	"fmt"
	"slices"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// The recipient a package was decrypted with, compared with the one the
// signed statement (and the disclosure.created event) names (issue 18
// item 4): a package re-encrypted to someone else is reported, though
// every byte inside it is intact.

// CheckRecipient is the name of the check Report.CheckRecipient adds, to
// the report of an age-encrypted package only.
const CheckRecipient = "recipient"

// namedIdentity is an identity with the recipient it decrypts for, in the
// form a disclosure names it: "age1..." or "ssh-ed25519 AAAA..." (no
// comment).
type namedIdentity struct {
	age.Identity
	recipient string
}

// identityRecipient is the recipient of id, or "" when its type does not
// say.
func identityRecipient(id age.Identity) string {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case namedIdentity:
		return id.recipient
	case *namedIdentity:
		return id.recipient
	}
	return ""
}

// sshRecipient is pub as a disclosure names an SSH recipient.
func sshRecipient(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// normalRecipient is a recipient as given to custos disclose, in the form
// identityRecipient returns: an SSH key without its comment.
func normalRecipient(r string) string {
	r = strings.TrimSpace(r)
	if strings.HasPrefix(r, "ssh-") {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r)); err == nil {
			return sshRecipient(pub)
		}
	}
	return r
}

// recordingIdentity notes which identity unwrapped the file key.
type recordingIdentity struct {
	age.Identity
	used *string
}

func (r recordingIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := r.Identity.Unwrap(stanzas)
	if err == nil {
		*r.used = identityRecipient(r.Identity)
		if *r.used == "" {
			*r.used = "?"
		}
	}
	return key, err
}

// CheckRecipient adds the recipient check to the report of a package that
// was age-encrypted: the recipient of the identity that decrypted it
// (outer.Recipient) must be one that the signed statement names. A
// mismatch fails the check: the package was encrypted again, to someone
// the provider did not disclose to. Nothing is added for a package that
// was not encrypted.
func (r *Report) CheckRecipient(outer OuterFile) {
	if !outer.Encrypted {
		return
	}
	c := &Check{Name: CheckRecipient, Result: ResultOK}
	r.Checks = append(r.Checks, c)
	defer func() {
		if c.failed() {
			r.Result = ResultFailed
			c.Summary = plural(len(c.Problems), "problem")
		}
	}()
	var named []string
	for _, s := range strings.Split(r.Recipient, ",") {
		if s = normalRecipient(s); s != "" && s != "none" {
			named = append(named, s)
		}
	}
	switch {
	case r.Recipient == "":
		c.fail(pkgAttestation, noIndex, "not compared: the signed statement cannot be read")
	case outer.Recipient == "" || outer.Recipient == "?":
		c.fail(outer.Path, noIndex, "not compared: the identity that decrypted the package does not name its recipient")
	case len(named) == 0:
		c.fail(outer.Path, noIndex, "the package is encrypted (to %s), but the signed statement names no recipient: it was encrypted after the provider built it", outer.Recipient)
	case !slices.Contains(named, outer.Recipient):
		c.fail(outer.Path, noIndex, "decrypted with %s, but the signed statement names %s: the package was encrypted again, to another recipient", outer.Recipient, r.Recipient)
	default:
		c.Summary = fmt.Sprintf("decrypted with %s, a recipient the signed statement names", outer.Recipient)
	}
}
