package chain_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/formats/proof"
	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
)

// An Ed25519 checkpoint verifies with golang.org/x/mod/sumdb/note alone.
func TestInteropEd25519CheckpointWithSumdbNote(t *testing.T) {
	cp := readTestdata(t, "log10.checkpoint")
	v, err := note.NewVerifier(string(trimNL(readTestdata(t, "log10.vkey"))))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	var c flog.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil || c.Size != 11 || c.Origin != testOrigin {
		t.Fatalf("checkpoint %+v: %v", c, err)
	}
}

// A tlog-proof parses with transparency-dev/formats and verifies with
// transparency-dev/merkle, with no code of ours on the path.
func TestInteropProofWithFormatsAndMerkle(t *testing.T) {
	var p proof.TLogProof
	if err := p.Unmarshal(readTestdata(t, "log10.proof3.tlog-proof")); err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(string(trimNL(readTestdata(t, "log10.vkey"))))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(p.Checkpoint, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	var c flog.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	events := splitLines(readTestdata(t, "log10.events.jsonl"))
	hashes := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hashes[i] = p.Hashes[i][:]
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(events[p.Index])
	if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, c.Size, leaf, hashes, c.Hash); err != nil {
		t.Fatal(err)
	}
	wrong := rfc6962.DefaultHasher.HashLeaf(events[p.Index+1])
	if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, c.Size, wrong, hashes, c.Hash); err == nil {
		t.Fatal("proof verified another entry")
	}
}

// An ECDSA P-256 log (as a KMS key gives) signs checkpoints that
// transparency-dev/formats' ECDSA note verifier accepts.
func TestInteropECDSACheckpoint(t *testing.T) {
	ctx := context.Background()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := openLog(t, dir, sv)
	for i := range 5 {
		if _, err := l.Append(ctx, noteEvent(orderA, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	k := mustKey(t, sv)
	if k.Type != "ecdsa-p256" {
		t.Fatalf("key type %s", k.Type)
	}
	fv, err := fnote.NewECDSAVerifier(k.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(cp, note.VerifierList(fv)); err != nil {
		t.Fatalf("formats' ECDSA verifier refused our checkpoint: %v\n%s", err, cp)
	}
	v, _ := k.NoteVerifier()
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), v); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return b
}

func splitLines(b []byte) [][]byte {
	return bytes.Split(trimNL(b), []byte("\n"))
}
