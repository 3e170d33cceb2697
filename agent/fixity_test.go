package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

func TestFixityVerifiesAndNamesTampering(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first\n", "b.eml": "second\n"}, order: []string{"a.eml", "b.eml"}}
	rep, err := f.c.Capture(ctx, spec(src, nil))
	if err != nil || rep.Failed() {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	f.events(t) // publishes a checkpoint
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	items, err := LoggedItems(ctx, f.log.FS(), size, testOrder)
	if err != nil || len(items) != 2 || items[0].Digest.SHA512 == "" {
		t.Fatalf("logged items: %+v %v", items, err)
	}
	fx := &Fixity{Store: f.store, Log: f.log, Agent: "agent-1", Actor: "auditor"}
	for res, err := range fx.Run(ctx, items) {
		if err != nil || res.Err != nil {
			t.Fatalf("fixity of an intact item: %v %v", res.Err, err)
		}
	}

	// Flip a byte of b.eml behind the store's back.
	p := filepath.Join(f.dir, "store", "objects", filepath.FromSlash(items[1].Key))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var results []FixityResult
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	if results[0].Err != nil || !errors.Is(results[1].Err, storage.ErrTamper) {
		t.Fatalf("fixity after tampering: %v, %v", results[0].Err, results[1].Err)
	}
	evs := f.events(t)
	last := evs[len(evs)-1]
	if last.Type != chain.FixityFailed || last.Items[0].SHA256 != items[1].Digest.SHA256 || !strings.Contains(last.Reason, items[1].Key) {
		t.Fatalf("last event %+v", last)
	}
	if types := eventTypes(evs); !strings.HasSuffix(types, "fixity.verified fixity.verified fixity.verified fixity.failed") {
		t.Fatalf("events: %s", types)
	}
}
