package mirror_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-evidence/custos/storage"
)

// newS3Store is a fresh bucket with Object Lock on the S3 server that
// scripts/with-minio.sh names (make test runs the tests through it).
// Without one the test skips, except under CI=true, where it fails.
func newS3Store(t *testing.T) *storage.S3 {
	t.Helper()
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Skip("no S3 server: run through scripts/with-minio.sh (make test does)")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	o := storage.S3Options{
		Endpoint: ep, AccessKey: os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"),
		Region: "us-east-1", TLS: os.Getenv("CUSTOS_TEST_S3_TLS") == "true", PathStyle: true,
		Bucket: "custos-mirror-" + hex.EncodeToString(b), RetryFor: 20 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := storage.InitBucket(ctx, o); err != nil {
		t.Fatal(err)
	}
	s, err := storage.NewS3(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMirrorS3 runs the mirror against a real S3 store with Object Lock:
// sync, a refused rollback, a restore, and a divergence named as such.
func TestMirrorS3(t *testing.T) {
	ctx := context.Background()
	s3 := newS3Store(t)
	f := newFixture(t)
	f.mirror = f.newMirror(t, s3)
	appendNotesEvery(t, f.dir, f.signer, 12, 5, "early")
	f.sync(t)
	if rep := f.sync(t); rep.Checkpoints != 0 {
		t.Fatalf("a second sync with nothing new copied %+v", rep)
	}
	old := filepath.Join(t.TempDir(), "old")
	copyDir(t, f.dir, old)
	f.check(t)
	appendNotes(t, f.dir, f.signer, 3, "late")
	f.sync(t)
	want := entries(t, f.dir)

	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, old, f.dir)
	_, err := f.mirror.Check(ctx)
	mustTamper(t, err, "log/checkpoints/16: local log (size 13) does not extend the mirrored checkpoint of size 16")
	res, err := f.mirror.Restore(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, f.dir); res.MovedAside == "" || !slicesEqual(got, want) {
		t.Fatalf("restored %d entries (moved aside: %q), want the %d mirrored", len(got), res.MovedAside, len(want))
	}
	f.check(t)

	// Another writer put something else where the next entry goes.
	junk := []byte("not an entry bundle")
	sum := sha256.Sum256(junk)
	if _, err := s3.Put(ctx, "log/tile/entries/000.p/17", bytes.NewReader(junk), storage.PutOptions{SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	appendNotes(t, f.dir, f.signer, 1, "diverging")
	_, err = f.mirror.Sync(ctx)
	mustTamper(t, err, "log/tile/entries/000.p/17: the store holds a different object under this key: the mirror and the local log have diverged")
	if !errors.Is(err, storage.ErrExist) {
		t.Fatalf("divergence = %v, want the store's ErrExist too", err)
	}
}
