package server

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
)

// verifyRequester records a check of the order's requester by the
// identity that sends it (requester.verified or requester.failed).
func (s *Server) verifyRequester(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var req api.RequesterRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	var confirmed bool
	switch req.Result {
	case api.ResultConfirmed:
		confirmed = true
	case api.ResultFailed:
	default:
		return badRequest("result %q: confirmed or failed", req.Result)
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	rec, err := s.cfg.Registry.VerifyRequester(r.Context(), v.Order.ID, agent.RequesterVerification{
		Method: req.Method, Confirmed: confirmed, Note: req.Note, Actor: id.String(),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.Event{Index: rec.Index, Event: json.RawMessage(rec.Encoded)})
}

// approveDisclosure records the identity's approval of the emergency
// order's next disclosure (disclosure.approved), which another identity
// must make. Identities are compared by name: two tokens of one name are
// one identity.
func (s *Server) approveDisclosure(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var req api.ApprovalRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	rec, err := s.cfg.Registry.ApproveDisclosure(r.Context(), v.Order.ID, id.Name, id.String(), req.Note)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.Event{Index: rec.Index, Event: json.RawMessage(rec.Encoded)})
}

// verifiedChannel logs, for an order id just received by identity id
// through an intake channel Config.VerifiedChannels declares verified,
// requester.verified of method verified-channel. An order received
// otherwise waits for a person's check. A failure is logged and leaves
// the order as any other: it is received, and its disclosure waits for a
// check.
func (s *Server) verifiedChannel(r *http.Request, oid string, id *auth.Identity) {
	if !slices.Contains(s.cfg.VerifiedChannels, id.Name) {
		return
	}
	if _, err := s.cfg.Registry.VerifiedChannel(r.Context(), oid, id.Name, id.String()); err != nil {
		s.log.Error("order received through a verified channel, which could not be logged: its requester must be checked",
			"order", oid, "channel", id.Name, "error", err)
	}
}
