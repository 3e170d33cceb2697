package capture

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/md5" //nolint:gosec // checking the legacy digest
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

const (
	testOrder  = "01JD8Z3K4M5N6P7Q8R9S0T1V2W"
	testOrigin = "custos.test/capture"
	testActor  = "custodian@example.net" // runs the captures and flushes
)

func testSigner(t testing.TB, seed byte) signature.SignerVerifier {
	t.Helper()
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

func testVerifier(t *testing.T, s chain.Signer) note.Verifier {
	t.Helper()
	_, key, err := chain.NewNoteSigner(testOrigin, s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fakeSource yields fixed items; failAfter > 0 makes the content of item
// number failAfter fail midway, as a source that breaks would.
type fakeSource struct {
	items     map[string]string
	order     []string
	failAfter int
}

func (f *fakeSource) Kind() string { return "fake" }

func (f *fakeSource) Capture(ctx context.Context, req source.Request, emit source.Emit) (source.Summary, error) {
	for i, name := range f.order {
		var r io.Reader = strings.NewReader(f.items[name])
		if f.failAfter == i+1 {
			r = io.MultiReader(strings.NewReader(f.items[name][:3]), &failingReader{})
		}
		it := &source.Item{Name: name, MediaType: "text/plain", Record: map[string]any{"path": "/export/" + name}}
		if err := emit(it, r); err != nil {
			return source.Summary{"emitted": i + 1}, err
		}
	}
	return source.Summary{"emitted": len(f.order)}, nil
}

type failingReader struct{}

func (*failingReader) Read([]byte) (int, error) {
	return 0, errors.New("export server reset the connection")
}

type captureFixture struct {
	dir    string
	store  *storage.Local
	log    *chain.Log
	signer signature.SignerVerifier
	c      *Capturer
}

func newCaptureFixture(t *testing.T) *captureFixture {
	t.Helper()
	f := &captureFixture{dir: t.TempDir(), signer: testSigner(t, 7)}
	var err error
	if f.store, err = storage.NewLocal(filepath.Join(f.dir, "store"), nil); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	return f
}

func (f *captureFixture) open(t testing.TB) {
	t.Helper()
	var err error
	f.log, err = chain.Open(context.Background(), chain.Config{Dir: filepath.Join(f.dir, "log"), Origin: testOrigin, Signer: f.signer,
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond, Agent: "agent-1", Actor: "custodian"})
	if err != nil {
		t.Fatal(err)
	}
	f.c = &Capturer{Store: f.store, Log: f.log, Signer: f.signer, Agent: "agent-1", Host: "host-1"}
	t.Cleanup(func() { _ = f.log.Close(context.Background()) })
}

// events returns testOrder's custody events, after checking that the
// whole log verifies.
func (f *captureFixture) events(t *testing.T) []*chain.Event {
	t.Helper()
	return f.verifiedEvents(t, testOrder)
}

// verifiedEvents seals the log with a checkpoint, checks that the whole
// log verifies, and returns the custody events of order, in log order.
func (f *captureFixture) verifiedEvents(t *testing.T, order string) []*chain.Event {
	t.Helper()
	ctx := context.Background()
	if _, err := f.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS(filepath.Join(f.dir, "log"))
	rep, err := chain.VerifyLog(ctx, fsys, testVerifier(t, f.signer))
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("log does not verify: %v %v", err, rep.Problems)
	}
	var out []*chain.Event
	for rec, err := range chain.Entries(ctx, fsys, 0, rep.Entries) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.Order == order {
			out = append(out, rec.Event)
		}
	}
	return out
}

func spec(src source.Source, preserved map[string]bool) Spec {
	return Spec{
		Order: testOrder, RetainUntil: time.Now().Add(90 * 24 * time.Hour), Legacy: true,
		Authority: "18 U.S.C. 2703(f)", Request: source.Request{CutOff: time.Now()},
		Sources: []NamedSource{{Name: "mail", Source: src}}, Preserved: preserved, Actor: testActor,
	}
}

func hexSum(h interface{ Sum([]byte) []byte }) string { return hex.EncodeToString(h.Sum(nil)) }

func TestCapturePreservesEachItemOnce(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first message\n", "b.eml": "second message\n", "c.eml": "first message\n"}, order: []string{"a.eml", "b.eml", "c.eml"}}
	rep, err := f.c.Capture(ctx, spec(src, nil))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() || rep.Preserved() != 2 || len(rep.Items) != 3 || !rep.Items[2].Duplicate {
		t.Fatalf("report: %+v", rep)
	}
	a := rep.Items[0]
	s256, s512, m5 := sha256.Sum256([]byte("first message\n")), sha512.Sum512([]byte("first message\n")), md5.Sum([]byte("first message\n")) //nolint:gosec // legacy
	if a.Digests.SHA256 != hex.EncodeToString(s256[:]) || a.Digests.SHA512 != hex.EncodeToString(s512[:]) || a.Digests.MD5 != hex.EncodeToString(m5[:]) || a.Digests.SHA1 == "" {
		t.Fatalf("digests %+v", a.Digests)
	}

	// The content is in the store, retained until the order's expiry; no
	// metadata or statement per item.
	info, err := f.store.Stat(ctx, ItemKey(testOrder, a.Digests.SHA256))
	if err != nil || info.RetainUntil.IsZero() {
		t.Fatalf("item in the store: %+v %v", info, err)
	}
	if _, err := f.store.Stat(ctx, ItemKey(testOrder, a.Digests.SHA256)+".meta.json"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("per-item metadata: %v, want none", err)
	}

	// The log tells it: started, one batch, completed.
	evs := f.events(t)
	if types := eventTypes(evs); types != "capture.started items.sealed capture.completed" {
		t.Fatalf("events: %s", types)
	}
	sealed := evs[1]
	if len(sealed.Items) != 0 || sealed.Details["count"] != "2" || sealed.Details["batch"] != "1" || sealed.Authority != "18 U.S.C. 2703(f)" {
		t.Fatalf("items.sealed %+v", sealed)
	}
	// Its manifest holds one record per item, binds the event's root, and
	// says where each came from.
	b := f.batch(t, sealed)
	_, recs, err := ReadManifest(ctx, f.store, b)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*chain.ItemRecord{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	ra := byName["a.eml"]
	if len(recs) != 2 || ra == nil || byName["b.eml"] == nil || ra.SHA256 != a.Digests.SHA256 || ra.SHA512 != a.Digests.SHA512 ||
		ra.MD5 != a.Digests.MD5 || ra.Connector["path"] != "/export/a.eml" || ra.Source != "mail" || ra.Kind != "fake" ||
		ra.Key != ItemKey(testOrder, a.Digests.SHA256) || ra.Capture != rep.ID || len(ra.Salt) != 2*chain.SaltSize {
		t.Fatalf("records %+v", recs)
	}
	if ra.Salt == byName["b.eml"].Salt {
		t.Fatal("two records share a salt")
	}
	// The batch's statement is signed, its subjects the batch's items.
	envBytes := readAll(t, f.store, StatementKey(testOrder, rep.ID, 1))
	if sum := sha256.Sum256(envBytes); hex.EncodeToString(sum[:]) != sealed.Details["statement_sha256"] {
		t.Fatal("statement_sha256 does not bind the stored statement")
	}
	var payload []byte
	v := dsse.WrapVerifier(f.signer, dsse.WithDecodedPayload(&payload))
	if err := v.VerifySignature(bytes.NewReader(envBytes), nil); err != nil {
		t.Fatalf("statement signature: %v", err)
	}
	var stmt struct {
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string         `json:"predicateType"`
		Predicate     map[string]any `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &stmt); err != nil {
		t.Fatal(err)
	}
	if len(stmt.Subject) != 2 || stmt.PredicateType != BatchPredicateType || stmt.Predicate["order"] != testOrder ||
		stmt.Predicate["root"] != sealed.Details["root"] || stmt.Predicate["manifest_sha256"] != sealed.Details["manifest_sha256"] {
		t.Fatalf("statement %s", payload)
	}
	for _, sub := range stmt.Subject {
		if sub.Digest["sha256"] != strings.TrimPrefix(sub.Name, ItemKey(testOrder, "")) || sub.Digest["sha512"] == "" {
			t.Fatalf("subject %+v", sub)
		}
	}
	if evs[2].Details["preserved"] != "2" || evs[2].Details["already_preserved"] != "1" || evs[2].Details["batches"] != "1" {
		t.Fatalf("capture.completed %+v", evs[2].Details)
	}

	// Re-run with what the log says is preserved: nothing is stored or
	// logged twice.
	held := map[string]bool{}
	for _, r := range recs {
		held[r.SHA256] = true
	}
	rep2, err := f.c.Capture(ctx, spec(src, held))
	if err != nil || rep2.Preserved() != 0 || rep2.Failed() {
		t.Fatalf("re-run: %+v %v", rep2, err)
	}
	if types := eventTypes(f.events(t)); types != "capture.started items.sealed capture.completed capture.started capture.completed" {
		t.Fatalf("events after the re-run: %s", types)
	}
}

// batch is the LoggedBatch of an items.sealed event of testOrder.
func (f *captureFixture) batch(t *testing.T, e *chain.Event) *LoggedBatch {
	t.Helper()
	sb, err := chain.ParseSealedBatch(e)
	if err != nil {
		t.Fatal(err)
	}
	return &LoggedBatch{Order: e.Order, Sealed: sb, Spooled: sb.Stored == chain.StoredInSpool}
}

func TestCaptureFailingMidwayNamesWhatWasNotPreserved(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	src := &fakeSource{items: map[string]string{"a.eml": "first\n", "b.eml": "second, broken\n", "c.eml": "third\n"}, order: []string{"a.eml", "b.eml", "c.eml"}, failAfter: 2}
	rep, err := f.c.Capture(ctx, spec(src, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The broken item does not stop the source: the one after it is
	// preserved too.
	if !rep.Failed() || rep.Preserved() != 2 || len(rep.Items) != 3 || rep.Items[1].Err == nil || rep.Items[2].Err != nil {
		t.Fatalf("report: %+v", rep)
	}
	evs := f.events(t)
	if types := eventTypes(evs); types != "capture.started items.sealed capture.failed" {
		t.Fatalf("events: %s", types)
	}
	_, recs, err := ReadManifest(ctx, f.store, f.batch(t, evs[1]))
	if err != nil || len(recs) != 2 || recs[0].Name == "b.eml" || recs[1].Name == "b.eml" {
		t.Fatalf("sealed records %v: %+v", err, recs)
	}
	failed := evs[2]
	if !strings.Contains(failed.Reason, "mail/b.eml: ") || !strings.Contains(failed.Reason, "reset the connection") ||
		failed.Details["preserved"] != "2" || failed.Details["failed"] != "1" {
		t.Fatalf("capture.failed %+v", failed)
	}
	// Nothing of the broken item reached the store.
	n := 0
	for info, err := range f.store.List(ctx, "orders/") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		_ = info
	}
	if n != 4 { // a.eml and c.eml, the batch's manifest and statement
		t.Fatalf("%d objects in the store, want 4", n)
	}
}

func TestHashingReaderMatchesPlainHashes(t *testing.T) {
	for _, size := range []int{0, 1, hashChunk - 1, hashChunk, hashChunk + 1, 3*hashChunk + 12345} {
		body := bytes.Repeat([]byte("evidence "), size/9+1)[:size]
		checkHashingReader(t, body)
	}
}

func checkHashingReader(t *testing.T, body []byte) {
	t.Helper()
	hr := newHashingReader(bytes.NewReader(body), true)
	h := sha256.New()
	buf := make([]byte, 7777)
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{hr}, buf); err != nil {
		t.Fatal(err)
	}
	var d Digests
	hr.sums(&d)
	s512 := sha512.Sum512(body)
	m5 := md5.Sum(body) //nolint:gosec // legacy
	if d.SHA512 != hex.EncodeToString(s512[:]) || d.MD5 != hex.EncodeToString(m5[:]) || hexSum(h) != hex.EncodeToString(sha256Of(body)) {
		t.Fatalf("%d bytes: digests differ: %+v", len(body), d)
	}
	if hr.n != int64(len(body)) {
		t.Fatalf("%d bytes counted, want %d", hr.n, len(body))
	}
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func eventTypes(evs []*chain.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Type))
	}
	return strings.Join(s, " ")
}

func readAll(t *testing.T, s *storage.Local, key string) []byte {
	t.Helper()
	r, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCaptureWithoutSpoolStopsWhenTheStoreIsDown(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	f.c.Store = &flakyStore{Local: f.store, downAfter: 1}
	src := &fakeSource{items: map[string]string{"a.eml": "first\n", "b.eml": "second\n", "c.eml": "third\n"}, order: []string{"a.eml", "b.eml", "c.eml"}}
	rep, err := f.c.Capture(ctx, spec(src, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Every item would wait out the store's retries in turn: the capture
	// stops at the first that does not get through, and says what was not
	// preserved: everything, as the item stored before the outage could
	// not be sealed either.
	if !rep.Failed() || rep.Preserved() != 0 {
		t.Fatalf("report: %+v", rep)
	}
	for _, it := range rep.Items {
		if !errors.Is(it.Err, storage.ErrUnavailable) {
			t.Fatalf("item %s: %v, want the store's unavailability", it.Name, it.Err)
		}
	}
	if types := eventTypes(f.events(t)); types != "capture.started capture.failed" {
		t.Fatalf("events: %s", types)
	}
}

// TestReportListsABoundedNumberOfItems: a capture's report lists every
// failed item and ReportItems of the others, and counts them all, so
// the memory of a capture of a whole mailbox does not grow with it.
func TestReportListsABoundedNumberOfItems(t *testing.T) {
	ctx := context.Background()
	f := newCaptureFixture(t)
	const n = ReportItems + 7
	src := &fakeSource{items: map[string]string{}, failAfter: n}
	for i := range n {
		name := fmt.Sprintf("m%05d.eml", i)
		src.items[name] = "message " + name + "\n"
		src.order = append(src.order, name)
	}
	src.items["same.eml"] = src.items["m00000.eml"] // already preserved, once
	src.order = append(src.order[:1], append([]string{"same.eml"}, src.order[1:]...)...)
	sp := spec(src, nil)
	var sealed atomic.Int64 // what a progress display is told
	sp.Sealed = func(items int) { sealed.Add(int64(items)) }
	rep, err := f.c.Capture(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if sealed.Load() != int64(rep.Preserved()) {
		t.Errorf("Sealed was told of %d items, %d were preserved", sealed.Load(), rep.Preserved())
	}
	want := ItemCounts{Preserved: n - 1, Duplicates: 1, Failed: 1}
	if rep.Counts.Preserved != want.Preserved || rep.Counts.Duplicates != 1 || rep.Counts.Failed != 1 {
		t.Fatalf("counts %+v, want %+v", rep.Counts, want)
	}
	if rep.Preserved() != n-1 || !rep.Failed() {
		t.Fatalf("preserved %d failed %v", rep.Preserved(), rep.Failed())
	}
	failed := 0
	for _, it := range rep.Items {
		if it.Err != nil {
			failed++
		}
	}
	if len(rep.Items) != ReportItems+1 || failed != 1 || rep.Omitted != n-ReportItems {
		t.Fatalf("%d items listed (%d failed), %d omitted; want %d, 1, %d", len(rep.Items), failed, rep.Omitted, ReportItems+1, n-ReportItems)
	}
	if rep.Counts.Bytes == 0 {
		t.Fatal("no bytes counted")
	}
}
