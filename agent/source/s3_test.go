package source

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Peer is the S3 server of scripts/with-minio.sh (make test runs the
// tests through it); the tests use minio-go directly only to fill the
// source bucket. Without a server they skip, except under CI=true.
func s3Peer(t *testing.T) (*minio.Client, map[string]any) {
	t.Helper()
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Skip("no S3 server: run through scripts/with-minio.sh (make test does)")
	}
	tls := os.Getenv("CUSTOS_TEST_S3_TLS") == "true"
	c, err := minio.New(ep, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"), os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"), ""),
		Secure: tls, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	rand.Read(b)
	bucket := "custos-source-" + hex.EncodeToString(b)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	params := map[string]any{
		"endpoint": ep, "bucket": bucket, "region": "us-east-1", "tls": tls, "path_style": true,
		"access_key": "env:CUSTOS_TEST_S3_ACCESS_KEY", "secret_key": "env:CUSTOS_TEST_S3_SECRET_KEY",
	}
	return c, params
}

func s3Put(t *testing.T, c *minio.Client, bucket, key, content string) minio.UploadInfo {
	t.Helper()
	info, err := c.PutObject(context.Background(), bucket, key, strings.NewReader(content), int64(len(content)),
		minio.PutObjectOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// s3CutOff is a cut-off just after the newest version in the bucket, and
// waits until the clock is past it, so that what is written next is newer.
func s3CutOff(t *testing.T, c *minio.Client, bucket string) time.Time {
	t.Helper()
	var newest time.Time
	for oi := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		if oi.LastModified.After(newest) {
			newest = oi.LastModified
		}
	}
	for !time.Now().After(newest.Add(10 * time.Millisecond)) {
		time.Sleep(time.Millisecond) // waits for the clock, which is what the test is about
	}
	return newest
}

func TestS3Capture(t *testing.T) {
	c, params := s3Peer(t)
	bucket := params["bucket"].(string)
	ctx := context.Background()
	if err := c.EnableVersioning(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	// Before the cut-off.
	a1 := s3Put(t, c, bucket, "mail/alice/a.eml", "From alice, first")
	b1 := s3Put(t, c, bucket, "mail/alice/b.eml", "From alice, b")
	s3Put(t, c, bucket, "mail/alice/folder/", "")
	g1 := s3Put(t, c, bucket, "mail/alice/gone.eml", "deleted before the order")
	if err := c.RemoveObject(ctx, bucket, "mail/alice/gone.eml", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	s3Put(t, c, bucket, "mail/bob/x.eml", "not asked for")
	cutOff := s3CutOff(t, c, bucket)
	// After it: an overwrite, a new object, a deletion.
	a2 := s3Put(t, c, bucket, "mail/alice/a.eml", "From alice, rewritten after the order")
	n1 := s3Put(t, c, bucket, "mail/alice/new.eml", "new after the order")
	if err := c.RemoveObject(ctx, bucket, "mail/alice/b.eml", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	params["prefix"] = "mail/alice/"
	r := req()
	r.CutOff = cutOff

	type want struct{ name, content, version string }
	check := func(t *testing.T, items []got, wants []want) {
		t.Helper()
		if len(items) != len(wants) {
			t.Fatalf("items %v, want %v", names(items), wants)
		}
		for i, w := range wants {
			g := items[i]
			if g.err != nil || g.item.Name != w.name || g.content != w.content || g.item.Record["version_id"] != w.version {
				t.Errorf("item %d: %q %q %v %v, want %+v", i, g.item.Name, g.content, g.item.Record["version_id"], g.err, w)
			}
		}
	}

	items, sum, err := capture(t, mustNew(t, "s3", params), r)
	if err != nil {
		t.Fatal(err)
	}
	check(t, items, []want{{"a.eml", "From alice, first", a1.VersionID}, {"b.eml", "From alice, b", b1.VersionID}})
	wantSum := Summary{"listed": 8, "emitted": 2, "bytes": int64(30), "skipped_newer": 3, "older_versions": 1, "deleted": 1,
		"delete_markers": 0, "folder_markers": 1, "versions": false, "include_newer": false}
	for k, v := range wantSum {
		if sum[k] != v {
			t.Errorf("summary %s = %v, want %v", k, sum[k], v)
		}
	}
	md5a := md5.Sum([]byte("From alice, first"))
	rec := items[0].item.Record
	for k, v := range map[string]any{
		"bucket": bucket, "prefix": "mail/alice/", "key": "mail/alice/a.eml", "etag": hex.EncodeToString(md5a[:]),
		"size": int64(17), "is_latest": false, "content_type": "text/plain", "access_key": "env:CUSTOS_TEST_S3_ACCESS_KEY",
	} {
		if rec[k] != v {
			t.Errorf("record %s = %v, want %v", k, rec[k], v)
		}
	}
	if lm, err := time.Parse(time.RFC3339Nano, rec["last_modified"].(string)); err != nil || lm.After(cutOff) || !items[0].item.Modified.Equal(lm) {
		t.Errorf("last_modified %v (cut-off %v): %v", rec["last_modified"], cutOff, err)
	}
	if js := recordJSON(t, rec); strings.Contains(js, os.Getenv("CUSTOS_TEST_S3_SECRET_KEY")) {
		t.Errorf("the record holds the secret key: %s", js)
	}

	params["versions"] = true
	items, sum, err = capture(t, mustNew(t, "s3", params), r)
	if err != nil {
		t.Fatal(err)
	}
	check(t, items, []want{
		{"a.eml@" + a1.VersionID, "From alice, first", a1.VersionID},
		{"b.eml@" + b1.VersionID, "From alice, b", b1.VersionID},
		{"gone.eml@" + g1.VersionID, "deleted before the order", g1.VersionID},
	})
	if sum["delete_markers"] != 1 || sum["skipped_newer"] != 3 || sum["older_versions"] != 0 {
		t.Errorf("versions: summary %v", sum)
	}

	params["versions"], params["include_newer"] = false, true
	items, sum, err = capture(t, mustNew(t, "s3", params), r)
	if err != nil {
		t.Fatal(err)
	}
	check(t, items, []want{{"a.eml", "From alice, rewritten after the order", a2.VersionID}, {"new.eml", "new after the order", n1.VersionID}})
	if sum["deleted"] != 2 || sum["skipped_newer"] != 0 || sum["older_versions"] != 3 {
		t.Errorf("include_newer: summary %v", sum)
	}
}

// TestS3UnversionedBucket: a bucket that never had versioning lists one
// version per key; the one written after the cut-off is skipped.
func TestS3UnversionedBucket(t *testing.T) {
	c, params := s3Peer(t)
	bucket := params["bucket"].(string)
	s3Put(t, c, bucket, "report.csv", "a,b\n")
	r := req()
	r.CutOff = s3CutOff(t, c, bucket)
	s3Put(t, c, bucket, "later.csv", "c,d\n")
	params["prefix"] = "report.csv"
	items, _, err := capture(t, mustNew(t, "s3", params), r)
	if err != nil || len(items) != 1 || items[0].item.Name != "report.csv" || items[0].content != "a,b\n" {
		t.Fatalf("capture: %v %+v", err, items)
	}
	delete(params, "prefix")
	items, sum, err := capture(t, mustNew(t, "s3", params), r)
	if err != nil || len(items) != 1 || sum["skipped_newer"] != 1 {
		t.Fatalf("capture: %v %v %v", err, names(items), sum)
	}
}

func TestS3RefusesBadParameters(t *testing.T) {
	base := func() map[string]any { return map[string]any{"endpoint": "127.0.0.1:9000", "bucket": "b"} }
	for _, tc := range []struct {
		key  string
		val  any
		want string
	}{
		{"endpoit", "x", `unknown field "endpoit"`},
		{"endpoint", "", "no endpoint"},
		{"endpoint", "https://s3.example", `endpoint "https://s3.example": give host[:port] without a scheme`},
		{"bucket", "", "no bucket"},
		{"access_key", "AKIA", "give both access_key and secret_key, or neither"},
		{"tls", "yes", "tls"},
	} {
		p := base()
		p[tc.key] = tc.val
		_, err := New(Config{Name: "archive", Type: "s3", Params: p})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `source "archive": s3: `) {
			t.Errorf("%s=%v: %v, want %q", tc.key, tc.val, err, tc.want)
		}
	}
	p := base()
	p["access_key"], p["secret_key"] = "env:CUSTOS_TEST_UNSET_KEY", "env:CUSTOS_TEST_UNSET_SECRET"
	if _, _, err := capture(t, mustNew(t, "s3", p), req()); err == nil || !strings.Contains(err.Error(), "environment variable CUSTOS_TEST_UNSET_KEY") {
		t.Errorf("unset credentials: %v", err)
	}
	if _, _, err := capture(t, mustNew(t, "s3", base()), Request{}); err == nil || !strings.Contains(err.Error(), "no cut-off time") {
		t.Errorf("no cut-off: %v", err)
	}
}

// TestSizedBody: an object whose length is not the listed size fails.
func TestSizedBody(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    int64
		err     string
	}{
		{"12345", 5, ""},
		{"1234", 5, "4 bytes read, 5 listed"},
		{"123456", 5, "more than the 5 bytes listed"},
	} {
		b := &sizedBody{r: bytes.NewReader([]byte(tc.content)), what: "s3://b/k", want: tc.want}
		_, err := io.ReadAll(b)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) || b.done != (tc.err == "") {
			t.Errorf("%q of %d: %v", tc.content, tc.want, err)
		}
	}
}
