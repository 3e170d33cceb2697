package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// Who asked, and who agreed. Preservation never waits for a requester
// check: an order is preserved at once, whoever sent it, since preserving
// releases nothing. A disclosure does: it is refused until the newest
// check of the order's requester (requester.verified or requester.failed)
// confirmed it, unless the order came through an intake channel the
// configuration declares verified, which the agent logs at receipt as a
// requester.verified of method verified-channel. An emergency order's
// disclosure needs, besides, a second identity's approval: an approver
// logs disclosure.approved first, then a different identity discloses,
// and that disclosure uses the approval up. disclosure.created names both
// (chain.Clearance), so the package shows why the data could leave.

var (
	// ErrRequesterUnverified: the order's requester is not confirmed (no
	// check, or the newest one failed), so its data may not be disclosed.
	ErrRequesterUnverified = errors.New("the order's requester is not verified")
	// ErrApprovalRequired: an emergency order's disclosure without an
	// approval by a second, different identity.
	ErrApprovalRequired = errors.New("an emergency disclosure needs a second identity's approval")
)

// maxRequesterNote bounds the note of a requester check or an approval.
const maxRequesterNote = 4096

// RequesterCheck is one check of an order's requester, as the log holds it.
type RequesterCheck struct {
	Confirmed bool   // requester.verified, else requester.failed
	Method    string // chain.RequesterDetails.Method
	Actor     string
	Index     uint64
}

// Approval is one disclosure.approved event not used up yet.
type Approval struct {
	Identity string // who approved, as the four-eyes rule compares them
	Actor    string
	Index    uint64
}

// applyClearance follows the requester checks and approvals of the order.
func (st *OrderState) applyClearance(rec *chain.Record) error {
	e := rec.Event
	switch e.Type {
	case chain.RequesterVerified, chain.RequesterFailed:
		d, err := chain.ReadRequesterDetails(e)
		if err != nil {
			return &chain.TamperError{Index: int64(rec.Index), What: err.Error()}
		}
		st.Requester = &RequesterCheck{Confirmed: e.Type == chain.RequesterVerified, Method: d.Method, Actor: e.Actor, Index: rec.Index}
	case chain.DisclosureApproved:
		d, err := chain.ReadApprovalDetails(e)
		if err != nil {
			return &chain.TamperError{Index: int64(rec.Index), What: err.Error()}
		}
		st.Approvals = append(st.Approvals, Approval{Identity: d.Identity, Actor: e.Actor, Index: rec.Index})
	case chain.DisclosureCreated:
		// Each approval clears one disclosure; a disclosure of an order
		// that needed none uses none up, but a pending one is dropped all
		// the same: an approval is for the disclosure that follows it.
		st.Approvals = nil
	}
	return nil
}

// RequesterVerification is one check of an order's requester, as a person
// records it.
type RequesterVerification struct {
	Method    string // one of chain.RequesterMethods
	Confirmed bool   // the requester is who it claims to be; false: the check failed
	Note      string // what was done: whom was called, on which number
	Actor     string
}

// VerifyRequester logs the check of order id's requester that v describes
// (requester.verified, or requester.failed when it failed). It changes
// nothing else: preservation goes on either way, and the newest check
// decides whether the order may be disclosed. A method not one of
// chain.RequesterMethods or an empty note is refused (ErrInvalid).
func (r *Registry) VerifyRequester(ctx context.Context, id string, v RequesterVerification) (*chain.Record, error) {
	if !slices.Contains(chain.RequesterMethods(), v.Method) {
		return nil, fmt.Errorf("method %q: one of %s: %w", v.Method, strings.Join(chain.RequesterMethods(), ", "), ErrInvalid)
	}
	if err := checkNote(v.Note, true); err != nil {
		return nil, err
	}
	if v.Actor == "" {
		return nil, errors.New("verify requester: no actor")
	}
	view, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	typ := chain.RequesterFailed
	if v.Confirmed {
		typ = chain.RequesterVerified
	}
	return r.Log.Append(ctx, chain.Event{
		Type: typ, Time: r.now(), Order: view.Order.ID, Actor: v.Actor, Agent: r.Agent, Host: r.Host,
		Details: chain.RequesterDetails{Method: v.Method, Note: v.Note}.Put(nil),
	})
}

