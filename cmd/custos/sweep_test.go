package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/storage"
)

// A writer starting on an S3 store sweeps what an earlier writer left
// unfinished there (here: staged content never committed).
func TestWriterSweepsStore(t *testing.T) {
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Skip("no S3 server: run through scripts/with-minio.sh (make test does)")
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	o := storage.S3Options{
		Endpoint: ep, Bucket: "custos-sweep-" + hex.EncodeToString(b), Region: "us-east-1", PathStyle: true,
		AccessKey: os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"),
		TLS: os.Getenv("CUSTOS_TEST_S3_TLS") == "true",
	}
	ctx := context.Background()
	if _, err := storage.InitBucket(ctx, o); err != nil {
		t.Fatal(err)
	}
	s, err := storage.NewS3(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stage(ctx, strings.NewReader("abandoned by a writer that died")); err != nil {
		t.Fatal(err)
	}
	staged := func() int {
		n := 0
		for _, err := range s.List(ctx, ".custos-staging/") {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := staged(); n != 1 {
		t.Fatalf("%d staged objects before the writer starts, want 1", n)
	}

	for k, v := range map[string]string{
		"CUSTOS_DATA_DIR": t.TempDir(), "CUSTOS_KEY_PASSPHRASE": testPassphrase, "CUSTOS_ACTOR": "custodian@example.net",
		"CUSTOS_STORE_TYPE": "s3", "CUSTOS_STORE_S3_ENDPOINT": ep, "CUSTOS_STORE_S3_BUCKET": o.Bucket,
		"CUSTOS_STORE_S3_ACCESS_KEY": o.AccessKey, "CUSTOS_STORE_S3_SECRET_KEY": o.SecretKey,
		"CUSTOS_STORE_S3_TLS":        strconv.FormatBool(o.TLS),
		"CUSTOS_STORE_S3_PATH_STYLE": "true",
	} {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"custos", "keys", "generate"}, &out, &errOut); code != 0 {
		t.Fatalf("keys generate: exit %d: %s", code, errOut.String())
	}
	if code := run(ctx, []string{"custos", "log", "note", "--order", "01JD0000000000000000000000", "order received"}, &out, &errOut); code != 0 {
		t.Fatalf("log note: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "removed unfinished uploads left by an earlier writer") {
		t.Errorf("the writer did not say it swept: %q", errOut.String())
	}
	if n := staged(); n != 0 {
		t.Fatalf("%d staged objects left after a writer started", n)
	}
}
