package server

import (
	"net/http"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
)

// createToken makes a bearer token. The secret is in this answer only:
// the store keeps its hash.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var req api.TokenRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return badRequest("role: %v", err)
	}
	if err := auth.ValidateName(req.Name); err != nil {
		return badRequest("name: %v", err)
	}
	secret, t, err := s.cfg.Tokens.Create(req.Name, role)
	if err != nil {
		return err // a name taken is a conflict (classify); the rest is the store's
	}
	s.log.Info("token created", "token_id", t.ID, "name", t.Name, "role", t.Role, "by", id.String())
	return writeJSON(w, http.StatusCreated, api.CreatedToken{Secret: secret, Token: *t})
}

func (s *Server) listTokens(w http.ResponseWriter, _ *http.Request, _ *auth.Identity) error {
	ts, err := s.cfg.Tokens.List()
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []auth.Token{}
	}
	return writeJSON(w, http.StatusOK, ts)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	t, err := s.cfg.Tokens.Revoke(r.PathValue("id"))
	if err != nil {
		return err
	}
	s.log.Info("token revoked", "token_id", t.ID, "name", t.Name, "by", id.String())
	return writeJSON(w, http.StatusOK, t)
}
