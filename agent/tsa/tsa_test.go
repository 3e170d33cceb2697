package tsa_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/agent/tsa"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/tsatest"
)

const orderID = "01J9Z3K4M5N6P7Q8R9S0T1V2W3"

func openLog(t *testing.T, dir string) *chain.Log {
	t.Helper()
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := chain.Open(context.Background(), chain.Config{Dir: dir, Origin: "custos.example.net/test", Signer: sv,
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func appendAndPublish(t *testing.T, l *chain.Log, order string) uint64 {
	t.Helper()
	ctx := context.Background()
	if _, err := l.Append(ctx, chain.Event{Type: chain.CustodyNote, Time: time.Now(), Order: order,
		Actor: "custodian@example.net", Agent: "agent-1", Reason: "a note"}); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

func authority(name string, a *tsatest.TSA) tsa.Authority {
	return tsa.Authority{Name: name, URL: a.URL(), Chain: []*x509.Certificate{a.Leaf(), a.Root()}}
}

// One authority that works, one that is down, one that answers tokens for
// another digest: the first is used, the second is reported and skipped,
// the third refused as tampering; none is asked per item or more than once
// per Every, and a down one makes the next checkpoint the one timestamped.
func TestStampUsesGoodSkipsDownRefusesLiar(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	good := tsatest.New(t, tsatest.Options{Name: "Good TSA"})
	down := tsatest.New(t, tsatest.Options{Name: "Down TSA", Down: true})
	liar := tsatest.New(t, tsatest.Options{Name: "Liar TSA", OtherDigest: true})
	var logged bytes.Buffer
	now := time.Now()
	s, err := tsa.New(tsa.Config{Dir: dir, Every: time.Minute, Now: func() time.Time { return now },
		Authorities: []tsa.Authority{authority("good", good), authority("down", down), authority("liar", liar)},
		Logger:      slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Nothing of an order in the log yet: nobody is asked.
	if _, err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.Stamp(ctx); err != nil || len(rs) != 0 || good.Requests() != 0 {
		t.Fatalf("stamped a log without order events: %+v %v", rs, err)
	}

	size := appendAndPublish(t, l, orderID)
	rs, err := s.Stamp(ctx)
	if err != nil || len(rs) != 3 {
		t.Fatalf("stamp: %+v, %v", rs, err)
	}
	if rs[0].TSA != "good" || rs[0].Err != nil || rs[0].Token == nil {
		t.Fatalf("good authority: %+v", rs[0])
	}
	if rs[1].Err == nil || errors.Is(rs[1].Err, chain.ErrTamper) {
		t.Fatalf("down authority: %v, want a plain failure", rs[1].Err)
	}
	if !errors.Is(rs[2].Err, chain.ErrTamper) {
		t.Fatalf("lying authority: %v, want tampering", rs[2].Err)
	}
	list, err := chain.KeptTimestamps(os.DirFS(dir))
	if err != nil || len(list) != 1 || list[0].TSA != "good" || list[0].Size != size {
		t.Fatalf("kept %+v %v, want only good's token over %d", list, err, size)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(chain.TimestampFile(size, "liar")))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the liar's token was kept: %v", err)
	}
	out := logged.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "tsa=down") || !strings.Contains(out, "size="+strconv.FormatUint(size, 10)) {
		t.Fatalf("the gap is not logged naming the authority and size:\n%s", out)
	}
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "tsa=liar") {
		t.Fatalf("the liar is not logged:\n%s", out)
	}
	if strings.Contains(out, down.URL()) {
		t.Fatalf("a log line names the authority's URL:\n%s", out)
	}

	// Many more order events within the minute: nobody is asked again.
	for range 5 {
		appendAndPublish(t, l, orderID)
	}
	if rs, err := s.Stamp(ctx); err != nil || len(rs) != 0 || good.Requests() != 1 || liar.Requests() != 1 {
		t.Fatalf("asked again within Every: %+v %v (good %d)", rs, err, good.Requests())
	}

	// A minute on, the newest checkpoint is the one timestamped, by the
	// good authority; the down one is tried again and logged again.
	now = now.Add(time.Minute)
	newest := appendAndPublish(t, l, orderID)
	if _, err := s.Stamp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(chain.TimestampFile(newest, "good")))); err != nil {
		t.Fatalf("the newest checkpoint %d has no token: %v", newest, err)
	}

	// A new process (no memory of its own) goes by the newest token's time.
	s2, err := tsa.New(tsa.Config{Dir: dir, Now: time.Now, Authorities: []tsa.Authority{authority("good", good)}})
	if err != nil {
		t.Fatal(err)
	}
	appendAndPublish(t, l, orderID)
	if rs, err := s2.Stamp(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("a new process asked within Every of the newest token: %+v %v", rs, err)
	}
}

func TestNewRefusesBadAuthorities(t *testing.T) {
	a := tsatest.New(t, tsatest.Options{})
	for _, bad := range []tsa.Authority{
		{Name: "x", URL: "://no", Chain: []*x509.Certificate{a.Root()}},
		{Name: "x", URL: "ftp://host/", Chain: []*x509.Certificate{a.Root()}},
		{Name: "x", URL: a.URL()},
		{Name: "X.Y", URL: a.URL(), Chain: []*x509.Certificate{a.Root()}},
	} {
		if _, err := tsa.New(tsa.Config{Dir: t.TempDir(), Authorities: []tsa.Authority{bad}}); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// Run asks on its own clock: entries of no order are read once and ask
// nobody, however often Run looks; an order event after them is found and
// timestamped, and Run ends with its context.
func TestRunTimestampsAnOrderAfterQuietEntries(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	good := tsatest.New(t, tsatest.Options{Name: "Good TSA"})
	var logged bytes.Buffer
	s, err := tsa.New(tsa.Config{Dir: dir, Every: time.Millisecond, Authorities: []tsa.Authority{authority("good", good)},
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, 5*time.Millisecond) }()
	kept := func() []chain.KeptTimestamp {
		k, err := chain.KeptTimestamps(os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for range 3 { // entries of no order, each under a checkpoint Run sees
		appendAndPublish(t, l, "")
		time.Sleep(20 * time.Millisecond)
	}
	if k := kept(); len(k) != 0 {
		t.Fatalf("a token over a log with no order event: %+v", k)
	}
	size := appendAndPublish(t, l, orderID)
	deadline := time.Now().Add(10 * time.Second)
	for len(kept()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	k := kept()
	if len(k) != 1 || k[0].TSA != "good" || k[0].Size != size {
		t.Fatalf("after an order event at checkpoint %d: %+v\n%s", size, k, logged.String())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	if strings.Contains(logged.String(), "level=WARN") || strings.Contains(logged.String(), "level=ERROR") {
		t.Fatalf("Run logged a problem:\n%s", logged.String())
	}
}

// StampBytes asks every authority, whatever Every says, for a token over
// the bytes given: the good one's comes back checked (it covers them and
// chains to the configured certificates), the one that is down and the
// liar are left out and logged naming them, and nothing is kept in the
// log directory.
func TestStampBytes(t *testing.T) {
	dir := t.TempDir()
	good := tsatest.New(t, tsatest.Options{Name: "Good TSA"})
	down := tsatest.New(t, tsatest.Options{Name: "Down TSA", Down: true})
	liar := tsatest.New(t, tsatest.Options{Name: "Liar TSA", OtherDigest: true})
	var logged bytes.Buffer
	s, err := tsa.New(tsa.Config{Dir: dir, Every: time.Hour, Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Authorities: []tsa.Authority{authority("good", good), authority("down", down), authority("liar", liar)}})
	if err != nil {
		t.Fatal(err)
	}
	statement := []byte(`{"payloadType":"application/vnd.in-toto+json"}`)
	name := func(tsa string) string { return "custody/timestamps/attestation." + tsa + ".tsr" }
	for round := range 2 { // twice within Every: a disclosure is never spaced
		toks := s.StampBytes(context.Background(), "disclosure statement", statement, name)
		if len(toks) != 1 || toks[0].TSA != "good" || toks[0].Token == nil {
			t.Fatalf("round %d: tokens %+v, want good's only", round, toks)
		}
		if _, err := chain.VerifyTimestamp("t", toks[0].Response, statement, []*x509.Certificate{good.Root()}, nil); err != nil {
			t.Fatalf("round %d: good's token: %v", round, err)
		}
	}
	out := logged.String()
	if !strings.Contains(out, `level=WARN msg="disclosure statement left without a token of this timestamp authority: it gave none" tsa=down`) ||
		!strings.Contains(out, `level=ERROR msg="timestamp authority answered a token that does not cover the disclosure statement: refused, left out" tsa=liar`) ||
		!strings.Contains(out, "custody/timestamps/attestation.liar.tsr") || strings.Contains(out, down.URL()) {
		t.Fatalf("the gaps are not logged naming the authorities (and never their URLs):\n%s", out)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("the log directory holds %v (%v), want nothing", ents, err)
	}
}
