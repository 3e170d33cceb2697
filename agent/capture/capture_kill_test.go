package capture

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
	"github.com/custos-evidence/custos/storage/storagetest"
)

// A capture killed with SIGKILL in the middle of an item (issue 4). A
// child process (this test binary, re-executed) captures a small item and
// then a 256 MiB one into a real log and store, and stops half-way
// through the large item, where the parent kills it. The parent then does
// what a restarted agent does: it reopens the store and the log, takes
// what the log says is preserved, and captures again.

const (
	killChildEnv = "CUSTOS_CAPTURE_KILL_CHILD" // the child's killArgs, as JSON
	killSmall    = "the first item, preserved before the kill\n"
	killBigSize  = 256 << 20
	killBigName  = "big.bin"
)

// killArgs tell the child where to capture.
type killArgs struct {
	Dir    string // data directory: log/, and store/ for the local store
	Bucket string // the S3 bucket; "" means the local store
}

// killSource yields a small item, then killBigSize deterministic
// pseudo-random bytes. With pause set, it calls pause when half of the
// large item has been read, before reading on.
type killSource struct{ pause func() }

func (killSource) Kind() string { return "generated" }

func (s killSource) Capture(_ context.Context, _ source.Request, emit source.Emit) (source.Summary, error) {
	small := &source.Item{Name: "small.txt", MediaType: "text/plain", Record: map[string]any{"seq": 1}}
	if err := emit(small, strings.NewReader(killSmall)); err != nil {
		return source.Summary{"emitted": 1}, err
	}
	big := killBig()
	if s.pause != nil {
		big = &pausingReader{r: big, at: killBigSize / 2, pause: s.pause}
	}
	if err := emit(&source.Item{Name: killBigName, Record: map[string]any{"seq": 2}}, big); err != nil {
		return source.Summary{"emitted": 2}, err
	}
	return source.Summary{"emitted": 2}, nil
}

// killBig is the content of the large item.
func killBig() io.Reader {
	return io.LimitReader(mrand.NewChaCha8([32]byte{'k', 'i', 'l', 'l'}), killBigSize)
}

// killBigDigests hashes killBig once per process.
var killBigDigests = sync.OnceValue(func() Digests {
	h256, h512 := sha256.New(), sha512.New()
	_, _ = io.Copy(io.MultiWriter(h256, h512), killBig())
	return Digests{SHA256: hex.EncodeToString(h256.Sum(nil)), SHA512: hex.EncodeToString(h512.Sum(nil))}
})

