package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	// Valid until after the disclosure, which now asks it for a token
	// over the statement too: the margin is for a loaded machine.
	brief := tsatest.New(t, tsatest.Options{Name: "Brief TSA", NotAfter: time.Now().Add(6 * time.Second)})
	other := tsatest.New(t, tsatest.Options{Name: "Other TSA"})
	s, err := tsa.New(tsa.Config{Dir: filepath.Join(f.dir, "log"), Every: time.Nanosecond,
		Authorities: []tsa.Authority{{Name: "brief", URL: brief.URL(), Chain: []*x509.Certificate{brief.Leaf(), brief.Root()}}}})
	if err != nil {
		t.Fatal(err)
	}
	f.reg.Timestamps = s
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
	if err != nil || len(ents) != 7 {
		t.Fatalf("custody/timestamps holds %d files (%v), want two tokens with their checkpoints and proofs, and the statement's token", len(ents), err)
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
	// The package's own disclosure: its statement's token, issued after
	// the checkpoints' tokens.
	if d := tm.Disclosed; d == nil || d.TSA != "brief" || d.File != "custody/timestamps/attestation.brief.tsr" ||
		d.NoLaterThan.Before(tm.FirstSealed.NoLaterThan) || tm.EarlierDisclosure != nil {
		t.Fatalf("disclosed %+v (earlier %+v), want the statement's token, no earlier than the sealing %v", d, tm.EarlierDisclosure, tm.FirstSealed.NoLaterThan)
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
	if rep.Time.Received != nil || rep.Time.Disclosed != nil || len(rep.Timestamps) != 3 || rep.Timestamps[0].Trusted || rep.Timestamps[0].Problem == "" {
		t.Fatalf("untrusted tokens: %+v, time %+v", rep.Timestamps, rep.Time)
	}
}

// A disclosure asks each authority for a token over the package's signed
// statement: the good one's goes in the package (which then says version
// 3, and the BagIt validator accepts), the one that is down is left out
// with a WARN, the liar's token for another digest is refused with an
// ERROR; neither blocks the disclosure. verify then says when the package
// was disclosed at the latest. A statement token changed by one byte, or
// one over another package's statement, is tampering named by the
// timestamps check.
func TestDiscloseTimestampsStatement(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	good := tsatest.New(t, tsatest.Options{Name: "Good TSA"})
	down := tsatest.New(t, tsatest.Options{Name: "Down TSA", Down: true})
	liar := tsatest.New(t, tsatest.Options{Name: "Liar TSA", OtherDigest: true})
	var logs bytes.Buffer
	auth := func(name string, a *tsatest.TSA) tsa.Authority {
		return tsa.Authority{Name: name, URL: a.URL(), Chain: []*x509.Certificate{a.Leaf(), a.Root()}}
	}
	s, err := tsa.New(tsa.Config{Dir: filepath.Join(f.dir, "log"), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Authorities: []tsa.Authority{auth("good", good), auth("down", down), auth("liar", liar)}})
	if err != nil {
		t.Fatal(err)
	}
	f.reg.Timestamps = s
	o := f.addShortOrder(t, "LE-TS")
	confirmRequester(t, f.reg, o.ID)
	dir := t.TempDir()
	disclose := func(name string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		if _, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Actor: "discloser"}); err != nil {
			t.Fatalf("disclose with a TSA down and a liar: %v", err)
		}
		return out
	}
	out := disclose("pkg")
	ents, err := os.ReadDir(filepath.Join(out, "custody", "timestamps"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "attestation.good.tsr" {
		t.Fatalf("custody/timestamps: %v %v, want the good authority's token over the statement only", ents, err)
	}
	for _, want := range []string{`level=WARN msg="disclosure statement left without a token of this timestamp authority: it gave none" tsa=down`,
		`level=ERROR msg="timestamp authority answered a token that does not cover the disclosure statement: refused, left out" tsa=liar`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), down.URL()) {
		t.Fatalf("the log names an authority's URL:\n%s", logs.String())
	}
	if info := string(readPackageFile(t, out, "bag-info.txt")); !strings.Contains(info, "Custos-Package-Version: 3\n") {
		t.Fatalf("bag-info.txt of a package with a statement token:\n%s", info)
	}
	t.Run("bagit", func(t *testing.T) { checkBagIt(t, out, false) })

	trust, err := chain.ParseTrustLine(f.log.Key().Verifier)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(root string) (*disclosure.Report, error) {
		return disclosure.VerifyWith(ctx, os.DirFS(root), trust, disclosure.VerifyOptions{TSARoots: []*x509.Certificate{good.Root()}})
	}
	rep, err := verify(out)
	if err != nil {
		t.Fatalf("verify: %v (%v)", err, rep.Failed())
	}
	d := rep.Time.Disclosed
	if d == nil || d.TSA != "good" || !strings.Contains(d.Authority, "Good TSA") || d.NoLaterThan.Before(o.ReceivedAt.Truncate(time.Second)) {
		t.Fatalf("disclosed: %+v, want the good authority's time", d)
	}
	if len(rep.Timestamps) != 1 || rep.Timestamps[0].Covers != "custody/attestation.dsse.json" || !rep.Timestamps[0].Trusted {
		t.Fatalf("timestamps: %+v", rep.Timestamps)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "disclosed no later than "+d.NoLaterThan.Format(time.RFC3339)+" (good, ") {
		t.Fatalf("the report does not say when the package was disclosed:\n%s", text.String())
	}

	tampered := func(name, want string, change func(tok string)) {
		t.Helper()
		bad := copyPackage(t, out)
		change(filepath.Join(bad, "custody", "timestamps", "attestation.good.tsr"))
		rep, err := verify(bad)
		if !errors.Is(err, chain.ErrTamper) {
			t.Fatalf("%s: verify: %v, want tampering", name, err)
		}
		c := rep.Check(disclosure.CheckTimestamps)
		if c == nil || c.Result != disclosure.ResultFailed || len(c.Problems) == 0 || c.Problems[0].File != "custody/timestamps/attestation.good.tsr" ||
			!strings.Contains(c.Problems[0].What, want) {
			t.Fatalf("%s: the timestamps check: %+v", name, c)
		}
	}
	tampered("a byte flipped", "not a valid RFC 3161 time-stamp response", func(tok string) {
		b, err := os.ReadFile(tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tok, tsatest.Flip(b), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	// A valid token of the same authority, over the statement of another
	// package of the order.
	other := disclose("other")
	tampered("another package's token", "another digest", func(tok string) {
		b := readPackageFile(t, other, "custody/timestamps/attestation.good.tsr")
		if err := os.WriteFile(tok, b, 0o644); err != nil {
			t.Fatal(err)
		}
	})
}
