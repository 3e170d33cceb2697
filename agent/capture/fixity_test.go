package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	items, _, err := LoggedItems(ctx, f.log.FS(), size, testOrder, StoreManifests{Store: f.store})
	if err != nil || len(items) != 2 || items[0].Digest.SHA512 == "" || items[0].Batch == nil {
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
	flipByte(t, p)
	var results []FixityResult
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	if results[0].Err != nil || !errors.Is(results[1].Err, chain.ErrTamper) {
		t.Fatalf("fixity after tampering: %v, %v", results[0].Err, results[1].Err)
	}
	evs := f.events(t)
	last := evs[len(evs)-1]
	if last.Type != chain.FixityFailed || last.Items[0].SHA256 != items[1].Digest.SHA256 || !strings.Contains(last.Reason, items[1].Key) {
		t.Fatalf("last event %+v", last)
	}
	// One fixity.verified for the batch of two, then one fixity.failed for
	// the altered item and none for its batch.
	if types := eventTypes(evs); !strings.HasSuffix(types, "capture.completed fixity.verified fixity.failed") {
		t.Fatalf("events: %s", types)
	}
	v := evs[len(evs)-2]
	if v.Details["count"] != "2" || v.Details["root"] != evs[1].Details["root"] || v.Details["batch"] != "1" || len(v.Items) != 0 {
		t.Fatalf("fixity.verified %+v", v)
	}

	// A manifest altered in the store is named, and its batch fails.
	mp := filepath.Join(f.dir, "store", "objects", filepath.FromSlash(items[0].Batch.Key()))
	flipByte(t, mp)
	results = results[:0]
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	if !IsTamper(results[0].Err) || results[0].Item.Key != items[0].Batch.Key() {
		t.Fatalf("fixity of an altered manifest: %+v", results[0])
	}
	if last := f.events(t); last[len(last)-2].Type != chain.FixityFailed || last[len(last)-2].Details["manifest"] != items[0].Batch.Key() {
		t.Fatalf("events: %s", eventTypes(last))
	}
}

// unreadableStore is a store whose reads of one key fail with err.
type unreadableStore struct {
	FixityStore
	key string
	err error
}

func (u unreadableStore) Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error) {
	if key == u.key {
		return nil, nil, fmt.Errorf("get %s: %w", key, u.err)
	}
	return u.FixityStore.Get(ctx, key)
}

func TestFixityDoesNotCallAnUnreadableItemAltered(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first\n", "b.eml": "second\n"}, order: []string{"a.eml", "b.eml"}}
	if rep, err := f.c.Capture(ctx, spec(src, nil)); err != nil || rep.Failed() {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	items := loggedItems(t, f)
	if len(items) != 2 {
		t.Fatalf("logged items: %+v", items)
	}
	run := func(fx *Fixity) ([]FixityResult, error) {
		var got []FixityResult
		for res, err := range fx.Run(ctx, items) {
			if err != nil {
				return got, err
			}
			got = append(got, res)
		}
		return got, nil
	}

	// An item refused to the reader is passed over, unjudged; the run
	// goes on.
	fx := &Fixity{Store: unreadableStore{FixityStore: f.store, key: items[0].Key, err: fs.ErrPermission}, Log: f.log, Agent: "agent-1", Actor: "auditor"}
	got, err := run(fx)
	if err != nil || len(got) != 2 || !errors.Is(got[0].Unchecked, fs.ErrPermission) || got[0].Err != nil ||
		got[1].Unchecked != nil || got[1].Err != nil {
		t.Fatalf("results: %+v %v", got, err)
	}
	if types := eventTypes(f.events(t)); strings.Contains(types, "fixity.failed") || strings.Count(types, "fixity.verified") != 1 {
		t.Fatalf("events: %s", types)
	}

	// A store that does not answer stops the run, naming the item.
	fx.Store = unreadableStore{FixityStore: f.store, key: items[1].Key, err: storage.ErrUnavailable}
	got, err = run(fx)
	if len(got) != 1 || !errors.Is(err, storage.ErrUnavailable) || IsTamper(err) || !strings.Contains(err.Error(), items[1].Key) {
		t.Fatalf("results with the store down: %+v %v", got, err)
	}
	// A run that stopped logs nothing for the batch it stopped in.
	if types := eventTypes(f.events(t)); strings.Contains(types, "fixity.failed") || strings.Count(types, "fixity.verified") != 1 {
		t.Fatalf("events: %s", types)
	}
}

// flushingStore is a store that, asked for key, lets the spool be
// flushed and answers as it was before: the item is not there yet.
type flushingStore struct {
	FixityStore
	key   string
	flush func()
	done  bool
}

func (s *flushingStore) Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error) {
	if key == s.key && !s.done {
		s.done = true
		s.flush()
		return nil, nil, fmt.Errorf("%s: %w", key, storage.ErrNotExist)
	}
	return s.FixityStore.Get(ctx, key)
}

