package agent

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"

	"filippo.io/age"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// disclosedOrder is an order with three items, two of them content and
// one traffic, captured through the registry, its requester confirmed.
func disclosedOrder(t *testing.T, f *registryFixture) *order.Order {
	t.Helper()
	ctx := context.Background()
	o := f.addOrder(t)
	mail := &fakeSource{items: map[string]string{"inbox/1.eml": "hello", "../../etc/passwd": "sneaky name"}, order: []string{"inbox/1.eml", "../../etc/passwd"}}
	logs := &fakeSource{items: map[string]string{"access.log": "10.0.0.1 GET /"}, order: []string{"access.log"}}
	rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Actor: "custodian", CutOff: time.Now(), Sources: []capture.NamedSource{
		{Name: "mail", Source: mail, Categories: []string{"content"}},
		{Name: "proxy logs", Source: logs, Categories: []string{"traffic"}},
	}})
	if err != nil || rep.Failed() || rep.Preserved() != 3 {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	confirmRequester(t, f.reg, o.ID)
	return o
}

func TestDiscloseBuildsAVerifiablePackage(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	out := filepath.Join(t.TempDir(), "pkg")
	confirmRequester(t, f.reg, o.ID)
	rep, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Organization: "Example Mail GmbH", Actor: "discloser"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Partial || len(rep.Items) != 3 || rep.Order.Status != order.StatusDisclosed || rep.SHA256 == "" {
		t.Fatalf("report: %+v", rep)
	}
	root := os.DirFS(out)

	// Exactly the files of the format.
	var files []string
	if err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt", "tagmanifest-sha256.txt",
		"custody/order.json", "custody/events.jsonl", "custody/checkpoint", "custody/keys/custos.vkey", "custody/keys/custos.pub",
		"custody/attestation.dsse.json", "case.jsonld", "SHA256SUMS", "README.txt",
		"data/mail/inbox/1.eml", "data/mail/etc/passwd", "data/proxy logs/access.log"} {
		if !slices.Contains(files, want) {
			t.Errorf("package lacks %s (has %v)", want, files)
		}
	}

	// SHA256SUMS holds every file but itself, with its true digest.
	sums := readLines(t, root, "SHA256SUMS")
	if len(sums) != len(files)-1 {
		t.Errorf("SHA256SUMS has %d lines for %d other files", len(sums), len(files)-1)
	}
	for _, l := range sums {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", l)
		}
		b, err := fs.ReadFile(root, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("SHA256SUMS: %s does not match", name)
		}
	}
	info := string(mustRead(t, root, "bag-info.txt"))
	for _, want := range []string{"Source-Organization: Example Mail GmbH\n", "Payload-Oxum: 30.3\n", "External-Identifier: LE-1\n",
		"Custos-Order-Id: " + o.ID + "\n", "Custos-Partial: false\n", "Custos-Recipient: none\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("bag-info.txt lacks %q:\n%s", want, info)
		}
	}

	// Every event line proves against the checkpoint with the log's key;
	// the record is the one the newest order event names.
	v := testVerifier(t, f.signer)
	lines := readLines(t, root, "custody/events.jsonl")
	if len(lines) != rep.Events {
		t.Fatalf("%d event lines, report says %d", len(lines), rep.Events)
	}
	newestRecord := ""
	for _, l := range lines {
		var line struct {
			Index uint64          `json:"index"`
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatal(err)
		}
		proof := mustRead(t, root, "custody/proofs/"+strconv.FormatUint(line.Index, 10)+".tlog-proof")
		e, _, cp, err := chain.VerifyEventProof(line.Event, proof, v)
		if err != nil {
			t.Fatalf("event %d: %v", line.Index, err)
		}
		if e.Order != o.ID || cp.Size != rep.Checkpoint.Size {
			t.Fatalf("event %d: order %s, checkpoint %d", line.Index, e.Order, cp.Size)
		}
		if x := e.Details["order_sha256"]; x != "" {
			newestRecord = x
		}
	}
	rec := mustRead(t, root, "custody/order.json")
	if sum := sha256.Sum256(rec); hex.EncodeToString(sum[:]) != newestRecord {
		t.Errorf("custody/order.json is not the record the newest event names")
	}

	// The statement is signed by the log's key and names every data file.
	env := mustRead(t, root, "custody/attestation.dsse.json")
	pub, err := f.signer.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadVerifier(pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := dsse.WrapVerifier(sv).VerifySignature(strings.NewReader(string(env)), nil); err != nil {
		t.Fatalf("statement signature: %v", err)
	}
	var envelope struct {
		Payload []byte `json:"payload"`
	}
	if err := json.Unmarshal(env, &envelope); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(envelope.Payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != disclosure.PredicateType || len(st.Subject) != 3 {
		t.Fatalf("statement: %+v", st)
	}
	for _, s := range st.Subject {
		b := mustRead(t, root, s.Name)
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != s.Digest["sha256"] || len(s.Digest["sha512"]) != 128 {
			t.Errorf("subject %s digests do not match the file", s.Name)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(mustRead(t, root, "case.jsonld"), &doc); err != nil || doc["@graph"] == nil {
		t.Fatalf("case.jsonld: %v", err)
	}

	// The log says so, and the order is disclosed.
	events := f.orderEvents(t, o.ID)
	if events[len(events)-2] != "disclosure.created" || events[len(events)-1] != "order.amended" {
		t.Errorf("events end with %v", events[len(events)-2:])
	}
}

func TestDisclosePartialAndEncrypted(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "traffic.zip")
	confirmRequester(t, f.reg, o.ID)
	rep, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: out, Categories: []string{"traffic"}, Actor: "discloser",
		Recipients: []age.Recipient{id.Recipient()}, RecipientText: id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Partial || len(rep.Items) != 1 || rep.Items[0].Path != "data/proxy logs/access.log" || rep.Path != out+".age" {
		t.Fatalf("report: %+v", rep)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an unencrypted %s was left: %v", out, err)
	}
	enc, err := os.Open(rep.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	h := sha256.New()
	dec, err := age.Decrypt(io.TeeReader(enc, h), id)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(h.Sum(nil)) != rep.SHA256 {
		t.Errorf("logged package digest %s is not the file's", rep.SHA256)
	}
	zr, err := zip.NewReader(strings.NewReader(string(plain)), int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
	}
	if !slices.Contains(names, "data/proxy logs/access.log") || slices.Contains(names, "data/mail/inbox/1.eml") || !slices.Contains(names, "SHA256SUMS") {
		t.Fatalf("zip holds %v", names)
	}
}

func TestDiscloseRefusals(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addOrder(t) // received: nothing captured yet
	dir := t.TempDir()
	if _, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: filepath.Join(dir, "p"), Actor: "d"}); !errors.Is(err, order.ErrIllegalTransition) {
		t.Errorf("disclosing a received order: %v, want ErrIllegalTransition", err)
	}
	o = disclosedOrder(t, f)
	before := f.orderEvents(t, o.ID)
	exists := filepath.Join(dir, "exists")
	if err := os.Mkdir(exists, 0o755); err != nil {
		t.Fatal(err)
	}
	// A request that is merely wrong says which kind of wrong (the API
	// answers 404 or 400 by it); the others are the package's own errors.
	for name, c := range map[string]struct {
		opts DiscloseOptions
		kind error
	}{
		"existing output":  {DiscloseOptions{Out: exists}, nil},
		"unknown item":     {DiscloseOptions{Out: filepath.Join(dir, "a"), Items: []string{"deadbeefdeadbeef"}}, ErrNotFound},
		"short prefix":     {DiscloseOptions{Out: filepath.Join(dir, "b"), Items: []string{"abc"}}, ErrInvalid},
		"unknown category": {DiscloseOptions{Out: filepath.Join(dir, "c"), Categories: []string{"metadata"}}, ErrInvalid},
		"empty selection":  {DiscloseOptions{Out: filepath.Join(dir, "d"), Categories: []string{"subscriber"}}, ErrInvalid},
		"encrypted dir":    {DiscloseOptions{Out: filepath.Join(dir, "e"), Recipients: []age.Recipient{mustRecipient(t)}}, nil},
	} {
		c.opts.Actor = "d"
		confirmRequester(t, f.reg, o.ID)
		_, err := f.reg.Disclose(ctx, o.ID, c.opts)
		if err == nil {
			t.Errorf("%s: disclosed", name)
		}
		if c.kind != nil && !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want %v", name, err, c.kind)
		}
	}
	if after := f.orderEvents(t, o.ID); len(after) != len(before) {
		t.Errorf("refused disclosures logged %v", after[len(before):])
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("refused disclosures left %v", entries)
	}
}

