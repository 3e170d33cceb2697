package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-evidence/custos/storage"
	"github.com/custos-evidence/custos/storage/storagetest"
)

// The S3 tests run against the server named by CUSTOS_TEST_S3_ENDPOINT,
// CUSTOS_TEST_S3_ACCESS_KEY and CUSTOS_TEST_S3_SECRET_KEY, which
// scripts/with-minio.sh starts (make test runs the tests through it).
// Without one they skip, except under CI=true, where they fail.
func s3Options(t testing.TB) storage.S3Options {
	t.Helper()
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Skip("no S3 server: run through scripts/with-minio.sh (make test does)")
	}
	return storage.S3Options{
		Endpoint:  ep,
		AccessKey: os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"),
		Region:    "us-east-1",
		TLS:       os.Getenv("CUSTOS_TEST_S3_TLS") == "true",
		PathStyle: true,
	}
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

var (
	bucketOnce sync.Once
	bucketName string
	bucketErr  error
	prefixes   atomic.Int64
)

// testBucket is one bucket with Object Lock per test process, created
// through InitBucket; each store gets its own prefix in it.
func testBucket(t testing.TB) storage.S3Options {
	t.Helper()
	o := s3Options(t)
	bucketOnce.Do(func() {
		bucketName = randomName("custos-test-")
		o.Bucket = bucketName
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, bucketErr = storage.InitBucket(ctx, o)
	})
	if bucketErr != nil {
		t.Fatal(bucketErr)
	}
	o.Bucket = bucketName
	o.Prefix = "t" + strconv.FormatInt(prefixes.Add(1), 10) + "-" + randomName("") + "/"
	return o
}

func newTestS3(t testing.TB, edit func(*storage.S3Options)) (*storage.S3, storage.S3Options) {
	t.Helper()
	o := testBucket(t)
	o.RetryFor = 20 * time.Second
	if edit != nil {
		edit(&o)
	}
	s, err := storage.NewS3(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

// corruptMinIO flips a byte of content where MinIO keeps it on disk: small
// objects inline in xl.meta, larger ones in part files.
func corruptMinIO(t *testing.T, o storage.S3Options, key string, content []byte) {
	t.Helper()
	data := os.Getenv("CUSTOS_TEST_S3_DATA_DIR")
	dir := filepath.Join(data, o.Bucket, filepath.FromSlash(o.Prefix+key))
	flipped := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || flipped {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		i := bytes.Index(b, content)
		if i < 0 {
			return nil
		}
		b[i+len(content)/2] ^= 0x20
		flipped = true
		return os.WriteFile(p, b, d.Type().Perm()|0o600)
	})
	if err != nil || !flipped {
		t.Fatalf("could not find the content of %s under %s: %v", key, dir, err)
	}
}

func TestS3Conformance(t *testing.T) {
	opts := map[storagetest.Store]storage.S3Options{}
	var mu sync.Mutex
	b := storagetest.Backend{
		RealTime: true,
		New: func(t *testing.T, _ func() time.Time) storagetest.Store {
			s, o := newTestS3(t, nil)
			mu.Lock()
			opts[s] = o
			mu.Unlock()
			return s
		},
	}
	if os.Getenv("CUSTOS_TEST_S3_DATA_DIR") != "" {
		b.Corrupt = func(t *testing.T, s storagetest.Store, key string, content []byte) {
			mu.Lock()
			o := opts[s]
			mu.Unlock()
			corruptMinIO(t, o, key, content)
		}
	}
	storagetest.Run(t, b)
}
