package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// registryFixture is a Registry on a local store and a real log, as the
// CLI wires it.
type registryFixture struct {
	*captureFixture
	spool *storage.Local
	reg   *Registry
}

func newRegistryFixture(t *testing.T) *registryFixture {
	t.Helper()
	f := &registryFixture{captureFixture: newCaptureFixture(t)}
	var err error
	if f.spool, err = storage.NewLocal(filepath.Join(f.dir, "spool"), nil); err != nil {
		t.Fatal(err)
	}
	f.reg = f.registry(filepath.Join(f.dir, "orders"))
	return f
}

// registry returns a registry over the fixture's log and store, keeping
// its records in ordersDir.
func (f *registryFixture) registry(ordersDir string) *Registry {
	c := *f.c
	c.Spool = f.spool
	reg, err := New(Config{
		Log: f.log, Store: f.store, Profiles: mustLoadProfiles(), Capturer: &c, Agent: "agent-1", Host: "host-1",
		Book: &OrderBook{Dir: ordersDir, Store: f.store}, WorkDir: filepath.Join(f.dir, "work"),
	})
	if err != nil {
		panic(err) // every field is set above
	}
	return reg
}

func mustLoadProfiles() *order.Profiles {
	ps, err := order.LoadProfiles(nil)
	if err != nil {
		panic(err)
	}
	return ps
}

