package api

import (
	"context"
	"net/url"

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

// CreateToken makes a bearer token named name (the name custody events
// record for its requests) with role (POST /v1/tokens, an admin's). Its
// secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, name string, role auth.Role) (*CreatedToken, error) {
	var t CreatedToken
	if err := c.call(ctx, "POST", "/v1/tokens", TokenRequest{Name: name, Role: string(role)}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Tokens lists the tokens, never their secrets (GET /v1/tokens).
func (c *Client) Tokens(ctx context.Context) ([]auth.Token, error) {
	var ts []auth.Token
	if err := c.call(ctx, "GET", "/v1/tokens", nil, &ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// RevokeToken revokes token id (DELETE /v1/tokens/{id}): its requests are
// refused from then on.
func (c *Client) RevokeToken(ctx context.Context, id string) (*auth.Token, error) {
	var t auth.Token
	if err := c.call(ctx, "DELETE", "/v1/tokens/"+url.PathEscape(id), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
