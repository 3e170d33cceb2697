package chain_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/tsatest"
)

// askTSA posts a request for a token over note to the authority at url.
func askTSA(t *testing.T, url string, note []byte) []byte {
	t.Helper()
	req, err := chain.NewTimestampRequest(note)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/timestamp-query", bytes.NewReader(req.DER))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tsa: %d %v", resp.StatusCode, err)
	}
	return b
}

// keptCheckpoint writes a log with one event and returns its directory
// and its newest kept checkpoint.
func keptCheckpoint(t *testing.T) (string, *chain.Checkpoint) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, testSigner(t, 1))
	ctx := context.Background()
	if _, err := l.Append(ctx, noteEvent(orderA, 1)); err != nil {
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

	resp := askTSA(t, good.URL(), cp.Raw)
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

	old := askTSA(t, expired.URL(), cp.Raw)
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

	_, err = chain.VerifyTimestamp("t", askTSA(t, other.URL(), cp.Raw), cp.Raw, roots, nil)
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
	_, err := chain.KeepTimestamp(dir, cp.Size, "liar", askTSA(t, liar.URL(), cp.Raw))
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
