package capture

import (
	"bytes"
	"fmt"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// PreservationPredicateType names the predicate of the in-toto statement
// custos signs for every preserved item.
const PreservationPredicateType = "https://custos-evidence.org/attestation/preservation/v1"

// inTotoPayloadType is the DSSE payload type of in-toto statements.
const inTotoPayloadType = "application/vnd.in-toto+json"

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
func attest(signer signature.Signer, d Digests, p preservation) ([]byte, error) {
	digest := map[string]string{"sha256": d.SHA256, "sha512": d.SHA512}
	if d.MD5 != "" {
		digest["md5"], digest["sha1"] = d.MD5, d.SHA1
	}
	return SignStatement(signer, []*intoto.ResourceDescriptor{{Name: p.Name, Digest: digest, MediaType: p.MediaType}},
		PreservationPredicateType, p)
}

// SignStatement signs an in-toto v1 statement about subjects with
// predicate p (any JSON-encodable value) as a DSSE envelope (JSON). The
// disclosure's statement is signed with it too.
func SignStatement(signer signature.Signer, subjects []*intoto.ResourceDescriptor, predicateType string, p any) ([]byte, error) {
	pred, err := toStruct(p)
	if err != nil {
		return nil, err
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       subjects,
		PredicateType: predicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	payload, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	env, err := dsse.WrapSigner(signer, inTotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("sign the in-toto statement: %w", err)
	}
	return env, nil
}

// toStruct converts v to a protobuf Struct through its JSON form, so the
// predicate keeps v's field names and time formats.
func toStruct(v any) (*structpb.Struct, error) {
	b, err := marshalJSON(v)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("in-toto predicate: %w", err)
	}
	return s, nil
}
