// Package auth says who a request to the custody daemon's HTTP API acts as.
//
// A caller is either a bearer token or a TLS client certificate, and it has
// exactly one Role. Roles do not nest: an admin manages tokens and nothing
// else, a custodian captures but does not disclose. The HTTP layer decides
// which roles each route admits, with HasRole.
//
// Tokens live in a Store, a small JSON file in the data directory
// (tokens.json). Create returns the secret once; the file keeps only its
// SHA-256, so reading the file does not let anyone act as a token. A secret
// looks like
//
//	custos_01JB8Q6W2Y3V5X7Z9A1C3E5G7K_<52 lower-case base32 characters>
//
// where the middle part is the token id, so Authenticate finds the token
// without trying every hash. Every refusal, whatever its cause, is the one
// error ErrUnauthenticated.
//
// The daemon keeps one Store open while `custos token create` and
// `custos token revoke` change the file from another process. Writers take
// an flock(2) on <file>.lock and replace the file atomically; readers notice
// a replaced file by its size, modification time and inode, so a revoked
// token stops working on the next request.
//
// For mutual TLS, IdentityFromCert maps a verified client certificate's
// subject common name to a role through the configured map.
package auth
