package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
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

// readReplyFile reads a reply's file back through the store, which
// re-hashes it, and checks it is what the result names.
func (f *registryFixture) readReplyFile(t *testing.T, rf ReplyFile) []byte {
	t.Helper()
	rc, info, err := f.store.Get(context.Background(), rf.Key)
	if err != nil {
		t.Fatalf("%s: %v", rf.Key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", rf.Key, err)
	}
	if info.SHA256 != rf.SHA256 || int64(len(b)) != rf.Size {
		t.Fatalf("%s: the store holds %s (%d bytes), the reply names %s (%d)", rf.Key, info.SHA256, len(b), rf.SHA256, rf.Size)
	}
	return b
}

// TestReply: replies to the order imported from the EU form: refused
// with nothing written before anything is sealed or for a ground that
// is none; then a confirmation and an Annex III, each read back, signed
// with the log's key, named by its order.replied event, and numbered so
// that no reply ever replaces another.
func TestReply(t *testing.T) {
	f := newRegistryFixture(t)
	ctx := context.Background()
	prPath, _ := formFile(t, "epoc-pr.xml")
	imp, err := f.reg.Import(ctx, &Document{Path: prPath}, ImportOptions{Actor: "intake"})
	if err != nil {
		t.Fatal(err)
	}
	id := imp.Order.ID

	// The form's own XML is sealed, and is no preservation of the data.
	before := f.snapshot(t)
	for _, tc := range []struct {
		opts ReplyOptions
		want error
		msg  string
	}{
		{ReplyOptions{Kind: chain.ReplyPreserved, Actor: "custodian"}, ErrConflict, "nothing of its data is sealed yet"},
		{ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "too-busy", Actor: "custodian"}, ErrInvalid, `"too-busy" is no Annex III ground`},
		{ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "non-execution", Actor: "custodian"}, ErrInvalid, "needs an explanation"},
		{ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "conflicting-obligations"}, ErrInvalid, "no actor"},
	} {
		if _, err := f.reg.Reply(ctx, id, tc.opts); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v, want %v saying %q", tc.opts, err, tc.want, tc.msg)
		}
		if after := f.snapshot(t); after != before {
			t.Errorf("%+v: refused, and written:\n%s", tc.opts, after)
		}
	}
	if _, err := f.reg.Reply(ctx, "01J9Z3K4M5N6P7Q8R9S0T1V2W3", ReplyOptions{Kind: chain.ReplyPreserved, Actor: "custodian"}); !errors.Is(err, ErrNoOrder) {
		t.Errorf("unknown order: %v", err)
	}

	src := []capture.NamedSource{{Name: "mail", Source: &fakeSource{items: map[string]string{"a": "alpha", "b": "beta"}, order: []string{"a", "b"}}}}
	if _, err := f.reg.Capture(ctx, id, CaptureOptions{Sources: src, Actor: "custodian", CutOff: time.Now()}); err != nil {
		t.Fatal(err)
	}
	conf, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyPreserved, Actor: "custodian"})
	if err != nil {
		t.Fatal(err)
	}
	if conf.Number != 1 || len(conf.Files) != 3 {
		t.Fatalf("confirmation %+v", conf)
	}
	for i, ext := range ReplyExts() { // named by the XML's digest (SPEC section 5)
		if want := "orders/" + id + "/replies/" + conf.Files[0].SHA256 + "." + ext; conf.Files[i].Key != want {
			t.Errorf("confirmation's %s stored as %s, want %s", ext, conf.Files[i].Key, want)
		}
	}
	got, err := order.ParseReply(f.readReplyFile(t, conf.Files[0]), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != chain.ReplyPreserved || got.OrderID != id || got.CertificateID != "DE-BER-EPOCPR-2026-000417" ||
		got.Batches != 1 || got.Items != 2 || got.FirstSealed.IsZero() {
		t.Errorf("the confirmation reads back as %+v: want the one batch of 2 items, not the form's", got)
	}
	f.checkEnvelope(t, conf)

	cc, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "conflicting-obligations",
		Explanation: "the content is held in the US; 18 U.S.C. 2702 forbids its disclosure", Actor: "custodian"})
	if err != nil {
		t.Fatal(err)
	}
	got, err = order.ParseReply(f.readReplyFile(t, cc.Files[0]), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cc.Number != 2 || got.Kind != chain.ReplyCannotComply || got.Ground != order.GroundConflict || got.FileNumber != "276 Js 1123/26" ||
		got.Authority != "Staatsanwaltschaft Berlin" || got.Identifiers != 2 {
		t.Errorf("reply %d reads back as %+v", cc.Number, got)
	}
	if page := f.readReplyFile(t, cc.Files[1]); !bytes.Contains(page, []byte("18 U.S.C. 2702 forbids")) {
		t.Errorf("the page lacks the explanation")
	}

	// A reply stored and never logged (a crash between the two) is no
	// reply: the log gives the next one number 3, under the keys of its
	// own XML, and the unlogged files stay as they are.
	unlogged := []byte("<unlogged/>")
	orphan := chain.ReplyKey(id, sha256Hex(unlogged), "xml")
	if _, err := f.store.Put(ctx, orphan, bytes.NewReader(unlogged), storage.PutOptions{SHA256: sha256Hex(unlogged)}); err != nil {
		t.Fatal(err)
	}
	next, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyPreserved, Actor: "custodian"})
	if err != nil {
		t.Fatal(err)
	}
	if next.Number != 3 || next.Files[0].Key != chain.ReplyKey(id, next.Files[0].SHA256, "xml") || next.Files[0].Key == conf.Files[0].Key {
		t.Errorf("the third reply: %d, %s", next.Number, next.Files[0].Key)
	}
	if b := f.readReplyFile(t, ReplyFile{Key: orphan, SHA256: sha256Hex(unlogged), Size: int64(len(unlogged))}); !bytes.Equal(b, unlogged) {
		t.Errorf("%s overwritten: %s", orphan, b)
	}

	// Read back against the digests the log names: an unknown reply or
	// file is named; a file changed in the store, or gone, is tampering.
	if b, err := f.reg.ReadReply(ctx, id, 2, "html"); err != nil || sha256Hex(b) != cc.Files[1].SHA256 {
		t.Errorf("reply 2's page read back: %v", err)
	}
	if b, err := f.reg.ReadReply(ctx, id, 3, "xml"); err != nil || sha256Hex(b) != next.Files[0].SHA256 {
		t.Errorf("reply 3 read back: %v", err)
	}
	if _, err := f.reg.ReadReply(ctx, id, 4, "xml"); !errors.Is(err, ErrNotFound) {
		t.Errorf("reply 4, never written, read back: %v, want ErrNotFound", err)
	}
	if _, err := f.reg.ReadReply(ctx, id, 1, "pdf"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a file no reply has: %v, want ErrInvalid", err)
	}
	onDisk := filepath.Join(f.dir, "store", "objects", filepath.FromSlash(conf.Files[0].Key))
	good, err := os.ReadFile(onDisk)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(onDisk, 0o600))
	must(os.WriteFile(onDisk, bad, 0o600))
	if _, err := f.reg.ReadReply(ctx, id, 1, "xml"); !errors.Is(err, chain.ErrTamper) {
		t.Errorf("reply 1's XML with a byte flipped read back: %v, want tampering", err)
	}
	must(os.Remove(onDisk))
	if _, err := f.reg.ReadReply(ctx, id, 1, "xml"); !errors.Is(err, chain.ErrTamper) {
		t.Errorf("reply 1's XML gone from the store: %v, want tampering", err)
	}
	must(os.WriteFile(onDisk, good, 0o400))

	var logged []string
	for _, e := range f.verifiedEvents(t, id) {
		if e.Type != chain.OrderReplied {
			continue
		}
		d, err := chain.ReadReplyDetails(e)
		if err != nil {
			t.Fatal(err)
		}
		logged = append(logged, string(d.Kind)+" "+d.XMLSHA256+" "+d.HTMLSHA256+" "+d.EnvelopeSHA256)
	}
	var want []string
	for _, r := range []*ReplyResult{conf, cc, next} {
		want = append(want, string(r.Kind)+" "+r.Files[0].SHA256+" "+r.Files[1].SHA256+" "+r.Files[2].SHA256)
	}
	if strings.Join(logged, "\n") != strings.Join(want, "\n") {
		t.Errorf("order.replied events\n%s\nwant\n%s", strings.Join(logged, "\n"), strings.Join(want, "\n"))
	}
	v, err := f.reg.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.State.Replies) != 3 || v.State.Replies[1].Number != 2 || v.State.Replies[1].Ground != "conflicting-obligations" {
		t.Errorf("the order's state lists replies %+v", v.State.Replies)
	}

	// Released: nothing left to confirm, an Annex III still goes.
	if _, err := f.reg.Release(ctx, id, "the authority withdrew it", "custodian"); err != nil {
		t.Fatal(err)
	}
	before = f.snapshot(t)
	if _, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyPreserved, Actor: "custodian"}); !errors.Is(err, ErrConflict) {
		t.Errorf("confirmation of a released order: %v", err)
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("refused, and written:\n%s", after)
	}
	if _, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "de-facto-impossibility", Actor: "custodian"}); err != nil {
		t.Errorf("Annex III for a released order: %v", err)
	}
}

