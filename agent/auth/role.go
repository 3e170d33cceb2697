package auth

import (
	"fmt"
	"strings"
)

// Role is what a caller may do. Roles do not nest: each admits its own
// routes only, and reads what its job needs (the README's table "Who may
// do what" lists each route's roles).
type Role string

// The roles.
const (
	// Intake receives orders; it reads none back.
	Intake Role = "intake"
	// Custodian captures, extends, holds, releases and purges orders,
	// runs fixity checks and records checks of an order's requester; it
	// reads orders, their items and jobs.
	Custodian Role = "custodian"
	// Discloser builds disclosures and approves an emergency order's
	// next one, which another discloser identity must then build; it
	// reads orders and their items.
	Discloser Role = "discloser"
	// Auditor reads orders, jobs and the custody log (events,
	// checkpoints, proofs), but no captured content. It is the only role
	// that reads the log.
	Auditor Role = "auditor"
	// Admin manages tokens.
	Admin Role = "admin"
)

// Roles returns every role, in the order they are declared.
func Roles() []Role {
	return []Role{Intake, Custodian, Discloser, Auditor, Admin}
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	switch r {
	case Intake, Custodian, Discloser, Auditor, Admin:
		return true
	}
	return false
}

// ParseRole returns the role named s. Names are matched exactly (lower
// case); the error for anything else lists the valid roles.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return "", roleError(s)
}

func roleError(s string) error {
	names := make([]string, 0, 5)
	for _, r := range Roles() {
		names = append(names, string(r))
	}
	return fmt.Errorf("unknown role %q: the roles are %s", s, strings.Join(names, ", "))
}

// HasRole reports whether id is not nil and acts as one of roles.
func HasRole(id *Identity, roles ...Role) bool {
	if id == nil {
		return false
	}
	for _, r := range roles {
		if id.Role == r {
			return true
		}
	}
	return false
}
