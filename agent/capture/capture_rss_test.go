package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/custos-evidence/custos/storage"
)

// benchCaptureEnv makes the test binary, re-executed, do one capture of
// the 1 GiB file and print its own peak memory (TestMain); its value is
// the JSON of a captureChildArgs.
const benchCaptureEnv = "CUSTOS_BENCH_CAPTURE"

// captureChildArgs: capture File with a log in Dir into a local store in
// Dir, or into S3 when S3 is set; Bare: a bare minio-go PutObject of File
// instead; Idle: nothing (the test binary's floor).
type captureChildArgs struct {
	File, Dir  string
	S3         *childS3
	Bare, Idle bool
	// Mailbox, when set, is a directory of MailboxCount items to capture
	// (dir source) instead of File.
	Mailbox      string
	MailboxCount int
}

// childS3 is what the child needs of S3Options (which has a clock and a
// transport, so is no JSON).
type childS3 struct {
	Endpoint, Region, Bucket, Prefix, AccessKey, SecretKey string
	TLS, PathStyle                                         bool
}

func (c childS3) options() storage.S3Options {
	return storage.S3Options{Endpoint: c.Endpoint, Region: c.Region, Bucket: c.Bucket, Prefix: c.Prefix,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, TLS: c.TLS, PathStyle: c.PathStyle}
}

// benchCaptureChild does what its args say and prints its peak resident
// memory (VmHWM of /proc/self/status, in kB).
func benchCaptureChild(raw string) int {
	if err := captureChild(raw); err != nil {
		fmt.Fprintln(os.Stderr, "capture child:", err)
		return 1
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture child:", err)
		return 1
	}
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Println(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")))
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "capture child: no VmHWM in /proc/self/status")
	return 1
}

func captureChild(raw string) error {
	var a captureChildArgs
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		return err
	}
	ctx := context.Background()
	var store Store
	switch {
	case a.Idle:
		return nil
	case a.Bare:
		o := a.S3.options()
		c, err := minio.New(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS, Region: o.Region})
		if err != nil {
			return err
		}
		f, err := os.Open(a.File)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = c.PutObject(ctx, o.Bucket, o.Prefix+"bare", f, bigSize, barePutOptions())
		return err
	case a.S3 != nil:
		s, err := storage.NewS3(ctx, a.S3.options())
		if err != nil {
			return err
		}
		store = s
	default:
		l, err := storage.NewLocal(filepath.Join(a.Dir, "store"), nil)
		if err != nil {
			return err
		}
		store = l
	}
	c, closeLog, err := benchCapturer(ctx, store, a.Dir)
	if err != nil {
		return err
	}
	if a.Mailbox != "" {
		return errors.Join(captureSource(ctx, c, "dir", a.Mailbox, a.MailboxCount), closeLog())
	}
	return errors.Join(captureSource(ctx, c, "file", a.File, 1), closeLog())
}

// maxRSS runs a capture child and returns its peak resident memory. The
// child reports it itself: its rusage Maxrss would count the parent's
// memory, which Go's fork (a vfork sharing the parent's address space
// until exec) leaves in the child's high-water mark.
func maxRSS(b *testing.B, a captureChildArgs) int64 {
	b.Helper()
	raw, err := json.Marshal(a)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchCaptureEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("capture child %+v: %v", a, err)
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		b.Fatalf("capture child said %q", out)
	}
	return kb << 10
}

// BenchmarkCapturePeakRSS1GiB measures the peak memory (max RSS) of a
// process doing nothing but one capture of the 1 GiB file: into the local
// store, into S3 (default part size and concurrency), and for reference a
// bare minio-go PutObject of the file and the idle test binary; and of
// one capture of the synthetic mailbox into the local store
// (CUSTOS_BENCH_MAILBOX=0 leaves it out).
func BenchmarkCapturePeakRSS1GiB(b *testing.B) {
	in := benchInputsOf(b)
	type rssRun struct {
		name   string
		args   func(dir string) (captureChildArgs, func())
		metric string // reported, with the target, when set
		rss    []int64
	}
	s3 := func(bare bool) func(string) (captureChildArgs, func()) {
		return func(dir string) (captureChildArgs, func()) {
			o := benchS3Options(b)
			c := childS3{Endpoint: o.Endpoint, Region: o.Region, Bucket: o.Bucket, Prefix: o.Prefix, AccessKey: o.AccessKey, SecretKey: o.SecretKey, TLS: o.TLS, PathStyle: o.PathStyle}
			return captureChildArgs{S3: &c, Bare: bare}, func() { removePrefix(b, o) }
		}
	}
	local := func(string) (captureChildArgs, func()) { return captureChildArgs{}, func() {} } // in dir
	runs := []*rssRun{
		{name: "idle test binary", args: func(string) (captureChildArgs, func()) { return captureChildArgs{Idle: true}, func() {} }},
		{name: "capture into the local store", args: local, metric: "MiB-local"},
	}
	if os.Getenv("CUSTOS_BENCH_MAILBOX") != "0" {
		m := mailboxOf(b)
		runs = append(runs, &rssRun{name: fmt.Sprintf("capture of the synthetic mailbox (%d items) into the local store", mailboxCount),
			args: func(string) (captureChildArgs, func()) {
				return captureChildArgs{Mailbox: m.dir, MailboxCount: mailboxCount}, func() {}
			}, metric: "MiB-mailbox"})
	}
	if os.Getenv("CUSTOS_TEST_S3_ENDPOINT") != "" || os.Getenv("CI") == "true" {
		runs = append(runs, &rssRun{name: "capture into S3, 16 MiB parts, concurrency 1", args: s3(false), metric: "MiB-s3"},
			&rssRun{name: "bare minio-go PutObject, same settings", args: s3(true)})
	} else {
		b.Log("no S3 server (run through scripts/with-minio.sh): only the local store is measured")
	}
	for b.Loop() {
		for _, r := range runs {
			b.StopTimer()
			dir, cleanup := benchScratch(b, in, "rss")
			a, remove := r.args(dir)
			a.File, a.Dir = in.big, dir
			b.StartTimer()
			r.rss = append(r.rss, maxRSS(b, a))
			b.StopTimer()
			remove()
			cleanup()
			b.StartTimer()
		}
	}
	for _, r := range runs {
		s := slices.Clone(r.rss)
		slices.Sort(s)
		m := s[len(s)/2]
		line := fmt.Sprintf("peak RSS, %s: median %.1f MiB of %d (all: %v MiB)", r.name, float64(m)/(1<<20), len(s), mibs(s))
		if r.metric != "" {
			line += fmt.Sprintf(" (target <= %d MiB: %s)", targetCaptureRSS>>20, benchVerdict(m <= targetCaptureRSS))
			b.ReportMetric(float64(m)/(1<<20), r.metric)
		}
		b.Log(line)
	}
}

func mibs(v []int64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = strconv.FormatFloat(float64(x)/(1<<20), 'f', 1, 64)
	}
	return out
}
