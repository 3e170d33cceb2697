package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/agent/api"
	"github.com/custos-evidence/custos/agent/auth"
	"github.com/custos-evidence/custos/agent/jobs"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// newError is an error with the status and code the API answers with.
func newError(status int, code, format string, args ...any) *api.Error {
	return &api.Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *api.Error {
	return newError(http.StatusBadRequest, "bad_request", format, args...)
}

func notFound(format string, args ...any) *api.Error {
	return newError(http.StatusNotFound, "not_found", format, args...)
}

func unauthenticated(msg string) *api.Error {
	return newError(http.StatusUnauthorized, "unauthenticated", "%s", msg)
}

func forbidden(id *auth.Identity, roles []auth.Role) *api.Error {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return newError(http.StatusForbidden, "forbidden", "%s may not do this: it needs the role %s", id.Name, strings.Join(names, " or "))
}

// classify maps an error of the layers below to the API's answer; it is
// the one place that does. A request that is merely wrong (bad input, a
// name that is not there, a step the order's state forbids) is a 4xx,
// told by the sentinel the layer below wrapped where the error was made,
// and the second result says it is known. What the caller cannot act on
// is a 500 whose message says only that; the log line keeps the detail.
func classify(err error) (*api.Error, bool) {
	var ae *api.Error
	var ve *order.ValidationError
	var fe *order.FormError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.As(err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, "too_large", "the request body is larger than %d bytes", mbe.Limit), true
	case errors.Is(err, chain.ErrLogFailed):
		// A log that failed its verification (it is ErrTamper too): the
		// daemon is unready and refuses every write until it is restored.
		return newError(http.StatusServiceUnavailable, "log_failed", "%s", err), true
	case errors.Is(err, chain.ErrTamper):
		// Before the kinds of bad input: tampering is never answered as
		// the caller's mistake, whatever else the error says.
		return newError(http.StatusInternalServerError, "tamper", "TAMPERING DETECTED: %s", err), true
	case errors.As(err, &fe):
		// Before invalid_order: a form's mapping problems are a
		// ValidationError inside.
		e := newError(http.StatusBadRequest, "invalid_form", "%s", fe.Error())
		for _, p := range fe.Problems() {
			e.Fields = append(e.Fields, api.FieldError{Field: p.Field, Problem: p.Msg})
		}
		return e, true
	case errors.As(err, &ve):
		e := newError(http.StatusBadRequest, "invalid_order", "%s", ve.Error())
		for _, p := range ve.Problems {
			e.Fields = append(e.Fields, api.FieldError{Field: p.Field, Problem: p.Msg})
		}
		return e, true
	case errors.Is(err, agent.ErrNoOrder), errors.Is(err, agent.ErrNotFound), errors.Is(err, jobs.ErrNoJob),
		errors.Is(err, auth.ErrNoToken):
		return notFound("%s", err), true
	case errors.Is(err, agent.ErrInvalid), errors.Is(err, order.ErrInvalidChange):
		return badRequest("%s", err), true
	case errors.Is(err, order.ErrProfileRule):
		return newError(http.StatusUnprocessableEntity, "profile_rule", "%s", err), true
	case errors.Is(err, agent.ErrRequesterUnverified):
		// A disclosure not cleared: who asked is not confirmed yet.
		return newError(http.StatusConflict, "requester_unverified", "%s", err), true
	case errors.Is(err, agent.ErrApprovalRequired):
		return newError(http.StatusConflict, "approval_required", "%s", err), true
	case errors.Is(err, order.ErrIllegalTransition), errors.Is(err, agent.ErrConflict), errors.Is(err, jobs.ErrFinished),
		errors.Is(err, auth.ErrNameTaken):
		return newError(http.StatusConflict, "conflict", "%s", err), true
	case errors.Is(err, storage.ErrUnavailable):
		return newError(http.StatusServiceUnavailable, "unavailable", "the evidence store cannot be reached now; try again"), false
	}
	return newError(http.StatusInternalServerError, "internal", "internal error; the agent's log has the detail"), false
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae, known := classify(err)
	switch {
	case ae.Code == "tamper":
		s.log.Error("tampering detected", "method", r.Method, "route", r.Pattern, "error", err)
	case ae.Code == "log_failed":
		// Logged at Error once, when the verification failed.
		s.log.Warn("refused: the custody log failed verification", "method", r.Method, "route", r.Pattern)
	case !known || ae.Status >= 500:
		s.log.Error("request failed", "method", r.Method, "route", r.Pattern, "error", err)
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="custos"`)
	}
	writeJSONError(w, ae.Status, ae.Code, ae.Message, ae.Fields)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string, fields []api.FieldError) {
	_ = writeJSON(w, status, api.ErrorAnswer{Error: &api.Error{Code: code, Fields: fields, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Neither indented nor HTML-escaped: an event's canonical bytes
	// (json.RawMessage) must go out exactly as they are, and either would
	// rewrite them.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
