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
	"maps"
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

// A capture killed with SIGKILL at each stage of a batch (issues 4, 15). A
// child process (this test binary, re-executed) captures two small items
// and then a 256 MiB one into a real log and store, and stops where the
// stage says, where the parent kills it:
//
//   - stored: the small items are stored, their batch not sealed, and the
//     large item is half read;
//   - sealing: the batch's manifest and statement are written, its event
//     not yet appended;
//   - sealed: its items.sealed event is durable, the capture not ended.
//
// The parent then does what a restarted agent does: it reopens the store
// and the log, takes what the log says is preserved and which capture
// never ended, and captures again.

const (
	killChildEnv = "CUSTOS_CAPTURE_KILL_CHILD" // the child's killArgs, as JSON
	killSmall    = "the first item, stored before the kill\n"
	killSmall2   = "the second item, stored before the kill\n"
	killBigSize  = 256 << 20
	killBigName  = "big.bin"
)

// The stages of a batch at which the child is killed.
const (
	killStored  = "stored"
	killSealing = "sealing"
	killSealed  = "sealed"
)

// killArgs tell the child where to capture, and where to stop.
type killArgs struct {
	Dir    string // data directory: log/, and store/ for the local store
	Bucket string // the S3 bucket; "" means the local store
	Stage  string
}

// killSource yields two small items, then killBigSize deterministic
// pseudo-random bytes. With pause set, it calls pause when half of the
// large item has been read, before reading on.
type killSource struct{ pause func() }

func (killSource) Kind() string { return "generated" }

func (s killSource) Capture(_ context.Context, _ source.Request, emit source.Emit) (source.Summary, error) {
	for i, body := range []string{killSmall, killSmall2} {
		it := &source.Item{Name: fmt.Sprintf("small%d.txt", i+1), MediaType: "text/plain", Record: map[string]any{"seq": i + 1}}
		if err := emit(it, strings.NewReader(body)); err != nil {
			return source.Summary{"emitted": i + 1}, err
		}
	}
	big := killBig()
	if s.pause != nil {
		big = &pausingReader{r: big, at: killBigSize / 2, pause: s.pause}
	}
	if err := emit(&source.Item{Name: killBigName, Record: map[string]any{"seq": 3}}, big); err != nil {
		return source.Summary{"emitted": 3}, err
	}
	return source.Summary{"emitted": 3}, nil
}

// pauseStore calls pause after it stores a batch's statement: the
// manifest and the statement are written, the event not yet appended.
type pauseStore struct {
	killStore
	pause func()
}

func (p pauseStore) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error) {
	info, err := p.killStore.Put(ctx, key, r, opts)
	if err == nil && strings.HasSuffix(key, ".dsse.json") {
		p.pause()
	}
	return info, err
}

// pauseLog calls pause after it appends an items.sealed event.
type pauseLog struct {
	EventLog
	pause func()
}

func (p pauseLog) Append(ctx context.Context, e chain.Event) (*chain.Record, error) {
	rec, err := p.EventLog.Append(ctx, e)
	if err == nil && e.Type == chain.ItemsSealed {
		p.pause()
	}
	return rec, err
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
	halfway := func() {
		fmt.Println("half")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}
	// The two small items make a batch of their own; in the stored stage
	// it waits for more, long enough for the kill.
	c := &Capturer{Store: store, Log: l, Signer: signer, Agent: "agent-1", Host: "host-1", BatchItems: 2}
	src := killSource{}
	switch a.Stage {
	case killStored:
		c.BatchItems, c.BatchWait, src.pause = 100, time.Hour, halfway
	case killSealing:
		c.Store = pauseStore{killStore: store, pause: halfway}
	case killSealed:
		c.Log = pauseLog{EventLog: l, pause: halfway}
	}
	rep, err := c.Capture(ctx, killSpec(src, nil))
	t.Fatalf("the capture ended before it was killed: %+v, %v", rep, err)
}

