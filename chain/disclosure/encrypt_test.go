package disclosure_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// TestEncryptTheBytesChecked: Encrypt encrypts exactly the archive that
// was checked, into a new private file whose digest it returns; an archive
// changed since it was checked is tampering, and nothing is left.
func TestEncryptTheBytesChecked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	plain := bytes.Repeat([]byte("an archive checked before it is encrypted\n"), 10000)
	src := filepath.Join(dir, "pkg.tar")
	if err := os.WriteFile(src, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(plain)
	id := openX25519(t)

	dst := src + ".age"
	got, err := disclosure.Encrypt(ctx, dst, src, hex.EncodeToString(sum[:]), []age.Recipient{id.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(enc); hex.EncodeToString(s[:]) != got {
		t.Errorf("returned digest %s is not the encrypted file's", got)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("encrypted file: %v %v, want mode 0600", fi, err)
	}
	r, err := age.Decrypt(bytes.NewReader(enc), id)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := io.ReadAll(r); err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("decrypted: %d bytes, %v; want the archive", len(back), err)
	}
	if _, err := disclosure.Encrypt(ctx, dst, src, hex.EncodeToString(sum[:]), []age.Recipient{id.Recipient()}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("over an existing file: %v, want ErrExist", err)
	}

	// Changed after it was checked.
	plain[len(plain)/2] ^= 1
	if err := os.WriteFile(src, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.tar.age")
	_, err = disclosure.Encrypt(ctx, other, src, hex.EncodeToString(sum[:]), []age.Recipient{id.Recipient()})
	if !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("an archive changed since it was checked: %v, want tampering", err)
	}
	if _, err := os.Lstat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("encrypted output left: %v", err)
	}
}
