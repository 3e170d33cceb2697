package chain_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
)

func rotationEvent() chain.Event {
	return chain.Event{Time: testTime, Actor: "custodian@example.net", Agent: "agent-1", Reason: "scheduled key rotation"}
}

func verifierOf(t *testing.T, s chain.Signer) note.Verifier {
	t.Helper()
	v, err := mustKey(t, s).NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// rotatedLog makes a log with entries signed by s1, a rotation to s2 in
// the middle of an order, and entries signed by s2 after it.
func rotatedLog(t *testing.T, dir string, s1, s2 chain.Signer) (rotIndex uint64, dual *chain.Checkpoint) {
	t.Helper()
	ctx := context.Background()
	l := openLog(t, dir, s1)
	for i := range 3 {
		if _, err := l.Append(ctx, noteEvent(orderA, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, noteEvent(orderA, 3)); err != nil {
		t.Fatal(err)
	}
	rec, cp, err := l.Rotate(ctx, s2, rotationEvent())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The published checkpoint is the dual-signed one: the old key
	// verifies it, but no longer signs the log.
	if _, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: s1}); !errors.Is(err, chain.ErrRetiredKey) {
		t.Fatalf("open with the retired key: %v, want ErrRetiredKey", err)
	}
	l = openLog(t, dir, s2)
	if _, err := l.Append(ctx, noteEvent(orderA, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, noteEvent(orderA, 5)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return rec.Index, cp
}

func TestRotateVerifiesWithEitherKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1, s2 := testSigner(t, 1), testSigner(t, 2)
	k1, k2 := mustKey(t, s1), mustKey(t, s2)
	rot, dual := rotatedLog(t, dir, s1, s2)

	if n := bytes.Count(dual.Raw, []byte("\n— ")); n != 2 {
		t.Fatalf("the checkpoint after the rotation has %d signature lines, want 2:\n%s", n, dual.Raw)
	}
	if dual.Size != rot+1 {
		t.Fatalf("dual-signed checkpoint of size %d, want %d (the first covering the event)", dual.Size, rot+1)
	}
	for name, v := range map[string]note.Verifier{"old key": verifierOf(t, s1), "new key": verifierOf(t, s2)} {
		t.Run(name, func(t *testing.T) {
			rep, err := chain.VerifyLog(ctx, os.DirFS(dir), v)
			if err != nil {
				t.Fatalf("verify with the %s: %v", name, err)
			}
			if len(rep.Rotations) != 1 || !rep.Rotations[0].Confirmed || rep.Rotations[0].Index != rot ||
				rep.Rotations[0].Old.Verifier != k1.Verifier || rep.Rotations[0].New.Verifier != k2.Verifier {
				t.Fatalf("rotations %+v, want one confirmed at %d from %s to %s", rep.Rotations, rot, k1.KeyID(), k2.KeyID())
			}
			if len(rep.Keys) != 2 || !rep.Keys[0].Trusted || !rep.Keys[1].Trusted {
				t.Fatalf("keys %+v, want both trusted", rep.Keys)
			}
		})
	}
	// A key the log never named is trusted for nothing.
	if _, err := chain.VerifyLog(ctx, os.DirFS(dir), verifierOf(t, testSigner(t, 3))); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("verify with an unrelated key: %v, want tampering", err)
	}
	// Nor does it sign once the new key has signed alone.
	if _, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: s1}); err == nil {
		t.Fatal("the retired key opened the log for writing")
	}
}

func TestRotateRefusesSameKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1 := testSigner(t, 1)
	l := openLog(t, dir, s1)
	size, err := l.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Rotate(ctx, testSigner(t, 1), rotationEvent()); !errors.Is(err, chain.ErrSameKey) {
		t.Fatalf("rotate to the same key: %v, want ErrSameKey", err)
	}
	if after, err := l.Size(ctx); err != nil || after != size {
		t.Fatalf("size %d after a refused rotation (%v), want %d", after, err, size)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestForgedRotationTrustsNothing: a key.rotated event naming a key, with
// no checkpoint signed by both keys after it, and later checkpoints
// signed by the named key alone, as someone holding only that key would
// make them.
func TestForgedRotationTrustsNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1, forger := testSigner(t, 1), testSigner(t, 9)
	l := openLog(t, dir, s1)
	if _, err := l.Append(ctx, noteEvent(orderA, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	ev := rotationEvent()
	ev.Type = chain.KeyRotated
	k1, kf := mustKey(t, s1), mustKey(t, forger)
	ev.Details = chain.KeyRotatedDetails{
		Old: chain.KeyDetails{Verifier: k1.Verifier, KeyID: k1.KeyID(), Type: k1.Type},
		New: chain.KeyDetails{Verifier: kf.Verifier, KeyID: kf.KeyID(), Type: kf.Type},
	}.Put(nil)
	if _, err := l.Append(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Re-sign the newest checkpoint with the forger's key alone.
	raw, err := os.ReadFile(filepath.Join(dir, chain.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := chain.ParseCheckpoint(raw, verifierOf(t, s1))
	if err != nil {
		t.Fatal(err)
	}
	ns, _, err := chain.NewNoteSigner(testOrigin, forger)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(&note.Note{Text: string(flog.Checkpoint{Origin: testOrigin, Size: cp.Size, Hash: cp.Hash}.Marshal())}, ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{chain.CheckpointPath, filepath.Join(chain.CheckpointsDir, strconv.FormatUint(cp.Size, 10))} {
		if err := os.WriteFile(filepath.Join(dir, p), forged, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range map[string]note.Verifier{"old key": verifierOf(t, s1), "forged key": verifierOf(t, forger)} {
		t.Run(name, func(t *testing.T) {
			rep, err := chain.VerifyLog(ctx, os.DirFS(dir), v)
			if !errors.Is(err, chain.ErrTamper) {
				t.Fatalf("verify with the %s: %v, want tampering", name, err)
			}
			if !strings.Contains(err.Error(), "must be signed by the old and the new key") {
				t.Fatalf("verify with the %s: %v, want the unconfirmed rotation named", name, err)
			}
			if len(rep.Rotations) != 1 || rep.Rotations[0].Confirmed {
				t.Fatalf("rotations %+v, want one, unconfirmed", rep.Rotations)
			}
			for _, k := range rep.Keys {
				if k.Trusted && k.Verifier != kf.Verifier && name == "forged key" || k.Trusted && k.Verifier == kf.Verifier && name == "old key" {
					t.Fatalf("key %s trusted through an unconfirmed rotation", k.KeyID)
				}
			}
		})
	}
	if _, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: forger}); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("open with the forged key: %v, want tampering", err)
	}
}

// TestLinkRotation: a rotation certificate links the old and the new key
// for a verifier holding either, and nothing else links.
func TestLinkRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1, s2 := testSigner(t, 1), testSigner(t, 2)
	l := openLog(t, dir, s1)
	if _, err := l.Append(ctx, noteEvent(orderA, 0)); err != nil {
		t.Fatal(err)
	}
	rec, cp, err := l.Rotate(ctx, s2, rotationEvent())
	if err != nil {
		t.Fatal(err)
	}
	p, err := chain.BuildInclusionProof(ctx, l.FS(), cp.Raw, cp.Size, rec.Index)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := chain.FormatRotation(rec.Encoded, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	k1, k2, k3 := mustKey(t, s1), mustKey(t, s2), mustKey(t, testSigner(t, 3))
	trust := func(k *chain.Key) *chain.Trust {
		tr, err := chain.ParseTrustLine(k.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	for _, tc := range []struct{ have, want *chain.Key }{{k1, k2}, {k2, k1}} {
		linked, err := chain.LinkRotation(trust(tc.have), cert)
		if err != nil {
			t.Fatalf("link from %s: %v", tc.have.KeyID(), err)
		}
		if !linked.Trusts(tc.want.Public) || linked.Trusts(k3.Public) {
			t.Fatalf("from %s: trusts %s %v, an unrelated key %v", tc.have.KeyID(), tc.want.KeyID(), linked.Trusts(tc.want.Public), linked.Trusts(k3.Public))
		}
	}
	if _, err := chain.LinkRotation(trust(k3), cert); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("link from an unrelated key: %v, want tampering", err)
	}
	// A certificate whose checkpoint only the old key signed: what
	// someone naming a key of their own in a forged event would hold.
	single := bytes.Replace(cert, p.Checkpoint, firstSignature(t, p.Checkpoint), 1)
	for _, k := range []*chain.Key{k1, k2} {
		if _, err := chain.LinkRotation(trust(k), single); !errors.Is(err, chain.ErrTamper) {
			t.Fatalf("certificate signed by one key, from %s: %v, want tampering", k.KeyID(), err)
		}
	}
}

// firstSignature returns the signed note raw with only its first signature.
func firstSignature(t *testing.T, raw []byte) []byte {
	t.Helper()
	i := bytes.Index(raw, []byte("\n— "))
	j := bytes.Index(raw[i+1:], []byte("\n— "))
	if i < 0 || j < 0 {
		t.Fatalf("not a note with two signatures:\n%s", raw)
	}
	return raw[:i+1+j+1]
}

// TestRotateThenAppend: the log keeps being written after Rotate, its own
// publication signing with the new key alone.
func TestRotateThenAppend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1, s2 := testSigner(t, 1), testSigner(t, 2)
	l := openLog(t, dir, s1)
	if _, err := l.Append(ctx, noteEvent(orderA, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Rotate(ctx, s2, rotationEvent()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 4; i++ {
		if _, err := l.Append(ctx, noteEvent(orderA, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, chain.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.ParseCheckpoint(raw, verifierOf(t, s2)); err != nil {
		t.Fatalf("the newest checkpoint is not signed by the new key: %v", err)
	}
	if _, err := chain.ParseCheckpoint(raw, verifierOf(t, s1)); err == nil {
		t.Fatal("the newest checkpoint is still signed by the old key")
	}
	for _, s := range []chain.Signer{s1, s2} {
		if _, err := chain.VerifyLog(ctx, os.DirFS(dir), verifierOf(t, s)); err != nil {
			t.Fatalf("verify with %s: %v", mustKey(t, s).KeyID(), err)
		}
	}
}