// VerifiedChannel logs, for order id just received through the intake
// channel channel (a token's or certificate's name) that the
// configuration declares verified, requester.verified of method
// verified-channel naming it, by actor (the receiving identity).
func (r *Registry) VerifiedChannel(ctx context.Context, id, channel, actor string) (*chain.Record, error) {
	view, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.Log.Append(ctx, chain.Event{
		Type: chain.RequesterVerified, Time: r.now(), Order: view.Order.ID, Actor: actor, Agent: r.Agent, Host: r.Host,
		Details: chain.RequesterDetails{
			Method: chain.MethodVerifiedChannel, Channel: channel,
			Note: "received through " + channel + ", an intake channel the configuration declares verified (intake.verified_channels)",
		}.Put(nil),
	})
}

// ApproveDisclosure logs disclosure.approved: identity (as the four-eyes
// rule compares identities: a token's name, the actor in-process)
// approves emergency order id's next disclosure, which another identity
// must make. An order that is not an emergency, one released or purged,
// and a second approval by the same identity while its first is pending
// are refused (ErrConflict), changing nothing.
func (r *Registry) ApproveDisclosure(ctx context.Context, id, identity, actor, note string) (*chain.Record, error) {
	if identity == "" || actor == "" {
		return nil, errors.New("approve disclosure: no identity")
	}
	if err := checkNote(note, false); err != nil {
		return nil, err
	}
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o := v.Order
	switch {
	case !o.IsEmergency():
		return nil, fmt.Errorf("order %s is not an emergency order: its disclosure needs no approval: %w", o.ID, ErrConflict)
	case o.Status == order.StatusReleased || o.Status == order.StatusPurged:
		return nil, fmt.Errorf("order %s is %s: it cannot be disclosed: %w", o.ID, o.Status, ErrConflict)
	}
	for _, a := range v.State.Approvals {
		if a.Identity == identity {
			return nil, fmt.Errorf("order %s: %s already approved its next disclosure (entry %d): a second approval must come from another identity: %w",
				o.ID, identity, a.Index, ErrConflict)
		}
	}
	return r.Log.Append(ctx, chain.Event{
		Type: chain.DisclosureApproved, Time: r.now(), Order: o.ID, Actor: actor, Agent: r.Agent, Host: r.Host,
		Authority: o.LegalBasis, Details: chain.ApprovalDetails{Identity: identity, Note: note}.Put(nil),
	})
}

// clearance checks that order v may be disclosed by identity: its
// requester confirmed and, for an emergency order, an approval by another
// identity pending. It says what cleared it, for disclosure.created.
func clearance(v *OrderView, identity string) (chain.Clearance, error) {
	o, st := v.Order, v.State
	var c chain.Clearance
	switch q := st.Requester; {
	case q == nil:
		return c, fmt.Errorf("order %s: its requester was never verified: record a confirmed check first "+
			"(custos order verify-requester %s --method ... --result confirmed --note ...): %w", o.ID, o.ID, ErrRequesterUnverified)
	case !q.Confirmed:
		return c, fmt.Errorf("order %s: the newest check of its requester failed (entry %d, %s, by %s): %w",
			o.ID, q.Index, q.Method, q.Actor, ErrRequesterUnverified)
	default:
		c.RequesterMethod, c.RequesterEvent = q.Method, q.Index
	}
	if !o.IsEmergency() {
		return c, nil
	}
	for _, a := range st.Approvals {
		if a.Identity != identity {
			c.ApprovedBy, c.ApprovalEvent = a.Identity, a.Index
			return c, nil
		}
	}
	if len(st.Approvals) > 0 {
		return c, fmt.Errorf("order %s is an emergency order approved only by %s, who discloses: another identity must approve (custos disclose %s --approve): %w",
			o.ID, identity, o.ID, ErrApprovalRequired)
	}
	return c, fmt.Errorf("order %s is an emergency order: a second identity must approve its disclosure first (custos disclose %s --approve): %w",
		o.ID, o.ID, ErrApprovalRequired)
}

// checkNote checks a note's size and encoding, and that it is there when
// required.
func checkNote(note string, required bool) error {
	switch {
	case required && strings.TrimSpace(note) == "":
		return fmt.Errorf("note missing: say how the requester was checked: %w", ErrInvalid)
	case len(note) > maxRequesterNote || !utf8.ValidString(note):
		return fmt.Errorf("note: at most %d bytes of UTF-8: %w", maxRequesterNote, ErrInvalid)
	}
	return nil
}
