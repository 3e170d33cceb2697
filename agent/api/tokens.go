package api

import (
	"github.com/custos-evidence/custos/agent/auth"
)

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// CreatedToken is the answer of POST /v1/tokens: the token and its
// secret, given this once (the daemon keeps only its hash). The fields
// are in the order their JSON names sort.
type CreatedToken struct {
	Secret string     `json:"secret"`
	Token  auth.Token `json:"token"`
}
