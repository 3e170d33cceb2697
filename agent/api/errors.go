package api

import (
	"errors"

	"github.com/custos-evidence/custos/chain"
)

// ErrBadRequest is matched by an Error refusing the request as it was
// made (400 Bad Request, 422 Unprocessable Entity): bad input, which
// changed nothing; the same request will be refused again.
var ErrBadRequest = errors.New("the request was refused as made")

// Error is an error answer of the API: its HTTP status, a code a program
// may branch on (bad_request, malformed_json, duplicate_key,
// invalid_order, not_found, conflict, profile_rule, tamper, log_failed,
// unavailable, ...), a message for people, and for an invalid order the
// problem of each field. It is sent as
// {"error": {...}} (ErrorAnswer); the fields are in the order their JSON
// names sort.
type Error struct {
	Status  int          `json:"-"`
	Code    string       `json:"code"`
	Fields  []FieldError `json:"fields,omitempty"`
	Message string       `json:"message"`
}

// FieldError is what is wrong with one field of an invalid order.
type FieldError struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// ErrorAnswer is the body of every error answer.
type ErrorAnswer struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string { return e.Message }

// Is makes an answer of tampering match chain.ErrTamper, as the error
// that caused it did in the daemon (a log that failed its verification,
// code log_failed, matches chain.ErrLogFailed too), and a refusal of the
// request as it was made (400, 422) match ErrBadRequest.
func (e *Error) Is(target error) bool {
	switch target {
	case chain.ErrTamper:
		return e.Code == "tamper" || e.Code == "log_failed"
	case chain.ErrLogFailed:
		return e.Code == "log_failed"
	case ErrBadRequest:
		return e.Status == 400 || e.Status == 422
	}
	return false
}
