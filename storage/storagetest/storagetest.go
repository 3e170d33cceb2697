// Package storagetest is the conformance suite every evidence store runs:
// the same tests against the local store and, with the S3 store, against a
// real MinIO server.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/custos-evidence/custos/storage"
)

// Store is the contract under test.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	Stat(ctx context.Context, key string) (*storage.ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error]
	ExtendRetention(ctx context.Context, key string, until time.Time) error
	SetLegalHold(ctx context.Context, key string, on bool) error
	Delete(ctx context.Context, key string) error
	Sync(ctx context.Context) error
}

// Backend makes a fresh, empty store for one test. The store reads time
// from clock, unless RealTime is set: then the store keeps the server's
// time, and the suite uses retention periods of seconds and waits them out.
// Corrupt flips one byte of the stored content of key (which is content),
// behind the store's back, as a failing disk or an intruder would; nil
// skips that test.
type Backend struct {
	New      func(t *testing.T, clock func() time.Time) Store
	Corrupt  func(t *testing.T, s Store, key string, content []byte)
	RealTime bool
}

// Clock is a settable clock for retention tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	newStore := func(t *testing.T) (Store, *Clock) {
		c := &Clock{now: time.Now().UTC()}
		if b.RealTime {
			return b.New(t, time.Now), c
		}
		return b.New(t, c.Now), c
	}
	// unit is how long "an hour" of retention lasts; wait lets it pass.
	unit := time.Hour
	if b.RealTime {
		unit = time.Second
	}
	wait := func(c *Clock, d time.Duration) {
		if b.RealTime {
			time.Sleep(d)
			return
		}
		c.Advance(d)
	}
	ctx := context.Background()
	content := []byte("preserved evidence\n")
	sum := digest(content)

	t.Run("WriteOnceAndIdenticalReput", func(t *testing.T) {
		s, _ := newStore(t)
		info, err := s.Put(ctx, "orders/a/items/x", bytes.NewReader(content), storage.PutOptions{SHA256: sum})
		if err != nil {
			t.Fatal(err)
		}
		if info.SHA256 != sum || info.Size != int64(len(content)) {
			t.Fatalf("put returned %+v", info)
		}
		if _, err := s.Put(ctx, "orders/a/items/x", bytes.NewReader(content), storage.PutOptions{SHA256: sum}); err != nil {
			t.Fatalf("identical re-put: %v", err)
		}
		other := []byte("something else")
		_, err = s.Put(ctx, "orders/a/items/x", bytes.NewReader(other), storage.PutOptions{SHA256: digest(other)})
		if !errors.Is(err, storage.ErrExist) {
			t.Fatalf("different re-put: %v, want ErrExist", err)
		}
		mustRead(t, s, "orders/a/items/x", content)
	})

	t.Run("DeferredPutsAreReadableAndSync", func(t *testing.T) {
		s, _ := newStore(t)
		var keys []string
		for i := range 20 {
			b := []byte(fmt.Sprintf("item %d of a batch\n", i))
			key := fmt.Sprintf("orders/a/items/%s", digest(b))
			keys = append(keys, key)
			info, err := s.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{SHA256: digest(b), RetainUntil: time.Now().Add(unit), Deferred: true})
			if err != nil {
				t.Fatal(err)
			}
			if info.SHA256 != digest(b) || info.Size != int64(len(b)) {
				t.Fatalf("deferred put returned %+v", info)
			}
			mustRead(t, s, key, b) // readable before Sync
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		for i, key := range keys {
			mustRead(t, s, key, []byte(fmt.Sprintf("item %d of a batch\n", i)))
			if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrRetention) {
				t.Fatalf("delete of a retained deferred put: %v, want ErrRetention", err)
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Sync(cctx); err == nil {
			t.Fatal("Sync with an ended context succeeded")
		}
	})

	t.Run("DigestMismatchStoresNothing", func(t *testing.T) {
		s, _ := newStore(t)
		_, err := s.Put(ctx, "k", bytes.NewReader(content), storage.PutOptions{SHA256: digest([]byte("other"))})
		if !errors.Is(err, storage.ErrPrecondition) {
			t.Fatalf("put with a wrong digest: %v, want ErrPrecondition", err)
		}
		if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("stat after refused put: %v", err)
		}
	})

	t.Run("RehashOnReadDetectsTampering", func(t *testing.T) {
		s, _ := newStore(t)
		if b.Corrupt == nil {
			t.Skip("this backend cannot reach its stored bytes")
		}
		if _, err := s.Put(ctx, "k", bytes.NewReader(content), storage.PutOptions{SHA256: sum}); err != nil {
			t.Fatal(err)
		}
		b.Corrupt(t, s, "k", content)
		r, _, err := s.Get(ctx, "k")
		if err == nil {
			_, err = io.ReadAll(r)
			r.Close()
		}
		if !errors.Is(err, storage.ErrTamper) {
			t.Fatalf("read of a corrupted object: %v, want ErrTamper", err)
		}
	})

	t.Run("RetentionExtendsOnly", func(t *testing.T) {
		s, clock := newStore(t)
		// Whole seconds: S3 keeps retention dates to the second.
		until := time.Now().Add(2 * unit).Truncate(time.Second)
		if !b.RealTime {
			until = clock.Now().Add(48 * unit).Truncate(time.Second)
		}
		if _, err := s.Put(ctx, "k", bytes.NewReader(content), storage.PutOptions{SHA256: sum, RetainUntil: until}); err != nil {
			t.Fatal(err)
		}
		if info, err := s.Stat(ctx, "k"); err != nil || !info.RetainUntil.Equal(until) {
			t.Fatalf("stat after put: %+v %v, want retention until %s", info, err, until)
		}
		if err := s.ExtendRetention(ctx, "k", until.Add(-unit)); !errors.Is(err, storage.ErrRetention) {
			t.Fatalf("shortening retention: %v, want ErrRetention", err)
		}
		later := until.Add(2 * unit)
		if err := s.ExtendRetention(ctx, "k", later); err != nil {
			t.Fatal(err)
		}
		info, err := s.Stat(ctx, "k")
		if err != nil || !info.RetainUntil.Equal(later) {
			t.Fatalf("stat after extension: %+v %v", info, err)
		}
		if err := s.Delete(ctx, "k"); !errors.Is(err, storage.ErrRetention) {
			t.Fatalf("delete under retention: %v, want ErrRetention", err)
		}
		wait(clock, time.Until(later)+unit)
		if !b.RealTime {
			wait(clock, 80*unit)
		}
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatalf("delete after retention: %v", err)
		}
		if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("stat after delete: %v", err)
		}
	})

	t.Run("RetentionInThePastRefused", func(t *testing.T) {
		s, clock := newStore(t)
		_, err := s.Put(ctx, "k", bytes.NewReader(content), storage.PutOptions{SHA256: sum, RetainUntil: clock.Now().Add(-unit)})
		if !errors.Is(err, storage.ErrRetention) {
			t.Fatalf("put with a past retention date: %v", err)
		}
		if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("stat after refused put: %v", err)
		}
	})

	t.Run("LegalHold", func(t *testing.T) {
		s, _ := newStore(t)
		if _, err := s.Put(ctx, "k", bytes.NewReader(content), storage.PutOptions{SHA256: sum, LegalHold: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "k"); !errors.Is(err, storage.ErrRetention) {
			t.Fatalf("delete under legal hold: %v, want ErrRetention", err)
		}
		if err := s.SetLegalHold(ctx, "k", false); err != nil {
			t.Fatal(err)
		}
		if info, err := s.Stat(ctx, "k"); err != nil || info.LegalHold {
			t.Fatalf("stat after clearing the hold: %+v %v", info, err)
		}
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatalf("delete after the hold: %v", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		s, _ := newStore(t)
		for _, k := range []string{"orders/a/items/1", "orders/a/items/2", "orders/b/items/1", "log/checkpoint"} {
			if _, err := s.Put(ctx, k, bytes.NewReader(content), storage.PutOptions{SHA256: sum}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for info, err := range s.List(ctx, "orders/a/") {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, info.Key)
		}
		if len(got) != 2 || got[0] != "orders/a/items/1" || got[1] != "orders/a/items/2" {
			t.Fatalf("list orders/a/ = %v", got)
		}
		for prefix, want := range map[string]int{"": 4, "orders/": 3, "orders/a": 2, "orders/b/items/1": 1, "log/": 1, "nothing/": 0, "orders/c/": 0} {
			n := 0
			for _, err := range s.List(ctx, prefix) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != want {
				t.Errorf("list %q: %d objects, want %d", prefix, n, want)
			}
		}
	})

	t.Run("ContextCancellation", func(t *testing.T) {
		s, _ := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Put(cctx, "k", bytes.NewReader(content), storage.PutOptions{SHA256: sum}); !errors.Is(err, context.Canceled) {
			t.Fatalf("put with a cancelled context: %v", err)
		}
		if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("stat after cancelled put: %v", err)
		}
	})

	t.Run("ConcurrentPutsOfOneKey", func(t *testing.T) {
		s, _ := newStore(t)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := content
				if i%2 == 1 {
					body = []byte("a different object")
				}
				_, errs[i] = s.Put(ctx, "k", bytes.NewReader(body), storage.PutOptions{SHA256: digest(body)})
			}()
		}
		wg.Wait()
		info, err := s.Stat(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			body := content
			if i%2 == 1 {
				body = []byte("a different object")
			}
			switch {
			case digest(body) == info.SHA256 && err != nil:
				t.Errorf("put %d of the winning content: %v", i, err)
			case digest(body) != info.SHA256 && !errors.Is(err, storage.ErrExist):
				t.Errorf("put %d of the losing content: %v, want ErrExist", i, err)
			}
		}
	})

	t.Run("SizeBoundaries", func(t *testing.T) {
		// Around the sizes where stores change strategy: empty, the S3
		// store's small read (64 KiB) and its default part size (16 MiB).
		s, _ := newStore(t)
		for _, n := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 16 << 20, 16<<20 + 1} {
			body := make([]byte, n)
			for i := range body {
				body[i] = byte(i*7 + n)
			}
			key := fmt.Sprintf("sizes/%d", n)
			info, err := s.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{SHA256: digest(body)})
			if err != nil {
				t.Fatalf("put of %d bytes: %v", n, err)
			}
			if info.Size != int64(n) {
				t.Fatalf("put of %d bytes returned size %d", n, info.Size)
			}
			mustRead(t, s, key, body)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s, _ := newStore(t)
		for _, k := range []string{"", "/etc/passwd", "../escape", "a/../../b", "a//b", "a/./b", "a\\b", "a/"} {
			if _, err := s.Put(ctx, k, bytes.NewReader(content), storage.PutOptions{SHA256: sum}); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("put %q: %v, want ErrInvalidKey", k, err)
			}
		}
	})
}

func mustRead(t *testing.T, s Store, key string, want []byte) {
	t.Helper()
	r, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("get %s = %q, want %q", key, got, want)
	}
}
