package disclosure

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
)

// WitnessReport is what the witnesses check found in the package's
// checkpoint.
type WitnessReport struct {
	// Checked says a witness policy was given (custos verify
	// --witness-policy); without one, nothing below Signatures is known.
	Checked bool `json:"checked"`
	// Signatures counts the checkpoint's signature lines besides the
	// log's own: cosignatures, checked or not.
	Signatures int `json:"signatures"`
	// Policy is the policy's quorum and witnesses, in words.
	Policy string `json:"policy,omitempty"`
	// Cosigned are the policy's witnesses whose cosignature verified;
	// Missing those without one; QuorumMet says the policy holds.
	Cosigned  []string `json:"cosigned,omitempty"`
	Missing   []string `json:"missing,omitempty"`
	QuorumMet bool     `json:"quorum_met"`
}

// checkWitnesses checks the checkpoint's cosignatures against the
// witness policy the verifier trusts, when one is given: each
// cosignature by a witness of the policy must verify (one that does not
// is tampering) and the policy's quorum must be met. Without a policy it
// says plainly that witnesses were not checked.
func (v *pkgVerifier) checkWitnesses() {
	c := v.c[CheckWitnesses]
	if v.cp == nil {
		c.fail(pkgCheckpoint, noIndex, "witnesses not checked: the checkpoint does not verify with the trusted key")
		return
	}
	nv, _, _ := v.noteVerifier()
	others := 0
	if n, err := note.Open(v.cp.Raw, note.VerifierList(nv)); err == nil {
		others = len(n.UnverifiedSigs)
	}
	wr := &WitnessReport{Signatures: others}
	v.rep.Witnesses = wr
	p := v.trust.Witnesses
	if p == nil {
		c.Summary = fmt.Sprintf("witnesses not checked (no witness policy given): the checkpoint carries %s besides the log's, none verified", plural(others, "signature"))
		return
	}
	wr.Checked, wr.Policy = true, p.Describe()
	res, err := p.CheckCosignatures(v.cp.Raw)
	if err != nil {
		var te *chain.TamperError
		if errors.As(err, &te) {
			c.fail(pkgCheckpoint, noIndex, "%s", te.What)
		} else {
			c.fail(pkgCheckpoint, noIndex, "%v", err)
		}
		return
	}
	wr.Cosigned, wr.Missing, wr.QuorumMet = res.Witnesses, res.Missing, res.QuorumMet
	cosigned := "no witness of the policy"
	if len(res.Witnesses) > 0 {
		cosigned = strings.Join(res.Witnesses, ", ")
	}
	if !res.QuorumMet {
		c.fail(pkgCheckpoint, noIndex, "the witness policy's quorum is not met: cosigned by %s; missing %s (%s)", cosigned, strings.Join(res.Missing, ", "), p.Describe())
		return
	}
	c.Summary = fmt.Sprintf("cosigned by %s: the witness policy's quorum is met (%s)", cosigned, p.Describe())
}
