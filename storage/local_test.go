package storage_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-evidence/custos/storage"
	"github.com/custos-evidence/custos/storage/storagetest"
)

func TestLocalConformance(t *testing.T) {
	dirs := map[storagetest.Store]string{}
	storagetest.Run(t, storagetest.Backend{
		New: func(t *testing.T, clock func() time.Time) storagetest.Store {
			dir := t.TempDir()
			s, err := storage.NewLocal(dir, clock)
			if err != nil {
				t.Fatal(err)
			}
			dirs[s] = dir
			return s
		},
		Corrupt: func(t *testing.T, s storagetest.Store, key string) {
			p := filepath.Join(dirs[s], "objects", filepath.FromSlash(key))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[0] ^= 1
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// Leftovers of an interrupted write are removed when the store opens.
func TestLocalCleansInterruptedWrites(t *testing.T) {
	dir := t.TempDir()
	if _, err := storage.NewLocal(dir, nil); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, "tmp", "put-123")
	if err := os.WriteFile(left, []byte("half"), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.NewLocal(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("leftover %s still there: %v", left, err)
	}
}
