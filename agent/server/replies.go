package server

import (
	"net/http"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
)

// createReply writes a reply to the order's authority (POST
// /v1/orders/{id}/replies): a confirmation that its data was preserved,
// or Annex III that the provider cannot comply, signed, stored and
// logged as order.replied by the identity that asked. A reply that
// cannot be written (an unknown kind or ground) is 400, one the order's
// state does not allow (nothing sealed, released, purged) is 409, and
// nothing is written.
func (s *Server) createReply(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var b api.ReplyRequest
	if err := decode(r, &b, false); err != nil {
		return err
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	res, err := s.cfg.Registry.Reply(r.Context(), v.Order.ID, agent.ReplyOptions{Kind: b.Kind, Ground: b.Ground, Explanation: b.Explanation, Actor: id.String()})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.NewReply(res))
}
