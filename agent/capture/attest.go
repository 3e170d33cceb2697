package capture

import (
	"time"

	"github.com/custos-evidence/custos/chain"
)

// PreservationPredicateType names the predicate of the in-toto statement
// custos signs for every preserved item.
const PreservationPredicateType = "https://custos-evidence.org/attestation/preservation/v1"

// preservation is the predicate: how, when, by whom and for which order an
// item was preserved.
type preservation struct {
	Order      string         `json:"order"`
	Agent      string         `json:"agent"`
	Actor      string         `json:"actor"`
	Capture    string         `json:"capture"`
	CapturedAt time.Time      `json:"captured_at"`
	CutOff     time.Time      `json:"cut_off"`
	Source     string         `json:"source"`
	Kind       string         `json:"kind"`
	Name       string         `json:"name"`
	Size       int64          `json:"size"`
	MediaType  string         `json:"media_type,omitempty"`
	Record     map[string]any `json:"record"`
}

// attest signs an in-toto statement whose subject is the item (its name
// and digests) and whose predicate is p, as a DSSE envelope (JSON).
func attest(signer chain.Signer, d Digests, p preservation) ([]byte, error) {
	digest := map[string]string{"sha256": d.SHA256, "sha512": d.SHA512}
	if d.MD5 != "" {
		digest["md5"], digest["sha1"] = d.MD5, d.SHA1
	}
	return chain.SignStatement(signer, []chain.Subject{{Name: p.Name, Digest: digest, MediaType: p.MediaType}},
		PreservationPredicateType, p)
}
