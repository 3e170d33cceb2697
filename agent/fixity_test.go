package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	flipByte(t, p)
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

// unreadableStore is a store whose reads of one key fail as a store that
// does not answer fails: not a judgement on the item.
type unreadableStore struct {
	FixityStore
	key string
}

func (u unreadableStore) Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error) {
	if key == u.key {
		return nil, nil, fmt.Errorf("get %s: gave up after 2m0s: %w", key, storage.ErrUnavailable)
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
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	items, err := LoggedItems(ctx, f.log.FS(), size, testOrder)
	if err != nil || len(items) != 2 {
		t.Fatalf("logged items: %+v %v", items, err)
	}
	fx := &Fixity{Store: unreadableStore{FixityStore: f.store, key: items[1].Key}, Log: f.log, Agent: "agent-1", Actor: "auditor"}
	var got []FixityResult
	var runErr error
	for res, err := range fx.Run(ctx, items) {
		if err != nil {
			runErr = err
			break
		}
		got = append(got, res)
	}
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("results before the unreadable item: %+v", got)
	}
	if runErr == nil || !errors.Is(runErr, storage.ErrUnavailable) || IsTamper(runErr) || !strings.Contains(runErr.Error(), items[1].Key) {
		t.Fatalf("error for the unreadable item: %v", runErr)
	}
	if types := eventTypes(f.events(t)); strings.Contains(types, "fixity.failed") || !strings.HasSuffix(types, "fixity.verified") {
		t.Fatalf("events: %s", types)
	}
}

func TestFixityReadsSpooledItemsFromTheSpool(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	flaky, spool := f.storeDown(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first\n"}, order: []string{"a.eml"}}
	if rep, err := f.c.Capture(ctx, spec(src, nil)); err != nil || rep.Failed() {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	items := loggedItems(t, f)
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
	if _, err := run(&Fixity{Store: f.store, Log: f.log, Agent: "agent-1", Actor: "auditor"}); err == nil || IsTamper(err) {
		t.Fatalf("fixity of a spooled item with no spool: %v", err)
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
	if _, err := f.c.Flush(ctx, func(context.Context, string) (time.Time, bool, error) { return time.Time{}, false, nil }); err != nil {
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
	src = &fakeSource{items: map[string]string{"b.eml": "second\n"}, order: []string{"b.eml"}}
	if rep, err := f.c.Capture(ctx, spec(src, nil)); err != nil || rep.Failed() {
		t.Fatalf("capture: %+v %v", rep, err)
	}
	items = loggedItems(t, f)[1:]
	p := filepath.Join(f.dir, "spool", "objects", filepath.FromSlash(items[0].Key))
	flipByte(t, p)
	if res, err := run(fx); err != nil || !errors.Is(res.Err, storage.ErrTamper) || !res.FromSpool {
		t.Fatalf("fixity of an altered spooled item: %+v %v", res, err)
	}
	if last := f.events(t); last[len(last)-1].Type != chain.FixityFailed {
		t.Fatalf("last event: %+v", last[len(last)-1])
	}
}

func loggedItems(t *testing.T, f *captureFixture) []LoggedItem {
	t.Helper()
	ctx := context.Background()
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	items, err := LoggedItems(ctx, f.log.FS(), size, testOrder)
	if err != nil {
		t.Fatal(err)
	}
	return items
}
