package capture

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// TestCaptureSealsWhatADeadCaptureLeftInARecoveryBatch: objects a capture
// stored before its process died, and that the sources do not yield
// again, are read back, re-hashed and sealed in a recovery batch of the
// next capture, named as the dead capture's unlogged manifest named them
// where it wrote one.
func TestCaptureSealsWhatADeadCaptureLeftInARecoveryBatch(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	const dead = "01JD0A2B3C4D5E6F7G8H9J0K2N"
	put := func(body string) Digests {
		t.Helper()
		d := digestsOf(false, []byte(body))
		if _, err := f.store.Put(ctx, ItemKey(testOrder, d.SHA256), strings.NewReader(body), storage.PutOptions{SHA256: d.SHA256}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	named, nameless := put("a message the dead capture stored\n"), put("an object no manifest names\n")
	// The dead capture's manifest, written and never logged.
	rec := chain.ItemRecord{Version: chain.RecordVersion, Order: testOrder, Capture: dead, CapturedAt: time.Now(),
		Name: "lost.eml", Source: "mail", Kind: "fake", Size: 34, SHA256: named.SHA256, SHA512: named.SHA512,
		Key: ItemKey(testOrder, named.SHA256), Stored: chain.StoredInStore, Salt: strings.Repeat("00", chain.SaltSize),
		Connector: map[string]any{"path": "/export/lost.eml"}}
	line, err := chain.FormatRecord(&rec)
	if err != nil {
		t.Fatal(err)
	}
	m := chain.FormatManifest([][]byte{line})
	if _, err := f.store.Put(ctx, ManifestKey(testOrder, dead, 1), bytes.NewReader(m), storage.PutOptions{SHA256: digestsOf(false, m).SHA256}); err != nil {
		t.Fatal(err)
	}

	src := &fakeSource{items: map[string]string{"new.eml": "a new message\n"}, order: []string{"new.eml"}}
	s := spec(src, nil)
	s.Interrupted = []string{dead}
	rep, err := f.c.Capture(ctx, s)
	if err != nil || rep.Failed() || rep.Preserved() != 3 || rep.Batches != 2 {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	evs := f.events(t)
	if types := eventTypes(evs); types != "capture.started items.sealed items.sealed capture.completed" {
		t.Fatalf("events: %s", types)
	}
	recovery := evs[2]
	if recovery.Details["recovery"] != "true" || recovery.Details["count"] != "2" || evs[1].Details["recovery"] != "" {
		t.Fatalf("batches: %v, %v", evs[1].Details, recovery.Details)
	}
	_, recs, err := ReadManifest(ctx, f.store, f.batch(t, recovery))
	if err != nil {
		t.Fatal(err)
	}
	bySum := map[string]*chain.ItemRecord{}
	for _, r := range recs {
		bySum[r.SHA256] = r
	}
	n, l := bySum[named.SHA256], bySum[nameless.SHA256]
	if n == nil || n.Name != "lost.eml" || n.Source != "mail" || n.Connector["path"] != "/export/lost.eml" || n.Capture != rep.ID {
		t.Fatalf("the record of the item the dead manifest names: %+v", n)
	}
	s512 := sha512.Sum512([]byte("an object no manifest names\n"))
	if l == nil || l.Name != nameless.SHA256 || l.Source != "recovery" || l.SHA512 != hex.EncodeToString(s512[:]) ||
		l.Connector["interrupted_captures"] != dead {
		t.Fatalf("the record of the nameless item: %+v", l)
	}

	// Run again: nothing left to recover, nothing sealed twice.
	held := map[string]bool{}
	for _, it := range loggedItems(t, f) {
		held[it.Digest.SHA256] = true
	}
	s = spec(src, held)
	s.Interrupted = []string{dead}
	if rep, err := f.c.Capture(ctx, s); err != nil || rep.Failed() || rep.Preserved() != 0 || rep.Batches != 0 {
		t.Fatalf("again: %+v %v", rep, err)
	}
}