func mustRecipient(t *testing.T) age.Recipient {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient()
}

func mustRead(t *testing.T, root fs.FS, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(root, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readLines(t *testing.T, root fs.FS, name string) []string {
	t.Helper()
	f, err := root.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// A package of one order among several carries nothing of the others:
// no event, item, digest, reference or id; their entries appear only as
// tree hashes inside the proofs.
func TestDisclosureRevealsNothingOfOtherOrders(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	mine := disclosedOrder(t, f)
	draft, err := (&order.Flags{
		Reference: "OTHER-REF-99", Authority: "Other Court", RequestingState: "NL", Profile: "us-2703f", LegalBasis: "2703(f)",
		Selectors: []string{"email:bob@example.org"}, Categories: "content",
	}).Draft(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.reg.Add(ctx, draft, nil, "intake")
	if err != nil {
		t.Fatal(err)
	}
	other := res.Order
	secret := "bob's private mail, never to leave"
	src := &fakeSource{items: map[string]string{"bob.eml": secret}, order: []string{"bob.eml"}}
	crep, err := f.reg.Capture(ctx, other.ID, CaptureOptions{Actor: "c", CutOff: time.Now(), Sources: []capture.NamedSource{{Name: "mail", Source: src}}})
	if err != nil || crep.Preserved() != 1 {
		t.Fatalf("capture: %v %+v", err, crep)
	}
	// Interleave: more events of mine after the other order's.
	more := &fakeSource{items: map[string]string{"late.eml": "late"}, order: []string{"late.eml"}}
	if _, err := f.reg.Capture(ctx, mine.ID, CaptureOptions{Actor: "c", CutOff: time.Now(), Sources: []capture.NamedSource{{Name: "mail2", Source: more}}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pkg.tar")
	confirmRequester(t, f.reg, mine.ID)
	if _, err := f.reg.Disclose(ctx, mine.ID, DiscloseOptions{Out: out, Categories: []string{"content"}, Actor: "d"}); err != nil {
		t.Fatal(err)
	}
	pkg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	for _, leak := range []string{other.ID, "OTHER-REF-99", "Other Court", "bob@example.org", secret, hex.EncodeToString(sum[:]),
		crep.Items[0].Digests.SHA512, crep.ID} {
		if strings.Contains(string(pkg), leak) {
			t.Errorf("the package holds %q of the other order", leak)
		}
	}
	if !strings.Contains(string(pkg), mine.ID) {
		t.Fatal("the package does not even name its own order")
	}
}

// The lifecycle's statuses are the custody log's vocabulary
// (chain.OrderStatus): every status an order can reach from received is
// one of chain's, chain has no other, and the same ones allow a
// disclosure.
func TestStatusesAreTheLogsVocabulary(t *testing.T) {
	seen := map[order.Status]bool{order.StatusReceived: true}
	todo := []order.Status{order.StatusReceived}
	for len(todo) > 0 {
		s := todo[0]
		todo = todo[1:]
		for _, n := range s.Next() {
			if !seen[n] {
				seen[n] = true
				todo = append(todo, n)
			}
		}
	}
	for s := range seen {
		if !slices.Contains(chain.OrderStatuses(), chain.OrderStatus(s)) {
			t.Errorf("%s is not one of the log's statuses %v", s, chain.OrderStatuses())
		}
		if chain.OrderStatus(s).AllowsDisclosure() != s.CanDisclose() {
			t.Errorf("%s: the lifecycle says it may be disclosed: %v, the log's vocabulary: %v", s, s.CanDisclose(), !s.CanDisclose())
		}
	}
	if len(seen) != len(chain.OrderStatuses()) {
		t.Errorf("the lifecycle reaches %d statuses, the log knows %d", len(seen), len(chain.OrderStatuses()))
	}
}

// The details the agent logs read back through chain's typed forms, and
// those forms write them back exactly: the package's writer and verifier
// read what the agent wrote.
func TestEventDetailsReadThroughChain(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := disclosedOrder(t, f)
	confirmRequester(t, f.reg, o.ID)
	if _, err := f.reg.Disclose(ctx, o.ID, DiscloseOptions{Out: filepath.Join(t.TempDir(), "p.zip"), Actor: "discloser"}); err != nil {
		t.Fatal(err)
	}
	same := func(e *chain.Event, put map[string]string) {
		t.Helper()
		for k, v := range put {
			if e.Details[k] != v {
				t.Errorf("%s: %s is %q in the log, %q written back", e.Type, k, e.Details[k], v)
			}
		}
	}
	seen := map[chain.EventType]int{}
	for _, e := range f.verifiedEvents(t, o.ID) {
		seen[e.Type]++
		switch e.Type {
		case chain.OrderReceived, chain.OrderAmended:
			d, err := chain.ReadOrderDetails(e)
			if err != nil || d.OrderSHA256 == "" || !slices.Contains(chain.OrderStatuses(), d.Status) {
				t.Errorf("%s: %+v, %v", e.Type, d, err)
			}
			if e.Type == chain.OrderReceived && !d.ExpiresAt.Equal(o.ExpiresAt) {
				t.Errorf("order.received: expires %v, the order %v", d.ExpiresAt, o.ExpiresAt)
			}
			same(e, d.Put(nil))
		case chain.CaptureStarted, chain.CaptureCompleted:
			d, err := chain.ReadCaptureDetails(e)
			if err != nil || d.Capture == "" || (e.Type == chain.CaptureStarted) == d.CutOff.IsZero() {
				t.Errorf("%s: %+v, %v", e.Type, d, err)
			}
			same(e, d.Put(nil))
		case chain.ItemsSealed:
			b, err := chain.ParseSealedBatch(e)
			if err != nil || b.Count != 3 || b.Bytes == 0 || b.Batch != 1 || len(e.Items) != 0 {
				t.Errorf("%s: %+v, %v", e.Type, b, err)
			}
			same(e, b.Details())
		case chain.DisclosureCreated:
			d, err := chain.ReadDisclosureDetails(e)
			if err != nil || d.Items != 3 || d.Format != "zip" || d.Encrypted || d.Partial || d.Recipient != "none" || d.Package != "p.zip" {
				t.Errorf("%s: %+v, %v", e.Type, d, err)
			}
			same(e, d.Put(nil))
		}
	}
	if seen[chain.ItemsSealed] != 1 || seen[chain.DisclosureCreated] != 1 || seen[chain.CaptureStarted] != 1 {
		t.Errorf("events seen: %v", seen)
	}
}
