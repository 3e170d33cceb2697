package disclosure_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/transparency-dev/formats/proof"
	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
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

// The records of a batch package check out with tools that are not ours:
// each record's leaf hash with coreutils, each audit path with
// transparency-dev's merkle against the root of its items.sealed event,
// and both with the Python lines docs/package.md gives, which refuse a
// record changed by one byte.
func TestRecordsInterop(t *testing.T) {
	fx := newBatchPackage(t, goldenBatchOptions)
	roots := map[string][]byte{} // "capture/batch" -> the sealed root
	for _, line := range strings.Split(strings.TrimSuffix(string(fx.read(t, "custody/events.jsonl")), "\n"), "\n") {
		var l struct {
			Event struct {
				Type    string            `json:"type"`
				Details map[string]string `json:"details"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if l.Event.Type == "items.sealed" {
			roots[l.Event.Details["capture"]+"/"+l.Event.Details["batch"]], _ = hex.DecodeString(l.Event.Details["root"])
		}
	}
	script := docPython(t)
	sums := map[string]bool{}
	for _, f := range fileSums(t, fx.dir) {
		if strings.HasPrefix(f.path, "data/") {
			sums[f.sha256] = true
		}
	}
	for sum := range sums {
		rec := "custody/records/" + sum + ".json"
		out, err := exec.Command("sh", "-c", `(printf '\0'; cat "$1") | sha256sum`, "sh", fx.path(rec)).Output()
		if err != nil {
			t.Fatalf("sha256sum: %v", err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(fx.read(t, rec))
		if got := strings.Fields(string(out))[0]; got != hex.EncodeToString(leaf) {
			t.Errorf("%s: sha256sum says %s, RFC 6962's leaf hash is %x", rec, got, leaf)
		}
		p := strings.Split(strings.TrimSuffix(string(fx.read(t, "custody/records/"+sum+".proof")), "\n"), "\n")
		index, _ := strconv.ParseUint(strings.TrimPrefix(p[3], "index "), 10, 64)
		size, _ := strconv.ParseUint(strings.TrimPrefix(p[4], "size "), 10, 64)
		var hashes [][]byte
		for _, l := range p[5:] {
			h, err := base64.StdEncoding.DecodeString(l)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, h)
		}
		root := roots[strings.TrimPrefix(p[1], "capture ")+"/"+strings.TrimPrefix(p[2], "batch ")]
		if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, hashes, root); err != nil {
			t.Errorf("%s: %v", rec, err)
		}
		if script != "" {
			if got := runPython(t, fx.dir, script, sum); got != "OK" {
				t.Errorf("%s: the documented check says %q", rec, got)
			}
		}
	}
	if script != "" {
		bad := fx.copy(t)
		rec := "custody/records/" + chain.EventHash(bad.read(t, "data/mail/sent.mbox")) + ".json"
		mutate(t, bad.path(rec), func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"name":"sent.mbox"`), []byte(`"name":"sent.mboy"`), 1)
		})
		if got := runPython(t, bad.dir, script, chain.EventHash(bad.read(t, "data/mail/sent.mbox"))); got != "DOES NOT MATCH the sealed root" {
			t.Errorf("the documented check of an altered record says %q", got)
		}
	}
}

// docPython returns the Python lines of docs/package.md that check a
// record, or "" when there is no python3 to run them (a failure under
// CI=true, where scripts/with-verify-tools.sh runs the tests).
func docPython(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no python3 to run the documented record check: %v", err)
		}
		t.Log("no python3: the documented record check is not run")
		return ""
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "package.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "### Checking a record with standard tools")
	_, after, ok2 := strings.Cut(after, "```python\n")
	script, _, ok3 := strings.Cut(after, "```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/package.md has no Python record check under \"Checking a record with standard tools\"")
	}
	return script
}

// runPython runs script in dir with the argument arg and returns what it
// says.
func runPython(t *testing.T, dir, script, arg string) string {
	t.Helper()
	cmd := exec.Command("python3", "-", arg)
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