// pausingReader passes r through up to byte at, then calls pause once.
type pausingReader struct {
	r     io.Reader
	at, n int64
	pause func()
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if p.n == p.at && p.pause != nil {
		p.pause()
		p.pause = nil
	}
	if left := p.at - p.n; left > 0 && int64(len(b)) > left {
		b = b[:left]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

func killSpec(src source.Source, preserved map[string]bool) Spec {
	sp := spec(src, preserved)
	sp.Legacy = false // MD5 and SHA-1 of 256 MiB twice would only slow the test
	return sp
}

// killStore is what the test uses of either store.
type killStore interface {
	Store
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error]
}

// openKillStore opens the store of a, as the agent does on starting: the
// local store removes the leftovers of interrupted writes when it opens;
// the S3 store is swept (swept: how many leftovers that removed).
func openKillStore(ctx context.Context, a killArgs) (s killStore, swept int, err error) {
	if a.Bucket == "" {
		s, err = storage.NewLocal(filepath.Join(a.Dir, "store"), nil)
		return s, 0, err
	}
	s3, err := storage.NewS3(ctx, killS3Options(a.Bucket))
	if err != nil {
		return nil, 0, err
	}
	swept, err = s3.Sweep(ctx)
	return s3, swept, err
}

// killS3Options are the options of bucket on the S3 server that
// scripts/with-minio.sh names; the child inherits the environment.
// Parts of 16 MiB, two at a time: the kill finds a multipart upload with
// parts on the server.
func killS3Options(bucket string) storage.S3Options {
	return storage.S3Options{
		Endpoint: os.Getenv("CUSTOS_TEST_S3_ENDPOINT"), AccessKey: os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"), TLS: os.Getenv("CUSTOS_TEST_S3_TLS") == "true",
		Region: "us-east-1", PathStyle: true, Bucket: bucket,
		PartSize: 16 << 20, Concurrency: 2, RetryFor: 20 * time.Second,
	}
}

// TestCaptureKillChild is the child of TestCaptureKilledMidItem: it
// captures killSource into the data directory its arguments name, prints
// "half" once half of the large item is read, and waits there until it
// is killed (or its stdin closes: the parent is gone).
func TestCaptureKillChild(t *testing.T) {
	raw := os.Getenv(killChildEnv)
	if raw == "" {
		t.Skip("only run as the child of TestCaptureKilledMidItem")
	}
	var a killArgs
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, _, err := openKillStore(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	signer := testSigner(t, 7)
	// No checkpoint after the first, empty, one: the kill leaves every
	// entry unsealed, and reopening the log has to adopt them.
	l, err := chain.Open(ctx, chain.Config{Dir: filepath.Join(a.Dir, "log"), Origin: testOrigin, Signer: signer,
		CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond, Agent: "agent-1", Actor: "custodian"})
	if err != nil {
		t.Fatal(err)
	}
	c := &Capturer{Store: store, Log: l, Signer: signer, Agent: "agent-1", Host: "host-1"}
	halfway := func() {
		fmt.Println("half")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}
	rep, err := c.Capture(ctx, killSpec(killSource{pause: halfway}, nil))
	t.Fatalf("the capture ended before it was killed: %+v, %v", rep, err)
}

// killChild runs TestCaptureKillChild for a and kills it with SIGKILL
// once it is half-way through the large item.
func killChild(t *testing.T, a killArgs) {
	t.Helper()
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCaptureKillChild$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+string(raw))
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
	half := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var said []string
		for sc.Scan() {
			if sc.Text() == "half" {
				half <- nil
				return
			}
			said = append(said, sc.Text())
		}
		half <- fmt.Errorf("the child stopped before it was half-way through the large item (%v):\n%s", sc.Err(), strings.Join(said, "\n"))
	}()
	select {
	case err = <-half:
	case <-time.After(2 * time.Minute):
		err = errors.New("the child did not reach half of the large item in 2 minutes")
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, want killed by SIGKILL", err)
	}
}

// TestCaptureKilledMidItem: after a capture is killed with SIGKILL half-way
// through its second item, the store and the log reopen, the log
// verifies, and the capture run again with what the log says is preserved
// completes: the first item is a duplicate and not logged again, the
// second is stored and logged once, and the store holds exactly the
// objects of the two items, each of which re-hashes to its logged digests.
func TestCaptureKilledMidItem(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		a := killArgs{Dir: t.TempDir()}
		testCaptureKilled(t, a, storagetest.LocalView(filepath.Join(a.Dir, "store")))
	})
	t.Run("s3", func(t *testing.T) {
		a := killArgs{Dir: t.TempDir(), Bucket: newKillBucket(t)}
		testCaptureKilled(t, a, storagetest.S3View(t, killS3Options(a.Bucket)))
	})
}

