package disclosure_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// Packages for the tests, written by disclosure.Write from a real log
// (chain.Open) that tells an order's story: genuine events, proofs and
// checkpoint. The story can be varied for the lawful-story checks; the
// default one is the golden package in testdata/golden, which
// TestWriteGolden rebuilds byte for byte and the verifier's tests copy and
// tamper with.

// pkgOptions vary the order's story, for the lawful-story checks.
type pkgOptions struct {
	expiresIn    time.Duration // the order's expiry after receipt (default 90 days)
	captureAfter time.Duration // when the capture starts after receipt (default 1 minute)
	held         bool          // the order is held before the capture
	purgeFirst   bool          // the first item is purged after the capture
	itemCapture  string        // the capture its item.preserved events name (default the capture's)
	finalStatus  string        // the status after the last event (default preserved)
	lastBack     time.Duration // the last event is timed this much before the one before it
	noExpiry     bool          // order.received names no expires_at
	cutOff       string        // the capture.started's cut_off detail as written, if not the capture's start

	// Since issue 15 a capture seals its items in batches; 0 logs an
	// item.preserved per item as before.
	batch      int  // seal the items in batches of this many records
	recovery   bool // the batches are recovery batches
	purgeBatch bool // batch 1 is purged whole after the capture
	only       int  // disclose only this item (1-based), a partial package; 0: every item

	recipient    string // the recipient the statement names (the package itself is not encrypted)
	fixityFailed bool   // a fixity.failed and a capture.failed are logged after the capture
}

// pkgFixture is a package on disk and what a test needs to check or
// tamper with it.
type pkgFixture struct {
	dir     string
	signer  signature.SignerVerifier
	key     *chain.Key
	trust   *chain.Trust
	indexes []uint64 // the log index of each line of events.jsonl
	cp      *chain.Checkpoint
}

const (
	pkgOrderID   = "01J9Z3K4M5N6P7Q8R9S0T1V2W3"
	pkgOtherID   = "01J9Z3K4M5N6P7Q8R9S0T1V2W4"
	pkgCapture   = "01J9Z3K4M5N6P7Q8R9S0T1V2X0"
	pkgReference = "AZ 4711/26  (urgent)"
	pkgOrg       = "Example Provider GmbH"
	pkgActor     = "custodian@provider.example"
	pkgAgent     = "agent-1"
)

var pkgReceived = testTime.Add(time.Hour)

// payloadItem is one item of a story: where it came from and its bytes,
// in memory or in a file.
type payloadItem struct {
	source, name string
	content      string
	file         string // read from this file instead of content
}

// smallPayload is the payload of the golden package: 169 bytes in six
// items, one of them empty, one whose name is made safe.
var smallPayload = []payloadItem{
	{source: "mail", name: "inbox.mbox", content: "From alice@example.net\nSubject: hello\n\nhi\n"},
	{source: "mail", name: "sent.mbox", content: "From bob@example.net\nSubject: re: hello\n\nho\n"},
	{source: "order-document", name: "order.pdf", content: "%PDF-1.7 not really\n"},
	{source: "subscriber", name: "account~2.json", content: `{"account":"alice"}`},
	{source: "traffic", name: "empty-but-preserved.db", content: ""},
	{source: "traffic", name: "records.csv", content: "time,from,to\n2026-11-01T10:00:00Z,alice,bob\n"},
}

func (p payloadItem) open() (io.ReadCloser, error) {
	if p.file != "" {
		return os.Open(p.file)
	}
	return io.NopCloser(strings.NewReader(p.content)), nil
}

// digests hashes the item.
func (p payloadItem) digests(t testing.TB) (sha256Hex, sha512Hex string, size int64) {
	t.Helper()
	r, err := p.open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h256, h512 := sha256.New(), sha512.New()
	size, err = io.Copy(io.MultiWriter(h256, h512), r)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h256.Sum(nil)), hex.EncodeToString(h512.Sum(nil)), size
}

// orderRecord is the order's canonical record in the given status.
func orderRecord(status string) []byte {
	b, _ := json.Marshal(map[string]any{
		"v": 1, "id": pkgOrderID, "reference": pkgReference, "authority": "Staatsanwaltschaft Berlin",
		"requesting_state": "DE", "profile": "eu-2023-1543", "legal_basis": "Art. 6 Regulation (EU) 2023/1543",
		"status": status, "categories": []string{"subscriber", "traffic", "content"},
		"received_at": pkgReceived, "expires_at": pkgReceived.Add(90 * 24 * time.Hour),
	})
	return b
}

