package storage_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/custos-evidence/custos/storage"
	"github.com/custos-evidence/custos/storage/storagetest"
)

// Faults against a real MinIO (issue 3): the server killed during a large
// put and not back within the retry budget, the server down for 3 s, the
// writer killed mid-put. Each test starts a private MinIO from
// CUSTOS_TEST_MINIO_BIN (scripts/with-minio.sh exports it) so that it can
// kill it and start it again on the same port and data directory.

const faultSize = 256 << 20

func observer(t testing.TB, o storage.S3Options) minio.Core {
	t.Helper()
	c, err := minio.NewCore(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS, Region: o.Region})
	if err != nil {
		t.Fatal(err)
	}
	return *c
}

// uploadsOf lists the unfinished multipart uploads of key. MinIO lists
// uploads only for an exact object name (a shorter prefix lists nothing,
// and an empty one only what it remembers since it started), so the test
// asks for the key itself.
func uploadsOf(t testing.TB, o storage.S3Options, key string) []string {
	t.Helper()
	var ids []string
	for up := range observer(t, o).ListIncompleteUploads(context.Background(), o.Bucket, o.Prefix+key, true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		if up.Key == o.Prefix+key {
			ids = append(ids, up.UploadID)
		}
	}
	return ids
}

// waitForParts waits until reached is closed (the put has read up to its
// pause) and the server holds an upload of key with at least one part,
// and returns that upload's id.
func waitForParts(t *testing.T, o storage.S3Options, key string, reached <-chan struct{}, failed <-chan error) string {
	t.Helper()
	select {
	case <-reached:
	case err := <-failed:
		t.Fatalf("put ended before it reached the pause: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("put did not reach the pause in 2 minutes")
	}
	core := observer(t, o)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, id := range uploadsOf(t, o, key) {
			res, err := core.ListObjectParts(context.Background(), o.Bucket, o.Prefix+key, id, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.ObjectParts) > 0 {
				return id
			}
		}
		time.Sleep(20 * time.Millisecond) // polling the server, with a deadline
	}
	t.Fatalf("no upload of %s with a part on the server after a minute", key)
	return ""
}

// genStream is n deterministic pseudo-random bytes (ChaCha8 from seed).
type genStream struct {
	src  *rand.ChaCha8
	left int64
}

func newGen(n int64, seed byte) *genStream {
	var s [32]byte
	s[0] = seed
	return &genStream{src: rand.NewChaCha8(s), left: n}
}

func (g *genStream) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.src.Read(p)
	g.left -= int64(n)
	return n, nil
}

var genSums sync.Map // "n/seed" -> hex SHA-256

// genSHA256 is the SHA-256 of newGen(n, seed), computed once.
func genSHA256(n int64, seed byte) string {
	k := fmt.Sprintf("%d/%d", n, seed)
	if v, ok := genSums.Load(k); ok {
		return v.(string)
	}
	h := sha256.New()
	_, _ = io.Copy(h, newGen(n, seed))
	sum := hex.EncodeToString(h.Sum(nil))
	genSums.Store(k, sum)
	return sum
}

// pausingReader delivers r up to byte at, then closes reached and waits
// until release is closed.
type pausingReader struct {
	r       io.Reader
	at, n   int64
	reached chan struct{}
	release chan struct{}
	paused  bool
}

