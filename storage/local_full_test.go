package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/custos-evidence/custos/storage"
)

// A put into a full filesystem fails with a clear error and leaves nothing
// half-written: no object, no metadata, no temporary file. The test mounts
// a 1 MiB tmpfs, so it needs root; CI runs as root, and there a failing
// mount fails the test.
func TestLocalFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run as root to mount the small file system this test fills")
		}
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	s, err := storage.NewLocal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("evidence"), 256<<10) // 2 MiB
	sum := sha256.Sum256(big)
	_, err = s.Put(context.Background(), "orders/a/items/big", bytes.NewReader(big), storage.PutOptions{SHA256: hex.EncodeToString(sum[:])})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("put into a full file system: %v, want ENOSPC", err)
	}
	t.Logf("error: %v", err)
	if _, err := s.Stat(context.Background(), "orders/a/items/big"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("stat after the failed put: %v", err)
	}
	for _, sub := range []string{"objects", "meta", "tmp"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Fatalf("%s/ holds %v after the failed put", sub, ents)
		}
	}
	// The store still works for what fits.
	small := []byte("small")
	ss := sha256.Sum256(small)
	if _, err := s.Put(context.Background(), "orders/a/items/small", bytes.NewReader(small), storage.PutOptions{SHA256: hex.EncodeToString(ss[:])}); err != nil {
		t.Fatalf("put after the failure: %v", err)
	}
}
