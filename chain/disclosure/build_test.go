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
	"strconv"
	"strings"
	"testing"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// A tiny disclosure package builder for the verifier's tests: a real log
// (chain.Open) gives genuine events, proofs and a checkpoint; the DSSE
// envelope is made through sigstore as the agent makes it. It follows
// docs/package.md without sharing code with the agent's builder.

// pkgOptions vary the order's story, for the lawful-story checks.
type pkgOptions struct {
	expiresIn    time.Duration // the order's expiry after receipt (default 90 days)
	captureAfter time.Duration // when the capture starts after receipt (default 1 minute)
	held         bool          // the order is held before the capture
	purgeFirst   bool          // the first item is purged after the capture
	itemCapture  string        // the capture its item.preserved events name (default the capture's)
	finalStatus  string        // the status after the last event (default preserved)
	lastBack     time.Duration // the last event is timed this much before the one before it
}

// pkgFixture is a built package and what made it.
type pkgFixture struct {
	dir     string
	signer  signature.SignerVerifier
	key     *chain.Key
	trust   *chain.Trust
	indexes []uint64 // the log index of each line of events.jsonl
	cp      *chain.Checkpoint
	st      *testStatement // what attestation.dsse.json signs
}

const (
	pkgOrderID   = "01J9Z3K4M5N6P7Q8R9S0T1V2W3"
	pkgOtherID   = "01J9Z3K4M5N6P7Q8R9S0T1V2W4"
	pkgCapture   = "01J9Z3K4M5N6P7Q8R9S0T1V2X0"
	pkgReference = "AZ 4711/26  (urgent)"
)

var pkgReceived = testTime.Add(time.Hour)

// writePayload writes small payload files into dir/data.
func writePayload(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var smallPayload = map[string]string{
	"data/mail/inbox.mbox":                "From alice@example.net\nSubject: hello\n\nhi\n",
	"data/mail/sent.mbox":                 "From bob@example.net\nSubject: re: hello\n\nho\n",
	"data/traffic/records.csv":            "time,from,to\n2026-11-01T10:00:00Z,alice,bob\n",
	"data/order-document/order.pdf":       "%PDF-1.7 not really\n",
	"data/subscriber/account~2.json":      `{"account":"alice"}`,
	"data/traffic/empty-but-preserved.db": "",
}

// pkgItem is one payload file with its digests.
type pkgItem struct {
	path, sha256, sha512 string
	size                 int64
}

// payloadItems hashes the files under dir/data, sorted by path.
func payloadItems(t testing.TB, dir string) []pkgItem {
	t.Helper()
	var out []pkgItem
	err := filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h256, h512 := sha256.New(), sha512.New()
		n, err := io.Copy(io.MultiWriter(h256, h512), f)
		out = append(out, pkgItem{path: filepath.ToSlash(rel), sha256: hex.EncodeToString(h256.Sum(nil)), sha512: hex.EncodeToString(h512.Sum(nil)), size: n})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b pkgItem) int { return strings.Compare(a.path, b.path) })
	return out
}

// orderRecord is the order's canonical record in the given status.
func orderRecord(status string) []byte {
	b, _ := json.Marshal(map[string]any{
		"v": 1, "id": pkgOrderID, "reference": pkgReference, "authority": "Staatsanwaltschaft Berlin",
		"requesting_state": "DE", "profile": "eu-2023-1543", "legal_basis": "Art. 6 Regulation (EU) 2023/1543",
		"status": status, "categories": []string{"subscriber", "traffic", "content"},
	})
	return b
}