func testCaptureKilled(t *testing.T, a killArgs, view storagetest.View) {
	ctx := context.Background()
	big := killBigDigests()
	smallSum := hex.EncodeToString(sha256Of([]byte(killSmall)))
	killChild(t, a)

	// As the kill left them: the log verifies, with entries no checkpoint
	// seals; the store holds the first item and a partial write.
	f := &captureFixture{dir: a.Dir, signer: testSigner(t, 7)}
	rep, err := chain.VerifyLog(ctx, os.DirFS(filepath.Join(a.Dir, "log")), testVerifier(t, f.signer))
	if err != nil || rep.Unsealed == 0 {
		t.Fatalf("the log as the kill left it: %+v, %v; want it to verify, with unsealed entries", rep, err)
	}
	keys, left := view(t)
	if !slices.Equal(keys, objectKeys(smallSum)) || len(left) == 0 {
		t.Fatalf("the store as the kill left it holds %q and leftovers %q; want %q and a partial write", keys, left, objectKeys(smallSum))
	}
	t.Logf("the kill left %d unsealed log entries and in the store %q", rep.Unsealed, left)

	// The agent starts again: the store opens (and is swept), the log
	// reopens and adopts the entries no checkpoint sealed.
	store, swept, err := openKillStore(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if keys, left := view(t); !slices.Equal(keys, objectKeys(smallSum)) || len(left) != 0 {
		t.Fatalf("the store reopened (%d swept) holds %q and leftovers %q", swept, keys, left)
	}
	f.open(t)
	f.c.Store = store
	checkRecovered(t, f.log)
	evs := f.events(t)
	if types := eventTypes(evs); types != "capture.started item.preserved" {
		t.Fatalf("the order's events after the kill: %s", types)
	}
	interrupted := evs[0].Details["capture"]
	t.Logf("capture %s was interrupted: capture.started, no capture.completed or capture.failed", interrupted)

	// Run again with what the log says the order holds.
	size, err := f.log.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	items, err := LoggedItems(ctx, f.log.FS(), size, testOrder)
	if err != nil || len(items) != 1 || items[0].Digest.SHA256 != smallSum {
		t.Fatalf("logged items %+v, %v; want the first item", items, err)
	}
	held := map[string]bool{}
	for _, it := range items {
		held[it.Digest.SHA256] = true
	}
	crep, err := f.c.Capture(ctx, killSpec(killSource{}, held))
	checkRerun(t, crep, err, smallSum, big)
	logged := checkLoggedOnce(t, f.events(t), interrupted, crep.ID, smallSum, big)
	checkStored(t, store, view, logged)
}

// objectKeys are the keys of an order's item, sorted.
func objectKeys(sums ...string) []string {
	var keys []string
	for _, s := range sums {
		keys = append(keys, ItemKey(testOrder, s), ItemKey(testOrder, s)+".meta.json", AttestationKey(testOrder, s))
	}
	slices.Sort(keys)
	return keys
}

// checkRecovered: opening the killed log recorded log.recovered.
func checkRecovered(t *testing.T, l *chain.Log) {
	t.Helper()
	ctx := context.Background()
	size, err := l.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for rec, err := range chain.Entries(ctx, l.FS(), 0, size) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.Type == chain.LogRecovered {
			t.Logf("reopened: log.recovered at %d, entries %s to %s unsealed", rec.Index, rec.Event.Details["first_unsealed"], rec.Event.Details["last_unsealed"])
			return
		}
	}
	t.Fatalf("reopening the killed log recorded no log.recovered (size %d)", size)
}

// checkRerun: the capture run again reports the first item a duplicate
// and preserves the second.
func checkRerun(t *testing.T, rep *Report, err error, smallSum string, big Digests) {
	t.Helper()
	if err != nil || rep.Failed() || len(rep.Items) != 2 || rep.Preserved() != 1 {
		t.Fatalf("the capture run again: %+v, %v", rep, err)
	}
	if s := rep.Items[0]; s.Name != "small.txt" || !s.Duplicate || s.Digests.SHA256 != smallSum {
		t.Fatalf("the item preserved before the kill: %+v; want a duplicate", s)
	}
	if b := rep.Items[1]; b.Name != killBigName || b.Duplicate || b.Size != killBigSize || b.Digests.SHA256 != big.SHA256 || b.Digests.SHA512 != big.SHA512 {
		t.Fatalf("the item the kill interrupted: %+v; want it preserved, %d bytes with sha256 %s", b, int64(killBigSize), big.SHA256)
	}
}

