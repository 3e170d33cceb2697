package chain_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/witnesstest"
)

// openRotating opens the log in dir signed by old's key, with next as
// the new key of an unfinished rotation (nil: none), cosigned fail-closed
// by policy's witnesses.
func openRotating(dir string, old, next chain.Signer, policy []byte) (*chain.Log, error) {
	p, err := chain.ParseWitnessPolicy(policy)
	if err != nil {
		return nil, err
	}
	cfg := chain.Config{Dir: dir, Origin: testOrigin, Signer: old,
		CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond, Now: func() time.Time { return testTime },
		Witnesses: &chain.WitnessConfig{Policy: p, Timeout: 5 * time.Second}}
	if next != nil {
		cfg.Next = next
	}
	return chain.Open(context.Background(), cfg)
}

// TestRotationCosigned: with witnesses, the checkpoint both keys sign
// goes to them like every other, and is kept with their cosignatures.
func TestRotationCosigned(t *testing.T) {
	ctx := context.Background()
	ws, err := witnesstest.Both(mustVerifier(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		t.Cleanup(w.Close)
	}
	policy := witnesstest.Policy(2, ws...)
	dir := t.TempDir()
	s1, s2 := testSigner(t, 1), testSigner(t, 2)
	l := openWitnessed(t, dir, 1, policy, false, nil)
	appendNotes(t, l, 0, 3)
	rec, cp, err := l.Rotate(ctx, s2, rotationEvent())
	if err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	if cp.Size != rec.Index+1 {
		t.Fatalf("dual-signed checkpoint of size %d, want %d", cp.Size, rec.Index+1)
	}
	checkDualCosigned(t, dir, cp.Size, policy, s1, s2)
	for _, w := range ws {
		if w.Size() != cp.Size {
			t.Errorf("witness %s cosigned up to %d, want %d", w.Name, w.Size(), cp.Size)
		}
	}
}

// checkDualCosigned checks that checkpoints/<size> is signed by both keys
// alone, that cosignatures/<size> is the same note with the quorum of
// policy's cosignatures, and that the log verifies with either key.
func checkDualCosigned(t *testing.T, dir string, size uint64, policy []byte, s1, s2 chain.Signer) {
	t.Helper()
	name := strconv.FormatUint(size, 10)
	kept, err := os.ReadFile(filepath.Join(dir, chain.CheckpointsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := os.ReadFile(filepath.Join(dir, chain.CosignaturesDir, name))
	if err != nil {
		t.Fatalf("the checkpoint both keys signed has no cosignatures: %v", err)
	}
	if n := bytes.Count(kept, []byte("\n— ")); n != 2 {
		t.Fatalf("kept checkpoint %d has %d signature lines, want the two keys':\n%s", size, n, kept)
	}
	if !bytes.HasPrefix(cosigned, kept) {
		t.Fatalf("cosigned checkpoint %d does not extend the one the keys signed:\n%s\n%s", size, kept, cosigned)
	}
	p, err := chain.ParseWitnessPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.CheckCosignatures(cosigned)
	if err != nil || !res.QuorumMet {
		t.Fatalf("cosignatures of checkpoint %d: %+v, %v", size, res, err)
	}
	for _, s := range []chain.Signer{s1, s2} {
		v := verifierOf(t, s)
		if _, err := chain.ParseCheckpoint(kept, v); err != nil {
			t.Fatalf("checkpoint %d not signed by %s: %v", size, mustKey(t, s).KeyID(), err)
		}
		rep, err := chain.VerifyLog(context.Background(), os.DirFS(dir), v)
		if err != nil {
			t.Fatalf("verify with %s: %v", mustKey(t, s).KeyID(), err)
		}
		if len(rep.Rotations) != 1 || !rep.Rotations[0].Confirmed || rep.Rotations[0].Checkpoint != size {
			t.Fatalf("rotations %+v, want one confirmed by checkpoint %d", rep.Rotations, size)
		}
	}
}

// TestRotationResumed: a rotation whose checkpoint signed by both keys
// was not published (its witness down, fail-closed) leaves a log the old
// key no longer signs alone. Opening it without the new key, or with
// another key, is refused and changes nothing; opening it with the new key
// finishes the rotation, cosigned, and the log then signs with the new key.
func TestRotationResumed(t *testing.T) {
	ctx := context.Background()
	w := startWitness(t, "ed.witness.test", witnesstest.Ed25519, 1)
	policy := witnesstest.Policy(1, w)
	dir := t.TempDir()
	s1, s2 := testSigner(t, 1), testSigner(t, 2)
	l := openWitnessed(t, dir, 1, policy, false, nil)
	appendNotes(t, l, 0, 3)
	if _, err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	w.SetDown(true)
	rec, _, err := l.Rotate(ctx, s2, rotationEvent())
	if !errors.Is(err, chain.ErrWitnessQuorum) || rec == nil {
		t.Fatalf("rotate with the witness down, fail-closed: %v, %v", rec, err)
	}
	// The old key signs nothing more, even to close.
	if _, err := l.Publish(ctx); !errors.Is(err, chain.ErrRotationUnfinished) {
		t.Fatalf("publish after the unfinished rotation: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = l.Close(cctx) // says the final checkpoint was not published
	if raw, err := os.ReadFile(filepath.Join(dir, chain.CheckpointPath)); err != nil || bytes.Count(raw, []byte("\n— ")) != 2 {
		// The old key's line and the witness's: nothing the new key signed.
		t.Fatalf("published checkpoint after the unfinished rotation (%v):\n%s", err, raw)
	}
	pending, err := chain.PendingRotation(ctx, os.DirFS(dir))
	if err != nil || pending == nil || pending.Index != rec.Index {
		t.Fatalf("pending rotation: %v, %v; want entry %d", pending, err, rec.Index)
	}

	before := treeSums(t, dir)
	w.SetDown(false)
	for name, next := range map[string]chain.Signer{"no new key": nil, "another key": testSigner(t, 3)} {
		_, err := openRotating(dir, s1, next, policy)
		if !errors.Is(err, chain.ErrRotationUnfinished) {
			t.Fatalf("%s: open: %v, want ErrRotationUnfinished", name, err)
		}
		if after := treeSums(t, dir); after != before {
			t.Fatalf("%s: the refused open changed the log directory", name)
		}
	}
	if _, err := openRotating(dir, s2, nil, policy); err == nil {
		t.Fatal("the new key alone opened a log whose checkpoints it never signed")
	}

	l, err = openRotating(dir, s1, s2, policy)
	if err != nil {
		t.Fatalf("open with the new key to finish the rotation: %v", err)
	}
	if l.Key().KeyID() != mustKey(t, s2).KeyID() {
		t.Fatalf("the log signs with %s after the rotation, want %s", l.Key().KeyID(), mustKey(t, s2).KeyID())
	}
	closeLog(t, l)
	checkDualCosigned(t, dir, rec.Index+1, policy, s1, s2)
	if p, err := chain.PendingRotation(ctx, os.DirFS(dir)); err != nil || p != nil {
		t.Fatalf("pending rotation after it was finished: %v, %v", p, err)
	}
	if _, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: testOrigin, Signer: s1}); !errors.Is(err, chain.ErrRetiredKey) {
		t.Fatalf("open with the old key after the rotation: %v, want ErrRetiredKey", err)
	}
}

// treeSums returns every file of dir and its content, as one string.
func treeSums(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		b.WriteString(p + "\n")
		b.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
