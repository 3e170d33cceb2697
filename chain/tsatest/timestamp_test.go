package tsatest_test

// The tests of chain's timestamps live here, beside the test authority:
// chain's own tests import nothing of ours.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/tsatest"
)

// keptCheckpoint writes a log with one event and returns its directory
// and its newest kept checkpoint.
func keptCheckpoint(t *testing.T) (string, *chain.Checkpoint) {
	t.Helper()
	dir := t.TempDir()
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: "custos.example.net/test", Signer: sv,
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, chain.Event{Type: chain.CustodyNote, Time: time.Now(), Order: "01J9Z3K4M5N6P7Q8R9S0T1V2W3",
		Actor: "custodian@example.net", Agent: "agent-1", Reason: "a note"}); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dir, cp
}

func TestTimestampVerifiesAtItsOwnTime(t *testing.T) {
	dir, cp := keptCheckpoint(t)
	good := tsatest.New(t, tsatest.Options{})
	// An authority whose certificate expires in two seconds.
	expired := tsatest.New(t, tsatest.Options{Name: "Old TSA", NotAfter: time.Now().Add(2 * time.Second)})
	other := tsatest.New(t, tsatest.Options{Name: "Other TSA"})
	roots := []*x509.Certificate{good.Root(), expired.Root()}

	resp := good.Token(t, cp.Raw)
	ts, err := chain.KeepTimestamp(dir, cp.Size, "good", resp)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(chain.TimestampFile(cp.Size, "good"))))
	if err != nil || !bytes.Equal(kept, resp) {
		t.Fatalf("token not kept as received: %v", err)
	}
	vts, err := chain.VerifyTimestamp("t", kept, cp.Raw, roots, nil)
	if err != nil {
		t.Fatalf("a good token does not verify: %v", err)
	}
	if !vts.GenTime.Equal(ts.GenTime) || time.Since(vts.GenTime) > time.Minute || vts.Signer == nil || vts.Signer.Subject.CommonName != "Test TSA" {
		t.Fatalf("token says %v by %v", vts.GenTime, vts.Signer)
	}

	old := expired.Token(t, cp.Raw)
	tsatest.WaitExpiry(expired)
	if _, err := expired.Leaf().Verify(x509.VerifyOptions{Roots: pool(expired.Root()), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err == nil {
		t.Fatal("the old authority's certificate should have expired by now")
	}
	ots, err := chain.VerifyTimestamp("t", old, cp.Raw, roots, nil)
	if err != nil {
		t.Fatalf("a token issued while its certificate was valid does not verify after expiry: %v", err)
	}
	if ots.GenTime.After(expired.Leaf().NotAfter) {
		t.Fatalf("genTime %v after the certificate's expiry %v", ots.GenTime, expired.Leaf().NotAfter)
	}

	_, err = chain.VerifyTimestamp("t", other.Token(t, cp.Raw), cp.Raw, roots, nil)
	if !errors.Is(err, chain.ErrUntrustedTimestamp) || errors.Is(err, chain.ErrTamper) {
		t.Fatalf("a token of an authority not among the roots: %v, want untrusted and not tampering", err)
	}

	_, err = chain.VerifyTimestamp("t", tsatest.Flip(resp), cp.Raw, roots, nil)
	if !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("a token flipped by one byte: %v, want tampering", err)
	}
	_, err = chain.VerifyTimestamp("t", resp, append(bytes.Clone(cp.Raw), 'x'), roots, nil)
	if !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("a token over another note: %v, want tampering", err)
	}

	list, err := chain.KeptTimestamps(os.DirFS(dir))
	if err != nil || len(list) != 1 || list[0].Size != cp.Size || list[0].TSA != "good" {
		t.Fatalf("kept timestamps %+v, %v", list, err)
	}
}

func TestKeepTimestampRefusesAnotherDigest(t *testing.T) {
	dir, cp := keptCheckpoint(t)
	liar := tsatest.New(t, tsatest.Options{OtherDigest: true})
	_, err := chain.KeepTimestamp(dir, cp.Size, "liar", liar.Token(t, cp.Raw))
	var te *chain.TamperError
	if !errors.As(err, &te) || !strings.Contains(te.What, "another digest") {
		t.Fatalf("a token for another digest: %v, want tampering", err)
	}
	if _, err := os.Stat(filepath.Join(dir, chain.TimestampsDir, "1.liar.tsr")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused token was kept: %v", err)
	}
	if err := chain.CheckTSAName("Bad.Name"); err == nil {
		t.Fatal("a name with a dot would break the file name")
	}
}

func pool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}
