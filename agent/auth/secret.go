package auth

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/oklog/ulid/v2"
)

// A secret is secretPrefix, the token id (a ULID), "_", and secretBytes
// random bytes in lower-case base32 without padding.
const (
	secretPrefix  = "custos_"
	secretBytes   = 32
	secretTextLen = (secretBytes*8 + 4) / 5 // 52
	idStart       = len(secretPrefix)
	idEnd         = idStart + ulid.EncodedSize
	secretLen     = idEnd + 1 + secretTextLen // 86
)

var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSecret returns a fresh secret for the token id.
func newSecret(id string) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new token secret: %w", err)
	}
	return secretPrefix + id + "_" + secretEncoding.EncodeToString(b), nil
}

// secretID returns the token id in a secret, or false when the secret does
// not have a secret's shape. It looks at the length and three fixed places
// only, so a huge or hostile input costs nothing.
func secretID(secret string) (string, bool) {
	if len(secret) != secretLen || secret[:idStart] != secretPrefix || secret[idEnd] != '_' {
		return "", false
	}
	return secret[idStart:idEnd], true
}

// WriteSecretFile writes secret, and a newline, to a new file at path with
// mode 0600, and syncs it and its directory. It refuses to replace a file
// that exists (the error matches fs.ErrExist), so a secret handed over
// once is never silently replaced by another. The daemon uses it to hand
// over the first admin token when it starts on an empty data directory;
// whoever reads the file should trim the trailing newline.
func WriteSecretFile(path, secret string) error {
	if secret == "" || strings.IndexFunc(secret, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }) >= 0 {
		return errors.New("write secret file: the secret is empty or holds spaces or unprintable characters")
	}
	if err := datadir.WriteNew(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write secret file %s: %w", path, err)
	}
	return nil
}