// buildPackage builds a package in dir around the payload already in
// dir/data, with a new log signed by s.
func buildPackage(t testing.TB, dir string, s signature.SignerVerifier, o pkgOptions) *pkgFixture {
	t.Helper()
	ctx := context.Background()
	items := payloadItems(t, dir)
	fx := &pkgFixture{dir: dir, signer: s, key: mustKey(t, s)}
	trust, err := chain.ParseTrustLine(fx.key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	fx.trust = trust

	logDir := filepath.Join(t.TempDir(), "log")
	l := openLog(t, logDir, s)
	var lines []*chain.Record
	add := func(e chain.Event) {
		t.Helper()
		e.Actor, e.Agent = cmp.Or(e.Actor, "custodian@provider.example"), "agent-1"
		r, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Order == pkgOrderID {
			lines = append(lines, r)
		}
	}
	at := pkgReceived.Add
	orderEv := func(typ chain.EventType, d time.Duration, status string, details map[string]string) chain.Event {
		if details == nil {
			details = map[string]string{}
		}
		details["status"], details["order_sha256"] = status, chain.EventHash(orderRecord(status))
		return chain.Event{Type: typ, Time: at(d), Order: pkgOrderID, Details: details}
	}
	note := func(d time.Duration) {
		add(chain.Event{Type: chain.CustodyNote, Time: at(d), Order: pkgOtherID, Reason: "another order's event"})
	}
	expires := cmp.Or(o.expiresIn, 90*24*time.Hour)
	start := cmp.Or(o.captureAfter, time.Minute)
	add(orderEv(chain.OrderReceived, 0, "received", map[string]string{
		"reference": pkgReference, "expires_at": at(expires).Format(time.RFC3339Nano), "received_at": at(0).Format(time.RFC3339Nano),
	}))
	note(time.Second)
	status := "preserving"
	if o.held {
		add(orderEv(chain.OrderHeld, start-time.Second, "held", map[string]string{"while": "a production order is pending"}))
		status = "held"
	}
	add(chain.Event{Type: chain.CaptureStarted, Time: at(start), Order: pkgOrderID, Details: map[string]string{"capture": pkgCapture}})
	if !o.held {
		add(orderEv(chain.OrderAmended, start+time.Millisecond, status, nil))
	}
	note(start + 2*time.Millisecond)
	for i, it := range items {
		add(chain.Event{
			Type: chain.ItemPreserved, Time: at(start + time.Duration(i+1)*time.Second), Order: pkgOrderID,
			Items: []chain.Digest{{SHA256: it.sha256, SHA512: it.sha512}},
			Details: map[string]string{
				"capture": cmp.Or(o.itemCapture, pkgCapture), "source": strings.Split(it.path, "/")[1],
				"name": filepath.Base(it.path), "size": strconv.FormatInt(it.size, 10),
			},
		})
	}
	end := start + time.Hour
	add(chain.Event{Type: chain.CaptureCompleted, Time: at(end), Order: pkgOrderID, Details: map[string]string{"capture": pkgCapture}})
	if o.purgeFirst {
		add(chain.Event{Type: chain.ItemPurged, Time: at(end + time.Second), Order: pkgOrderID,
			Items: []chain.Digest{{SHA256: items[0].sha256, SHA512: items[0].sha512}}, Reason: "court order"})
	}
	final := cmp.Or(o.finalStatus, "preserved")
	if o.held {
		final = cmp.Or(o.finalStatus, "held")
	}
	add(orderEv(chain.OrderAmended, end+2*time.Second-o.lastBack, final, map[string]string{"previous_status": status}))
	note(end + 3*time.Second)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cpRaw, err := os.ReadFile(filepath.Join(logDir, chain.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	if fx.cp, err = chain.ParseCheckpoint(cpRaw, fx.trust.Note); err != nil {
		t.Fatal(err)
	}
	var events bytes.Buffer
	for _, r := range lines {
		fmt.Fprintf(&events, "{\"index\":%d,\"event\":%s}\n", r.Index, r.Encoded)
		fx.indexes = append(fx.indexes, r.Index)
		p, err := chain.BuildInclusionProof(ctx, os.DirFS(logDir), cpRaw, fx.cp.Size, r.Index)
		if err != nil {
			t.Fatal(err)
		}
		text, err := chain.FormatProof(p)
		if err != nil {
			t.Fatal(err)
		}
		fx.write(t, fmt.Sprintf("custody/proofs/%d.tlog-proof", r.Index), text)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(fx.key.Public)
	if err != nil {
		t.Fatal(err)
	}
	disclosed := at(end + time.Hour + 500*time.Millisecond)
	fx.write(t, "bagit.txt", []byte("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"))
	fx.write(t, "custody/order.json", orderRecord(final))
	fx.write(t, "custody/events.jsonl", events.Bytes())
	fx.write(t, "custody/checkpoint", cpRaw)
	fx.write(t, "custody/keys/custos.vkey", []byte(fx.key.Verifier+"\n"))
	fx.write(t, "custody/keys/custos.pub", pubPEM)
	fx.write(t, "case.jsonld", []byte(`{"@context":"https://ontology.unifiedcyberontology.org/uco/core/","@graph":[]}`+"\n"))
	fx.write(t, "README.txt", []byte("A disclosure package built by the verifier's tests.\n"))
	fx.write(t, "bag-info.txt", bagInfo(items, disclosed))
	fx.st = statement(items, fx.cp, disclosed, lines)
	fx.sign(t, fx.st)
	fx.seal(t)
	return fx
}

func (fx *pkgFixture) write(t testing.TB, name string, data []byte) {
	t.Helper()
	writePayload(t, fx.dir, map[string]string{name: string(data)})
}

func (fx *pkgFixture) read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fx.dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bagInfo(items []pkgItem, disclosed time.Time) []byte {
	var size int64
	for _, it := range items {
		size += it.size
	}
	fields := [][2]string{
		{"Source-Organization", "Example Provider GmbH"},
		{"Bagging-Date", disclosed.UTC().Format(time.DateOnly)},
		{"Payload-Oxum", fmt.Sprintf("%d.%d", size, len(items))},
		{"External-Identifier", pkgReference},
		{"Internal-Sender-Identifier", pkgOrderID},
		{"Custos-Package-Version", "1"},
		{"Custos-Order-Id", pkgOrderID},
		{"Custos-Issuing-Authority", "Staatsanwaltschaft Berlin"},
		{"Custos-Requesting-State", "DE"},
		{"Custos-Profile", "eu-2023-1543"},
		{"Custos-Legal-Basis", "Art. 6 Regulation (EU) 2023/1543"},
		{"Custos-Disclosed-At", disclosed.UTC().Format(time.RFC3339)},
		{"Custos-Recipient", "none"},
		{"Custos-Partial", "false"},
	}
	var b bytes.Buffer
	for _, f := range fields {
		fmt.Fprintf(&b, "%s: %s\n", f[0], strings.Join(strings.Fields(f[1]), " "))
	}
	return b.Bytes()
}

// testStatement is the in-toto statement of a package, as plain values a
// test can change before signing.
type testStatement struct {
	subjects  []*intoto.ResourceDescriptor
	predicate map[string]any
}

func statement(items []pkgItem, cp *chain.Checkpoint, disclosed time.Time, lines []*chain.Record) *testStatement {
	st := &testStatement{}
	var predItems []any
	for _, it := range items {
		st.subjects = append(st.subjects, &intoto.ResourceDescriptor{Name: it.path, Digest: map[string]string{"sha256": it.sha256, "sha512": it.sha512}})
		var idx uint64
		for _, r := range lines {
			if r.Event.Type == chain.ItemPreserved && r.Event.Items[0].SHA256 == it.sha256 {
				idx = r.Index
				break
			}
		}
		predItems = append(predItems, map[string]any{
			"path": it.path, "sha256": it.sha256, "sha512": it.sha512, "size": it.size,
			"source": strings.Split(it.path, "/")[1], "name": filepath.Base(it.path), "preserved_index": idx,
		})
	}
	st.predicate = map[string]any{
		"order": pkgOrderID, "reference": pkgReference, "recipient": "none", "disclosed_at": disclosed.UTC().Format(time.RFC3339Nano),
		"agent": "agent-1", "actor": "custodian@provider.example", "partial": false,
		"checkpoint": map[string]any{"origin": cp.Origin, "size": cp.Size, "hash": cp.Hash},
		"items":      predItems,
	}
	return st
}

// sign writes custody/attestation.dsse.json: st signed through sigstore's
// DSSE signer, as the agent signs.
func (fx *pkgFixture) sign(t testing.TB, st *testStatement) {
	t.Helper()
	if _, ok := st.predicate["events"]; !ok {
		st.predicate["events"] = fx.eventsRef(t)
	}
	if _, ok := st.predicate["files"]; !ok {
		files := map[string]any{}
		for _, name := range []string{"case.jsonld", "README.txt", "custody/events.jsonl", "custody/order.json"} {
			sum := sha256.Sum256(fx.read(t, name))
			files[name] = hex.EncodeToString(sum[:])
		}
		st.predicate["files"] = files
	}
	raw, err := json.Marshal(st.predicate)
	if err != nil {
		t.Fatal(err)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, pred); err != nil {
		t.Fatal(err)
	}
	s := &intoto.Statement{Type: intoto.StatementTypeUri, Subject: st.subjects, PredicateType: disclosure.PredicateType, Predicate: pred}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	payload, err := protojson.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	env, err := dsse.WrapSigner(fx.signer, "application/vnd.in-toto+json").SignMessage(bytes.NewReader(payload))
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
	items := payloadItems(t, fx.dir)
	var m256, m512 bytes.Buffer
	var size int64
	for _, it := range items {
		fmt.Fprintf(&m256, "%s  %s\n", it.sha256, it.path)
		fmt.Fprintf(&m512, "%s  %s\n", it.sha512, it.path)
		size += it.size
	}
	fx.write(t, "manifest-sha256.txt", m256.Bytes())
	fx.write(t, "manifest-sha512.txt", m512.Bytes())
	info := fx.read(t, "bag-info.txt")
	oxum := regexp.MustCompile(`(?m)^Payload-Oxum: .*$`)
	fx.write(t, "bag-info.txt", oxum.ReplaceAll(info, []byte(fmt.Sprintf("Payload-Oxum: %d.%d", size, len(items)))))
}

// sealTags rewrites the tag manifest and SHA256SUMS.
func (fx *pkgFixture) sealTags(t testing.TB) {
	t.Helper()
	all := fileSums(t, fx.dir)
	var tm, tm512, sums bytes.Buffer
	for _, f := range all {
		if !strings.HasPrefix(f[1], "data/") && !strings.HasPrefix(f[1], "tagmanifest-") && f[1] != "SHA256SUMS" {
			fmt.Fprintf(&tm, "%s  %s\n", f[0], f[1])
			sum := sha512.Sum512(fx.read(t, f[1]))
			fmt.Fprintf(&tm512, "%x  %s\n", sum, f[1])
		}
	}
	fx.write(t, "tagmanifest-sha256.txt", tm.Bytes())
	fx.write(t, "tagmanifest-sha512.txt", tm512.Bytes())
	for _, f := range fileSums(t, fx.dir) {
		if f[1] != "SHA256SUMS" {
			fmt.Fprintf(&sums, "%s  %s\n", f[0], f[1])
		}
	}
	fx.write(t, "SHA256SUMS", sums.Bytes())
}

// fileSums lists every regular file under dir with its SHA-256, sorted.
func fileSums(t testing.TB, dir string) [][2]string {
	t.Helper()
	var out [][2]string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, [2]string{hex.EncodeToString(h.Sum(nil)), filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[1], b[1]) })
	return out
}

// eventsRef is what the statement says of events.jsonl as it is: how many
// events, and the newest one's index and hash.
func (fx *pkgFixture) eventsRef(t testing.TB) map[string]any {
	t.Helper()
	var count int
	var last struct {
		Index uint64          `json:"index"`
		Event json.RawMessage `json:"event"`
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(fx.read(t, "custody/events.jsonl")), "\n"), "\n") {
		if l == "" {
			continue
		}
		count++
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]any{"count": count, "last_index": last.Index, "last_sha256": chain.EventHash(last.Event)}
}
