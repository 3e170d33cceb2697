package disclosure_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"k8s.io/klog/v2"

	"github.com/custos-evidence/custos/chain"
)

// TestMain silences klog, through which tessera reports routine progress;
// test output then shows only what the tests say.
func TestMain(m *testing.M) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %q\nwant: %q", name, got, want)
	}
}

const testOrigin = "custos.test/agent-1"

var testTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// testSigner returns a deterministic Ed25519 sigstore signer.
func testSigner(t testing.TB, seed byte) signature.SignerVerifier {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(s))
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

func openLog(t testing.TB, dir string, s chain.Signer) *chain.Log {
	t.Helper()
	l, err := chain.Open(context.Background(), chain.Config{Dir: dir, Origin: testOrigin, Signer: s, CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond,
		Now: func() time.Time { return testTime }})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustKey(t testing.TB, s chain.Signer) *chain.Key {
	t.Helper()
	pub, err := s.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := chain.NewKey(testOrigin, pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func mutate(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(path, 0o644)
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}