func pauseAt(r io.Reader, at int64) *pausingReader {
	return &pausingReader{r: r, at: at, reached: make(chan struct{}), release: make(chan struct{})}
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if p.n == p.at && !p.paused {
		p.paused = true
		close(p.reached)
		<-p.release
	}
	if p.n < p.at && int64(len(b)) > p.at-p.n {
		b = b[:p.at-p.n]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

// startPut runs a 256 MiB put of key in the background, paused after
// 64 MiB; the channel receives its result.
func startPut(s *storage.S3, key string, seed byte) (*pausingReader, chan error) {
	r := pauseAt(newGen(faultSize, seed), 64<<20)
	sum := genSHA256(faultSize, seed)
	done := make(chan error, 1)
	go func() {
		info, err := s.Put(context.Background(), key, r, storage.PutOptions{SHA256: sum})
		if err == nil && (info.Size != faultSize || info.SHA256 != sum) {
			err = fmt.Errorf("put returned %+v", info)
		}
		done <- err
	}()
	return r, done
}

// checkSwept: nothing under key, and its one leftover upload (id) is
// removed by the Sweep of a store opened afresh, as on the next start.
func checkSwept(t *testing.T, o storage.S3Options, key, id string) {
	t.Helper()
	ctx := context.Background()
	s, err := storage.NewS3(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("stat after the failed put: %v, want ErrNotExist", err)
	}
	if left := uploadsOf(t, o, key); len(left) != 1 || left[0] != id {
		t.Fatalf("uploads of %s before the sweep: %v, want the interrupted one (%s)", key, left, id)
	}
	n, err := s.Sweep(ctx)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	left := uploadsOf(t, o, key)
	if len(left) != 0 {
		t.Fatalf("sweep removed %d uploads; %v of %s are left", n, left, key)
	}
	if n != 1 {
		t.Fatalf("sweep reports %d uploads removed, want 1", n)
	}
}

// The server dies during a 256 MiB put and stays down longer than the
// retry budget: the put fails with ErrUnavailable, its abort cannot reach
// the server either, and the next start's Sweep removes the upload.
func TestS3FaultServerGoneDuringPut(t *testing.T) {
	m := storagetest.StartMinIO(t)
	o := faultBucket(t, m)
	o.PartSize, o.Concurrency, o.RetryFor = 16<<20, 2, 2*time.Second
	s, err := storage.NewS3(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	const key = "orders/01J9Z3/items/big"
	r, done := startPut(s, key, 1)
	id := waitForParts(t, o, key, r.reached, done)
	m.Stop(t, syscall.SIGKILL)
	close(r.release)
	start := time.Now()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("put still running 2 minutes after its server died (retry budget 2 s)")
	}
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("put to a dead server: %v, want ErrUnavailable", err)
	}
	t.Logf("put gave up %v after the server died: %v", time.Since(start).Round(100*time.Millisecond), err)
	m.Start(t)
	checkSwept(t, o, key, id)
}

// The server is down for 3 s during a 256 MiB put: the put rides it out
// through retries, and the object reads back with its digest.
func TestS3FaultServerBackWithinBudget(t *testing.T) {
	ctx := context.Background()
	m := storagetest.StartMinIO(t)
	o := faultBucket(t, m)
	o.PartSize, o.Concurrency, o.RetryFor = 16<<20, 2, 30*time.Second
	s, err := storage.NewS3(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	const key = "orders/01J9Z3/items/big"
	r, done := startPut(s, key, 2)
	waitForParts(t, o, key, r.reached, done)
	close(r.release) // parts in flight when the server dies
	m.Stop(t, syscall.SIGKILL)
	select {
	case err := <-done:
		t.Fatalf("put ended while its server was down: %v", err)
	case <-time.After(3 * time.Second): // the outage
	}
	m.Start(t)
	if err := <-done; err != nil {
		t.Fatalf("put across a 3 s outage: %v", err)
	}
	rc, info, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	want := genSHA256(faultSize, 2)
	if err != nil || n != faultSize || hex.EncodeToString(h.Sum(nil)) != want || info.SHA256 != want {
		t.Fatalf("read back %d bytes hashing to %x (stored digest %s), %v; want %d bytes, %s", n, h.Sum(nil), info.SHA256, err, faultSize, want)
	}
	if left := uploadsOf(t, o, key); len(left) != 0 {
		t.Fatalf("uploads of %s left after the put completed: %v", key, left)
	}
}

// childS3 is what a child process needs of S3Options (which has a clock
// and a transport, so is no JSON).
type childS3 struct {
	Endpoint, Region, Bucket, Prefix, AccessKey, SecretKey string
	TLS, PathStyle                                         bool
	PartSize                                               int64
	Concurrency                                            int
	RetryFor                                               time.Duration
}

func toChild(o storage.S3Options) childS3 {
	return childS3{
		Endpoint: o.Endpoint, Region: o.Region, Bucket: o.Bucket, Prefix: o.Prefix, AccessKey: o.AccessKey, SecretKey: o.SecretKey,
		TLS: o.TLS, PathStyle: o.PathStyle, PartSize: o.PartSize, Concurrency: o.Concurrency, RetryFor: o.RetryFor,
	}
}

func (c childS3) options() storage.S3Options {
	return storage.S3Options{
		Endpoint: c.Endpoint, Region: c.Region, Bucket: c.Bucket, Prefix: c.Prefix, AccessKey: c.AccessKey, SecretKey: c.SecretKey,
		TLS: c.TLS, PathStyle: c.PathStyle, PartSize: c.PartSize, Concurrency: c.Concurrency, RetryFor: c.RetryFor,
	}
}

// faultWriterArgs are the arguments of the fault-writer child.
type faultWriterArgs struct {
	S3   childS3
	Key  string
	Seed byte
}

// faultWriter is the child of TestS3FaultWriterKilled: it starts a
// 256 MiB put, prints "paused" once the put has read 64 MiB, and waits
// there until it is killed (or its stdin closes: the parent is gone).
func faultWriter(raw []byte) int {
	var a faultWriterArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		fmt.Fprintln(os.Stderr, "fault-writer:", err)
		return 2
	}
	s, err := storage.NewS3(context.Background(), a.S3.options())
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault-writer:", err)
		return 1
	}
	r := pauseAt(newGen(faultSize, a.Seed), 64<<20)
	go func() {
		<-r.reached
		fmt.Println("paused")
	}()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	_, err = s.Put(context.Background(), a.Key, r, storage.PutOptions{SHA256: genSHA256(faultSize, a.Seed)})
	fmt.Fprintln(os.Stderr, "fault-writer: the put ended:", err) // it should have been killed first
	return 1
}

// The writer is killed with SIGKILL mid-put: nothing is visible under the
// key, the upload is left on the server, and the next start sweeps it.
func TestS3FaultWriterKilled(t *testing.T) {
	m := storagetest.StartMinIO(t)
	o := faultBucket(t, m)
	o.PartSize, o.Concurrency = 16<<20, 2
	const key = "orders/01J9Z3/items/big"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = helperEnviron(t, "fault-writer", faultWriterArgs{S3: toChild(o), Key: key, Seed: 3})
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached, failed := make(chan struct{}), make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if line == "paused\n" {
			close(reached)
			return
		}
		failed <- fmt.Errorf("writer said %q, %v", line, err)
	}()
	id := waitForParts(t, o, key, reached, failed)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("writer ended with %v, want killed by SIGKILL", err)
	}
	checkSwept(t, o, key, id)
}

// faultBucket creates a bucket with Object Lock through InitBucket and
// returns the options of a store under a prefix in it.
func faultBucket(t *testing.T, m *storagetest.MinIO) storage.S3Options {
	t.Helper()
	o := m.Options("custos-fault", "evidence/")
	o.RetryFor = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := storage.InitBucket(ctx, o); err != nil {
		t.Fatal(err)
	}
	return o
}
