package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
	"github.com/custos-evidence/custos/storage/storagetest"
)

// The whole life of an order through the Registry, on each store (issue 4):
// received with its document, captured from every connector against a real
// peer, captured again (nothing new), extended, held, its hold lifted,
// released, purged too early (everything kept) and purged once its expiry
// has passed (everything deleted, the digests left in the log). After every
// step the log verifies and holds the order's expected events, the registry
// reports the expected status, and every object of the order in the store
// carries the retention and legal hold the step must have left.
//
// The order runs on a profile of the test, with an expiry seconds after
// receipt, so that the flow reaches its purge in real time: MinIO enforces
// retention by its own clock.

const (
	// flowPeriod is from receipt to the order's first expiry: the captures
	// must end, and the extension be made, before it passes.
	flowPeriod = 8 * time.Second
	// flowExtension is what the extension adds; the early purge must come
	// before it ends.
	flowExtension = 2 * time.Second
	flowSelector  = "alice@example.net"
	flowActor     = "custodian@example.net"
	flowSecret    = "SECRET outside the root\n"
)

// flowProfiles are the built-in profiles and test-short: an explicit
// expiry, no minimum, any number of extensions, holds allowed.
func flowProfiles(t *testing.T) *order.Profiles {
	t.Helper()
	ps, err := order.LoadProfiles(map[string]any{"test-short": map[string]any{
		"title": "Preservation for seconds, for the tests", "instrument": "the test suite",
		"extensions": map[string]any{"count": "unlimited", "while": "the test holds it"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// flowStore is what the flow uses of either store.
type flowStore interface {
	RegistryStore
	List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error]
}

func TestRegistryFlowLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := storage.NewLocal(filepath.Join(dir, "store"), nil)
	if err != nil {
		t.Fatal(err)
	}
	runFlow(t, dir, store, storagetest.LocalView(filepath.Join(dir, "store")))
}

func TestRegistryFlowMinIO(t *testing.T) {
	t.Parallel()
	bucket := newKillBucket(t) // a fresh bucket with Object Lock; skips or fails without a server
	store, err := storage.NewS3(context.Background(), killS3Options(bucket))
	if err != nil {
		t.Fatal(err)
	}
	runFlow(t, t.TempDir(), store, storagetest.S3View(t, killS3Options(bucket)))
}

// flow is one order taken through its life, and what it must look like.
type flow struct {
	t     *testing.T
	f     *captureFixture
	store flowStore
	view  storagetest.View
	reg   *Registry
	id    string
	// events are the types the order's events must have, in log order.
	events []string
	// preserved are the order's items, by SHA-256, as its batches sealed
	// them; batches are the items.sealed events of the order.
	preserved map[string]chain.Digest
	batches   int
}

func runFlow(t *testing.T, dir string, store flowStore, view storagetest.View) {
	fl := newFlow(t, dir, store, view)
	now := time.Now().UTC().Truncate(time.Second)
	window := order.Window{From: now.Add(-3 * time.Hour), To: now}
	srcs, want := flowSources(t, dir, window, store)
	// The sources' data exist before the order arrives: its receipt is
	// the captures' cut-off.
	e0 := time.Now().UTC().Truncate(time.Second).Add(flowPeriod)
	e1 := e0.Add(flowExtension)
	fl.add(window, e0)
	fl.capture(srcs, want, e0)
	fl.reply(e0)
	if time.Now().After(e0.Add(-time.Second)) {
		t.Fatalf("the order's first %s ran out during its captures: make flowPeriod longer", flowPeriod)
	}
	fl.extend(e1)
	fl.recapture(srcs, want, e1)
	fl.setHold(true, e1)
	fl.setHold(false, e1)
	fl.release(e1)
	if !time.Now().Before(e1) {
		t.Fatalf("the extended expiry passed before the early purge: make flowExtension longer")
	}
	fl.purgeEarly(e1)
	// Retention ends by the clock; waiting for it is the point.
	time.Sleep(time.Until(e1) + 200*time.Millisecond)
	fl.purge()
}

func newFlow(t *testing.T, dir string, store flowStore, view storagetest.View) *flow {
	t.Helper()
	f := &captureFixture{dir: dir, signer: testSigner(t, 7)}
	f.open(t)
	spool, err := storage.NewLocal(filepath.Join(dir, "spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *f.c
	c.Store, c.Spool = store, spool
	c.BatchWait = time.Hour // a capture's items make one batch, sealed when it ends
	reg, err := New(Config{
		Log: f.log, Store: store, Profiles: flowProfiles(t), Capturer: &c, Agent: "agent-1", Host: "host-1",
		Book: &OrderBook{Dir: filepath.Join(dir, "orders"), Store: store},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &flow{t: t, f: f, store: store, view: view, reg: reg, preserved: map[string]chain.Digest{}}
}

func (fl *flow) add(window order.Window, expires time.Time) {
	t := fl.t
	t.Helper()
	doc := filepath.Join(t.TempDir(), "order.pdf")
	writeFlowFile(t, doc, "%PDF-1.4\n% preservation order LE-FLOW-1\n")
	draft := &order.Order{
		Reference: "LE-FLOW-1", Authority: "Examining magistrate", RequestingState: "DE", Profile: "test-short",
		LegalBasis: "the test's legal basis", Selectors: []order.Selector{{Type: order.SelectorEmail, Value: flowSelector}},
		Categories: []order.Category{order.CategorySubscriber, order.CategoryTraffic, order.CategoryContent}, Window: window, ExpiresAt: expires,
	}
	res, err := fl.reg.Add(context.Background(), draft, &Document{Path: doc}, "intake@example.net")
	if err != nil {
		t.Fatal(err)
	}
	fl.id = res.Order.ID
	if res.Document == nil || res.Document.Preserved() != 1 || res.Order.Document.MediaType != "application/pdf" {
		t.Fatalf("order document: %+v, %+v", res.Document, res.Order.Document)
	}
	fl.check("add", order.StatusReceived, "order.received", "capture.started", "items.sealed", "capture.completed")
	fl.checkObjects("add", expires, false)
}

// capture runs every connector once. Each yields one item, s3 two, and
// dir two and a duplicate (the link inside its root names a file it
// preserves): the same bytes are not stored or logged twice.
func (fl *flow) capture(srcs []capture.NamedSource, want []flowItem, expires time.Time) {
	t := fl.t
	t.Helper()
	start := time.Now()
	rep, err := fl.reg.Capture(context.Background(), fl.id, CaptureOptions{Sources: srcs, Actor: flowActor})
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.Name + " (" + s.Source.Kind() + ")"
	}
	t.Logf("captured %d items in %s from %s", len(rep.Items), time.Since(start).Round(time.Millisecond), strings.Join(names, ", "))
	checkFlowReport(t, rep, want, false)
	dir := rep.Summaries["mailboxes"]
	if dir["symlinks_followed"] != 1 || dir["skipped_symlink_outside"] != 1 {
		t.Errorf("dir summary %v: want the link inside the root followed, the one out of it skipped", dir)
	}
	n := 1 // the document
	for _, w := range want {
		if !w.dup {
			n++
		}
	}
	// preserving, then one batch, then preserved.
	fl.check("capture", order.StatusPreserved, "order.amended", "capture.started", "items.sealed", "capture.completed", "order.amended")
	if len(fl.preserved) != n {
		t.Fatalf("%d items sealed, want %d: the document and the capture's", len(fl.preserved), n)
	}
	if _, ok := fl.preserved[hex.EncodeToString(sha256Of([]byte(flowSecret)))]; ok {
		t.Fatal("the file a symlink out of the root names was preserved")
	}
	fl.checkObjects("capture", expires, false)
}

// reply confirms the preservation to the authority: its three files are
// objects of the order from then on, retained, held and purged with it.
func (fl *flow) reply(expires time.Time) {
	t := fl.t
	t.Helper()
	r, err := fl.reg.Reply(context.Background(), fl.id, ReplyOptions{Kind: chain.ReplyPreserved, Actor: flowActor})
	if err != nil {
		t.Fatal(err)
	}
	if r.Number != 1 || len(r.Files) != 3 {
		t.Fatalf("reply %+v", r)
	}
	fl.check("reply", order.StatusPreserved, "order.replied")
	fl.checkObjects("reply", expires, false)
}

// recapture runs the capture again: every item is already preserved, and
// none is stored or logged again.
func (fl *flow) recapture(srcs []capture.NamedSource, want []flowItem, expires time.Time) {
	t := fl.t
	t.Helper()
	rep, err := fl.reg.Capture(context.Background(), fl.id, CaptureOptions{Sources: srcs, Actor: flowActor})
	if err != nil {
		t.Fatal(err)
	}
	checkFlowReport(t, rep, want, true)
	if rep.Preserved() != 0 {
		t.Fatalf("re-run preserved %d items, want none", rep.Preserved())
	}
	fl.check("re-run capture", order.StatusExtended, "capture.started", "capture.completed")
	fl.checkObjects("re-run capture", expires, false)
}

func (fl *flow) extend(expires time.Time) {
	t := fl.t
	t.Helper()
	n, srep, err := fl.reg.Extend(context.Background(), fl.id, expires, "the magistrate's extension", flowActor)
	if err != nil {
		t.Fatal(err)
	}
	if !n.ExpiresAt.Equal(expires) || len(srep.Missing) != 0 || srep.Pending != 0 {
		t.Fatalf("extended to %s, store report %+v; want %s, every object extended", n.ExpiresAt, srep, expires)
	}
	fl.check("extend", order.StatusExtended, "order.extended")
	fl.checkObjects("extend", expires, false)
}

// setHold holds the order (on) or lifts its hold: every object of the
// order gets a legal hold, or loses it.
func (fl *flow) setHold(on bool, expires time.Time) {
	t := fl.t
	t.Helper()
	ctx := context.Background()
	step, status, event := "lift the hold", order.StatusExtended, "order.amended"
	var srep *StoreReport
	var err error
	if on {
		step, status, event = "hold", order.StatusHeld, "order.held"
		_, srep, err = fl.reg.Hold(ctx, fl.id, "request for mutual assistance received", flowActor)
	} else {
		_, srep, err = fl.reg.LiftHold(ctx, fl.id, "request decided", flowActor)
	}
	if err != nil || len(srep.Missing) != 0 {
		t.Fatalf("%s: %v, %+v", step, err, srep)
	}
	fl.check(step, status, event)
	fl.checkObjects(step, expires, on)
}

func (fl *flow) release(expires time.Time) {
	t := fl.t
	t.Helper()
	if _, err := fl.reg.Release(context.Background(), fl.id, "no longer needed", flowActor); err != nil {
		t.Fatal(err)
	}
	fl.check("release", order.StatusReleased, "order.released")
	fl.checkObjects("release", expires, false)
}

// purgeEarly purges before the expiry: retention keeps every item.
func (fl *flow) purgeEarly(expires time.Time) {
	t := fl.t
	t.Helper()
	rep, err := fl.reg.Purge(context.Background(), fl.id, "order ended", flowActor)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Purged) != 0 || len(rep.Kept) != len(fl.preserved) || rep.Order.Status != order.StatusReleased {
		t.Fatalf("early purge: %d purged, %d kept, order %s; want all %d kept", len(rep.Purged), len(rep.Kept), rep.Order.Status, len(fl.preserved))
	}
	for _, k := range rep.Kept {
		if !k.RetainUntil.Equal(expires) {
			t.Errorf("item %s kept until %s, want %s", k.Digest.SHA256, k.RetainUntil, expires)
		}
	}
	fl.check("early purge", order.StatusReleased)
	fl.checkObjects("early purge", expires, false)
}

// purge purges after the expiry: every object goes, each item's purge is
// logged once, and the digests stay in the log.
func (fl *flow) purge() {
	t := fl.t
	t.Helper()
	rep, err := fl.reg.Purge(context.Background(), fl.id, "order ended", flowActor)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Purged) != len(fl.preserved) || len(rep.Kept) != 0 || rep.Order.Status != order.StatusPurged {
		t.Fatalf("purge: %d purged, %d kept, order %s; want all %d purged", len(rep.Purged), len(rep.Kept), rep.Order.Status, len(fl.preserved))
	}
	// One item.purged for each batch, naming it, and no item: the
	// batch's root and manifest digest stay in the log.
	types := make([]string, 0, fl.batches+1)
	for range fl.batches {
		types = append(types, "item.purged")
	}
	evs := fl.check("purge", order.StatusPurged, append(types, "order.amended")...)
	purged := map[string]int{}
	for _, e := range evs {
		if e.Type == chain.ItemPurged {
			if len(e.Items) != 0 || e.Details["batch"] == "" || e.Details["manifest_sha256"] == "" {
				t.Fatalf("item.purged %+v does not name a whole batch", e)
			}
			purged[e.Details["capture"]+"/"+e.Details["batch"]]++
		}
	}
	v, err := fl.reg.Get(context.Background(), fl.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range v.State.PurgedBatches {
		if purged[b.ID()] != 1 {
			t.Errorf("batch %s: purged %d times in the log, want once", b.ID(), purged[b.ID()])
		}
	}
	if len(v.State.PurgedBatches) != fl.batches || len(v.State.Batches) != 0 || v.State.ItemCount() != 0 {
		t.Errorf("the log says %d batches purged and %d items kept; want the %d batches, all purged", len(v.State.PurgedBatches), v.State.ItemCount(), fl.batches)
	}
	if n := len(fl.objects()); n != 0 {
		t.Errorf("the store still holds %d objects of the purged order", n)
	}
	keys, left := fl.view(t)
	if len(keys) != 0 || len(left) != 0 {
		t.Errorf("the store holds %q and leftovers %q after the purge; want nothing", keys, left)
	}
}

// check verifies the log and checks that the order's events are those
// logged so far followed by added, and that the registry reports status.
// It returns the order's events.
func (fl *flow) check(step string, status order.Status, added ...string) []*chain.Event {
	t := fl.t
	t.Helper()
	fl.events = append(fl.events, added...)
	evs := fl.f.verifiedEvents(t, fl.id)
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Type))
	}
	if !slices.Equal(got, fl.events) {
		t.Fatalf("after %s, the order's events are\n%s\nwant\n%s", step, strings.Join(got, " "), strings.Join(fl.events, " "))
	}
	if s := evs[len(evs)-1].Details["status"]; s != "" && s != string(status) {
		t.Errorf("after %s, the last event says status %s, want %s", step, s, status)
	}
	v, err := fl.reg.Get(context.Background(), fl.id)
	if err != nil {
		t.Fatalf("after %s: %v", step, err)
	}
	if v.Order.Status != status {
		t.Fatalf("after %s, the order is %s; want %s", step, v.Order.Status, status)
	}
	if len(v.State.Batches) == 0 {
		return evs // purged
	}
	items, err := fl.reg.LoggedItems(context.Background(), fl.id)
	if err != nil {
		t.Fatalf("after %s: %v", step, err)
	}
	for _, it := range items {
		fl.preserved[it.Digest.SHA256] = it.Digest
	}
	fl.batches = len(v.State.Batches)
	if len(items) != len(fl.preserved) || v.State.ItemCount() != len(items) {
		t.Fatalf("after %s, the order holds %d items (%d counted); want %d", step, len(items), v.State.ItemCount(), len(fl.preserved))
	}
	return evs
}

// checkObjects checks that the store holds exactly the order's objects
// (each item, each batch's manifest and statement, each version of its
// record, each reply's files), each retained until until, with a legal hold or none.
func (fl *flow) checkObjects(step string, until time.Time, hold bool) {
	t := fl.t
	t.Helper()
	v, err := fl.reg.Get(context.Background(), fl.id)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for sum := range fl.preserved {
		want = append(want, capture.ItemKey(fl.id, sum))
	}
	for _, b := range v.State.Batches {
		want = append(want, b.Key(), capture.StatementKey(fl.id, b.Sealed.Capture, b.Sealed.Batch))
	}
	for _, sum := range v.State.Records {
		want = append(want, RecordKey(fl.id, sum))
	}
	want = append(want, replyKeys(v.State)...)
	slices.Sort(want)
	var keys, wrong []string
	for _, o := range fl.objects() {
		keys = append(keys, o.Key)
		if !o.RetainUntil.Equal(until) || o.LegalHold != hold {
			wrong = append(wrong, fmt.Sprintf("%s: retained until %s, legal hold %v", o.Key, o.RetainUntil.Format(time.RFC3339), o.LegalHold))
		}
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("after %s, the store holds\n%q\nwant\n%q", step, keys, want)
	}
	if len(wrong) > 0 {
		t.Fatalf("after %s, %d of %d objects are not retained until %s with legal hold %v:\n%s",
			step, len(wrong), len(keys), until.Format(time.RFC3339), hold, strings.Join(wrong, "\n"))
	}
}

// objects lists the order's objects in the store, by key.
func (fl *flow) objects() []*storage.ObjectInfo {
	fl.t.Helper()
	var out []*storage.ObjectInfo
	for info, err := range fl.store.List(context.Background(), "orders/"+fl.id+"/") {
		if err != nil {
			fl.t.Fatal(err)
		}
		out = append(out, info)
	}
	return out
}

// flowItem is an item a capture must report: its source, name and
// content, and whether it repeats one already preserved.
type flowItem struct {
	source, name, content string
	dup                   bool
}

// checkFlowReport checks that the capture reported exactly the items of
// want, none failed, each with the digest of its content; on a re-run
// every one is a duplicate.
func checkFlowReport(t *testing.T, rep *capture.Report, want []flowItem, rerun bool) {
	t.Helper()
	if rep.Failed() {
		t.Fatalf("capture failed: %q", rep.Failures())
	}
	got := map[string]capture.ItemResult{}
	for _, it := range rep.Items {
		got[it.Source+"/"+it.Name] = it
	}
	for _, w := range want {
		it, ok := got[w.source+"/"+w.name]
		sum := sha256.Sum256([]byte(w.content))
		switch {
		case !ok:
			t.Errorf("%s/%s: not captured", w.source, w.name)
		case it.Digests.SHA256 != hex.EncodeToString(sum[:]):
			t.Errorf("%s/%s: preserved content with sha256 %s, want that of %q", w.source, w.name, it.Digests.SHA256, w.content)
		case it.Duplicate != (w.dup || rerun):
			t.Errorf("%s/%s: duplicate %v, want %v", w.source, w.name, it.Duplicate, w.dup || rerun)
		}
	}
	if len(rep.Items) != len(want) {
		t.Fatalf("captured %d items, want %d: %+v", len(rep.Items), len(want), rep.Items)
	}
}

// flowSources sets up a real peer for every connector and returns the
// sources and the items they must yield. The data they hold is older than
// the order that captures it; window is the order's.
func flowSources(t *testing.T, dir string, window order.Window, store flowStore) ([]capture.NamedSource, []flowItem) {
	t.Helper()
	var srcs []capture.NamedSource
	var want []flowItem
	add := func(name, typ string, params map[string]any, items ...flowItem) {
		s, err := source.New(source.Config{Name: name, Type: typ, Params: params})
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, capture.NamedSource{Name: name, Source: s})
		for _, it := range items {
			it.source = name
			want = append(want, it)
		}
	}
	data := filepath.Join(dir, "data")
	file, root := flowFiles(t, data)
	add("export-file", "file", map[string]any{"path": file}, flowItem{name: "export.csv", content: "account,alice@example.net\n"})
	add("mailboxes", "dir", map[string]any{"root": root},
		flowItem{name: "a.eml", content: "To: alice@example.net\n\nfirst\n"},
		flowItem{name: "in.eml", content: "To: alice@example.net\n\nfirst\n", dup: true},
		flowItem{name: "sub/b.eml", content: "To: alice@example.net\n\nsecond\n"})
	url, ca := flowHTTPServer(t)
	add("subscriber-api", "http", map[string]any{"url": url, "ca_file": ca, "allow_hosts": []string{"127.0.0.1"},
		"query": map[string]string{"email": "{{selector.email}}"}},
		flowItem{name: "export/subscriber", content: `{"subscriber":"alice@example.net","plan":"basic"}`})
	add("lookup", "command", map[string]any{"argv": []string{"printf", "lookup %s\n"}, "args_from_selectors": []string{"{{selector.email}}"}},
		flowItem{name: "printf.stdout", content: "lookup alice@example.net\n"})
	if table := flowPostgres(t, window); table != "" {
		add("billing-db", "postgres", map[string]any{"dsn_env": "CUSTOS_TEST_PG_URL",
			"query":  "SELECT id, note FROM " + table + " WHERE email = ANY($1) AND at BETWEEN $2 AND $3 ORDER BY id",
			"params": []string{"{{selector.email}}", "{{from}}", "{{to}}"}},
			flowItem{name: "query.jsonl", content: `{"id":1,"note":"alice, in the window"}` + "\n"})
	}
	if params := flowS3Source(t, store); params != nil {
		add("mail-bucket", "s3", params,
			flowItem{name: "1.eml", content: "From alice, in the bucket\n"},
			flowItem{name: "2.eml", content: "From alice, again\n"})
	}
	logs, kept := flowLogs(t, filepath.Join(data, "logs"), window)
	add("access-logs", "logfilter", map[string]any{"paths": []string{logs + "/access.log*"},
		"format": `^(?P<time>\S+) (?P<user>\S+) `, "time_layout": "rfc3339", "match": map[string]string{"email": "user"}},
		flowItem{name: "matched-lines.log", content: kept})
	return srcs, want
}

// flowFiles writes a file to capture alone, and a directory tree with a
// symlink inside it (followed) and one out of it to a secret (not
// followed). It returns the file's path and the tree's root.
func flowFiles(t *testing.T, data string) (string, string) {
	t.Helper()
	file := filepath.Join(data, "exports", "export.csv")
	writeFlowFile(t, file, "account,alice@example.net\n")
	root := filepath.Join(data, "mail")
	writeFlowFile(t, filepath.Join(root, "a.eml"), "To: alice@example.net\n\nfirst\n")
	writeFlowFile(t, filepath.Join(root, "sub", "b.eml"), "To: alice@example.net\n\nsecond\n")
	writeFlowFile(t, filepath.Join(data, "secret.txt"), flowSecret)
	for target, link := range map[string]string{"a.eml": "in.eml", "../secret.txt": "out.eml"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return file, root
}

func writeFlowFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// flowHTTPServer is an HTTPS export endpoint with a test certificate; it
// returns the endpoint's URL and the certificate's PEM file.
func flowHTTPServer(t *testing.T) (string, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/export/subscriber" || r.URL.Query().Get("email") != flowSelector {
			http.Error(w, "no such subscriber", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"subscriber":%q,"plan":"basic"}`, flowSelector)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/export/subscriber", ca
}

// flowPostgres creates a table on the server of scripts/with-postgres.sh
// with one row the order selects, one of its selector outside its window
// and one of another, and returns the table's name; "" without a server
// (under CI=true, a missing server fails the test).
func flowPostgres(t *testing.T, window order.Window) string {
	t.Helper()
	dsn := os.Getenv("CUSTOS_TEST_PG_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_PG_URL is not set: run the tests through scripts/with-postgres.sh (make test does)")
		}
		t.Log("no PostgreSQL server: the postgres source is left out (run through scripts/with-postgres.sh)")
		return ""
	}
	table := "flow_" + flowRandom(t)
	in, before := window.To.Add(-time.Hour).Format(time.RFC3339), window.From.Add(-time.Hour).Format(time.RFC3339)
	pgExecFlow(t, dsn, fmt.Sprintf(`CREATE TABLE %s (id int4 PRIMARY KEY, email text, at timestamptz, note text);
	INSERT INTO %[1]s VALUES (1, 'alice@example.net', '%[2]s', 'alice, in the window'),
	(2, 'alice@example.net', '%[3]s', 'alice, before the window'), (3, 'bob@example.net', '%[2]s', 'bob');`, table, in, before))
	t.Cleanup(func() { pgExecFlow(t, dsn, "DROP TABLE "+table) })
	return table
}

func pgExecFlow(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// flowRandom is 10 random hex digits, for the name of a table or bucket.
func flowRandom(t *testing.T) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// flowS3Source fills a source bucket on the S3 server of
// scripts/with-minio.sh: two objects under the order's prefix, one under
// another. It returns the s3 source's parameters, or nil without a server
// when the store is local (under CI=true a missing server fails).
func flowS3Source(t *testing.T, store flowStore) map[string]any {
	t.Helper()
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if _, local := store.(*storage.Local); !local || os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Log("no S3 server: the s3 source is left out (run through scripts/with-minio.sh)")
		return nil
	}
	tls := os.Getenv("CUSTOS_TEST_S3_TLS") == "true"
	c, err := minio.New(ep, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"), os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"), ""),
		Secure: tls, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bucket := "custos-flow-source-" + flowRandom(t)
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	for key, content := range map[string]string{
		"mail/alice/1.eml": "From alice, in the bucket\n", "mail/alice/2.eml": "From alice, again\n", "mail/bob/3.eml": "From bob\n",
	} {
		if _, err := c.PutObject(ctx, bucket, key, strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{ContentType: "message/rfc822"}); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]any{
		"endpoint": ep, "bucket": bucket, "prefix": "mail/alice/", "region": "us-east-1", "tls": tls, "path_style": true,
		"access_key": "env:CUSTOS_TEST_S3_ACCESS_KEY", "secret_key": "env:CUSTOS_TEST_S3_SECRET_KEY",
	}
}

// flowLogs writes a plain and a gzip access log, each with a line the
// order selects among lines of another user and lines outside its window.
// It returns the directory and the lines the filter must keep.
func flowLogs(t *testing.T, dir string, window order.Window) (string, string) {
	t.Helper()
	line := func(at time.Time, user, req string) string {
		return at.UTC().Format(time.RFC3339) + " " + user + " " + req + "\n"
	}
	in, before := window.To.Add(-time.Hour), window.From.Add(-time.Hour)
	plain := line(before, flowSelector, "GET /old") + line(in, flowSelector, "GET /inbox") + line(in, "bob@example.net", "GET /inbox")
	rotated := line(in.Add(-time.Minute), "bob@example.net", "GET /login") + line(in.Add(-time.Minute), flowSelector, "GET /login")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write([]byte(rotated)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFlowFile(t, filepath.Join(dir, "access.log"), plain)
	writeFlowFile(t, filepath.Join(dir, "access.log.1.gz"), gz.String())
	return dir, line(in, flowSelector, "GET /inbox") + line(in.Add(-time.Minute), flowSelector, "GET /login")
}