// killChild runs TestCaptureKillChild for a and kills it with SIGKILL
// once it reached its stage.
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
		half <- fmt.Errorf("the child stopped before it reached the %s stage (%v):\n%s", a.Stage, sc.Err(), strings.Join(said, "\n"))
	}()
	select {
	case err = <-half:
	case <-time.After(2 * time.Minute):
		err = fmt.Errorf("the child did not reach the %s stage in 2 minutes", a.Stage)
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

// TestCaptureKilledAtEachStage: after a capture is killed with SIGKILL at
// each stage of its first batch, the store and the log reopen, the log
// verifies, and the capture run again with what the log says is preserved
// (and the capture that never ended) completes: what was sealed before
// the kill is not stored or sealed again, what was not is sealed once,
// and every sealed item is in the store and re-hashes to its record.
func TestCaptureKilledAtEachStage(t *testing.T) {
	for _, stage := range []string{killStored, killSealing, killSealed} {
		t.Run("local/"+stage, func(t *testing.T) {
			a := killArgs{Dir: t.TempDir(), Stage: stage}
			testCaptureKilled(t, a, storagetest.LocalView(filepath.Join(a.Dir, "store")))
		})
	}
	t.Run("s3/"+killStored, func(t *testing.T) {
		a := killArgs{Dir: t.TempDir(), Bucket: newKillBucket(t), Stage: killStored}
		testCaptureKilled(t, a, storagetest.S3View(t, killS3Options(a.Bucket)))
	})
	t.Run("s3/"+killSealed, func(t *testing.T) {
		a := killArgs{Dir: t.TempDir(), Bucket: newKillBucket(t), Stage: killSealed}
		testCaptureKilled(t, a, storagetest.S3View(t, killS3Options(a.Bucket)))
	})
}

func testCaptureKilled(t *testing.T, a killArgs, view storagetest.View) {
	ctx := context.Background()
	big := killBigDigests()
	small := []string{hex.EncodeToString(sha256Of([]byte(killSmall))), hex.EncodeToString(sha256Of([]byte(killSmall2)))}
	killChild(t, a)

	// As the kill left them: the log verifies, with entries no checkpoint
	// seals; the store holds the small items, and as the stage has it
	// their batch's manifest and statement, and in the stored stage a
	// partial write.
	f := &captureFixture{dir: a.Dir, signer: testSigner(t, 7)}
	rep, err := chain.VerifyLog(ctx, os.DirFS(filepath.Join(a.Dir, "log")), testVerifier(t, f.signer))
	if err != nil || rep.Unsealed == 0 {
		t.Fatalf("the log as the kill left it: %+v, %v; want it to verify, with unsealed entries", rep, err)
	}
	keys, left := view(t)
	wantItems := []string{ItemKey(testOrder, small[0]), ItemKey(testOrder, small[1])}
	var items, other []string
	for _, k := range keys {
		if strings.Contains(k, "/items/") {
			items = append(items, k)
		} else {
			other = append(other, k)
		}
	}
	slices.Sort(wantItems)
	if !slices.Equal(items, wantItems) || (a.Stage == killStored) != (len(other) == 0) || (a.Stage == killStored && len(left) == 0) {
		t.Fatalf("the store as the %s kill left it holds items %q, other objects %q and leftovers %q", a.Stage, items, other, left)
	}
	t.Logf("the kill left %d unsealed log entries and in the store %q, leftovers %q", rep.Unsealed, keys, left)

	// The agent starts again: the store opens (and is swept), the log
	// reopens and adopts the entries no checkpoint sealed.
	store, swept, err := openKillStore(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, left := view(t); len(left) != 0 {
		t.Fatalf("the store reopened (%d swept) holds leftovers %q", swept, left)
	}
	f.open(t)
	f.c.Store = store
	checkRecovered(t, f.log)
	evs := f.events(t)
	want := "capture.started"
	if a.Stage == killSealed {
		want += " items.sealed"
	}
	if types := eventTypes(evs); types != want {
		t.Fatalf("the order's events after the kill: %s, want %s", types, want)
	}
	interrupted := evs[0].Details["capture"]
	t.Logf("capture %s was interrupted: capture.started, no capture.completed or capture.failed", interrupted)

	// Run again with what the log says the order holds.
	held := map[string]bool{}
	for _, it := range loggedItems(t, f) {
		held[it.Digest.SHA256] = true
	}
	if len(held) != map[bool]int{true: 2, false: 0}[a.Stage == killSealed] {
		t.Fatalf("the log holds %d items after the %s kill", len(held), a.Stage)
	}
	sp := killSpec(killSource{}, held)
	sp.Interrupted = []string{interrupted}
	crep, err := f.c.Capture(ctx, sp)
	checkRerun(t, crep, err, a.Stage, small, big)
	checkStored(t, f, store, view, a.Stage == killSealing, interrupted)
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

// checkRerun: the capture run again preserves the large item, and the
// small ones unless their batch was sealed before the kill.
func checkRerun(t *testing.T, rep *Report, err error, stage string, small []string, big Digests) {
	t.Helper()
	if err != nil || rep.Failed() || len(rep.Items) != 3 {
		t.Fatalf("the capture run again: %+v, %v", rep, err)
	}
	for i, s := range rep.Items[:2] {
		if s.Digests.SHA256 != small[i] || s.Duplicate != (stage == killSealed) {
			t.Fatalf("small item %d after the %s kill: %+v", i+1, stage, s)
		}
	}
	if b := rep.Items[2]; b.Name != killBigName || b.Duplicate || b.Size != killBigSize || b.Digests.SHA256 != big.SHA256 || b.Digests.SHA512 != big.SHA512 {
		t.Fatalf("the item the kill interrupted: %+v; want it preserved, %d bytes with sha256 %s", b, int64(killBigSize), big.SHA256)
	}
}

// checkStored: every item the log holds is sealed once, in the store, and
// re-hashes to its record; the store holds those items and their
// batches' manifests and statements, and, after a kill while sealing, the
// manifest and statement the dead capture never logged: nothing else.
func checkStored(t *testing.T, f *captureFixture, store killStore, view storagetest.View, orphan bool, interrupted string) {
	t.Helper()
	ctx := context.Background()
	items, batches := loggedItemsAndBatches(t, f)
	want := map[string]bool{}
	for _, it := range items {
		if want[it.Key] {
			t.Fatalf("%s is sealed twice", it.Key)
		}
		want[it.Key] = true
		if got := rehash(t, store, it.Key); got.SHA256 != it.Digest.SHA256 || got.SHA512 != it.Digest.SHA512 {
			t.Fatalf("%s re-hashes to %+v; sealed as %+v", it.Key, got, it.Digest)
		}
	}
	if len(items) != 3 {
		t.Fatalf("%d items sealed, want 3", len(items))
	}
	for _, b := range batches {
		want[b.Key()] = true
		want[StatementKey(b.Order, b.Sealed.Capture, b.Sealed.Batch)] = true
	}
	if orphan {
		want[ManifestKey(testOrder, interrupted, 1)] = true
		want[StatementKey(testOrder, interrupted, 1)] = true
	}
	keys, left := view(t)
	var listed []string
	for info, err := range store.List(ctx, "orders/") {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, info.Key)
	}
	slices.Sort(listed)
	wantKeys := slices.Sorted(maps.Keys(want))
	if !slices.Equal(keys, wantKeys) || !slices.Equal(listed, wantKeys) || len(left) != 0 {
		t.Fatalf("the store holds %q (it lists %q) and leftovers %q; want %q", keys, listed, left, wantKeys)
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
