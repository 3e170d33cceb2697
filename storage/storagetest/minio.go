package storagetest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/custos-evidence/custos/storage"
)

// MinIO is a private MinIO server process that a fault test may stop and
// start again on the same address and data directory. Tests start one
// with StartMinIO, from the binary CUSTOS_TEST_MINIO_BIN names
// (scripts/with-minio.sh exports it).
type MinIO struct {
	Addr       string // 127.0.0.1:PORT
	User, Pass string
	bin, dir   string
	logPath    string
	cmd        *exec.Cmd
	exited     chan struct{}
}

// MinIOBinary returns CUSTOS_TEST_MINIO_BIN, skipping the test without it
// (failing it under CI=true).
func MinIOBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("CUSTOS_TEST_MINIO_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_MINIO_BIN is not set: run the tests through scripts/with-minio.sh, which builds MinIO (make test does)")
		}
		t.Skip("no MinIO binary to start and kill (CUSTOS_TEST_MINIO_BIN): run through scripts/with-minio.sh")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("CUSTOS_TEST_MINIO_BIN: %v", err)
	}
	return bin
}

// StartMinIO starts a private MinIO on a free port and a new data
// directory; it is killed when the test ends.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tmp := t.TempDir()
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		t.Fatal(err)
	}
	m := &MinIO{
		bin: MinIOBinary(t), dir: filepath.Join(tmp, "disk"), Addr: addr,
		User: "custos-fault", Pass: "pw-" + hex.EncodeToString(pw), logPath: filepath.Join(tmp, "minio.log"),
	}
	m.Start(t)
	t.Cleanup(func() { m.Stop(t, syscall.SIGKILL) })
	return m
}

// Start runs the server and returns once it reports ready.
func (m *MinIO) Start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.Addr, "--console-address", "127.0.0.1:0", m.dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.User, "MINIO_ROOT_PASSWORD="+m.Pass)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(m.exited)

	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get("http://" + m.Addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-m.exited:
			t.Fatalf("MinIO on %s exited before it was ready:\n%s", m.Addr, m.LogTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO on %s not ready after 30 s:\n%s", m.Addr, m.LogTail())
		}
	}
}

// Stop sends sig and waits for the process to end (SIGKILL after 30 s).
func (m *MinIO) Stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("MinIO did not end on %v; killing it", sig)
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// LogTail is the end of the server's log.
func (m *MinIO) LogTail() string {
	b, _ := os.ReadFile(m.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Options are the options of a store in bucket, under prefix, on m.
func (m *MinIO) Options(bucket, prefix string) storage.S3Options {
	return storage.S3Options{
		Endpoint: m.Addr, AccessKey: m.User, SecretKey: m.Pass, Region: "us-east-1", PathStyle: true,
		Bucket: bucket, Prefix: prefix,
	}
}