// addOrder receives a us-2703f order now.
func (f *registryFixture) addOrder(t testing.TB) *order.Order {
	t.Helper()
	draft, err := (&order.Flags{
		Reference: "LE-1", Authority: "FBI", RequestingState: "US", Profile: "us-2703f", LegalBasis: "18 U.S.C. 2703(f)",
		Selectors: []string{"email:alice@example.net"}, Categories: "content",
	}).Draft(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.reg.Add(context.Background(), draft, nil, "intake@example.net")
	if err != nil {
		t.Fatal(err)
	}
	return res.Order
}

// addShortOrder receives a custom order that expires a second from now,
// with one item captured: an order whose retention a test can outlive.
func (f *registryFixture) addShortOrder(t *testing.T, reference string) *order.Order {
	t.Helper()
	ctx := context.Background()
	draft, err := (&order.Flags{
		Reference: reference, Authority: "Court", RequestingState: "FR", Profile: "custom", LegalBasis: "art. 60-1",
		Selectors: []string{"account:CUST-7"}, Categories: "content", Expires: "1s",
	}).Draft(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.reg.Add(ctx, draft, nil, "intake")
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{items: map[string]string{"a": "alpha"}, order: []string{"a"}}
	if _, err := f.reg.Capture(ctx, res.Order.ID, CaptureOptions{Sources: []capture.NamedSource{{Name: "mail", Source: src}}, Actor: "c", CutOff: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return res.Order
}

func (f *registryFixture) orderEvents(t *testing.T, id string) []string {
	t.Helper()
	var types []string
	for _, e := range f.verifiedEvents(t, id) {
		types = append(types, string(e.Type))
	}
	return types
}

func TestOrderBookRecordIsCheckedAgainstTheLog(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	v, err := f.reg.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Order.Reference != "LE-1" || v.Order.Status != order.StatusReceived {
		t.Fatalf("order read back = %+v", v.Order)
	}
	local := f.reg.Book.path(o.ID, v.State.Record)
	// A book checks each version of a record once; a new process (a new
	// book) checks the files again.
	newProcess := func() { f.reg = f.registry(f.reg.Book.Dir) }

	// Once checked, a version is what Get returns, whatever happens to
	// the file afterwards.
	if err := os.Remove(local); err != nil {
		t.Fatal(err)
	}
	if v, err := f.reg.Get(ctx, o.ID); err != nil || v.Order.Reference != "LE-1" {
		t.Fatalf("a version already checked: %+v %v", v, err)
	}

	// The working copy lost (a restored data directory): fetched back
	// from the store, re-hashed, and kept again.
	newProcess()
	if _, err := f.reg.Get(ctx, o.ID); err != nil {
		t.Fatalf("record not fetched back from the store: %v", err)
	}
	if _, err := os.Stat(local); err != nil {
		t.Fatalf("working copy not restored: %v", err)
	}

	// The working copy altered: tampering, named.
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(local, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, []byte(strings.Replace(string(b), "LE-1", "LE-2", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	newProcess()
	_, err = f.reg.Get(ctx, o.ID)
	if !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "does not match the digest") {
		t.Fatalf("altered record: err = %v, want tampering", err)
	}

	// Gone from both: tampering too, not a generic error.
	if err := os.Remove(local); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(f.dir, "store", "objects", "orders", o.ID)); err != nil {
		t.Fatal(err)
	}
	newProcess()
	if _, err = f.reg.Get(ctx, o.ID); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("record gone everywhere: err = %v, want tampering", err)
	}
	if _, err := f.reg.Get(ctx, "01JD8Z3K4M5N6P7Q8R9S0T1V2W"); !errors.Is(err, ErrNoOrder) {
		t.Fatalf("unknown order: err = %v, want ErrNoOrder", err)
	}
}

// downStore is a store that does not answer.
type downStore struct{}

func (downStore) Put(context.Context, string, io.Reader, storage.PutOptions) (*storage.ObjectInfo, error) {
	return nil, storage.ErrUnavailable
}

func (downStore) Get(context.Context, string) (io.ReadCloser, *storage.ObjectInfo, error) {
	return nil, nil, storage.ErrUnavailable
}

func TestOrderBookKeepsRecordsForAStoreThatIsDown(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	flags := order.Flags{Reference: "AZ 123 Js 456/26", Authority: "Staatsanwaltschaft Berlin", RequestingState: "de",
		Profile: "budapest-29", LegalBasis: "Council of Europe Convention on Cybercrime, art. 29",
		Selectors: []string{"email:alice@example.net"}, Categories: "traffic"}
	draft, err := flags.Draft(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o, err := order.NewOrder(draft, mustLoadProfiles(), time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	book := &OrderBook{Dir: filepath.Join(f.dir, "orders"), Store: downStore{}}
	sum, stored, err := book.Save(ctx, o)
	if err != nil || stored {
		t.Fatalf("Save with the store down = %v, %v; want kept locally, no error", stored, err)
	}
	if _, err := book.Load(ctx, o.ID, sum); err != nil {
		t.Fatalf("working copy: %v", err)
	}
	if n, err := book.SyncPending(ctx, func(string) (*order.Order, error) { return o, nil }); n != 0 || err != nil {
		t.Fatalf("sync with the store still down = %d, %v; want 0, nil", n, err)
	}
	book.Store = f.store
	if n, err := book.SyncPending(ctx, func(string) (*order.Order, error) { return o, nil }); n != 1 || err != nil {
		t.Fatalf("sync = %d, %v; want 1 record copied", n, err)
	}
	info, err := f.store.Stat(ctx, RecordKey(o.ID, sum))
	if err != nil || info.SHA256 != sum {
		t.Fatalf("record in the store: %+v, %v", info, err)
	}
	if !info.RetainUntil.Equal(o.ExpiresAt) {
		t.Errorf("record retained until %v, want the order's expiry %v", info.RetainUntil, o.ExpiresAt)
	}
	if n, err := book.SyncPending(ctx, func(string) (*order.Order, error) { return o, nil }); n != 0 || err != nil {
		t.Fatalf("second sync = %d, %v; want nothing left", n, err)
	}
}

func TestRegistryRecordsInterruptedCapturesAndRebuildsFromTheLog(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	src := &fakeSource{items: map[string]string{"a": "alpha", "b": "bravo"}, order: []string{"a", "b"}}
	// A capture whose process died: started, one item, never ended.
	if _, err := f.log.Append(ctx, chain.Event{Type: chain.CaptureStarted, Time: time.Now(), Order: o.ID, Actor: "x", Agent: "agent-1",
		Details: map[string]string{"capture": "01JD8Z3K4M5N6P7Q8R9S0T1V2X"}}); err != nil {
		t.Fatal(err)
	}
	rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Sources: []capture.NamedSource{{Name: "mail", Source: src}}, Actor: "custodian", CutOff: time.Now()})
	if err != nil || rep.Failed() || rep.Preserved() != 2 {
		t.Fatalf("capture: %v, %+v", err, rep)
	}
	got := strings.Join(f.orderEvents(t, o.ID), " ")
	want := "order.received capture.started order.amended capture.failed capture.started items.sealed capture.completed order.amended"
	if got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}

	// A fresh data directory (its order records lost) rebuilds the
	// order from the log and the store.
	reg := f.registry(filepath.Join(f.dir, "orders-restored"))
	v, err := reg.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Order.Status != order.StatusPreserved || v.State.ItemCount() != 2 || len(v.State.OpenCaptures) != 0 {
		t.Fatalf("rebuilt: status %s, %d items, open captures %v", v.Order.Status, v.State.ItemCount(), v.State.OpenCaptures)
	}
	// And re-running the capture stores nothing twice.
	rep, err = reg.Capture(ctx, o.ID, CaptureOptions{Sources: []capture.NamedSource{{Name: "mail", Source: src}}, Actor: "custodian", CutOff: time.Now()})
	if err != nil || rep.Preserved() != 0 || len(rep.Items) != 2 || !rep.Items[0].Duplicate {
		t.Fatalf("re-run: %v, %+v", err, rep)
	}
}

func TestRegistryExtendReportsMissingObjectsAndStillExtends(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t)
	src := &fakeSource{items: map[string]string{"a": "alpha"}, order: []string{"a"}}
	rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Sources: []capture.NamedSource{{Name: "mail", Source: src}}, Actor: "custodian", CutOff: time.Now()})
	if err != nil || rep.Preserved() != 1 {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	lost := capture.ItemKey(o.ID, rep.Items[0].Digests.SHA256)
	if err := os.Remove(filepath.Join(f.dir, "store", "objects", filepath.FromSlash(lost))); err != nil {
		t.Fatal(err)
	}
	n, srep, err := f.reg.Extend(ctx, o.ID, time.Time{}, "second request", "custodian")
	if err != nil {
		t.Fatal(err)
	}
	if len(srep.Missing) != 1 || srep.Missing[0] != lost {
		t.Fatalf("missing = %v, want [%s]", srep.Missing, lost)
	}
	manifest := capture.ManifestKey(o.ID, rep.ID, 1)
	info, err := f.store.Stat(ctx, manifest)
	if err != nil || !info.RetainUntil.Equal(n.ExpiresAt) {
		t.Fatalf("the batch's manifest retained until %v (%v), want %v", info.RetainUntil, err, n.ExpiresAt)
	}
	if got := f.orderEvents(t, o.ID); got[len(got)-1] != "order.extended" {
		t.Fatalf("last event %s, want order.extended", got[len(got)-1])
	}
}

// A record saved while the store was down, of an order purged before the
// store came back, is not copied there afterwards: the store keeps
// nothing of a purged order.
func TestRegistrySyncCopiesNothingOfAPurgedOrder(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	// Records of an order whose expiry the book thinks has passed are
	// stored unretained, so the purge can delete them at once.
	f.reg.Book.Now = func() time.Time { return time.Now().Add(1000 * 24 * time.Hour) }
	o := f.addOrder(t)
	f.reg.Book.Store = downStore{}
	if _, err := f.reg.Release(ctx, o.ID, "withdrawn", "custodian"); err != nil {
		t.Fatal(err)
	}
	f.reg.Book.Store = f.store
	rep, err := f.reg.Purge(ctx, o.ID, "withdrawn", "custodian")
	if err != nil || rep.Order.Status != order.StatusPurged {
		t.Fatalf("purge: %v, %+v", err, rep)
	}
	if n, err := f.reg.SyncRecords(ctx); n != 0 || err != nil {
		t.Fatalf("sync after the purge = %d, %v; want nothing copied", n, err)
	}
	for info, err := range f.store.List(ctx, "orders/"+o.ID+"/") {
		t.Errorf("the store holds %+v (%v) of the purged order", info, err)
	}
	if n, err := f.reg.SyncRecords(ctx); n != 0 || err != nil {
		t.Fatalf("second sync = %d, %v; want no record left pending", n, err)
	}
}

// A purged order whose last record went with a lost data directory is
// still listed, as the log describes it: the store keeps nothing of it by
// design, so its absence there is not tampering.
func TestRegistryListsAPurgedOrderFromTheLogAlone(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	received := f.addShortOrder(t, "GONE-1")
	id := received.ID
	if _, err := f.reg.Release(ctx, id, "expired", "c"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(received.ExpiresAt.Add(1100 * time.Millisecond)))
	rep, err := f.reg.Purge(ctx, id, "retention ended", "c")
	if err != nil || rep.Order.Status != order.StatusPurged {
		t.Fatalf("purge: %v, %+v", err, rep)
	}

	views, problems, err := f.registry(filepath.Join(f.dir, "orders-lost")).ListReadable(ctx)
	if err != nil || len(problems) > 0 {
		t.Fatalf("list after the data directory's records were lost: %v %v", err, problems)
	}
	if len(views) != 1 {
		t.Fatalf("%d orders listed, want 1", len(views))
	}
	o := views[0].Order
	if o.ID != id || o.Status != order.StatusPurged || o.Reference != "GONE-1" || o.Profile != "custom" || len(o.Selectors) != 0 ||
		!o.ExpiresAt.Equal(received.ExpiresAt.Truncate(time.Second)) {
		t.Fatalf("purged order from the log = %+v", o)
	}
}

// TestRegistryStepsOnOneOrderTakeTurns runs captures of one order and of
// other orders at once, as the daemon does: the order moves to preserving
// once, its items are sealed once, in one batch, and every capture ends.
func TestRegistryStepsOnOneOrderTakeTurns(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	shared := f.addOrder(t)
	others := []*order.Order{f.addOrder(t), f.addOrder(t)}
	src := func() []capture.NamedSource {
		return []capture.NamedSource{{Name: "mail", Source: &fakeSource{items: map[string]string{"a": "alpha", "b": "bravo"}, order: []string{"a", "b"}}}}
	}
	const n = 6
	errs := make(chan error, n+len(others))
	for range n {
		go func() {
			_, err := f.reg.Capture(ctx, shared.ID, CaptureOptions{Sources: src(), Actor: "custodian", CutOff: time.Now()})
			errs <- err
		}()
	}
	for _, o := range others {
		go func() {
			_, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Sources: src(), Actor: "custodian", CutOff: time.Now()})
			errs <- err
		}()
	}
	for range n + len(others) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	count := map[string]int{}
	for _, typ := range f.orderEvents(t, shared.ID) {
		count[typ]++
	}
	// received -> preserving -> preserved: two amendments, whoever ran first.
	want := map[string]int{"order.received": 1, "order.amended": 2, "capture.started": n, "capture.completed": n, "items.sealed": 1}
	for typ, c := range want {
		if count[typ] != c {
			t.Errorf("%s: %d events, want %d (all: %v)", typ, count[typ], c, count)
		}
	}
	for _, o := range others {
		v, err := f.reg.Get(ctx, o.ID)
		if err != nil || v.Order.Status != order.StatusPreserved || v.State.ItemCount() != 2 {
			t.Fatalf("order %s: %v, %+v", o.ID, err, v)
		}
	}
}
