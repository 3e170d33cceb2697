package chain

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Trust is the one key a verifier of a disclosure package relies on: the
// provider's, obtained by another channel than the package. It checks the
// signed checkpoint (as a note verifier) and the DSSE envelope (as a
// public key); the copies under custody/keys are never used.
type Trust struct {
	// Public is the Ed25519 or ECDSA P-256 public key.
	Public crypto.PublicKey
	// Note verifies checkpoints. It is nil when only a PEM key was given,
	// which names no log: the verifier then takes the log's origin from
	// the checkpoint it checks, and the key decides.
	Note note.Verifier
	// Linked are the keys a rotation certificate links to this one
	// (LinkRotation): the provider's keys before or after a rotation.
	// Each has its Note set.
	Linked []*Trust
	// Witnesses is the witness policy the checkpoint's cosignatures must
	// meet; nil: witnesses are not checked.
	Witnesses *WitnessPolicy
}

// ParseTrust reads what `custos verify --key FILE` names: a PEM public key
// (PKIX, as custody/keys/custos.pub) or a C2SP note verifier line (as
// custody/keys/custos.vkey).
func ParseTrust(data []byte) (*Trust, error) {
	s := strings.TrimSpace(string(data))
	if !strings.HasPrefix(s, "-----BEGIN") {
		if strings.ContainsAny(s, "\n\r") {
			return nil, errors.New("key file holds more than one line and is not PEM: give one note verifier line or a PEM public key")
		}
		return ParseTrustLine(s)
	}
	pub, err := parsePublicKeyPEM(data)
	if err != nil {
		return nil, err
	}
	if _, err := NewKey("key", pub); err != nil {
		return nil, err
	}
	return &Trust{Public: pub}, nil
}

// ParseTrustLine reads a C2SP note verifier line (name+hash+base64 key),
// Ed25519 or ECDSA P-256, as `custos verify --key-line` takes it.
func ParseTrustLine(line string) (*Trust, error) {
	line = strings.TrimSpace(line)
	v, err := NewNoteVerifier(line)
	if err != nil {
		return nil, err
	}
	pub, err := verifierLineKey(line)
	if err != nil {
		return nil, err
	}
	k, err := NewKey(v.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %w", line, err)
	}
	if k.Hash != v.KeyHash() {
		return nil, fmt.Errorf("verifier key %q: key hash %08x does not match the key (%08x)", line, v.KeyHash(), k.Hash)
	}
	return &Trust{Public: pub, Note: v}, nil
}

// verifierLineKey decodes the public key of a note verifier line: for
// Ed25519 the 32 key bytes after the algorithm byte, for ECDSA P-256 the
// PKIX DER after it (C2SP signed-note).
func verifierLineKey(line string) (crypto.PublicKey, error) {
	raw, err := verifierLineKeyBytes(line)
	if err != nil {
		return nil, err
	}
	switch raw[0] {
	case algEd25519:
		if len(raw) != 1+ed25519.PublicKeySize {
			return nil, fmt.Errorf("verifier key %q: Ed25519 key is %d bytes, not %d", line, len(raw)-1, ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(raw[1:]), nil
	case algECDSAP256:
		pub, err := x509.ParsePKIXPublicKey(raw[1:])
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", line, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("verifier key %q: not an ECDSA P-256 key", line)
		}
		return ec, nil
	}
	return nil, fmt.Errorf("verifier key %q: unsupported algorithm %d", line, raw[0])
}

// NoteVerifier returns the note verifier for a checkpoint of the log
// named origin, and the trusted key as a Key of that log: the verifier
// given, whose log's name wins over origin, or one made from the public
// key.
func (t *Trust) NoteVerifier(origin string) (note.Verifier, *Key, error) {
	if t.Note != nil {
		origin = t.Note.Name()
	}
	k, err := NewKey(origin, t.Public)
	if err != nil {
		return nil, nil, err
	}
	if t.Note != nil {
		return t.Note, k, nil
	}
	v, err := k.NoteVerifier()
	return v, k, err
}

// Trusts reports whether pub is the trusted key or one linked to it.
func (t *Trust) Trusts(pub crypto.PublicKey) bool {
	e, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return false
	}
	if e.Equal(t.Public) {
		return true
	}
	for _, l := range t.Linked {
		if e.Equal(l.Public) {
			return true
		}
	}
	return false
}

// Keys returns the trusted key and the keys linked to it, each without
// links, the given key first.
func (t *Trust) Keys() []*Trust {
	keys := []*Trust{{Public: t.Public, Note: t.Note}}
	return append(keys, t.Linked...)
}
