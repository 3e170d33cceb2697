package agent

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/tsa"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
	"github.com/custos-evidence/custos/chain/tsatest"
)

// A package carries the tokens over the checkpoints that first included
// the order's receipt and its first sealed items, each tied to the
// package's checkpoint; verified after the authority's certificate has
// expired, the tokens still prove when (checked at their own time), in
// order and from trusted tokens only; with another authority's roots no
// time is claimed and nothing is tampering.
func TestDiscloseCarriesTimestampsVerifiedAfterExpiry(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	brief := tsatest.New(t, tsatest.Options{Name: "Brief TSA", NotAfter: time.Now().Add(4 * time.Second)})
	other := tsatest.New(t, tsatest.Options{Name: "Other TSA"})
	s, err := tsa.New(tsa.Config{Dir: filepath.Join(f.dir, "log"), Every: time.Nanosecond,
		Authorities: []tsa.Authority{{Name: "brief", URL: brief.URL(), Chain: []*x509.Certificate{brief.Leaf(), brief.Root()}}}})
	if err != nil {
		t.Fatal(err)
	}
	stamp := func() {
		t.Helper()
		if _, err := f.log.Publish(ctx); err != nil {
			t.Fatal(err)
		}
		rs, err := s.Stamp(ctx)
		if err != nil || len(rs) != 1 || rs[0].Err != nil {
			t.Fatalf("stamp: %+v %v", rs, err)
		}
	}
	o := f.addOrder(t)
	stamp()
	mail := &fakeSource{items: map[string]string{"inbox/1.eml": "hello"}, order: []string{"inbox/1.eml"}}
	if rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Actor: "custodian", CutOff: time.Now(),
		Sources: []capture.NamedSource{{Name: "mail", Source: mail, Categories: []string{"content"}}}}); err != nil || rep.Failed() {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	stamp()
	out := filepath.Join(t.TempDir(), "pkg")
	confirmRequester(t, f.reg, o.ID)
	if _, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Actor: "discloser"}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(out, "custody", "timestamps"))
	if err != nil || len(ents) != 6 {
		t.Fatalf("custody/timestamps holds %d files (%v), want two tokens with their checkpoints and proofs", len(ents), err)
	}

	// The outside BagIt validator accepts the bag with its new tag files.
	t.Run("bagit", func(t *testing.T) { checkBagIt(t, out, false) })

	tsatest.WaitExpiry(brief)
	if _, err := brief.Leaf().Verify(x509.VerifyOptions{Roots: x509.NewCertPool()}); err == nil {
		t.Fatal("the certificate should not verify now")
	}
	trust, err := chain.ParseTrustLine(f.log.Key().Verifier)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := disclosure.VerifyWith(ctx, os.DirFS(out), trust, disclosure.VerifyOptions{TSARoots: []*x509.Certificate{brief.Root()}})
	if err != nil {
		t.Fatalf("verify after the authority's certificate expired: %v (%v)", err, rep.Failed())
	}
	tm := rep.Time
	if !tm.Checked || tm.Received == nil || tm.FirstSealed == nil || tm.Received.TSA != "brief" {
		t.Fatalf("time: %+v", tm)
	}
	if tm.FirstSealed.Size <= tm.Received.Size || tm.FirstSealed.NoLaterThan.Before(tm.Received.NoLaterThan) ||
		tm.SealedAfterSeconds == nil || *tm.SealedAfterSeconds < 0 {
		t.Fatalf("sealed %+v is not after received %+v", tm.FirstSealed, tm.Received)
	}
	for _, ts := range rep.Timestamps {
		if !ts.Trusted || ts.GenTime.After(brief.Leaf().NotAfter) {
			t.Fatalf("token %+v: want trusted, issued before the expiry %v", ts, brief.Leaf().NotAfter)
		}
	}

	rep, err = disclosure.VerifyWith(ctx, os.DirFS(out), trust, disclosure.VerifyOptions{TSARoots: []*x509.Certificate{other.Root()}})
	if err != nil {
		t.Fatalf("verify with another authority's roots: %v", err)
	}
	if rep.Time.Received != nil || len(rep.Timestamps) != 2 || rep.Timestamps[0].Trusted || rep.Timestamps[0].Problem == "" {
		t.Fatalf("untrusted tokens: %+v, time %+v", rep.Timestamps, rep.Time)
	}
}