// checkEnvelope checks that a reply's envelope verifies with the log's
// key, signs its XML and HTML by digest, and fails with a byte flipped.
func (f *registryFixture) checkEnvelope(t *testing.T, r *ReplyResult) {
	t.Helper()
	raw := f.readReplyFile(t, r.Files[2])
	env, err := chain.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := f.signer.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Verify(pub); err != nil {
		t.Fatalf("the reply's envelope does not verify with the log's key: %v", err)
	}
	payload, err := env.DecodePayload()
	if err != nil {
		t.Fatal(err)
	}
	st, err := chain.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	if st.PredicateType != ReplyPredicateType || len(st.Subject) != 2 ||
		st.Subject[0].Name != r.Files[0].Key || st.Subject[0].Digest["sha256"] != r.Files[0].SHA256 ||
		st.Subject[1].Name != r.Files[1].Key || st.Subject[1].Digest["sha256"] != r.Files[1].SHA256 {
		t.Errorf("statement %+v does not name the reply's files %+v", st, r.Files[:2])
	}
	flipped := bytes.Clone(payload)
	flipped[len(flipped)/2] ^= 1
	env.Payload = base64.StdEncoding.EncodeToString(flipped)
	if err := env.Verify(pub); err == nil {
		t.Error("the envelope verifies with a byte of its statement flipped")
	}
}

