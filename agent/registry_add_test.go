package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
)

// Add preserves the order document in the order's turn: a capture of
// the new order started meanwhile waits for it, and does not record the
// running document capture as "interrupted".
func TestAddHoldsTheOrderThroughItsDocument(t *testing.T) {
	f := newRegistryFixture(t)
	doc := filepath.Join(t.TempDir(), "order.pdf")
	b := make([]byte, 64<<20)
	if err := os.WriteFile(doc, b, 0o600); err != nil {
		t.Fatal(err)
	}
	draft, err := (&order.Flags{
		Reference: "LE-DOC", Authority: "FBI", RequestingState: "US", Profile: "us-2703f", LegalBasis: "18 U.S.C. 2703(f)",
		Selectors: []string{"email:alice@example.net"}, Categories: "content",
	}).Draft(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	addDone := make(chan error, 1)
	go func() { _, err := f.reg.Add(ctx, draft, &Document{Path: doc}, "intake"); addDone <- err }()
	var id string
	for id == "" {
		vs, _, _ := f.reg.ListReadable(ctx)
		for _, v := range vs {
			if len(v.State.OpenCaptures) > 0 {
				id = v.Order.ID
			}
		}
	}
	src := []capture.NamedSource{{Name: "mail", Source: &fakeSource{items: map[string]string{"a": "alpha"}, order: []string{"a"}}}}
	if _, err := f.reg.Capture(ctx, id, CaptureOptions{Sources: src, Actor: "custodian", CutOff: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := <-addDone; err != nil {
		t.Fatal(err)
	}
	ev := f.verifiedEvents(t, id)
	var seq []string
	for _, e := range ev {
		seq = append(seq, string(e.Type)+"/"+e.Details["capture"]+"/"+e.Details["interrupted"])
	}
	t.Logf("%v", seq)
	for _, e := range ev {
		if e.Details["interrupted"] == "true" {
			t.Errorf("a live document capture %s was recorded as interrupted", e.Details["capture"])
		}
	}
}
