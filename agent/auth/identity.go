package auth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The values of Identity.Method.
const (
	MethodToken = "token"
	MethodMTLS  = "mtls"
)

// MaxNameLen is the longest name, in characters, that a token or a client
// certificate may have.
const MaxNameLen = 64

// ErrUnauthenticated is every refusal to authenticate: no token, a
// malformed, unknown, wrong or revoked one, an unknown certificate. It is
// returned as it is, never wrapped with the reason, so that a caller cannot
// tell one case from another.
var ErrUnauthenticated = errors.New("unauthenticated")

// Identity is who a request acts as.
type Identity struct {
	// Name is the token's name, or for mTLS the certificate's subject
	// common name.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// TokenID is the token's id; empty for mTLS.
	TokenID string `json:"token_id,omitempty"`
	// Method is MethodToken or MethodMTLS.
	Method string `json:"method"`
}

// String returns the identity as the actor of a custody event:
// "alice (custodian, token 01JB8Q...)" or "ops-box (auditor, mtls)". It
// never holds a secret. A field that would not print cleanly (an Identity
// built by hand rather than by this package) is quoted.
func (i Identity) String() string {
	var b strings.Builder
	b.WriteString(printable(i.Name))
	b.WriteString(" (")
	b.WriteString(printable(string(i.Role)))
	switch i.Method {
	case MethodToken:
		b.WriteString(", token ")
		b.WriteString(printable(i.TokenID))
	case "":
	default:
		b.WriteString(", ")
		b.WriteString(printable(i.Method))
	}
	b.WriteString(")")
	return b.String()
}

// printable returns s, or s quoted when it is empty or holds anything but
// printable characters and plain spaces.
func printable(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// ValidateName checks a token name or a certificate common name: 1 to
// MaxNameLen printable characters (letters, marks, digits, punctuation,
// symbols, the ASCII space), with no space at either end. Names end up in
// logs and custody events, so line breaks, control and formatting
// characters are refused.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q is not valid UTF-8", name)
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Errorf("name is %d characters long; the limit is %d", utf8.RuneCountInString(name), MaxNameLen)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("name %q begins or ends with a space", name)
	case strings.HasPrefix(strings.ToLower(name), "role:"):
		// Orders assign confidential access to role:ROLE; a name that
		// looks like one would be given what the role was.
		return fmt.Errorf("name %q begins with role:, which assignments to a role use", name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("name %q holds %U, which is not a printable character", name, r)
		}
	}
	return nil
}

// IdentityFromCert returns the identity of a client certificate: its
// subject common name, and the role that roles maps it to.
//
// cert must be one that the TLS layer has verified against the configured
// client CA (the first certificate of http.Request.TLS.VerifiedChains[0]);
// IdentityFromCert does not verify it. A certificate whose common name is
// not in roles is ErrUnauthenticated, like an unknown token, not a
// forbidden request: the CA vouches for who the client is, but the client
// is no user of Custos. A common name that roles maps to an invalid role,
// or that is not a valid name, is a configuration error (see
// CheckCertRoles) and returns an error other than ErrUnauthenticated.
func IdentityFromCert(cert *x509.Certificate, roles map[string]Role) (*Identity, error) {
	if cert == nil {
		return nil, ErrUnauthenticated
	}
	cn := cert.Subject.CommonName
	role, ok := roles[cn]
	if cn == "" || !ok {
		return nil, ErrUnauthenticated
	}
	if err := checkCertRole(cn, role); err != nil {
		return nil, err
	}
	return &Identity{Name: cn, Role: role, Method: MethodMTLS}, nil
}

// CheckCertRoles checks a configured map from certificate common names to
// roles, for use when the configuration is loaded.
func CheckCertRoles(roles map[string]Role) error {
	var errs []error
	for _, cn := range slices.Sorted(maps.Keys(roles)) {
		errs = append(errs, checkCertRole(cn, roles[cn]))
	}
	return errors.Join(errs...)
}

func checkCertRole(cn string, role Role) error {
	if err := ValidateName(cn); err != nil {
		return fmt.Errorf("client certificate common name: %w", err)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return fmt.Errorf("client certificate %q: %w", cn, err)
	}
	return nil
}
