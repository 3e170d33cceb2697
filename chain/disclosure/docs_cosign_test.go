package disclosure_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/witnesstest"
)

// The program of "Checking a cosignature with standard tools", built
// from docs/package.md as it stands, checks the cosignatures of a real
// witnessed checkpoint (Ed25519 and ML-DSA-44) with formats and x/mod
// alone, and refuses one altered.
func TestDocCosignatureProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	ctx := context.Background()
	blocks := docBlocks(docSection(t, "### Checking a cosignature with standard tools"), "go")
	if len(blocks) != 1 {
		t.Fatalf("%d Go programs in the section, want 1", len(blocks))
	}
	// Built inside this module, so that its imports resolve to the
	// versions go.mod pins, offline.
	src, err := os.MkdirTemp(".", "_doc-cosign-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(src) })
	if err := os.WriteFile(filepath.Join(src, "cosigned.go"), []byte(blocks[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cosigned")
	if out, err := exec.Command("go", "build", "-o", bin, "./"+filepath.Join(src, "cosigned.go")).CombinedOutput(); err != nil {
		t.Fatalf("the documented program does not build: %v\n%s", err, out)
	}

	signer := testSigner(t, 7)
	_, key, err := chain.NewNoteSigner("custos.test/docs", signer)
	if err != nil {
		t.Fatal(err)
	}
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	ws, err := witnesstest.Both(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		defer w.Close()
	}
	policy, err := chain.ParseWitnessPolicy(witnesstest.Policy(2, ws...))
	if err != nil {
		t.Fatal(err)
	}
	l, err := chain.Open(ctx, chain.Config{Dir: t.TempDir(), Origin: "custos.test/docs", Signer: signer,
		CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond, Witnesses: &chain.WitnessConfig{Policy: policy}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if _, err := l.Append(ctx, chain.Event{Type: chain.CustodyNote, Time: time.Now().UTC(), Actor: "custodian@example.net",
		Agent: "agent-1", Reason: "a note"}); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := func(vkey string, checkpoint []byte) (string, error) {
		cmd := exec.Command(bin, vkey)
		cmd.Stdin = bytes.NewReader(checkpoint)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, w := range ws {
		out, err := run(w.VKey, cp.Raw)
		if err != nil || !strings.HasPrefix(out, "cosigned by "+w.Name+" at ") {
			t.Fatalf("%s: %v\n%s", w.Name, err, out)
		}
		// The same checkpoint with this witness's signature altered.
		lines := strings.Split(string(cp.Raw), "\n")
		for i, line := range lines {
			if f := strings.Fields(line); len(f) == 3 && f[1] == w.Name {
				sig, _ := base64.StdEncoding.DecodeString(f[2])
				sig[len(sig)-1] ^= 1
				lines[i] = "— " + w.Name + " " + base64.StdEncoding.EncodeToString(sig)
			}
		}
		out, err = run(w.VKey, []byte(strings.Join(lines, "\n")))
		if err == nil || !strings.HasPrefix(out, "NOT cosigned by "+w.Name) {
			t.Fatalf("%s, altered: %v\n%s", w.Name, err, out)
		}
	}
}
