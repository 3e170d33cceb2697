package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretShape(t *testing.T) {
	if n := secretEncoding.EncodedLen(secretBytes); n != secretTextLen {
		t.Fatalf("secretTextLen = %d, encoding gives %d", secretTextLen, n)
	}
	s, err := newSecret("01JB8Q6W2Y3V5X7Z9A1C3E5G7K")
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != secretLen {
		t.Fatalf("len(%q) = %d, want %d", s, len(s), secretLen)
	}
	if id, ok := secretID(s); !ok || id != "01JB8Q6W2Y3V5X7Z9A1C3E5G7K" {
		t.Fatalf("secretID(%q) = %q, %v", s, id, ok)
	}
	for _, r := range s[idEnd+1:] {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz234567", r) {
			t.Fatalf("secret %q: %q is not lower-case base32", s, r)
		}
	}
}

func TestWriteSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin-token")
	const secret = "custos_01JB8Q6W2Y3V5X7Z9A1C3E5G7K_abc"
	if err := WriteSecretFile(path, secret); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != secret+"\n" {
		t.Errorf("file holds %q", b)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %o, want 600", m)
	}

	err = WriteSecretFile(path, "custos_other")
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("second write: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != secret+"\n" {
		t.Errorf("the file was changed to %q", b)
	}

	for _, bad := range []string{"", "a b", "a\nb"} {
		p := filepath.Join(dir, "bad")
		if err := WriteSecretFile(p, bad); err == nil {
			t.Errorf("WriteSecretFile(%q) succeeded", bad)
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("WriteSecretFile(%q) left a file: %v", bad, err)
		}
	}
}
