package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// The registry's tests run on what the capture's tests run on (package
// agent/capture has its own copies): a signer, a real log and a local
// store, and a source of fixed items.

const testOrigin = "custos.test/capture"

func testSigner(t testing.TB, seed byte) signature.SignerVerifier {
	t.Helper()
	sv, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

func testVerifier(t *testing.T, s chain.Signer) note.Verifier {
	t.Helper()
	_, key, err := chain.NewNoteSigner(testOrigin, s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := key.NoteVerifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fakeSource yields fixed items; failAfter > 0 makes the content of item
// number failAfter fail midway, as a source that breaks would.
type fakeSource struct {
	items     map[string]string
	order     []string
	failAfter int
}

func (f *fakeSource) Kind() string { return "fake" }

func (f *fakeSource) Capture(ctx context.Context, req source.Request, emit source.Emit) (source.Summary, error) {
	for i, name := range f.order {
		var r io.Reader = strings.NewReader(f.items[name])
		if f.failAfter == i+1 {
			r = io.MultiReader(strings.NewReader(f.items[name][:3]), &failingReader{})
		}
		it := &source.Item{Name: name, MediaType: "text/plain", Record: map[string]any{"path": "/export/" + name}}
		if err := emit(it, r); err != nil {
			return source.Summary{"emitted": i + 1}, err
		}
	}
	return source.Summary{"emitted": len(f.order)}, nil
}

type failingReader struct{}

func (*failingReader) Read([]byte) (int, error) {
	return 0, errors.New("export server reset the connection")
}

// captureFixture is a Capturer on a local store and a real log in dir.
type captureFixture struct {
	dir    string
	store  *storage.Local
	log    *chain.Log
	signer signature.SignerVerifier
	c      *capture.Capturer
}

func newCaptureFixture(t *testing.T) *captureFixture {
	t.Helper()
	f := &captureFixture{dir: t.TempDir(), signer: testSigner(t, 7)}
	var err error
	if f.store, err = storage.NewLocal(filepath.Join(f.dir, "store"), nil); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	return f
}

func (f *captureFixture) open(t testing.TB) {
	t.Helper()
	var err error
	f.log, err = chain.Open(context.Background(), chain.Config{Dir: filepath.Join(f.dir, "log"), Origin: testOrigin, Signer: f.signer,
		CheckpointInterval: chain.MinCheckpointInterval, BatchMaxAge: time.Millisecond, Agent: "agent-1", Actor: "custodian"})
	if err != nil {
		t.Fatal(err)
	}
	f.c = &capture.Capturer{Store: f.store, Log: f.log, Signer: f.signer, Agent: "agent-1", Host: "host-1"}
	t.Cleanup(func() { _ = f.log.Close(context.Background()) })
}

// verifiedEvents seals the log with a checkpoint, checks that the whole
// log verifies, and returns the custody events of order, in log order.
func (f *captureFixture) verifiedEvents(t *testing.T, order string) []*chain.Event {
	t.Helper()
	ctx := context.Background()
	if _, err := f.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS(filepath.Join(f.dir, "log"))
	rep, err := chain.VerifyLog(ctx, fsys, testVerifier(t, f.signer))
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("log does not verify: %v %v", err, rep.Problems)
	}
	var out []*chain.Event
	for rec, err := range chain.Entries(ctx, fsys, 0, rep.Entries) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Event.Order == order {
			out = append(out, rec.Event)
		}
	}
	return out
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// killS3Options are the options of bucket on the S3 server that
// scripts/with-minio.sh names. Parts of 16 MiB, two at a time.
func killS3Options(bucket string) storage.S3Options {
	return storage.S3Options{
		Endpoint: os.Getenv("CUSTOS_TEST_S3_ENDPOINT"), AccessKey: os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"), TLS: os.Getenv("CUSTOS_TEST_S3_TLS") == "true",
		Region: "us-east-1", PathStyle: true, Bucket: bucket,
		PartSize: 16 << 20, Concurrency: 2, RetryFor: 20 * time.Second,
	}
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
