package agent

import "errors"

// The kinds of error a step returns for a request that is merely wrong:
// the same request fails the same way again, and nothing was changed.
// Each is wrapped (%w) where the error is made, so that a caller (the
// API, the CLI) tells them by errors.Is and answers in one place; every
// other error is the agent's own failure.
var (
	// ErrNotFound: the request names something the order does not hold
	// (an item). An unknown order is ErrNoOrder.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request is well made but the order's state does
	// not allow it now (nothing preserved yet to disclose). A lifecycle
	// step its status forbids is order.ErrIllegalTransition.
	ErrConflict = errors.New("conflict with the order's state")
	// ErrInvalid: a parameter of the request is malformed (not a digest,
	// not a data category) or selects nothing.
	ErrInvalid = errors.New("invalid request")
)
