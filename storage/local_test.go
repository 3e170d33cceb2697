package storage_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
		Corrupt: func(t *testing.T, s storagetest.Store, key string, _ []byte) {
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

// Stage then Commit stores content under a key derived from its digest in
// one pass; a discarded or refused stage leaves nothing behind.
func TestLocalStageCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := storage.NewLocal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stage(ctx, strings.NewReader("captured once"))
	if err != nil {
		t.Fatal(err)
	}
	key := "orders/01J9Z3K4M5N6P7Q8R9S0T1V2W3/items/" + st.SHA256
	info, err := st.Commit(ctx, key, storage.PutOptions{})
	if err != nil || info.SHA256 != st.SHA256 || info.Size != 13 {
		t.Fatalf("commit: %+v %v", info, err)
	}
	r, _, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != "captured once" {
		t.Fatalf("get %q %v", got, err)
	}
	// A commit whose expected digest differs stores nothing.
	st2, err := s.Stage(ctx, strings.NewReader("other"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Commit(ctx, "k", storage.PutOptions{SHA256: st.SHA256}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("commit with a wrong digest: %v", err)
	}
	st3, err := s.Stage(ctx, strings.NewReader("dropped"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st3.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Fatalf("staging area holds %v", ents)
	}
	if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("stat k: %v", err)
	}
}

// TestLocalForgetsTheLocksOfKeysDone: the table of per-key locks holds
// only keys in use, not every key the store ever wrote (it grew by one
// entry per item of a capture).
func TestLocalForgetsTheLocksOfKeysDone(t *testing.T) {
	ctx := context.Background()
	l, err := storage.NewLocal(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			body := fmt.Sprintf("item %d", i%8) // eight keys, written concurrently
			sum := sha256.Sum256([]byte(body))
			_, err := l.Put(ctx, fmt.Sprintf("k/%d", i%8), strings.NewReader(body), storage.PutOptions{SHA256: hex.EncodeToString(sum[:])})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := storage.HeldLocks(l); n != 0 {
		t.Fatalf("%d keys still have a lock after every put returned", n)
	}
}