// story logs the order's story with a new log signed by s and returns
// what disclosure.Write needs of it, the disclosure's time aside.
func story(t testing.TB, s signature.SignerVerifier, o pkgOptions, payload []payloadItem) (*disclosure.Contents, time.Time) {
	t.Helper()
	ctx := context.Background()
	logDir := filepath.Join(t.TempDir(), "log")
	l := openLog(t, logDir, s)
	var lines []*chain.Record
	add := func(e chain.Event) *chain.Record {
		t.Helper()
		e.Actor, e.Agent = cmp.Or(e.Actor, pkgActor), pkgAgent
		r, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Order == pkgOrderID {
			lines = append(lines, r)
		}
		return r
	}
	at := pkgReceived.Add
	orderEv := func(typ chain.EventType, d time.Duration, od chain.OrderDetails, details map[string]string) chain.Event {
		od.OrderSHA256 = chain.EventHash(orderRecord(string(od.Status)))
		return chain.Event{Type: typ, Time: at(d), Order: pkgOrderID, Details: od.Put(details)}
	}
	note := func(d time.Duration) {
		add(chain.Event{Type: chain.CustodyNote, Time: at(d), Order: pkgOtherID, Reason: "another order's event"})
	}
	expires := cmp.Or(o.expiresIn, 90*24*time.Hour)
	start := cmp.Or(o.captureAfter, time.Minute)
	received := chain.OrderDetails{Status: chain.StatusReceived, ExpiresAt: at(expires)}
	if o.noExpiry {
		received.ExpiresAt = time.Time{}
	}
	add(orderEv(chain.OrderReceived, 0, received, map[string]string{
		"reference": pkgReference, "received_at": at(0).Format(time.RFC3339Nano),
	}))
	note(time.Second)
	status := chain.StatusPreserving
	if o.held {
		add(orderEv(chain.OrderHeld, start-time.Second, chain.OrderDetails{Status: chain.StatusHeld}, map[string]string{"while": "a production order is pending"}))
		status = chain.StatusHeld
	}
	started := chain.CaptureDetails{Capture: pkgCapture, CutOff: at(start)}.Put(nil)
	if o.cutOff != "" {
		started["cut_off"] = o.cutOff
	}
	add(chain.Event{Type: chain.CaptureStarted, Time: at(start), Order: pkgOrderID, Details: started})
	if !o.held {
		add(orderEv(chain.OrderAmended, start+time.Millisecond, chain.OrderDetails{Status: status}, nil))
	}
	note(start + 2*time.Millisecond)
	c := &disclosure.Contents{Organization: pkgOrg, Agent: pkgAgent, Actor: pkgActor, Signer: s, Key: mustKey(t, s)}
	itemTime := func(i int) time.Time { return at(start + time.Duration(i+1)*time.Second) }
	var first chain.Digest
	if o.batch > 0 {
		c.Items, first = sealBatches(t, add, o, payload, itemTime)
	} else {
		c.Items, first = preserveEach(t, add, o, payload, itemTime)
	}
	end := start + time.Hour
	add(chain.Event{Type: chain.CaptureCompleted, Time: at(end), Order: pkgOrderID, Details: chain.CaptureDetails{Capture: pkgCapture}.Put(nil)})
	if o.fixityFailed {
		add(chain.Event{Type: chain.CaptureFailed, Time: at(end + 200*time.Millisecond), Order: pkgOrderID, Reason: "source unreachable",
			Details: chain.CaptureDetails{Capture: pkgCapture}.Put(nil)})
		add(chain.Event{Type: chain.FixityFailed, Time: at(end + 500*time.Millisecond), Order: pkgOrderID, Items: []chain.Digest{first},
			Reason: "the stored item's SHA-256 differs"})
	}
	if o.purgeFirst {
		add(chain.Event{Type: chain.ItemPurged, Time: at(end + time.Second), Order: pkgOrderID, Items: []chain.Digest{first}, Reason: "court order"})
	}
	if o.purgeBatch {
		add(chain.Event{Type: chain.ItemPurged, Time: at(end + time.Second), Order: pkgOrderID, Reason: "court order",
			Details: map[string]string{"capture": pkgCapture, "batch": "1"}})
	}
	if o.only > 0 {
		c.Items, c.Partial = c.Items[o.only-1:o.only], true
	}
	c.Recipient = o.recipient
	final := chain.OrderStatus(cmp.Or(o.finalStatus, "preserved"))
	if o.held {
		final = chain.OrderStatus(cmp.Or(o.finalStatus, "held"))
	}
	add(orderEv(chain.OrderAmended, end+2*time.Second-o.lastBack, chain.OrderDetails{Status: final, PreviousStatus: status}, nil))
	note(end + 3*time.Second)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cpRaw, err := os.ReadFile(filepath.Join(logDir, chain.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	nv, err := c.Key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	if c.Checkpoint, err = chain.ParseCheckpoint(cpRaw, nv); err != nil {
		t.Fatal(err)
	}
	c.Order, c.Events = orderRecord(string(final)), lines
	c.Prove = func(ctx context.Context, index uint64) (*chain.Proof, error) {
		return chain.BuildInclusionProof(ctx, os.DirFS(logDir), cpRaw, c.Checkpoint.Size, index)
	}
	return c, at(end + time.Hour + 500*time.Millisecond)
}

// preserveEach logs an item.preserved event per item of payload, as
// captures did before batches, the item i at time at(i), and returns the
// items to disclose and the first one's digest.
func preserveEach(t testing.TB, add func(chain.Event) *chain.Record, o pkgOptions, payload []payloadItem, at func(int) time.Time) ([]disclosure.Item, chain.Digest) {
	t.Helper()
	var items []disclosure.Item
	for i, p := range payload {
		sum, sum512, size := p.digests(t)
		d := chain.ItemDetails{Capture: cmp.Or(o.itemCapture, pkgCapture), Source: p.source, Name: p.name, Size: size,
			Key: "orders/" + pkgOrderID + "/items/" + sum}
		r := add(chain.Event{Type: chain.ItemPreserved, Time: at(i), Order: pkgOrderID,
			Items: []chain.Digest{{SHA256: sum, SHA512: sum512}}, Details: d.Put(nil)})
		items = append(items, disclosure.Item{SHA256: sum, SHA512: sum512, Size: size, Source: p.source, Name: p.name,
			PreservedIndex: r.Index, Open: func(context.Context) (io.ReadCloser, error) { return p.open() }})
	}
	return items, chain.Digest{SHA256: items[0].SHA256, SHA512: items[0].SHA512}
}

// buildPackage writes the package of the story o tells about payload,
// signed by s, as a directory in a new place.
func buildPackage(t testing.TB, s signature.SignerVerifier, o pkgOptions, payload []payloadItem) *pkgFixture {
	t.Helper()
	return buildPackageIn(t, filepath.Join(t.TempDir(), "package"), s, o, payload)
}

// buildPackageIn is buildPackage writing the package to dir.
func buildPackageIn(t testing.TB, dir string, s signature.SignerVerifier, o pkgOptions, payload []payloadItem) *pkgFixture {
	t.Helper()
	c, disclosed := story(t, s, o, payload)
	c.Time = disclosed
	if _, err := disclosure.Write(context.Background(), dir, c); err != nil {
		t.Fatal(err)
	}
	return loadPackage(t, dir, s)
}

// goldenSigner is the key of the golden package, testdata/golden.key.
func goldenSigner(t testing.TB) signature.SignerVerifier {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden.key"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(b, cryptoutils.SkipPassword)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadSignerVerifier(priv, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goldenContents are the inputs of the golden package.
func goldenContents(t testing.TB) *disclosure.Contents {
	t.Helper()
	c, disclosed := story(t, goldenSigner(t), pkgOptions{}, smallPayload)
	c.Time = disclosed
	return c
}

// newSmallPackage returns a package of the story o tells about the small
// payload, signed by the golden key: a copy of the golden package for the
// default story, a new package for another.
func newSmallPackage(t testing.TB, o pkgOptions) *pkgFixture {
	t.Helper()
	if o != (pkgOptions{}) {
		return buildPackage(t, goldenSigner(t), o, smallPayload)
	}
	dir := filepath.Join(t.TempDir(), "package")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "golden"))); err != nil {
		t.Fatal(err)
	}
	return loadPackage(t, dir, goldenSigner(t))
}