// spooledItem captures one item while the store is down, and returns it
// as the log gives it, with the store (down) and the spool.
func spooledItem(t *testing.T) (*captureFixture, *flakyStore, *storage.Local, []LoggedItem) {
	t.Helper()
	f := newCaptureFixture(t)
	flaky, spool := f.storeDown(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first\n"}, order: []string{"a.eml"}}
	if rep, err := f.c.Capture(context.Background(), spec(src, nil)); err != nil || rep.Failed() {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	return f, flaky, spool, loggedItems(t, f)
}

func TestFixityOfAnItemFlushedWhileItIsChecked(t *testing.T) {
	ctx := context.Background()
	f, flaky, spool, items := spooledItem(t)
	flaky.down.Store(false)
	store := &flushingStore{FixityStore: f.store, key: items[0].Key, flush: func() {
		if _, err := f.c.Flush(ctx, FlushOptions{Actor: testActor, Retention: unretained}); err != nil {
			t.Error(err)
		}
	}}
	fx := &Fixity{Store: store, Spool: spool, Log: f.log, Agent: "agent-1", Actor: "auditor"}
	for res, err := range fx.Run(ctx, items) {
		if err != nil || res.Err != nil || res.Unchecked != nil || res.FromSpool {
			t.Fatalf("fixity of an item flushed meanwhile: %+v %v", res, err)
		}
	}
	if evs := f.events(t); evs[len(evs)-1].Type != chain.FixityVerified {
		t.Fatalf("last event: %+v", evs[len(evs)-1])
	}

	// Flushed meanwhile, and then the store stops answering: not judged.
	f2, flaky2, spool2, items2 := spooledItem(t)
	flaky2.down.Store(false)
	down := &flushingStore{FixityStore: unreadableStore{FixityStore: f2.store, key: items2[0].Key, err: storage.ErrUnavailable},
		key: items2[0].Key, flush: func() {
			if _, err := f2.c.Flush(ctx, FlushOptions{Actor: testActor, Retention: unretained}); err != nil {
				t.Error(err)
			}
		}}
	fx = &Fixity{Store: down, Spool: spool2, Log: f2.log, Agent: "agent-1", Actor: "auditor"}
	for _, err := range fx.Run(ctx, items2) {
		if !errors.Is(err, storage.ErrUnavailable) || IsTamper(err) {
			t.Fatalf("fixity with the store gone after the flush: %v", err)
		}
	}
	if types := eventTypes(f2.events(t)); strings.Contains(types, "fixity") {
		t.Fatalf("events: %s", types)
	}
}

func TestFixityReadsSpooledItemsFromTheSpool(t *testing.T) {
	ctx := context.Background()
	f, flaky, spool, items := spooledItem(t)
	if len(items) != 1 || !items[0].Spooled {
		t.Fatalf("logged items: %+v", items)
	}
	run := func(fx *Fixity) (FixityResult, error) {
		t.Helper()
		var last FixityResult
		for res, err := range fx.Run(ctx, items) {
			if err != nil {
				return res, err
			}
			last = res
		}
		return last, nil
	}

	// Without the spool the item is not judged; with it, it verifies.
	if res, err := run(&Fixity{Store: f.store, Log: f.log, Agent: "agent-1", Actor: "auditor"}); err != nil || res.Unchecked == nil || res.Err != nil {
		t.Fatalf("fixity of a spooled item with no spool: %+v %v", res, err)
	}
	fx := &Fixity{Store: f.store, Spool: spool, Log: f.log, Agent: "agent-1", Actor: "auditor"}
	if res, err := run(fx); err != nil || res.Err != nil || !res.FromSpool {
		t.Fatalf("fixity of a spooled item: %+v %v", res, err)
	}
	evs := f.events(t)
	if last := evs[len(evs)-1]; last.Type != chain.FixityVerified || last.Details["read_from"] != "spool" {
		t.Fatalf("last event: %+v", last)
	}

	// Once flushed (item.stored), the item is read from the store.
	flaky.down.Store(false)
	if _, err := f.c.Flush(ctx, FlushOptions{Actor: testActor, Retention: unretained}); err != nil {
		t.Fatal(err)
	}
	if items = loggedItems(t, f); len(items) != 1 || items[0].Spooled {
		t.Fatalf("logged items after the flush: %+v", items)
	}
	if res, err := run(fx); err != nil || res.Err != nil || res.FromSpool {
		t.Fatalf("fixity of a flushed item: %+v %v", res, err)
	}

	// A byte flipped in a spooled copy is tampering.
	flaky.down.Store(true)
	src := &fakeSource{items: map[string]string{"b.eml": "second\n"}, order: []string{"b.eml"}}
	if rep, err := f.c.Capture(ctx, spec(src, nil)); err != nil || rep.Failed() {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	items = loggedItems(t, f)[1:]
	p := filepath.Join(f.dir, "spool", "objects", filepath.FromSlash(items[0].Key))
	flipByte(t, p)
	if res, err := run(fx); err != nil || !errors.Is(res.Err, chain.ErrTamper) || !res.FromSpool {
		t.Fatalf("fixity of an altered spooled item: %+v %v", res, err)
	}
	if last := f.events(t); last[len(last)-1].Type != chain.FixityFailed {
		t.Fatalf("last event: %+v", last[len(last)-1])
	}
}

func loggedItems(t *testing.T, f *captureFixture) []LoggedItem {
	t.Helper()
	items, _ := loggedItemsAndBatches(t, f)
	return items
}

func loggedItemsAndBatches(t *testing.T, f *captureFixture) ([]LoggedItem, []*LoggedBatch) {
	t.Helper()
	ctx := context.Background()
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var spool Getter
	if f.c.Spool != nil {
		spool = f.c.Spool
	}
	var store Getter = f.store
	if f.store == nil {
		store = f.c.Store
	}
	items, batches, err := LoggedItems(ctx, f.log.FS(), size, testOrder, StoreManifests{Store: store, Spool: spool})
	if err != nil {
		t.Fatal(err)
	}
	return items, batches
}

// unretained is a flush's Retention that gives none, and no hold.
func unretained(context.Context, string) (time.Time, bool, error) { return time.Time{}, false, nil }

// flipByte flips a bit of the byte in the middle of the file at path,
// read-only (as stored objects are) or not.
func flipByte(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		t.Fatalf("%s: %d bytes, %v", path, len(b), err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoggedBatchesRefusesABatchOutOfSequence: an items.sealed that repeats
// a batch number of its capture (or goes back) is evidence of tampering,
// named by its entry, whatever its manifest says.
func TestLoggedBatchesRefusesABatchOutOfSequence(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first\n"}, order: []string{"a.eml"}}
	if rep, err := f.c.Capture(ctx, spec(src, nil)); err != nil || rep.Failed() {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	var sealed *chain.Event
	for _, e := range f.events(t) {
		if e.Type == chain.ItemsSealed {
			sealed = e
		}
	}
	if sealed == nil {
		t.Fatal("no items.sealed")
	}
	again := *sealed
	again.Time, again.Prev, again.PrevIndex = time.Now().UTC(), "", nil
	rec, err := f.log.Append(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = LoggedBatches(ctx, f.log.FS(), size, testOrder)
	var te *chain.TamperError
	if !errors.As(err, &te) || te.Index != int64(rec.Index) || !strings.Contains(err.Error(), "out of sequence") {
		t.Fatalf("batch 1 sealed twice: %v", err)
	}
}
