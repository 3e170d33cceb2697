package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// BenchmarkCLICapture1GiBS3 times `custos capture` of one 1 GiB file into
// MinIO as a user runs it, process start to exit, for an order already
// received, with an encrypted key (its passphrase in the environment);
// beside it in the same run, `rclone copyto` of the same file to the same
// server (the baseline: the capture must be faster) and a bare
// minio-go PutObject (the server's own bound). The file is written in
// CUSTOS_BENCH_DIR (default: the temporary directory, which must be a disk).
func BenchmarkCLICapture1GiBS3(b *testing.B) {
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			b.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the benchmarks through scripts/with-minio.sh (make bench does)")
		}
		b.Skip("no S3 server: run through scripts/with-minio.sh (make bench does)")
	}
	bin := custosBinary(b)
	work, err := os.MkdirTemp(os.Getenv("CUSTOS_BENCH_DIR"), "custos-cli-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(work) })
	big := filepath.Join(work, "big.bin")
	f, err := os.Create(big)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.ReadFrom(io.LimitReader(mrand.NewChaCha8([32]byte{'c', 'l', 'i'}), 1<<30)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	bucket := "custos-cli-bench-" + hex.EncodeToString(rnd)
	key, secret := os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"), os.Getenv("CUSTOS_TEST_S3_SECRET_KEY")
	env := []string{"CUSTOS_DATA_DIR=" + filepath.Join(work, "data"), "CUSTOS_ACTOR=bench@example.net", "CUSTOS_KEY_PASSPHRASE=bench passphrase",
		"CUSTOS_STORE_TYPE=s3", "CUSTOS_STORE_S3_ENDPOINT=" + ep, "CUSTOS_STORE_S3_BUCKET=" + bucket,
		"CUSTOS_STORE_S3_ACCESS_KEY=" + key, "CUSTOS_STORE_S3_SECRET_KEY=" + secret, "CUSTOS_STORE_S3_TLS=false", "CUSTOS_STORE_S3_PATH_STYLE=true"}
	custos := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("custos %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	custos("keys", "generate")
	custos("storage", "init")
	mc, err := minio.New(ep, &minio.Options{Creds: credentials.NewStaticV4(key, secret, "")})
	if err != nil {
		b.Fatal(err)
	}
	rclone, rcloneErr := exec.LookPath("rclone")
	conf := filepath.Join(work, "rclone.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("[bench]\ntype = s3\nprovider = Minio\nendpoint = http://%s\naccess_key_id = %s\nsecret_access_key = %s\nregion = us-east-1\n", ep, key, secret)), 0o600); err != nil {
		b.Fatal(err)
	}
	arms := []struct {
		name string
		prep func(i int) []string // the command to time, or nil for the bare put
		d    []time.Duration
	}{
		{name: "custos capture", prep: func(int) []string {
			id := custos("order", "add", "--reference", "BENCH", "--authority", "Court", "--requesting-state", "US", "--profile", "us-2703f",
				"--legal-basis", "18 U.S.C. 2703(f)", "--selector", "email:a@b.example", "--categories", "content")
			return []string{bin, "capture", "--cut-off", "now", "--source", "file://" + big, id}
		}},
		{name: "bare minio-go PutObject"},
	}
	if rcloneErr == nil {
		arms = append(arms, struct {
			name string
			prep func(i int) []string
			d    []time.Duration
		}{name: "rclone copyto", prep: func(i int) []string {
			return []string{rclone, "--config", conf, "copyto", big, fmt.Sprintf("bench:%s/rclone/%d", bucket, i), "--s3-no-check-bucket",
				"--s3-chunk-size", "16M", "--s3-upload-concurrency", "1"}
		}})
	}
	for i := 0; b.Loop(); i++ {
		for k := range arms {
			a := &arms[(i+k)%len(arms)]
			b.StopTimer()
			var argv []string
			if a.prep != nil {
				argv = a.prep(i)
			}
			b.StartTimer()
			start := time.Now()
			if argv == nil {
				in, err := os.Open(big)
				if err != nil {
					b.Fatal(err)
				}
				_, err = mc.PutObject(context.Background(), bucket, fmt.Sprintf("bare/%d", i), in, 1<<30,
					minio.PutObjectOptions{PartSize: 16 << 20, NumThreads: 1, DisableContentSha256: true})
				in.Close()
				if err != nil {
					b.Fatal(err)
				}
			} else {
				cmd := exec.Command(argv[0], argv[1:]...)
				// Debian's rclone (1.60) fails on AWS_CA_BUNDLE ("unsupported
				// transport"); the server here is plain HTTP, so neither needs it.
				cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") }), env...)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
				}
			}
			a.d = append(a.d, time.Since(start))
		}
	}
	med := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)/2] }
	capture := med(arms[0].d)
	line := fmt.Sprintf("custos capture of 1 GiB into MinIO, the whole command: median %v of %d", capture.Round(time.Millisecond), len(arms[0].d))
	for _, a := range arms[1:] {
		m := med(a.d)
		line += fmt.Sprintf("; %s %v (capture %.2fx its time)", a.name, m.Round(time.Millisecond), capture.Seconds()/m.Seconds())
		if a.name == "rclone copyto" {
			b.ReportMetric(capture.Seconds()/m.Seconds(), "x-rclone")
			line += fmt.Sprintf(" (target: faster than rclone: %s)", map[bool]string{true: "met", false: "NOT met"}[capture < m])
		}
	}
	if rcloneErr != nil {
		line += "; rclone is not installed (scripts/with-rclone.sh installs it): no ratio against rclone copyto"
	}
	b.ReportMetric(capture.Seconds(), "s-capture")
	b.Log(line)
}
