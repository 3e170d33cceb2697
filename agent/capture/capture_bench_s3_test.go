package capture

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	// minio-go only as a baseline and to empty the benchmark's bucket:
	// test files may use it (depguard and cmd/custos/arch_test.go).
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/custos-evidence/custos/storage"
)

var (
	benchBucketOnce sync.Once
	benchBucket     string
	benchBucketErr  error
)

// benchS3Options are the store options of the S3 server that
// scripts/with-minio.sh names (make bench runs these benchmarks through
// it), with the store's default part size and concurrency, in a bucket
// with Object Lock made once per test process, under a new prefix. Without
// a server the benchmark skips, except under CI=true, where it fails.
func benchS3Options(b *testing.B) storage.S3Options {
	b.Helper()
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			b.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the benchmarks through scripts/with-minio.sh (make bench does)")
		}
		b.Skip("no S3 server: run through scripts/with-minio.sh (make bench does)")
	}
	o := storage.S3Options{
		Endpoint: ep, AccessKey: os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"),
		Region: "us-east-1", TLS: os.Getenv("CUSTOS_TEST_S3_TLS") == "true", PathStyle: true,
	}
	benchBucketOnce.Do(func() {
		o.Bucket = "custos-bench-" + benchHex(6)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, benchBucketErr = storage.InitBucket(ctx, o)
		benchBucket = o.Bucket
	})
	if benchBucketErr != nil {
		b.Fatal(benchBucketErr)
	}
	o.Bucket, o.Prefix = benchBucket, "b-"+benchHex(6)+"/"
	return o
}

func benchHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

// newBenchS3 is an S3 store under a new prefix, and the func that removes
// every version of every object under it.
func newBenchS3(b *testing.B) (*storage.S3, func()) {
	b.Helper()
	o := benchS3Options(b)
	s, err := storage.NewS3(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	return s, func() { removePrefix(b, o) }
}

func bareS3(b *testing.B, o storage.S3Options) *minio.Client {
	b.Helper()
	c, err := minio.New(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS, Region: o.Region})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// removePrefix removes every version of every object under o.Prefix.
func removePrefix(b *testing.B, o storage.S3Options) {
	b.Helper()
	ctx := context.Background()
	c := bareS3(b, o)
	for v := range c.ListObjects(ctx, o.Bucket, minio.ListObjectsOptions{Prefix: o.Prefix, Recursive: true, WithVersions: true}) {
		if v.Err != nil {
			b.Fatal(v.Err)
		}
		if err := c.RemoveObject(ctx, o.Bucket, v.Key, minio.RemoveObjectOptions{VersionID: v.VersionID}); err != nil {
			b.Fatal(err)
		}
	}
}

// barePutOptions: the baseline put sends no checksum and no payload hash
// (UNSIGNED-PAYLOAD, as the store's parts do), with the store's default
// part size and concurrency (as storage's BenchmarkS3Put1GiB).
func barePutOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{PartSize: storage.DefaultPartSize, NumThreads: 1, DisableContentSha256: true, ContentType: "application/octet-stream"}
}

// barePut is a timed bare minio-go PutObject of path.
func barePut(b *testing.B, path string) benchRun {
	return func(int) (func(), func()) {
		o := benchS3Options(b)
		c := bareS3(b, o)
		return func() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if _, err := c.PutObject(context.Background(), o.Bucket, o.Prefix+"bare", f, bigSize, barePutOptions()); err != nil {
				b.Fatal(err)
			}
		}, func() { removePrefix(b, o) }
	}
}

// rcloneCopy is a timed `rclone copyto` of path to the same server, with
// the store's part size and concurrency; nil when rclone is not installed
// (scripts/with-rclone.sh, which make bench runs, installs Debian's).
// rcloneCopyDir is a baseline of BenchmarkCaptureSmall: `rclone copy` of
// the directory with as many transfers as the capture has workers; nil
// when rclone is not installed.
func rcloneCopyDir(b *testing.B, in benchFiles, dir string) benchRun {
	return rcloneRun(b, in, "copy", dir, "--transfers", strconv.Itoa(smallWorkers), "--checkers", strconv.Itoa(smallWorkers))
}