func sha256Hex(b []byte) string { return hex.EncodeToString(sha256Of(b)) }

// TestReplyNumberTaken: the store keys of a reply do not carry its
// number, the log does. Replies written one after another take the
// numbers that follow; a log in which a second order.replied takes a
// number already taken is tampering, read as such, and the order then
// takes no reply.
func TestReplyNumberTaken(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	id := f.addOrder(t).ID
	var rs []*ReplyResult
	for range 2 {
		r, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "de-facto-impossibility", Actor: "c"})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if rs[0].Number != 1 || rs[1].Number != 2 || rs[0].Files[0].Key == rs[1].Files[0].Key {
		t.Fatalf("replies %d (%s) and %d (%s)", rs[0].Number, rs[0].Files[0].Key, rs[1].Number, rs[1].Files[0].Key)
	}

	again := chain.ReplyDetails{Kind: chain.ReplyCannotComply, Number: 2, Ground: "de-facto-impossibility",
		XMLSHA256: rs[0].Files[0].SHA256, HTMLSHA256: rs[0].Files[1].SHA256, EnvelopeSHA256: rs[0].Files[2].SHA256}
	if _, err := f.log.Append(ctx, chain.Event{Type: chain.OrderReplied, Time: time.Now(), Order: id, Actor: "c", Agent: "agent-1",
		Host: "host-1", Reason: "reply 2 once more", Details: again.Put(nil)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Get(ctx, id); !errors.Is(err, chain.ErrTamper) || !strings.Contains(err.Error(), "reply 2 is the event's at log index") {
		t.Fatalf("a log with two replies 2 read as %v, want tampering naming reply 2", err)
	}
	before := f.snapshot(t)
	if _, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "de-facto-impossibility", Actor: "c"}); !errors.Is(err, chain.ErrTamper) {
		t.Errorf("a reply after two replies 2: %v, want tampering", err)
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("refused, and written:\n%s", after)
	}
}

// TestReplyFollowsTheOrder: a reply's files carry the order's retention
// (none once it has passed), a purge deletes them with the order's
// records (their digests stay in the log), and a purged order takes no
// reply.
func TestReplyFollowsTheOrder(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := f.addShortOrder(t, "REPLY-1")
	id := o.ID
	rp, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyPreserved, Actor: "c"})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range rp.Files {
		info, err := f.store.Stat(ctx, file.Key)
		if err != nil {
			t.Fatal(err)
		}
		if !info.RetainUntil.Equal(o.ExpiresAt) {
			t.Fatalf("%s retained until %v, want the order's expiry %v", file.Key, info.RetainUntil, o.ExpiresAt)
		}
	}
	if _, err := f.reg.Release(ctx, id, "expired", "c"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(o.ExpiresAt.Add(1100 * time.Millisecond))) // the retention must pass: the store's clock is the real one
	// Past its expiry an Annex III still goes, retained no longer.
	late, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "de-facto-impossibility", Actor: "c"})
	if err != nil {
		t.Fatalf("a reply to an order past its expiry: %v", err)
	}
	if info, err := f.store.Stat(ctx, late.Files[0].Key); err != nil {
		t.Fatal(err)
	} else if !info.RetainUntil.IsZero() {
		t.Errorf("%s retained until %v, want no retention past the order's expiry", late.Files[0].Key, info.RetainUntil)
	}
	if rep, err := f.reg.Purge(ctx, id, "retention ended", "c"); err != nil || rep.Order.Status != order.StatusPurged {
		t.Fatalf("purge: %v, %+v", err, rep)
	}
	for info, err := range f.store.List(ctx, "orders/"+id+"/") {
		t.Errorf("the store holds %+v (%v) of the purged order", info, err)
	}
	before := f.snapshot(t)
	if _, err := f.reg.Reply(ctx, id, ReplyOptions{Kind: chain.ReplyCannotComply, Ground: "de-facto-impossibility", Actor: "c"}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "is purged") {
		t.Errorf("a reply to a purged order: %v", err)
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("refused, and written:\n%s", after)
	}
}
