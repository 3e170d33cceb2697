package server

import (
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/chain"
)

// confirmRequester records, as the custodian, a confirmed check of order
// id's requester, as every disclosure needs.
func (f *fixture) confirmRequester(t testing.TB, id string) {
	t.Helper()
	f.must(t, http.StatusCreated, "custodian", "POST", "/v1/orders/"+id+"/requester-checks",
		api.RequesterRequest{Method: "callback", Result: "confirmed", Note: "called the authority back"})
}

// refusedDisclosure checks that a disclosure by who is refused with
// status and code, logging nothing and keeping no package.
func (f *fixture) refusedDisclosure(t *testing.T, who, id string, status int, code string) {
	t.Helper()
	before := f.logSize(t)
	kept, _ := os.ReadDir(f.dir + "/disclosures")
	if got := f.must(t, status, who, "POST", "/v1/orders/"+id+"/disclosures", map[string]any{}).errorCode(t); got != code {
		t.Fatalf("disclosure by %s: %s, want %s", who, got, code)
	}
	if after := f.logSize(t); after != before {
		t.Errorf("a refused disclosure logged %d entries", after-before)
	}
	if entries, _ := os.ReadDir(f.dir + "/disclosures"); len(entries) != len(kept) {
		t.Errorf("a refused disclosure kept %d files more", len(entries)-len(kept))
	}
}

// disclosedBy discloses id as who and returns disclosure.created.
func (f *fixture) disclosedBy(t *testing.T, who, id string) *chain.Event {
	t.Helper()
	var dis api.Disclosure
	f.must(t, http.StatusCreated, who, "POST", "/v1/orders/"+id+"/disclosures", map[string]any{}).json(t, &dis)
	for _, e := range f.events(t, "auditor", id) {
		if e.Type == chain.DisclosureCreated && e.Details["package_sha256"] == dis.SHA256 {
			return e
		}
	}
	t.Fatalf("no disclosure.created for %s", dis.ID)
	return nil
}

func TestDisclosureNeedsAVerifiedRequesterThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	id := f.createOrder(t, "intake", "LE-REQ-1", false)
	f.capture(t, id)
	f.refusedDisclosure(t, "discloser", id, http.StatusConflict, "requester_unverified")

	// Only the custodian checks requesters; a bad check is refused.
	before := f.logSize(t)
	check := api.RequesterRequest{Method: "callback", Result: "confirmed", Note: "n"}
	f.must(t, http.StatusForbidden, "discloser", "POST", "/v1/orders/"+id+"/requester-checks", check)
	for _, bad := range []api.RequesterRequest{
		{Method: "pigeon", Result: "confirmed", Note: "n"},
		{Method: "callback", Result: "maybe", Note: "n"},
		{Method: "callback", Result: "confirmed"},
		{Method: "verified-channel", Result: "confirmed", Note: "n"},
	} {
		f.must(t, http.StatusBadRequest, "custodian", "POST", "/v1/orders/"+id+"/requester-checks", bad)
	}
	if after := f.logSize(t); after != before {
		t.Errorf("refused checks logged %d entries", after-before)
	}

	var ev api.Event
	f.must(t, http.StatusCreated, "custodian", "POST", "/v1/orders/"+id+"/requester-checks",
		api.RequesterRequest{Method: "portal", Result: "confirmed", Note: "the reference is in the BKA portal"}).json(t, &ev)
	e := f.disclosedBy(t, "discloser", id)
	if e.Details["requester_method"] != "portal" || e.Details["requester_event"] == "" {
		t.Errorf("disclosure.created details %v name no requester check", e.Details)
	}

	f.must(t, http.StatusCreated, "custodian", "POST", "/v1/orders/"+id+"/requester-checks",
		api.RequesterRequest{Method: "callback", Result: "failed", Note: "the number reached no one at the BKA"})
	f.refusedDisclosure(t, "discloser", id, http.StatusConflict, "requester_unverified")
	types := []string{}
	for _, e := range f.events(t, "auditor", id) {
		types = append(types, string(e.Type))
	}
	if !slices.Contains(types, "requester.verified") || !slices.Contains(types, "requester.failed") {
		t.Errorf("events %v", types)
	}
}

func TestOrderFromAVerifiedChannelNeedsNoCheck(t *testing.T) {
	f := newFixture(t)
	id := f.createOrder(t, "portal-fr", "LE-PORTAL-1", false)
	f.capture(t, id)
	e := f.disclosedBy(t, "discloser", id)
	if e.Details["requester_method"] != "verified-channel" {
		t.Errorf("disclosure.created details %v do not name the verified channel", e.Details)
	}
	var channel *chain.Event
	for _, e := range f.events(t, "auditor", id) {
		if e.Type == chain.RequesterVerified {
			channel = e
		}
	}
	if channel == nil || channel.Details["channel"] != "portal-fr" || channel.Details["method"] != "verified-channel" {
		t.Errorf("requester.verified %+v", channel)
	}
	// Another intake token is no verified channel.
	other := f.createOrder(t, "intake", "LE-PORTAL-2", false)
	f.capture(t, other)
	f.refusedDisclosure(t, "discloser", other, http.StatusConflict, "requester_unverified")
}

func TestEmergencyDisclosureNeedsTwoIdentitiesThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	o := anOrder("LE-URGENT-1", false)
	o["emergency"] = true
	var created struct{ ID string }
	f.must(t, http.StatusCreated, "intake", "POST", "/v1/orders", o).json(t, &created)
	id := created.ID
	f.capture(t, id)
	f.confirmRequester(t, id)
	f.refusedDisclosure(t, "discloser", id, http.StatusConflict, "approval_required")

	approvals := "/v1/orders/" + id + "/disclosure-approvals"
	f.must(t, http.StatusForbidden, "custodian", "POST", approvals, api.ApprovalRequest{})
	f.must(t, http.StatusCreated, "discloser", "POST", approvals, api.ApprovalRequest{Note: "threat to life, per the BKA's call"})
	if code := f.must(t, http.StatusConflict, "discloser", "POST", approvals, api.ApprovalRequest{}).errorCode(t); code != "conflict" {
		t.Errorf("a second approval by the same identity: %s", code)
	}
	// The approver may not disclose on its own approval; another may.
	f.refusedDisclosure(t, "discloser", id, http.StatusConflict, "approval_required")
	e := f.disclosedBy(t, "dora", id)
	if e.Details["approved_by"] != "discloser" || e.Details["approval_event"] == "" {
		t.Errorf("disclosure.created details %v name no approval", e.Details)
	}
	// The approval is used up.
	f.refusedDisclosure(t, "dora", id, http.StatusConflict, "approval_required")
}