func rcloneCopy(b *testing.B, in benchFiles, path string) benchRun {
	return rcloneRun(b, in, "copyto", path, "--s3-chunk-size", fmt.Sprintf("%dM", storage.DefaultPartSize>>20), "--s3-upload-concurrency", "1")
}

// rcloneRun runs `rclone verb from bench:<bucket>/<prefix>rclone flags...`
// against the benchmarks' S3 server; nil when rclone is not installed.
func rcloneRun(b *testing.B, in benchFiles, verb, from string, flags ...string) benchRun {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		return nil
	}
	return func(int) (func(), func()) {
		o := benchS3Options(b)
		scheme := "http://"
		if o.TLS {
			scheme = "https://"
		}
		dir, cleanup := benchScratch(b, in, "rclone")
		conf := filepath.Join(dir, "rclone.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("[bench]\ntype = s3\nprovider = Minio\nendpoint = %s%s\naccess_key_id = %s\nsecret_access_key = %s\nregion = %s\n",
			scheme, o.Endpoint, o.AccessKey, o.SecretKey, o.Region)), 0o600); err != nil {
			b.Fatal(err)
		}
		args := append([]string{"--config", conf, verb, from, "bench:" + o.Bucket + "/" + o.Prefix + "rclone", "--s3-no-check-bucket"}, flags...)
		cmd := exec.Command(bin, args...)
		// Debian's rclone (1.60) fails on AWS_CA_BUNDLE ("unsupported
		// transport"); its own flag takes the same file.
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") })
		if ca := os.Getenv("AWS_CA_BUNDLE"); ca != "" {
			cmd.Args = append(cmd.Args, "--ca-cert", ca)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		return func() {
				if err := cmd.Run(); err != nil {
					b.Fatalf("%s: %v\n%s", cmd, err, out.Bytes())
				}
			}, func() {
				removePrefix(b, o)
				cleanup()
			}
	}
}

// BenchmarkCaptureS31GiB captures one 1 GiB file (file source) into a new
// prefix of the S3 store with its default part size (16 MiB) and
// concurrency (1), end to end: hashing, staging upload, server-side copy
// to the item's key, metadata, attestation, custody log. The target's
// baseline is a bare minio-go PutObject of the file to the same server
// with the same part size and concurrency; `rclone copyto` with the same
// settings is timed too when rclone is installed.
func BenchmarkCaptureS31GiB(b *testing.B) {
	benchS3Options(b) // skips without a server
	in := benchInputsOf(b)
	var appends []int64
	capture := captureInto(b, in, func(string) (Store, func()) { return newBenchS3(b) }, "file", in.big, 1, &appends)
	runs := []benchRun{capture, barePut(b, in.big)}
	rclone := rcloneCopy(b, in, in.big)
	if rclone != nil {
		runs = append(runs, rclone)
	}
	t := rotate(b, runs...)
	mc, mb := benchMedian(t[0]), benchMedian(t[1])
	ratio := mc.Seconds() / mb.Seconds()
	b.ReportMetric(ratio, "x-bare-minio-go")
	b.ReportMetric(mbps(mc), "MB/s")
	line := fmt.Sprintf("capture of 1 GiB into S3 (%d MiB parts, concurrency 1): median %v (%.0f MB/s) of %d; bare minio-go PutObject %v (%.0f MB/s); ratio %.2fx (target <= %.1fx: %s)",
		storage.DefaultPartSize>>20, roundMS(mc), mbps(mc), len(t[0]), roundMS(mb), mbps(mb), ratio, targetS3Capture, benchVerdict(ratio <= targetS3Capture))
	if rclone != nil {
		mr := benchMedian(t[2])
		b.ReportMetric(mc.Seconds()/mr.Seconds(), "x-rclone")
		line += fmt.Sprintf("; rclone copyto %v (%.0f MB/s), ratio %.2fx", roundMS(mr), mbps(mr), mc.Seconds()/mr.Seconds())
	} else {
		line += "; rclone is not installed (scripts/with-rclone.sh installs it): no ratio against rclone copyto"
	}
	b.Log(line)
}