// loadPackage reads what the tests need of the package in dir, signed by
// s: the trusted key, the checkpoint and the index of every event line.
func loadPackage(t testing.TB, dir string, s signature.SignerVerifier) *pkgFixture {
	t.Helper()
	fx := &pkgFixture{dir: dir, signer: s, key: mustKey(t, s)}
	var err error
	if fx.trust, err = chain.ParseTrustLine(fx.key.Verifier); err != nil {
		t.Fatal(err)
	}
	if fx.cp, err = chain.ParseCheckpoint(fx.read(t, "custody/checkpoint"), fx.trust.Note); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(fx.read(t, "custody/events.jsonl")), "\n"), "\n") {
		var line struct {
			Index uint64 `json:"index"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		fx.indexes = append(fx.indexes, line.Index)
	}
	return fx
}

// writeFiles writes files (path: content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(full, 0o644)
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (fx *pkgFixture) write(t testing.TB, name string, data []byte) {
	t.Helper()
	writeFiles(t, fx.dir, map[string]string{name: string(data)})
}

func (fx *pkgFixture) read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fx.dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testStatement is the in-toto statement of a package, as plain values a
// test can change before signing it again.
type testStatement struct {
	subjects  []chain.Subject
	predicate map[string]any
}

// statement reads the statement custody/attestation.dsse.json signs.
func (fx *pkgFixture) statement(t testing.TB) *testStatement {
	t.Helper()
	env, err := chain.ParseEnvelope(fx.read(t, "custody/attestation.dsse.json"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := env.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	st, err := chain.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	out := &testStatement{subjects: st.Subject}
	if err := json.Unmarshal(st.Predicate, &out.predicate); err != nil {
		t.Fatal(err)
	}
	return out
}

// sign writes custody/attestation.dsse.json: st signed with the package's
// key, as the writer signs.
func (fx *pkgFixture) sign(t testing.TB, st *testStatement) {
	t.Helper()
	env, err := chain.SignStatement(fx.signer, st.subjects, disclosure.PredicateType, st.predicate)
	if err != nil {
		t.Fatal(err)
	}
	fx.write(t, "custody/attestation.dsse.json", env)
}

// seal writes what a bag's writer computes last from the files as they
// are: both payload manifests, Payload-Oxum, the tag manifest and
// SHA256SUMS. A test that changes a file and seals again plays an attacker
// who knows the format but not the key.
func (fx *pkgFixture) seal(t testing.TB) {
	t.Helper()
	fx.sealPayload(t)
	fx.sealTags(t)
}

// sealPayload rewrites both payload manifests and Payload-Oxum.
func (fx *pkgFixture) sealPayload(t testing.TB) {
	t.Helper()
	var m256, m512 bytes.Buffer
	var size int64
	var n int
	for _, f := range fileSums(t, fx.dir) {
		if !strings.HasPrefix(f.path, "data/") {
			continue
		}
		fmt.Fprintf(&m256, "%s  %s\n", f.sha256, f.path)
		fmt.Fprintf(&m512, "%s  %s\n", f.sha512, f.path)
		size += f.size
		n++
	}
	fx.write(t, "manifest-sha256.txt", m256.Bytes())
	fx.write(t, "manifest-sha512.txt", m512.Bytes())
	info := fx.read(t, "bag-info.txt")
	oxum := regexp.MustCompile(`(?m)^Payload-Oxum: .*$`)
	fx.write(t, "bag-info.txt", oxum.ReplaceAll(info, []byte(fmt.Sprintf("Payload-Oxum: %d.%d", size, n))))
}

// sealTags rewrites the tag manifests and SHA256SUMS.
func (fx *pkgFixture) sealTags(t testing.TB) {
	t.Helper()
	var tm, tm512, sums bytes.Buffer
	for _, f := range fileSums(t, fx.dir) {
		if !strings.HasPrefix(f.path, "data/") && !strings.HasPrefix(f.path, "tagmanifest-") && f.path != "SHA256SUMS" {
			fmt.Fprintf(&tm, "%s  %s\n", f.sha256, f.path)
			fmt.Fprintf(&tm512, "%s  %s\n", f.sha512, f.path)
		}
	}
	fx.write(t, "tagmanifest-sha256.txt", tm.Bytes())
	fx.write(t, "tagmanifest-sha512.txt", tm512.Bytes())
	for _, f := range fileSums(t, fx.dir) {
		if f.path != "SHA256SUMS" {
			fmt.Fprintf(&sums, "%s  %s\n", f.sha256, f.path)
		}
	}
	fx.write(t, "SHA256SUMS", sums.Bytes())
}

type fileSum struct {
	path, sha256, sha512 string
	size                 int64
}

// fileSums lists every regular file under dir with its digests, sorted.
func fileSums(t testing.TB, dir string) []fileSum {
	t.Helper()
	var out []fileSum
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h256, h512 := sha256.New(), sha512.New()
		n, err := io.Copy(io.MultiWriter(h256, h512), f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fileSum{path: filepath.ToSlash(rel), sha256: hex.EncodeToString(h256.Sum(nil)), sha512: hex.EncodeToString(h512.Sum(nil)), size: n})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b fileSum) int { return strings.Compare(a.path, b.path) })
	return out
}
