package report_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/agent/report"
	"github.com/custos-evidence/custos/chain"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// logOf appends events to a real custody log in a new directory and
// returns the directory and the log's size.
func logOf(t *testing.T, events []chain.Event) (string, uint64) {
	t.Helper()
	ctx := context.Background()
	signer, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "log")
	l, err := chain.Open(ctx, chain.Config{Dir: dir, Origin: "custos.test/report", Signer: signer,
		CheckpointInterval: chain.MinCheckpointInterval, Agent: "agent-1", Now: func() time.Time { return t0.Add(-time.Hour * 24 * 30) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		e.Actor, e.Agent = "clerk@example.net", "agent-1"
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatalf("append %s: %v", e.Type, err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	size, _, _, err := chain.IntegratedSize(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return dir, size
}

func received(id, profile, state string, selectors string, at time.Time) chain.Event {
	return chain.Event{Type: chain.OrderReceived, Order: id, Time: at.Add(time.Second), Details: map[string]string{
		"profile": profile, "requesting_state": state, "selectors": selectors, "received_at": at.Format(time.RFC3339Nano),
		"status": "received", "order_sha256": strings.Repeat("a", 64),
	}}
}

func ev(typ chain.EventType, id string, at time.Time, details map[string]string) chain.Event {
	return chain.Event{Type: typ, Order: id, Time: at, Details: details}
}

const (
	o1 = "01M0000000000000000000000A"
	o2 = "01M0000000000000000000000B"
	o3 = "01M0000000000000000000000C"
	o4 = "01M0000000000000000000000D"
	o5 = "01M0000000000000000000000E"
	o6 = "01M0000000000000000000000F"
	o7 = "01M0000000000000000000000G"
)

// TestBuild: the report's figures from a log built here, event by event,
// with orders before, inside and after the period.
func TestBuild(t *testing.T) {
	h := time.Hour
	dir, size := logOf(t, []chain.Event{
		received(o4, "us-2703f", "US", "4", t0.Add(-h)), // before the period
		received(o1, "us-2703f", "US", "2", t0),
		ev(chain.CustodyNote, "", t0.Add(5*time.Second), nil),
		ev(chain.ItemsSealed, o1, t0.Add(30*time.Second), map[string]string{"capture": "c1"}),
		ev(chain.ItemsSealed, o1, t0.Add(60*time.Second), map[string]string{"capture": "c1"}),
		received(o2, "eu-epoc-pr", "DE", "1", t0.Add(h)),
		// The order's document, preserved at receipt: not its data.
		ev(chain.CaptureStarted, o2, t0.Add(h+time.Second), map[string]string{"capture": "d2", "sources": "order-document (file)"}),
		ev(chain.ItemsSealed, o2, t0.Add(h+2*time.Second), map[string]string{"capture": "d2"}),
		ev(chain.CaptureCompleted, o2, t0.Add(h+3*time.Second), map[string]string{"capture": "d2"}),
		ev(chain.ItemsSealed, o2, t0.Add(h+90*time.Second), map[string]string{"capture": "c2"}),
		received(o3, "eu-epoc-pr", "FR", "3", t0.Add(2*h)),
		ev(chain.CaptureStarted, o3, t0.Add(2*h+time.Second), map[string]string{"capture": "d3", "sources": "order-document (file)"}),
		ev(chain.ItemsSealed, o3, t0.Add(2*h+2*time.Second), map[string]string{"capture": "d3"}),
		// A reply that the provider cannot comply: its own outcome.
		ev(chain.OrderReplied, o3, t0.Add(2*h+time.Minute), map[string]string{"kind": "cannot-comply", "ground": "conflicting-obligations"}),
		received(o6, "eu-epoc-pr", "DE", "1", t0.Add(3*h)),
		ev(chain.ItemsSealed, o6, t0.Add(3*h+10*time.Second), map[string]string{"capture": "c6"}),
		ev(chain.OrderAmended, o6, t0.Add(3*h+11*time.Second), map[string]string{"status": "preserved", "previous_status": "preserving", "order_sha256": strings.Repeat("b", 64)}),
		// A confirmation that the data was preserved changes no outcome.
		ev(chain.OrderReplied, o6, t0.Add(3*h+time.Minute), map[string]string{"kind": "preserved"}),
		received(o7, "eu-epoc-pr", "DE", "1", t0.Add(4*h)),
		ev(chain.ItemPurged, o7, t0.Add(5*h), nil),
		ev(chain.DisclosureCreated, o1, t0.Add(6*h), nil),
		ev(chain.OrderReleased, o2, t0.Add(7*h), map[string]string{"status": "released", "order_sha256": strings.Repeat("c", 64)}),
		received(o5, "us-2703f", "US", "9", t0.Add(48*h)), // after the period
		// Production deadlines: counted by their due time, whatever the
		// order's receipt; a repeated one once.
		ev(chain.DeadlineMissed, o4, t0.Add(8*h), map[string]string{"kind": "production", "rule": "production-10d", "due": t0.Add(7 * h).Format(time.RFC3339)}),
		ev(chain.DeadlineMissed, o4, t0.Add(9*h), map[string]string{"kind": "production", "rule": "production-10d", "due": t0.Add(7 * h).Format(time.RFC3339)}),
		ev(chain.DeadlineMissed, o3, t0.Add(10*h), map[string]string{"kind": "emergency-production", "rule": "emergency-8h", "due": t0.Add(10 * h).Format(time.RFC3339)}),
		ev(chain.DeadlineMet, o1, t0.Add(6*h), map[string]string{"kind": "production", "rule": "production-10d", "due": t0.Add(20 * h).Format(time.RFC3339),
			"produced_at": t0.Add(6 * h).Format(time.RFC3339)}),
		ev(chain.DeadlineMissed, o5, t0.Add(60*h), map[string]string{"kind": "production", "rule": "production-10d", "due": t0.Add(58 * h).Format(time.RFC3339)}), // after the period
	})
	ctx := context.Background()
	rep, err := report.Build(ctx, chain.Entries(ctx, os.DirFS(dir), 0, size), report.Period{From: t0, To: t0.Add(24 * h)})
	if err != nil {
		t.Fatal(err)
	}
	want := &report.Report{
		From: t0, To: t0.Add(24 * h), LogSize: size, Orders: 5, Accounts: 2 + 1 + 3 + 1 + 1,
		ByInstrument:      []report.Count{{Key: "eu-epoc-pr", Orders: 4}, {Key: "us-2703f", Orders: 1}},
		ByRequestingState: []report.Count{{Key: "DE", Orders: 3}, {Key: "FR", Orders: 1}, {Key: "US", Orders: 1}},
		ByOutcome: []report.Count{{Key: "preserved", Orders: 1}, {Key: "disclosed", Orders: 1},
			{Key: "cannot comply", Orders: 1}, {Key: "released", Orders: 2}, {Key: "pending", Orders: 0}},
		FirstSealed: report.Durations{Orders: 3, Median: 30, P95: 90, Slowest: 90},
		Deadlines:   report.Deadlines{Met: 1, Missed: 2},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report\n got %+v\nwant %+v", rep, want)
	}
	// An empty period counts nothing but still says what it read.
	rep, err = report.Build(ctx, chain.Entries(ctx, os.DirFS(dir), 0, size), report.Period{From: t0.Add(100 * h), To: t0.Add(200 * h)})
	if err != nil || rep.Orders != 0 || rep.LogSize != size || rep.FirstSealed.Orders != 0 {
		t.Fatalf("empty period: %+v %v", rep, err)
	}
}

// TestBuildRefuses: a period that ends before it starts is an error; an
// entry that is not a custody event stops the report as tampering.
func TestBuildRefuses(t *testing.T) {
	ctx := context.Background()
	if _, err := report.Build(ctx, nil, report.Period{From: t0, To: t0}); err == nil {
		t.Fatal("an empty period was accepted")
	}
	dir, size := logOf(t, []chain.Event{received(o1, "us-2703f", "US", "2", t0)})
	bundle := filepath.Join(dir, "tile", "entries", "000.p", "2")
	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, []byte(`"selectors":"2"`))
	if i < 0 {
		t.Fatalf("no selectors in %s", bundle)
	}
	copy(raw[i:], `"selectors": "2`) // no longer canonical JSON
	if err := os.WriteFile(bundle, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = report.Build(ctx, chain.Entries(ctx, os.DirFS(dir), 0, size), report.Period{From: t0, To: t0.Add(time.Hour)})
	if !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("a report from an entry that is not an event: %v; want tampering", err)
	}
}
