package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// capturedOrder is an order captured through the registry, emergency or
// not, its requester never checked.
func capturedOrder(t *testing.T, f *registryFixture, emergency bool) *order.Order {
	t.Helper()
	ctx := context.Background()
	draft, err := (&order.Flags{
		Reference: "LE-9", Authority: "BKA", RequestingState: "DE", Profile: "us-2703f", LegalBasis: "18 U.S.C. 2703(f)",
		Selectors: []string{"email:bob@example.net"}, Categories: "content", Emergency: emergency,
	}).Draft(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.reg.Add(ctx, draft, nil, "intake@example.net")
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{items: map[string]string{"inbox/1.eml": "hello"}, order: []string{"inbox/1.eml"}}
	rep, err := f.reg.Capture(ctx, res.Order.ID, CaptureOptions{Actor: "custodian", CutOff: time.Now(),
		Sources: []capture.NamedSource{{Name: "mail", Source: src, Categories: []string{"content"}}}})
	if err != nil || rep.Failed() {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	return res.Order
}

// refusedDisclosure checks that a disclosure by actor is refused with
// want, logging nothing and writing nothing.
func refusedDisclosure(t *testing.T, f *registryFixture, id, actor string, want error) {
	t.Helper()
	before := f.orderEvents(t, id)
	dir := t.TempDir()
	_, err := f.reg.Disclose(context.Background(), id, DiscloseOptions{Out: filepath.Join(dir, "p.zip"), Actor: actor})
	if !errors.Is(err, want) {
		t.Fatalf("disclosure by %s: %v, want %v", actor, err, want)
	}
	if after := f.orderEvents(t, id); !slices.Equal(after, before) {
		t.Errorf("a refused disclosure logged %v", after[len(before):])
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused disclosure wrote %v", entries)
	}
	if left := f.workLeft(t); len(left) != 0 {
		t.Errorf("a refused disclosure left work %v", left)
	}
}

// disclosed discloses id as actor and returns disclosure.created's
// details.
func disclosed(t *testing.T, f *registryFixture, id, actor string) chain.DisclosureDetails {
	t.Helper()
	ctx := context.Background()
	rep, err := f.reg.Disclose(ctx, id, DiscloseOptions{Out: filepath.Join(t.TempDir(), "p.zip"), Actor: actor})
	if err != nil {
		t.Fatalf("disclosure by %s: %v", actor, err)
	}
	events := f.verifiedEvents(t, id)
	var last *chain.Event
	for _, e := range events {
		if e.Type == chain.DisclosureCreated {
			last = e
		}
	}
	if last == nil || last.Actor != actor {
		t.Fatalf("disclosure %d: events %v", rep.Index, f.orderEvents(t, id))
	}
	d, err := chain.ReadDisclosureDetails(last)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDisclosureNeedsAConfirmedRequester(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := capturedOrder(t, f, false)
	refusedDisclosure(t, f, o.ID, "discloser", ErrRequesterUnverified)

	// Bad checks are refused, logging nothing.
	before := f.orderEvents(t, o.ID)
	for name, v := range map[string]RequesterVerification{
		"unknown method": {Method: "email", Confirmed: true, Note: "n", Actor: "c"},
		"reserved":       {Method: chain.MethodVerifiedChannel, Confirmed: true, Note: "n", Actor: "c"},
		"no note":        {Method: chain.MethodCallback, Confirmed: true, Note: " ", Actor: "c"},
	} {
		if _, err := f.reg.VerifyRequester(ctx, o.ID, v); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := f.reg.VerifyRequester(ctx, "01JZZZZZZZZZZZZZZZZZZZZZZZ", RequesterVerification{Method: chain.MethodPortal, Confirmed: true, Note: "n", Actor: "c"}); !errors.Is(err, ErrNoOrder) {
		t.Errorf("unknown order: %v, want ErrNoOrder", err)
	}
	if after := f.orderEvents(t, o.ID); !slices.Equal(after, before) {
		t.Errorf("refused checks logged %v", after[len(before):])
	}

	rec, err := f.reg.VerifyRequester(ctx, o.ID, RequesterVerification{Method: chain.MethodCallback, Confirmed: true,
		Note: "called +49 611 55-0 from the BKA's website; DS Weber confirmed", Actor: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Event.Type != chain.RequesterVerified || rec.Event.Actor != "carol" || rec.Event.Details["method"] != "callback" {
		t.Errorf("logged %+v", rec.Event)
	}
	d := disclosed(t, f, o.ID, "discloser")
	if d.Clearance != (chain.Clearance{RequesterMethod: "callback", RequesterEvent: rec.Index}) {
		t.Errorf("disclosure.created clearance %+v, want the check at %d", d.Clearance, rec.Index)
	}

	// A later failed check stops the next disclosure.
	failed, err := f.reg.VerifyRequester(ctx, o.ID, RequesterVerification{Method: chain.MethodPortal, Confirmed: false,
		Note: "the portal does not know the reference", Actor: "carol"})
	if err != nil || failed.Event.Type != chain.RequesterFailed {
		t.Fatalf("failed check: %v %+v", err, failed)
	}
	refusedDisclosure(t, f, o.ID, "discloser", ErrRequesterUnverified)
}

func TestDisclosureThroughAVerifiedChannel(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := capturedOrder(t, f, false)
	rec, err := f.reg.VerifiedChannel(ctx, o.ID, "portal-fr", "portal-fr (intake, token 01J)")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Event.Details["channel"] != "portal-fr" || rec.Event.Details["method"] != chain.MethodVerifiedChannel {
		t.Errorf("logged %+v", rec.Event)
	}
	d := disclosed(t, f, o.ID, "discloser")
	if d.Clearance.RequesterMethod != chain.MethodVerifiedChannel || d.Clearance.RequesterEvent != rec.Index {
		t.Errorf("disclosure.created clearance %+v, want the verified channel at %d", d.Clearance, rec.Index)
	}
}

func TestEmergencyDisclosureNeedsASecondIdentity(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	o := capturedOrder(t, f, true)
	confirmRequester(t, f.reg, o.ID)
	refusedDisclosure(t, f, o.ID, "alice", ErrApprovalRequired)

	// Approving an order that is not an emergency is refused.
	plain := capturedOrder(t, f, false)
	if _, err := f.reg.ApproveDisclosure(ctx, plain.ID, "bob", "bob", ""); !errors.Is(err, ErrConflict) {
		t.Errorf("approving a plain order: %v, want ErrConflict", err)
	}

	a, err := f.reg.ApproveDisclosure(ctx, o.ID, "alice", "alice", "checked the threat report")
	if err != nil {
		t.Fatal(err)
	}
	if a.Event.Type != chain.DisclosureApproved || a.Event.Details["identity"] != "alice" {
		t.Errorf("logged %+v", a.Event)
	}
	// The same identity approving twice, and disclosing on its own
	// approval, are refused.
	before := f.orderEvents(t, o.ID)
	if _, err := f.reg.ApproveDisclosure(ctx, o.ID, "alice", "alice", ""); !errors.Is(err, ErrConflict) {
		t.Errorf("a second approval by alice: %v, want ErrConflict", err)
	}
	if after := f.orderEvents(t, o.ID); !slices.Equal(after, before) {
		t.Errorf("a refused approval logged %v", after[len(before):])
	}
	refusedDisclosure(t, f, o.ID, "alice", ErrApprovalRequired)

	// Another identity discloses on alice's approval, which it uses up.
	d := disclosed(t, f, o.ID, "bob")
	if d.Clearance.ApprovedBy != "alice" || d.Clearance.ApprovalEvent != a.Index {
		t.Errorf("disclosure.created clearance %+v, want alice's approval at %d", d.Clearance, a.Index)
	}
	refusedDisclosure(t, f, o.ID, "bob", ErrApprovalRequired)

	// The state is the log's: read again from its start, it is the same.
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states, _, err := ReadOrderStates(ctx, f.log.FS(), size)
	if err != nil {
		t.Fatal(err)
	}
	if st := states[o.ID]; len(st.Approvals) != 0 || st.Requester == nil || !st.Requester.Confirmed {
		t.Errorf("state read again: approvals %v, requester %+v", st.Approvals, st.Requester)
	}
}

// An order whose emergency comes from its EU form (Section B) needs the
// second identity too.
func TestEmergencyFromTheFormNeedsASecondIdentity(t *testing.T) {
	ctx := context.Background()
	f := newRegistryFixture(t)
	path, _ := formFile(t, "epoc-emergency.xml")
	res, err := f.reg.Import(ctx, &Document{Path: path}, ImportOptions{Actor: "intake"})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Order
	if o.Emergency || o.Form == nil || !o.Form.Emergency || !o.IsEmergency() {
		t.Fatalf("imported order: emergency %v, form %+v", o.Emergency, o.Form)
	}
	src := &fakeSource{items: map[string]string{"subscriber.csv": "bob,2026-01-01"}, order: []string{"subscriber.csv"}}
	rep, err := f.reg.Capture(ctx, o.ID, CaptureOptions{Actor: "custodian", CutOff: time.Now(),
		Sources: []capture.NamedSource{{Name: "accounts", Source: src, Categories: []string{string(o.Categories[0])}}}})
	if err != nil || rep.Failed() {
		t.Fatalf("capture: %v %+v", err, rep)
	}
	confirmRequester(t, f.reg, o.ID)
	refusedDisclosure(t, f, o.ID, "alice", ErrApprovalRequired)
	if _, err := f.reg.ApproveDisclosure(ctx, o.ID, "bob", "bob", ""); err != nil {
		t.Fatal(err)
	}
	if d := disclosed(t, f, o.ID, "alice"); d.Clearance.ApprovedBy != "bob" {
		t.Errorf("disclosure.created clearance %+v, want bob's approval", d.Clearance)
	}
}
