package storage_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custos-evidence/custos/storage"
)

func TestS3StageCommit(t *testing.T) {
	for _, checksum := range []string{"", "CRC64NVME"} {
		t.Run("checksum"+checksum, func(t *testing.T) { testS3StageCommit(t, checksum) })
	}
}

func testS3StageCommit(t *testing.T, checksum string) {
	ctx := context.Background()
	s, _ := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20; o.Checksum = checksum })
	for _, n := range []int{100, 11 << 20} {
		body, sum := stream(n, byte(n))
		st, err := s.Stage(ctx, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if st.SHA256 != sum || st.Size != int64(n) {
			t.Fatalf("staged %d bytes %s, want %d %s", st.Size, st.SHA256, n, sum)
		}
		key := "orders/o/items/" + sum
		until := time.Now().Add(time.Hour).Truncate(time.Second)
		info, err := st.Commit(ctx, key, storage.PutOptions{RetainUntil: until, LegalHold: true})
		if err != nil {
			t.Fatal(err)
		}
		if info.SHA256 != sum || info.Size != int64(n) || !info.RetainUntil.Equal(until) || !info.LegalHold || info.VersionID == "" || info.Checksum != fullChecksum(checksum, body) {
			t.Fatalf("committed %+v; want the checksum %s", info, fullChecksum(checksum, body))
		}
		mustGet(t, s, key, body)
		if err := s.SetLegalHold(ctx, key, false); err != nil {
			t.Fatal(err)
		}

		// The same content again: success, nothing new.
		st2, err := s.Stage(ctx, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		again, err := st2.Commit(ctx, key, storage.PutOptions{SHA256: sum})
		if err != nil || again.VersionID != info.VersionID {
			t.Fatalf("identical commit: %+v %v, want version %s", again, err, info.VersionID)
		}
	}

	// Different content under a taken key, and a digest that does not match.
	other, _ := stream(50, 1)
	st, err := s.Stage(ctx, bytes.NewReader(other))
	if err != nil {
		t.Fatal(err)
	}
	_, sum := stream(100, 100)
	if _, err := st.Commit(ctx, "orders/o/items/"+sum, storage.PutOptions{}); !errors.Is(err, storage.ErrExist) {
		t.Fatalf("commit over different content: %v, want ErrExist", err)
	}
	st, err = s.Stage(ctx, bytes.NewReader(other))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, "orders/o/items/x", storage.PutOptions{SHA256: sum}); !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("commit with a wrong digest: %v, want ErrPrecondition", err)
	}
	if _, err := s.Stat(ctx, "orders/o/items/x"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("stat after a refused commit: %v", err)
	}

	// Staging copies are gone after commit; a discarded or abandoned one
	// is swept.
	if n := countKeys(t, s, ".custos-staging/"); n != 0 {
		t.Fatalf("%d staging objects left after commits", n)
	}
	if _, err := s.Stage(ctx, bytes.NewReader(other)); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, ".custos-staging/"); n != 1 {
		t.Fatalf("%d staging objects, want the abandoned 1", n)
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, ".custos-staging/"); n != 0 {
		t.Fatalf("%d staging objects left after the sweep", n)
	}
}

func countKeys(t *testing.T, s *storage.S3, prefix string) int {
	t.Helper()
	n := 0
	for _, err := range s.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func mustGet(t *testing.T, s *storage.S3, key string, want []byte) {
	t.Helper()
	r, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("get %s: %d bytes differ from the %d put", key, got.Len(), len(want))
	}
}

// TestS3StageCommitInParts commits staged content too large for one
// CopyObject (over 5 GiB; here the limit is lowered to 5 MiB) as a
// multipart upload of server-side copied parts.
func TestS3StageCommitInParts(t *testing.T) {
	ctx := context.Background()
	storage.SetCopyLimits(t, 5<<20, 5<<20)
	s, o := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20 })
	body, sum := stream(11<<20+7, 3) // three parts: 5 MiB, 5 MiB and the rest
	st, err := s.Stage(ctx, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	key := "orders/o/items/" + sum
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	info, err := st.Commit(ctx, key, storage.PutOptions{RetainUntil: until, LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.SHA256 != sum || info.Size != int64(len(body)) || !info.RetainUntil.Equal(until) || !info.LegalHold ||
		info.VersionID == "" || info.Checksum != fullChecksum("", body)+" (when staged)" || info.PartSize != 5<<20 {
		t.Fatalf("committed %+v; want the checksum %s (when staged)", info, fullChecksum("", body))
	}
	mustGet(t, s, key, body)
	if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrRetention) {
		t.Fatalf("delete under retention: %v", err)
	}
	if n := countKeys(t, s, ".custos-staging/") + countKeys(t, s, ".custos-uploads/"); n != 0 {
		t.Fatalf("%d staging objects or upload markers left", n)
	}
	if left := uploadsOf(t, o, key); len(left) != 0 {
		t.Fatalf("unfinished uploads left: %v", left)
	}

	// Another writer put the key after the commit looked (412 on
	// completion): the same content is success, other content is
	// refused; either way the upload is aborted and its marker removed.
	again, err := storage.CommitInParts(ctx, s, bytes.NewReader(body), key, storage.PutOptions{})
	if err != nil || again.VersionID != info.VersionID {
		t.Fatalf("identical commit meeting the object: %+v %v, want version %s", again, err, info.VersionID)
	}
	other, _ := stream(11<<20, 4)
	if _, err := storage.CommitInParts(ctx, s, bytes.NewReader(other), key, storage.PutOptions{}); !errors.Is(err, storage.ErrExist) {
		t.Fatalf("commit of other content meeting the object: %v, want ErrExist", err)
	}
	if left := uploadsOf(t, o, key); len(left) != 0 {
		t.Fatalf("unfinished uploads left after commits met the object: %v", left)
	}
	if n := countKeys(t, s, ".custos-staging/") + countKeys(t, s, ".custos-uploads/"); n != 0 {
		t.Fatalf("%d staging objects or upload markers left after commits met the object", n)
	}
	mustGet(t, s, key, body)
}
