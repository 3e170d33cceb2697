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
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// flakyStore is a local store that can be made unreachable, answering
// every call with storage.ErrUnavailable as the S3 store does once its
// retries are spent. downAfter > 0 takes it down after that many items
// (a Stage, or a Put under items/).
type flakyStore struct {
	*storage.Local
	down      atomic.Bool
	items     atomic.Int32
	downAfter int32
}

// item counts one item written, and takes the store down after downAfter.
func (f *flakyStore) item() {
	if n := f.items.Add(1); f.downAfter > 0 && n > f.downAfter {
		f.down.Store(true)
	}
}

func (f *flakyStore) err(op string) error {
	return fmt.Errorf("%s: gave up after 2m0s: %w", op, storage.ErrUnavailable)
}

func (f *flakyStore) Stage(ctx context.Context, r io.Reader) (*storage.Staged, error) {
	f.item()
	if f.down.Load() {
		_, _ = io.CopyN(io.Discard, r, 3) // the outage hits midway
		return nil, f.err("stage")
	}
	return f.Local.Stage(ctx, r)
}

func (f *flakyStore) Put(ctx context.Context, key string, r io.Reader, o storage.PutOptions) (*storage.ObjectInfo, error) {
	if strings.Contains(key, "/items/") {
		f.item()
	}
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
	if n := countObjects(t, spool.List); n != 4 {
		t.Fatalf("%d objects in the spool, want 4 (2 items, the batch's manifest and statement)", n)
	}
	evs := f.events(t)
	if types := eventTypes(evs); types != "capture.started items.sealed capture.completed" || evs[1].Details["stored"] != "spool" {
		t.Fatalf("events while down: %s %v", types, evs[1].Details)
	}

	// A flush while still down moves nothing and loses nothing.
	keep := func(context.Context, string) (time.Time, bool, error) { return s.RetainUntil, false, nil }
	if _, err := f.c.Flush(ctx, FlushOptions{Actor: testActor, Retention: keep}); err == nil {
		t.Fatal("flush to an unreachable store succeeded")
	}
	if n := countObjects(t, spool.List); n != 4 {
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
	if n := countObjects(t, f.store.List); n != 4 {
		t.Fatalf("%d objects in the store after the flush, want 4", n)
	}
	if n := countObjects(t, spool.List); n != 0 {
		t.Fatalf("%d objects left in the spool", n)
	}
	info, err := f.store.Stat(ctx, rep.Items[0].Key)
	if err != nil || info.RetainUntil.IsZero() || !info.LegalHold {
		t.Fatalf("flushed item: %+v %v", info, err)
	}
	evs = f.events(t)
	if types := eventTypes(evs); !strings.HasSuffix(types, "capture.completed item.stored") {
		t.Fatalf("events after the flush: %s", types)
	}
	// One item.stored for the batch, naming it and no item.
	if st := evs[3]; len(st.Items) != 0 || st.Details["from"] != "spool" || st.Details["capture"] != rep.ID || st.Details["batch"] != "1" || st.Details["count"] != "2" {
		t.Fatalf("item.stored %+v", st)
	}
	// The batch's manifest, read from the store now, still checks out.
	if _, _, err := ReadManifest(ctx, f.store, f.batch(t, evs[1])); err != nil {
		t.Fatal(err)
	}
}

// An item whose put meets the outage is buffered still: it goes to the
// spool with the ones after it, and nothing is lost.
func TestCaptureOutageMidwaySpoolsTheRest(t *testing.T) {
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
	spooled := 0
	for _, it := range rep.Items {
		if it.Spooled {
			spooled++
		}
	}
	// The items are stored at once: whichever got there first is in the
	// store, the others in the spool.
	if rep.Failed() || rep.Preserved() != 3 || spooled != 2 {
		t.Fatalf("report %+v", rep)
	}
	evs := f.events(t)
	if types := eventTypes(evs); types != "capture.started items.sealed capture.completed" || evs[1].Details["stored"] != "spool" {
		t.Fatalf("events: %s %v", types, evs[1].Details)
	}
	_, recs, err := ReadManifest(ctx, spool, f.batch(t, evs[1]))
	if err != nil {
		t.Fatal(err)
	}
	where := map[string]int{}
	for _, r := range recs {
		where[r.Stored]++
		if _, err := spool.Stat(ctx, r.Key); (err == nil) != (r.Stored == chain.StoredInSpool) {
			t.Fatalf("record of %s says %s; in the spool: %v", r.Name, r.Stored, err)
		}
	}
	if where[chain.StoredInStore] != 1 || where[chain.StoredInSpool] != 2 {
		t.Fatalf("records say the items are in %v", where)
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
