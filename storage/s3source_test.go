package storage_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/custos-evidence/custos/storage"
)

// sourceBucket makes a plain bucket (no Object Lock) through minio-go, as
// a provider's own bucket would be, and returns a client to fill it.
func sourceBucket(t *testing.T, versioned bool) (*minio.Client, storage.S3Options) {
	t.Helper()
	o := s3Options(t)
	o.Bucket = randomName("custos-src-")
	c, err := minio.New(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS, Region: o.Region, TrailingHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.MakeBucket(ctx, o.Bucket, minio.MakeBucketOptions{Region: o.Region}); err != nil {
		t.Fatal(err)
	}
	if versioned {
		if err := c.EnableVersioning(ctx, o.Bucket); err != nil {
			t.Fatal(err)
		}
	}
	return c, o
}

func putSource(t *testing.T, c *minio.Client, bucket, key, content string, opts minio.PutObjectOptions) minio.UploadInfo {
	t.Helper()
	info, err := c.PutObject(context.Background(), bucket, key, strings.NewReader(content), int64(len(content)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestS3SourceVersionsAndOpen(t *testing.T) {
	c, o := sourceBucket(t, true)
	ctx := context.Background()
	v1 := putSource(t, c, o.Bucket, "in/a", "first", minio.PutObjectOptions{})
	v2 := putSource(t, c, o.Bucket, "in/a", "second", minio.PutObjectOptions{Checksum: minio.ChecksumCRC64NVME, ContentType: "text/plain"})
	putSource(t, c, o.Bucket, "out/b", "elsewhere", minio.PutObjectOptions{})
	putSource(t, c, o.Bucket, "in/c", "deleted", minio.PutObjectOptions{})
	if err := c.RemoveObject(ctx, o.Bucket, "in/c", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	src, err := storage.NewS3Source(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for obj, err := range src.Versions(ctx, "in/") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, obj.Key+" "+obj.VersionID+" "+map[bool]string{true: "latest", false: "old"}[obj.IsLatest]+" "+map[bool]string{true: "marker", false: obj.ETag}[obj.DeleteMarker])
	}
	want := []string{"in/a " + v2.VersionID + " latest " + v2.ETag, "in/a " + v1.VersionID + " old " + v1.ETag}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || !strings.HasPrefix(got[2], "in/c ") || !strings.HasSuffix(got[2], " latest marker") || !strings.HasPrefix(got[3], "in/c ") {
		t.Fatalf("versions:\n%s\nwant %s, then in/c's delete marker and its version", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	r, obj, err := src.Open(ctx, "in/a", v1.VersionID, v1.ETag)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(b) != "first" || obj.VersionID != v1.VersionID || obj.Size != 5 {
		t.Errorf("open v1: %q %v %+v", b, err, obj)
	}
	r, obj, err = src.Open(ctx, "in/a", "", v2.ETag)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(r)
	r.Close()
	if err != nil || string(b) != "second" || obj.VersionID != v2.VersionID || obj.ContentType != "text/plain" || obj.Checksums["CRC64NVME"] == "" || obj.ChecksumType != "FULL_OBJECT" {
		t.Errorf("open latest: %q %v %+v", b, err, obj)
	}
	// The latest version is no longer the one listed: refused, not read.
	if _, _, err := src.Open(ctx, "in/a", "", v1.ETag); !errors.Is(err, storage.ErrPrecondition) {
		t.Errorf("open with a stale ETag: %v, want ErrPrecondition", err)
	}
	if _, _, err := src.Open(ctx, "in/nothing", "", ""); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("open a missing key: %v, want ErrNotExist", err)
	}
}

func TestS3SourceUnversionedAndRefusals(t *testing.T) {
	c, o := sourceBucket(t, false)
	ctx := context.Background()
	putSource(t, c, o.Bucket, "k", "v", minio.PutObjectOptions{})
	src, err := storage.NewS3Source(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for obj, err := range src.Versions(ctx, "") {
		if err != nil || obj.Key != "k" || obj.VersionID != "null" || !obj.IsLatest {
			t.Errorf("unversioned listing: %+v %v", obj, err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d versions listed, want 1", n)
	}

	missing := o
	missing.Bucket = randomName("custos-absent-")
	if _, err := storage.NewS3Source(ctx, missing); !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), missing.Bucket) {
		t.Errorf("missing bucket: %v", err)
	}
	prefixed := o
	prefixed.Prefix = "in/"
	if _, err := storage.NewS3Source(ctx, prefixed); err == nil || !strings.Contains(err.Error(), "give the prefix to Versions") {
		t.Errorf("prefix in the options: %v", err)
	}
	locked := o
	locked.RetentionMode = "COMPLIANCE"
	if _, err := storage.NewS3Source(ctx, locked); err == nil || !strings.Contains(err.Error(), "settings of an evidence store") {
		t.Errorf("retention on a source: %v", err)
	}
	wrong := o
	wrong.SecretKey = "not-the-secret"
	if _, err := storage.NewS3Source(ctx, wrong); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("wrong credentials: %v", err)
	}
}
