package server

import (
	"net/http"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/order"
)

// reviewOrder records the enforcing authority's answer to a production
// order (POST /v1/orders/{id}/review) and answers with the order as it
// became, as `custos order review --output json` prints it.
func (s *Server) reviewOrder(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var b api.ReviewRequest
	if err := decode(r, &b, false); err != nil {
		return err
	}
	switch {
	case b.Outcome != string(order.ReviewConfirmed) && b.Outcome != string(order.ReviewObjected):
		return badRequest("outcome: %q is not confirmed or objected", b.Outcome)
	case b.Basis == "":
		return badRequest("basis is required (the enforcing authority's message)")
	}
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	n, err := s.cfg.Registry.Review(r.Context(), v.Order.ID, order.ReviewOutcome(b.Outcome), b.Basis, id.String())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.NewStepResult(n, nil))
}
