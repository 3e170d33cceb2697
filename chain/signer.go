package chain

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Signer is the part of sigstore's signature.Signer that the log uses: a
// local key file and every KMS provider satisfy it.
type Signer interface {
	SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error)
	PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error)
}

// Note signature algorithm bytes from C2SP signed-note.
const (
	algEd25519   = 0x01
	algECDSAP256 = 0x02
)

// Key describes a checkpoint signing key in the forms verifiers need.
type Key struct {
	Name     string // the log origin the key signs for
	Type     string // "ed25519" or "ecdsa-p256"
	Public   crypto.PublicKey
	Hash     uint32 // C2SP key id
	Verifier string // note verifier key line: name+hash+base64(alg||key)
}

// KeyID returns the C2SP key id as eight hex digits.
func (k *Key) KeyID() string { return fmt.Sprintf("%08x", k.Hash) }

// NewKey derives the verifier forms of pub for the log named name. Only
// Ed25519 and ECDSA P-256 keys can sign C2SP notes.
func NewKey(name string, pub crypto.PublicKey) (*Key, error) {
	if name == "" || strings.ContainsAny(name, "+ \t\n") || !isPrint(name) {
		return nil, fmt.Errorf("log origin %q is not a valid note key name (no spaces or '+')", name)
	}
	k := &Key{Name: name, Public: pub}
	var keyBytes []byte
	switch pk := pub.(type) {
	case ed25519.PublicKey:
		k.Type = "ed25519"
		keyBytes = append([]byte{algEd25519}, pk...)
		h := sha256.New()
		h.Write([]byte(name))
		h.Write([]byte("\n"))
		h.Write(keyBytes)
		k.Hash = binary.BigEndian.Uint32(h.Sum(nil))
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() {
			return nil, errors.New("ECDSA key is not on curve P-256; notes need P-256")
		}
		der, err := x509.MarshalPKIXPublicKey(pk)
		if err != nil {
			return nil, fmt.Errorf("marshal public key: %w", err)
		}
		k.Type = "ecdsa-p256"
		keyBytes = append([]byte{algECDSAP256}, der...)
		h := sha256.Sum256(der)
		k.Hash = binary.BigEndian.Uint32(h[:])
	default:
		return nil, fmt.Errorf("a %T cannot sign checkpoints: use an Ed25519 or ECDSA P-256 key", pub)
	}
	k.Verifier = fmt.Sprintf("%s+%08x+%s", name, k.Hash, base64.StdEncoding.EncodeToString(keyBytes))
	return k, nil
}

func isPrint(s string) bool {
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// NoteVerifier returns a verifier for signed notes by k.
func (k *Key) NoteVerifier() (note.Verifier, error) {
	return NewNoteVerifier(k.Verifier)
}

// NewNoteVerifier parses a note verifier key line, Ed25519 or ECDSA P-256.
func NewNoteVerifier(line string) (note.Verifier, error) {
	line = strings.TrimSpace(line)
	raw, err := verifierLineKeyBytes(line)
	if err != nil {
		return nil, err
	}
	var v note.Verifier
	switch raw[0] {
	case algEd25519:
		v, err = note.NewVerifier(line)
	case algECDSAP256:
		v, err = fnote.NewECDSAVerifier(line)
	default:
		return nil, fmt.Errorf("verifier key %q: unsupported algorithm %d", line, raw[0])
	}
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %w", line, err)
	}
	return v, nil
}

// verifierLineKeyBytes returns the key of a note verifier line
// (name+hash+base64 key): its algorithm byte and the key bytes.
func verifierLineKeyBytes(line string) ([]byte, error) {
	parts := strings.SplitN(line, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("verifier key %q is not name+hash+key", line)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < 2 {
		return nil, fmt.Errorf("verifier key %q: key is not base64", line)
	}
	return raw, nil
}

// ParseVerifierKey reads a public key as PEM or a note verifier key line.
// Only a PEM key needs name, the log origin; a key line names its own.
func ParseVerifierKey(data []byte, name string) (note.Verifier, error) {
	s := strings.TrimSpace(string(data))
	if !strings.HasPrefix(s, "-----BEGIN") {
		return NewNoteVerifier(s)
	}
	pub, err := parsePublicKeyPEM(data)
	if err != nil {
		return nil, err
	}
	k, err := NewKey(name, pub)
	if err != nil {
		return nil, err
	}
	return k.NoteVerifier()
}

// noteSigner signs C2SP notes with a sigstore signer.
type noteSigner struct {
	key    *Key
	signer Signer
}

// NewNoteSigner adapts s to note.Signer for the log named name.
func NewNoteSigner(name string, s Signer) (note.Signer, *Key, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("read signer public key: %w", err)
	}
	k, err := NewKey(name, pub)
	if err != nil {
		return nil, nil, err
	}
	return &noteSigner{key: k, signer: s}, k, nil
}

func (n *noteSigner) Name() string    { return n.key.Name }
func (n *noteSigner) KeyHash() uint32 { return n.key.Hash }

// Sign signs msg: pure Ed25519 over the message, or ECDSA P-256 over its
// SHA-256 in ASN.1 form, which is what sigstore's signers produce for those
// keys and what C2SP expects.
func (n *noteSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := n.signer.SignMessage(bytes.NewReader(msg))
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return sig, nil
}

func parsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("read public key PEM: %w", err)
	}
	return pub, nil
}
