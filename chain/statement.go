package chain

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Signed statements: an in-toto v1 statement about some subjects (files
// or items, named, with their digests), wrapped in a DSSE envelope signed
// with the log's key. The agent signs one per preserved item and a
// disclosure package carries one about its payload; anyone verifies them
// with the public key alone, with this package or any DSSE library.

// InTotoPayloadType is the DSSE payload type of an in-toto statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// InTotoStatementType is the _type of an in-toto v1 statement.
const InTotoStatementType = "https://in-toto.io/Statement/v1"

// Subject is what a statement is about: a name and its digests (algorithm
// name to lower-case hex), and its media type if known.
type Subject struct {
	Name      string            `json:"name"`
	Digest    map[string]string `json:"digest"`
	MediaType string            `json:"mediaType,omitempty"`
}

// Statement is an in-toto v1 statement as read from an envelope; its
// predicate is left for the reader that knows its type.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// SignStatement signs the in-toto v1 statement about subjects whose
// predicate is p (any value JSON encodes to an object; its field names
// and time formats are kept) as a DSSE envelope in JSON, through
// sigstore's DSSE signer. The statement is encoded as protojson encodes
// in-toto's Statement, compacted: the same inputs give the same bytes,
// and with a deterministic key (Ed25519) the same envelope.
func SignStatement(signer Signer, subjects []Subject, predicateType string, p any) ([]byte, error) {
	payload, err := formatStatement(subjects, predicateType, p)
	if err != nil {
		return nil, err
	}
	env, err := dsse.WrapSigner(signer, InTotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("sign the in-toto statement: %w", err)
	}
	return env, nil
}

// formatStatement encodes the statement. protojson puts a space after
// some commas at random (the same for one build of a program, so that no
// one relies on its bytes); compacting removes them.
func formatStatement(subjects []Subject, predicateType string, p any) ([]byte, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("in-toto predicate: %w", err)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, pred); err != nil {
		return nil, fmt.Errorf("in-toto predicate: %w", err)
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: predicateType, Predicate: pred}
	for _, s := range subjects {
		st.Subject = append(st.Subject, &intoto.ResourceDescriptor{Name: s.Name, Digest: s.Digest, MediaType: s.MediaType})
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	out, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, out); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	return b.Bytes(), nil
}

// Envelope is a DSSE envelope in its JSON form.
type Envelope struct {
	PayloadType string              `json:"payloadType"`
	Payload     string              `json:"payload"` // standard base64
	Signatures  []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature of an envelope.
type EnvelopeSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"` // standard base64
}

// ParseEnvelope reads a DSSE envelope's JSON, refusing duplicate keys
// and keys that differ from its fields only in case (CheckJSONKeys).
func ParseEnvelope(b []byte) (*Envelope, error) {
	var env Envelope
	if err := CheckJSONKeys(b, &env); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	return &env, nil
}

// DecodePayload returns the payload's bytes.
func (e *Envelope) DecodePayload() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("the payload is not base64: %w", err)
	}
	return b, nil
}

// Verify checks that one of the envelope's signatures is pub's over the
// DSSE pre-authentication encoding of its payload: a signature as
// sigstore's DSSE signer makes it, checked with sigstore's verifier for
// the key (Ed25519, or ECDSA P-256 over SHA-256). It does not look at the
// payload type: the caller says which it expects.
func (e *Envelope) Verify(pub crypto.PublicKey) error {
	payload, err := e.DecodePayload()
	if err != nil {
		return err
	}
	if len(e.Signatures) == 0 {
		return errors.New("the envelope carries no signature")
	}
	sv, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("the trusted key cannot verify: %w", err)
	}
	pae := dssePAE(e.PayloadType, payload)
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err == nil && sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae)) == nil {
			return nil
		}
	}
	n := "1 signature"
	if len(e.Signatures) != 1 {
		n = fmt.Sprintf("%d signatures", len(e.Signatures))
	}
	return fmt.Errorf("none of the envelope's %s verifies with the trusted key", n)
}

// dssePAE is DSSE's pre-authentication encoding, what is signed:
// "DSSEv1" SP len(type) SP type SP len(body) SP body.
func dssePAE(payloadType string, body []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(body), body)
}

// ParseStatement reads the in-toto statement of an envelope's payload. It
// checks the JSON only (CheckJSONKeys: no duplicate keys at any depth,
// the predicate's too): the caller checks _type and predicateType.
func ParseStatement(payload []byte) (*Statement, error) {
	var st Statement
	if err := CheckJSONKeys(payload, &st); err != nil {
		return nil, fmt.Errorf("the payload is not an in-toto statement: %w", err)
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("the payload is not an in-toto statement: %w", err)
	}
	return &st, nil
}
