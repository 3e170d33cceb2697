package capture

import (
	"context"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/storage"
)

// flakyStore is a local store that can be made unreachable, answering
// every call with storage.ErrUnavailable as the S3 store does once its
// retries are spent. downAfter > 0 takes it down after that many Stages.
type flakyStore struct {
	*storage.Local
	down      atomic.Bool
	stages    atomic.Int32
	downAfter int32
}

func (f *flakyStore) err(op string) error {
	return fmt.Errorf("%s: gave up after 2m0s: %w", op, storage.ErrUnavailable)
}

func (f *flakyStore) Stage(ctx context.Context, r io.Reader) (*storage.Staged, error) {
	if n := f.stages.Add(1); f.downAfter > 0 && n > f.downAfter {
		f.down.Store(true)
	}
	if f.down.Load() {
		_, _ = io.CopyN(io.Discard, r, 3) // the outage hits midway
		return nil, f.err("stage")
	}
	return f.Local.Stage(ctx, r)
}

func (f *flakyStore) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (*storage.ObjectInfo, error) {
	if f.down.Load() {
		return nil, f.err("put " + key)
	}
	return f.Local.Put(ctx, key, r, o)
}

func (f *flakyStore) Stat(ctx context.Context, key string) (*storage.ObjectInfo, error) {
	if f.down.Load() {
		return nil, f.err("stat " + key)
	}
	return f.Local.Stat(ctx, key)
}

func countObjects(t *testing.T, list func(context.Context, string) iter.Seq2[*storage.ObjectInfo, error]) int {
	t.Helper()
	n := 0
	for _, err := range list(context.Background(), "orders/") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// storeDown gives f's capturer a spool and a store that does not answer
// until flaky.down is cleared.
func (f *captureFixture) storeDown(t *testing.T) (flaky *flakyStore, spool *storage.Local) {
	t.Helper()
	flaky = &flakyStore{Local: f.store}
	flaky.down.Store(true)
	spool, err := storage.NewLocal(filepath.Join(f.dir, "spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.c.Store, f.c.Spool = flaky, spool
	return flaky, spool
}

func TestCaptureSpoolsWhileTheStoreIsDownAndFlushesAfter(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	flaky, spool := f.storeDown(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first\n", "b.eml": "second\n"}, order: []string{"a.eml", "b.eml"}}
	s := spec(src, nil)
	rep, err := f.c.Capture(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() || rep.Preserved() != 2 || !rep.Items[0].Spooled {
		t.Fatalf("report %+v", rep)
	}
	if n := countObjects(t, f.store.List); n != 0 {
		t.Fatalf("%d objects reached the unreachable store", n)
	}
	if n := countObjects(t, spool.List); n != 6 {
		t.Fatalf("%d objects in the spool, want 6 (content, metadata, attestation of 2 items)", n)
	}
	evs := f.events(t)
	if types := eventTypes(evs); types != "capture.started item.preserved item.preserved capture.completed" || evs[1].Details["stored"] != "spool" {
		t.Fatalf("events while down: %s %v", types, evs[1].Details)
	}

	// A flush while still down moves nothing and loses nothing.
	keep := func(context.Context, string) (time.Time, bool, error) { return s.RetainUntil, false, nil }
	if _, err := f.c.Flush(ctx, FlushOptions{Actor: testActor, Retention: keep}); err == nil {
		t.Fatal("flush to an unreachable store succeeded")
	}
	if n := countObjects(t, spool.List); n != 6 {
		t.Fatalf("%d objects in the spool after a failed flush", n)
	}

	flaky.down.Store(false)
	fr, err := f.c.Flush(ctx, FlushOptions{Actor: testActor, Retention: func(_ context.Context, order string) (time.Time, bool, error) {
		if order != testOrder {
			t.Errorf("retention asked for %s", order)
		}
		return s.RetainUntil, true, nil
	}})
	if err != nil || len(fr.Stored) != 2 {
		t.Fatalf("flush: %+v %v", fr, err)
	}
	if n := countObjects(t, f.store.List); n != 6 {
		t.Fatalf("%d objects in the store after the flush, want 6", n)
	}
	if n := countObjects(t, spool.List); n != 0 {
		t.Fatalf("%d objects left in the spool", n)
	}
	info, err := f.store.Stat(ctx, rep.Items[0].Key)
	if err != nil || info.RetainUntil.IsZero() || !info.LegalHold {
		t.Fatalf("flushed item: %+v %v", info, err)
	}
	evs = f.events(t)
	if types := eventTypes(evs); !strings.HasSuffix(types, "capture.completed item.stored item.stored") {
		t.Fatalf("events after the flush: %s", types)
	}
	if evs[4].Items[0].SHA256 == "" || evs[4].Details["from"] != "spool" {
		t.Fatalf("item.stored %+v", evs[4])
	}
}

func TestCaptureOutageMidwayLosesOneItemAndSpoolsTheRest(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	flaky := &flakyStore{Local: f.store, downAfter: 1}
	spool, err := storage.NewLocal(filepath.Join(f.dir, "spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.c.Store, f.c.Spool = flaky, spool
	// A source that goes on after a failed item, as a directory walk may.
	src := &fakeSource{items: map[string]string{"a.eml": "first\n", "b.eml": "second\n", "c.eml": "third\n"}, order: []string{"a.eml", "b.eml", "c.eml"}}
	rep, err := f.c.Capture(ctx, spec(&continuingSource{src}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() || rep.Preserved() != 2 || rep.Items[0].Spooled || rep.Items[1].Err == nil || !rep.Items[2].Spooled {
		t.Fatalf("report %+v", rep)
	}
	evs := f.events(t)
	last := evs[len(evs)-1]
	if types := eventTypes(evs); types != "capture.started item.preserved item.preserved capture.failed" ||
		!strings.Contains(last.Reason, "mail/b.eml: ") || !strings.Contains(last.Reason, "store unavailable") {
		t.Fatalf("events: %s; reason %q", types, last.Reason)
	}
}

// continuingSource emits every item even when one fails.
type continuingSource struct{ *fakeSource }

func (c *continuingSource) Capture(_ context.Context, _ source.Request, emit source.Emit) (source.Summary, error) {
	var first error
	for _, name := range c.order {
		it := &source.Item{Name: name, Record: map[string]any{"path": "/export/" + name}}
		if err := emit(it, strings.NewReader(c.items[name])); err != nil && first == nil {
			first = err
		}
	}
	return nil, first
}
