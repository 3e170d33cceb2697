package server

import (
	"net/http"
	"time"

	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/report"
	"github.com/custos-evidence/custos/chain"
)

// report answers with the transparency report of the orders received in
// [?from=, ?to=) (RFC 3339), computed from the custody log up to the
// checkpoint it publishes now, which it names. The writer verifies the
// log as it goes (a tampered log makes every route 503 first).
func (s *Server) report(w http.ResponseWriter, r *http.Request, _ *auth.Identity) error {
	var p report.Period
	for _, q := range []struct {
		name string
		t    *time.Time
	}{{"from", &p.From}, {"to", &p.To}} {
		v := r.URL.Query().Get(q.name)
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return badRequest("%s %q: not an RFC 3339 time", q.name, v)
		}
		*q.t = t
	}
	if !p.From.Before(p.To) {
		return badRequest("from %s is not before to %s", p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	cp, err := s.cfg.Log.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	rep, err := report.Build(r.Context(), chain.Entries(r.Context(), s.cfg.Log.FS(), 0, cp.Size), p)
	if err != nil {
		return err
	}
	rep.Origin, rep.CheckpointRoot = cp.Origin, cp.Hash
	return writeJSON(w, http.StatusOK, rep)
}
