package server

import (
	_ "embed"
	"net/http"

	"github.com/custos-evidence/custos/agent/auth"
)

// openAPI is the API's OpenAPI 3 document. TestOpenAPIMatchesRoutes keeps
// it true to the routes the server registers.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request, _ *auth.Identity) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(openAPI)
	return err
}
