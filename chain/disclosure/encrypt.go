package disclosure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"

	"github.com/custos-evidence/custos/chain"
)

// Encrypt encrypts the package archive src (a .zip or .tar as Write made
// it) with age to recipients into the new file dst, mode 0600, and
// returns the SHA-256 of dst: the digest disclosure.created records of an
// encrypted package. sum is the SHA-256 src had when it was checked (Write
// returns it, Verify checked what it holds): a src that no longer hashes
// to it is tampering, and dst is removed. dst is synced before Encrypt
// returns; on any error it is removed.
//
// A builder that checks its own package before it lets it go writes the
// archive unencrypted, opens and verifies it as an investigator would,
// and only then encrypts those very bytes with Encrypt.
func Encrypt(ctx context.Context, dst, src, sum string, recipients []age.Recipient) (_ string, err error) {
	if len(recipients) == 0 {
		return "", errors.New("encrypt: no recipients")
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	outSum := sha256.New()
	enc, err := age.Encrypt(io.MultiWriter(out, outSum), recipients...)
	if err != nil {
		return "", fmt.Errorf("age: %w", err)
	}
	inSum := sha256.New()
	if _, err := io.Copy(enc, io.TeeReader(&ctxReader{ctx: ctx, r: in}, inSum)); err != nil {
		return "", fmt.Errorf("encrypt %s: %w", src, err)
	}
	if got := hex.EncodeToString(inSum.Sum(nil)); got != sum {
		return "", &chain.TamperError{File: src, Index: chain.NoIndex,
			What: fmt.Sprintf("the package hashes to %s, not to the %s it had when it was checked", got, sum)}
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("age: %w", err)
	}
	if err := out.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(outSum.Sum(nil)), nil
}
