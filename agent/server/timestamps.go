package server

import (
	"net/http"

	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/chain"
)

// listTimestamps answers with the RFC 3161 tokens the log keeps, each
// checked against the checkpoint it covers, as `custos log show
// --timestamps` lists them. A token that does not cover its checkpoint is
// listed as such (digest_matches false), not refused: the caller reports
// it as tampering.
func (s *Server) listTimestamps(w http.ResponseWriter, _ *http.Request, _ *auth.Identity) error {
	checks, err := chain.CheckKeptTimestamps(s.cfg.Log.FS())
	if err != nil {
		return err
	}
	list := api.TimestampList{Timestamps: make([]api.Timestamp, len(checks))}
	for i, c := range checks {
		list.Timestamps[i] = api.NewTimestamp(c)
	}
	return writeJSON(w, http.StatusOK, list)
}
