package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

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

// readReply serves a file of one of the order's replies (GET
// /v1/orders/{id}/replies/{name}, name by the reply's number: 1.xml,
// 1.html, 1.dsse.json; the store names the file by the XML's digest,
// which the registry finds in the log), read back through the store and
// checked against the digest its order.replied event names; a file that differs is
// tampering (500, code tamper). It is served as an attachment, as bytes.
func (s *Server) readReply(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	v, err := s.order(r.Context(), r, id)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	num, ext, _ := strings.Cut(name, ".")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || !slices.Contains(agent.ReplyExts(), ext) {
		return badRequest("reply file %q: want N.xml, N.html or N.dsse.json", name)
	}
	b, err := s.cfg.Registry.ReadReply(r.Context(), v.Order.ID, n, ext)
	if err != nil {
		return err
	}
	// Bytes to save, not a page to render on the API's origin.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		s.log.Warn("reply file not sent whole", "order", v.Order.ID, "file", name, "error", err)
	}
	return nil
}
