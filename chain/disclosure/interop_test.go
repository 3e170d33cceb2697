package disclosure_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/transparency-dev/formats/proof"
	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// ed25519DSSEVerifier is a go-securesystemslib DSSE verifier over
// crypto/ed25519 alone: no sigstore and no code of ours on the path.
type ed25519DSSEVerifier struct{ pub ed25519.PublicKey }

func (v ed25519DSSEVerifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.pub, data, sig) {
		return errors.New("ed25519: invalid signature")
	}
	return nil
}
func (v ed25519DSSEVerifier) Public() crypto.PublicKey { return v.pub }
func (v ed25519DSSEVerifier) KeyID() (string, error)   { return "", nil }

// A package is readable by tools that are not ours: the DSSE envelope
// verifies with go-securesystemslib, the checkpoint with
// golang.org/x/mod/sumdb/note, each proof with transparency-dev's formats
// and merkle, and SHA256SUMS with coreutils' sha256sum.
func TestPackageInterop(t *testing.T) {
	fx := newSmallPackage(t, pkgOptions{})
	pub := fx.key.Public.(ed25519.PublicKey)

	t.Run("DSSE with go-securesystemslib", func(t *testing.T) {
		var env ssldsse.Envelope
		if err := json.Unmarshal(fx.read(t, "custody/attestation.dsse.json"), &env); err != nil {
			t.Fatal(err)
		}
		ev, err := ssldsse.NewEnvelopeVerifier(ed25519DSSEVerifier{pub})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ev.Verify(context.Background(), &env); err != nil {
			t.Fatalf("the package's envelope: %v", err)
		}
		var st struct {
			Subject []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		payload, _ := base64.StdEncoding.DecodeString(env.Payload)
		if err := json.Unmarshal(payload, &st); err != nil || len(st.Subject) != len(smallPayload) {
			t.Fatalf("statement: %d subjects, %v", len(st.Subject), err)
		}
		// The same verifier refuses an envelope whose statement was changed.
		env.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte("inbox"), []byte("inbo_"), 1))
		if _, err := ev.Verify(context.Background(), &env); err == nil {
			t.Fatal("a changed statement verifies")
		}
	})

	cpRaw := fx.read(t, "custody/checkpoint")
	v, err := note.NewVerifier(strings.TrimSpace(string(fx.read(t, "custody/keys/custos.vkey"))))
	if err != nil {
		t.Fatal(err)
	}
	var size uint64
	var root []byte
	t.Run("checkpoint with sumdb/note", func(t *testing.T) {
		n, err := note.Open(cpRaw, note.VerifierList(v))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) < 3 || lines[0] != testOrigin {
			t.Fatalf("checkpoint body %q", n.Text)
		}
		size, _ = strconv.ParseUint(lines[1], 10, 64)
		root, _ = base64.StdEncoding.DecodeString(lines[2])
		other, _ := note.NewVerifier(mustKey(t, testSigner(t, 9)).Verifier)
		if _, err := note.Open(cpRaw, note.VerifierList(other)); err == nil {
			t.Fatal("the checkpoint opens with another key")
		}
	})

	t.Run("proofs with transparency-dev", func(t *testing.T) {
		events := strings.Split(strings.TrimSuffix(string(fx.read(t, "custody/events.jsonl")), "\n"), "\n")
		for i, line := range events {
			var l struct {
				Index uint64          `json:"index"`
				Event json.RawMessage `json:"event"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatal(err)
			}
			var p proof.TLogProof
			if err := p.Unmarshal(fx.read(t, fx.proof(i))); err != nil {
				t.Fatal(err)
			}
			if p.Index != l.Index || !bytes.Equal(p.Checkpoint, cpRaw) {
				t.Fatalf("proof %d: index %d, or another checkpoint", l.Index, p.Index)
			}
			hashes := make([][]byte, len(p.Hashes))
			for j := range p.Hashes {
				hashes[j] = p.Hashes[j][:]
			}
			if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, l.Index, size, rfc6962.DefaultHasher.HashLeaf(l.Event), hashes, root); err != nil {
				t.Fatalf("event %d: %v", l.Index, err)
			}
		}
	})

	t.Run("sha256sum -c SHA256SUMS", func(t *testing.T) {
		cmd := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
		cmd.Dir = fx.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	})
}
