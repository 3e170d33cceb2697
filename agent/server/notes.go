package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/chain"
)

// maxNote bounds a custody note's text.
const maxNote = 4096

// createNote records a custody.note (what happened outside the agent: a
// paper order received by courier, a call from the authority), by the
// identity that sends it; about an order it may see, or about none.
func (s *Server) createNote(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var req api.NoteRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(req.Note) == "":
		return badRequest("note is required")
	case len(req.Note) > maxNote || !utf8.ValidString(req.Note):
		return badRequest("note: at most %d bytes of UTF-8", maxNote)
	}
	e := chain.Event{Type: chain.CustodyNote, Time: s.cfg.Now().UTC(), Actor: id.String(),
		Agent: s.cfg.Registry.Agent, Host: s.cfg.Registry.Host, Details: map[string]string{"note": req.Note}}
	if req.Order != "" {
		if err := chain.ValidateOrderID(req.Order); err != nil {
			return badRequest("order: %v", err)
		}
		v, err := s.cfg.Registry.Get(r.Context(), req.Order)
		if err != nil {
			return s.hidden(r.Context(), req.Order, err)
		}
		if !visible(v.Order, id) {
			return notFound("order %s: no such order", req.Order)
		}
		e.Order = req.Order
	}
	rec, err := s.cfg.Log.Append(r.Context(), e)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.Event{Index: rec.Index, Event: json.RawMessage(rec.Encoded)})
}