// checkLoggedOnce: the order's events hold one item.preserved for each
// item, the first from the interrupted capture and the second from the
// one run again, which completed; it returns them by SHA-256.
func checkLoggedOnce(t *testing.T, evs []*chain.Event, interrupted, rerun, smallSum string, big Digests) map[string]*chain.Event {
	t.Helper()
	logged := map[string]*chain.Event{}
	var completed *chain.Event
	for _, e := range evs {
		switch {
		case e.Type == chain.ItemPreserved:
			if len(e.Items) != 1 {
				t.Fatalf("item.preserved with %d digests", len(e.Items))
			}
			sum := e.Items[0].SHA256
			if logged[sum] != nil {
				t.Fatalf("sha256 %s is in two item.preserved events of the order: %s", sum, eventTypes(evs))
			}
			logged[sum] = e
		case e.Type == chain.CaptureCompleted && e.Details["capture"] == rerun:
			completed = e
		}
	}
	s, b := logged[smallSum], logged[big.SHA256]
	if len(logged) != 2 || s == nil || b == nil {
		t.Fatalf("%d items logged preserved; want the two (%s)", len(logged), eventTypes(evs))
	}
	if s.Details["capture"] != interrupted || b.Details["capture"] != rerun || b.Items[0].SHA512 != big.SHA512 {
		t.Fatalf("item.preserved of capture %s and %s (want %s and %s), sha512 %s",
			s.Details["capture"], b.Details["capture"], interrupted, rerun, b.Items[0].SHA512)
	}
	if completed == nil || completed.Details["preserved"] != "1" || completed.Details["already_preserved"] != "1" {
		t.Fatalf("the capture run again did not complete with 1 preserved and 1 already preserved: %+v (%s)", completed, eventTypes(evs))
	}
	return logged
}

// checkStored: the store holds exactly the objects of the logged items,
// nothing else, and each re-hashes to what the log says.
func checkStored(t *testing.T, store killStore, view storagetest.View, logged map[string]*chain.Event) {
	t.Helper()
	ctx := context.Background()
	var sums []string
	for s := range logged {
		sums = append(sums, s)
	}
	want := objectKeys(sums...)
	keys, left := view(t)
	var listed []string
	for info, err := range store.List(ctx, "orders/") {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, info.Key)
	}
	slices.Sort(listed)
	if !slices.Equal(keys, want) || !slices.Equal(listed, want) || len(left) != 0 {
		t.Fatalf("the store holds %q (it lists %q) and leftovers %q; want %q", keys, listed, left, want)
	}
	for sum, e := range logged {
		item := ItemKey(testOrder, sum)
		if got := rehash(t, store, item); got.SHA256 != sum || got.SHA512 != e.Items[0].SHA512 {
			t.Fatalf("%s re-hashes to %+v; logged %+v", item, got, e.Items[0])
		}
		if got := rehash(t, store, item+".meta.json"); got.SHA256 != e.Details["meta_sha256"] {
			t.Fatalf("%s.meta.json hashes to %s; logged %s", item, got.SHA256, e.Details["meta_sha256"])
		}
		if got := rehash(t, store, AttestationKey(testOrder, sum)); got.SHA256 != e.Details["attestation_sha256"] {
			t.Fatalf("the attestation of %s hashes to %s; logged %s", item, got.SHA256, e.Details["attestation_sha256"])
		}
	}
}

// rehash reads key through the store (which checks it against the digest
// it stored) and hashes what it returns.
func rehash(t *testing.T, store killStore, key string) Digests {
	t.Helper()
	r, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h256, h512 := sha256.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(h256, h512), r); err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return Digests{SHA256: hex.EncodeToString(h256.Sum(nil)), SHA512: hex.EncodeToString(h512.Sum(nil))}
}

// newKillBucket creates a bucket with Object Lock on the S3 server that
// scripts/with-minio.sh names. Without one the test skips, except under
// CI=true, where it fails.
func newKillBucket(t *testing.T) string {
	t.Helper()
	if os.Getenv("CUSTOS_TEST_S3_ENDPOINT") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Skip("no S3 server: run through scripts/with-minio.sh (make test does)")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "custos-kill-" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := storage.InitBucket(ctx, killS3Options(bucket)); err != nil {
		t.Fatal(err)
	}
	return bucket
}
