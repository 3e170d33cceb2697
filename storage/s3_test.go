package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/custos-evidence/custos/storage"
	"github.com/custos-evidence/custos/storage/storagetest"
)

// The S3 tests run against the server named by CUSTOS_TEST_S3_ENDPOINT,
// CUSTOS_TEST_S3_ACCESS_KEY and CUSTOS_TEST_S3_SECRET_KEY, which
// scripts/with-minio.sh starts (make test runs the tests through it).
// Without one they skip, except under CI=true, where they fail.
func s3Options(t testing.TB) storage.S3Options {
	t.Helper()
	ep := os.Getenv("CUSTOS_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CUSTOS_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test does)")
		}
		t.Skip("no S3 server: run through scripts/with-minio.sh (make test does)")
	}
	return storage.S3Options{
		Endpoint:  ep,
		AccessKey: os.Getenv("CUSTOS_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CUSTOS_TEST_S3_SECRET_KEY"),
		Region:    "us-east-1",
		TLS:       os.Getenv("CUSTOS_TEST_S3_TLS") == "true",
		PathStyle: true,
	}
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

var (
	bucketOnce sync.Once
	bucketName string
	bucketErr  error
	prefixes   atomic.Int64
)

// testBucket is one bucket with Object Lock per test process, created
// through InitBucket; each store gets its own prefix in it.
func testBucket(t testing.TB) storage.S3Options {
	t.Helper()
	o := s3Options(t)
	bucketOnce.Do(func() {
		bucketName = randomName("custos-test-")
		o.Bucket = bucketName
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, bucketErr = storage.InitBucket(ctx, o)
	})
	if bucketErr != nil {
		t.Fatal(bucketErr)
	}
	o.Bucket = bucketName
	o.Prefix = "t" + strconv.FormatInt(prefixes.Add(1), 10) + "-" + randomName("") + "/"
	return o
}

func newTestS3(t testing.TB, edit func(*storage.S3Options)) (*storage.S3, storage.S3Options) {
	t.Helper()
	o := testBucket(t)
	o.RetryFor = 20 * time.Second
	if edit != nil {
		edit(&o)
	}
	s, err := storage.NewS3(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

// corruptMinIO flips a byte of content where MinIO keeps it on disk: small
// objects inline in xl.meta, larger ones in part files.
func corruptMinIO(t *testing.T, o storage.S3Options, key string, content []byte) {
	t.Helper()
	data := os.Getenv("CUSTOS_TEST_S3_DATA_DIR")
	dir := filepath.Join(data, o.Bucket, filepath.FromSlash(o.Prefix+key))
	flipped := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || flipped {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		i := bytes.Index(b, content)
		if i < 0 {
			return nil
		}
		b[i+len(content)/2] ^= 0x20
		flipped = true
		return os.WriteFile(p, b, d.Type().Perm()|0o600)
	})
	if err != nil || !flipped {
		t.Fatalf("could not find the content of %s under %s: %v", key, dir, err)
	}
}

func TestS3Conformance(t *testing.T) {
	opts := map[storagetest.Store]storage.S3Options{}
	var mu sync.Mutex
	b := storagetest.Backend{
		RealTime: true,
		New: func(t *testing.T, _ func() time.Time) storagetest.Store {
			s, o := newTestS3(t, nil)
			mu.Lock()
			opts[s] = o
			mu.Unlock()
			return s
		},
	}
	if os.Getenv("CUSTOS_TEST_S3_DATA_DIR") != "" {
		b.Corrupt = func(t *testing.T, s storagetest.Store, key string, content []byte) {
			mu.Lock()
			o := opts[s]
			mu.Unlock()
			corruptMinIO(t, o, key, content)
		}
	}
	storagetest.Run(t, b)
}

// stream is n deterministic bytes and their SHA-256.
func stream(n int, seed byte) ([]byte, string) {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func TestS3Multipart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		conc     int
		checksum string
	}{{1, ""}, {3, ""}, {3, "CRC64NVME"}} {
		conc := tc.conc
		t.Run(fmt.Sprintf("concurrency%d%s", conc, tc.checksum), func(t *testing.T) {
			s, _ := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20; o.Concurrency = conc; o.Checksum = tc.checksum })
			body, sum := stream(12<<20+123, byte(conc))
			until := time.Now().Add(time.Hour)
			info, err := s.Put(ctx, "orders/x/items/big", bytes.NewReader(body), storage.PutOptions{SHA256: sum, RetainUntil: until, LegalHold: true})
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(body)) || info.SHA256 != sum || info.PartSize != 5<<20 || info.VersionID == "" || info.ETag == "" || info.Checksum != fullChecksum(tc.checksum, body) {
				t.Fatalf("put returned %+v; want the checksum %s", info, fullChecksum(tc.checksum, body))
			}
			st, err := s.Stat(ctx, "orders/x/items/big")
			if err != nil {
				t.Fatal(err)
			}
			if st.Size != info.Size || st.SHA256 != sum || st.PartSize != 5<<20 || st.VersionID != info.VersionID || st.Checksum != info.Checksum || !st.LegalHold || st.RetainUntil.Before(until) {
				t.Fatalf("stat %+v, put %+v", st, info)
			}
			r, _, err := s.Get(ctx, "orders/x/items/big")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
			// The identical re-put is success, a different one ErrExist.
			if _, err := s.Put(ctx, "orders/x/items/big", bytes.NewReader(body), storage.PutOptions{SHA256: sum}); err != nil {
				t.Fatalf("identical re-put: %v", err)
			}
			other, osum := stream(len(body), 99)
			if _, err := s.Put(ctx, "orders/x/items/big", bytes.NewReader(other), storage.PutOptions{SHA256: osum}); !errors.Is(err, storage.ErrExist) {
				t.Fatalf("different re-put: %v, want ErrExist", err)
			}
			if err := s.SetLegalHold(ctx, "orders/x/items/big", false); err != nil {
				t.Fatal(err)
			}
			if n := countKeys(t, s, ".custos-uploads/"); n != 0 {
				t.Fatalf("%d upload markers left after finished puts", n)
			}
		})
	}
}

func TestS3MultipartDigestMismatchLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s, o := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20 })
	body, _ := stream(11<<20, 7)
	_, wrong := stream(10, 1)
	_, err := s.Put(ctx, "k", bytes.NewReader(body), storage.PutOptions{SHA256: wrong})
	if !errors.Is(err, storage.ErrPrecondition) {
		t.Fatalf("put with a wrong digest: %v, want ErrPrecondition", err)
	}
	if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("stat after the refused put: %v", err)
	}
	if n := incompleteUploads(t, o, "k"); n != 0 {
		t.Fatalf("%d multipart uploads left behind", n)
	}
}

// A source whose read fails with an error wrapping io.EOF or
// io.ErrUnexpectedEOF (a download cut short says so) has not ended: the
// put and the staging fail and leave nothing, whether the cut comes in the
// first part or in a later one.
func TestS3TruncatedSourceFails(t *testing.T) {
	ctx := context.Background()
	s, o := newTestS3(t, func(o *storage.S3Options) { o.PartSize = 5 << 20 })
	for _, size := range []int{100, 6 << 20, 10 << 20, 11 << 20} {
		for _, cut := range []error{io.EOF, io.ErrUnexpectedEOF} {
			body, sum := stream(size, 9)
			wrapped := fmt.Errorf("download cut short: %w", cut)
			src := func() io.Reader { return io.MultiReader(bytes.NewReader(body), iotest.ErrReader(wrapped)) }
			key := fmt.Sprintf("cut/%d-%v", size, cut)
			if _, err := s.Put(ctx, key, src(), storage.PutOptions{SHA256: sum}); !errors.Is(err, wrapped) {
				t.Fatalf("%d bytes, then %v: put %v, want the source's error", size, wrapped, err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotExist) {
				t.Fatalf("%d bytes, then %v: stat after the failed put: %v", size, wrapped, err)
			}
			if n := incompleteUploads(t, o, key); n != 0 {
				t.Fatalf("%d bytes, then %v: %d multipart uploads left behind", size, wrapped, n)
			}
			if st, err := s.Stage(ctx, src()); !errors.Is(err, wrapped) {
				t.Fatalf("%d bytes, then %v: stage %+v, %v, want the source's error", size, wrapped, st, err)
			}
		}
	}
	if n := countKeys(t, s, ".custos-staging/") + countKeys(t, s, ".custos-uploads/"); n != 0 {
		t.Fatalf("%d staged objects or upload markers left behind", n)
	}
}

// incompleteUploads counts the unfinished uploads of key (MinIO lists them
// only by exact key).
func incompleteUploads(t *testing.T, o storage.S3Options, key string) int {
	t.Helper()
	c, err := minio.New(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for up := range c.ListIncompleteUploads(context.Background(), o.Bucket, o.Prefix+key, true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		n++
	}
	return n
}

// proxy puts a server between the store and MinIO that alters its answers,
// to play a server that lies.
func proxy(t *testing.T, o storage.S3Options, modifyResp func(*http.Response)) string {
	t.Helper()
	target, _ := url.Parse("http://" + o.Endpoint)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the client signed the proxy's host
	}}
	rp.ModifyResponse = func(r *http.Response) error { modifyResp(r); return nil }
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestS3GetDetectsAlteredBytes(t *testing.T) {
	ctx := context.Background()
	s, o := newTestS3(t, nil)
	body, sum := stream(4096, 3)
	if _, err := s.Put(ctx, "k", bytes.NewReader(body), storage.PutOptions{SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	// The lying server flips a byte of every GET body and drops the
	// checksum headers, so only the custody digest can notice.
	ep := proxy(t, o, func(r *http.Response) {
		if r.Request.Method != http.MethodGet || r.StatusCode != http.StatusOK || !strings.HasSuffix(r.Request.URL.Path, "/k") {
			return
		}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") {
				r.Header.Del(k)
			}
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if len(b) > 0 {
			b[len(b)/2] ^= 1
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
	})
	o.Endpoint = ep
	liar, err := storage.NewS3(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := liar.Get(ctx, "k")
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if !errors.Is(err, storage.ErrTamper) {
		t.Fatalf("read through a server that alters bytes: %v, want ErrTamper", err)
	}
}

func TestS3Check(t *testing.T) {
	ctx := context.Background()
	s, o := newTestS3(t, nil)
	res, err := s.Check(ctx)
	if err != nil {
		t.Fatalf("check of a good bucket: %v\n%+v", err, res)
	}
	for _, r := range res {
		if !r.OK {
			t.Errorf("check %q failed: %s", r.Check, r.Detail)
		}
	}

	// A server that accepts the lock headers but keeps no retention (it
	// answers for the probe's retention as for an object without one) must
	// be refused, loudly.
	ep := proxy(t, o, func(r *http.Response) {
		if _, ok := r.Request.URL.Query()["retention"]; !ok || r.Request.Method != http.MethodGet {
			return
		}
		r.Body.Close()
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchObjectLockConfiguration</Code><Message>The specified object does not have a ObjectLock configuration</Message></Error>`
		r.StatusCode, r.Status = http.StatusNotFound, "404 Not Found"
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	})
	o.Endpoint = ep
	liar, err := storage.NewS3(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = liar.Check(ctx)
	if !errors.Is(err, storage.ErrLockIgnored) {
		t.Fatalf("check through a server that ignores lock headers: %v, want ErrLockIgnored", err)
	}
}

func TestS3BadInput(t *testing.T) {
	ctx := context.Background()
	good := testBucket(t)
	good.RetryFor = time.Second

	// A bucket without Object Lock.
	plain := good
	plain.Bucket = randomName("custos-plain-")
	c, err := minio.New(good.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(good.AccessKey, good.SecretKey, ""), Secure: good.TLS})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, plain.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.NewS3(ctx, plain); !errors.Is(err, storage.ErrNoObjectLock) || !strings.Contains(err.Error(), plain.Bucket) {
		t.Errorf("bucket without Object Lock: %v", err)
	}
	if _, err := storage.InitBucket(ctx, plain); !errors.Is(err, storage.ErrNoObjectLock) {
		t.Errorf("init of an existing bucket without Object Lock: %v", err)
	}
	missing := good
	missing.Bucket = randomName("custos-missing-")
	if _, err := storage.NewS3(ctx, missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}

	wrong := good
	wrong.SecretKey = "not-the-secret"
	if _, err := storage.NewS3(ctx, wrong); err == nil || !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("wrong credentials: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	unreachable := good
	unreachable.Endpoint = closed
	start := time.Now()
	if _, err := storage.NewS3(ctx, unreachable); !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), closed) {
		t.Errorf("unreachable endpoint: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("gave up on an unreachable endpoint after %s, the budget was 1s", d)
	}

	badCA := good
	badCA.TLS = true
	badCA.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(badCA.CAFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.NewS3(ctx, badCA); err == nil || !strings.Contains(err.Error(), badCA.CAFile) {
		t.Errorf("CA file without certificates: %v", err)
	}
	// A TLS server whose certificate the store does not trust.
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	ts.StartTLS()
	defer ts.Close()
	untrusted := good
	untrusted.TLS = true
	untrusted.Endpoint = strings.TrimPrefix(ts.URL, "https://")
	if _, err := storage.NewS3(ctx, untrusted); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("untrusted certificate: %v", err)
	}

	for _, tc := range []struct {
		name string
		edit func(*storage.S3Options)
		want string
	}{
		{"escaping prefix", func(o *storage.S3Options) { o.Prefix = "../other/" }, "prefix"},
		{"absolute prefix", func(o *storage.S3Options) { o.Prefix = "/abs/" }, "prefix"},
		{"prefix without slash", func(o *storage.S3Options) { o.Prefix = "evidence" }, "prefix"},
		{"endpoint with scheme", func(o *storage.S3Options) { o.Endpoint = "https://" + o.Endpoint }, "endpoint"},
		{"retention mode", func(o *storage.S3Options) { o.RetentionMode = "FOREVER" }, "retention mode"},
		{"part size", func(o *storage.S3Options) { o.PartSize = 1 << 20 }, "part size"},
		{"sse-c over http", func(o *storage.S3Options) { o.SSE = "sse-c"; o.SSECKey = make([]byte, 32) }, "TLS"},
		{"unknown sse", func(o *storage.S3Options) { o.SSE = "rot13" }, "encryption"},
		{"unknown checksum", func(o *storage.S3Options) { o.Checksum = "MD5" }, "checksum \"MD5\""},
		{"half credentials", func(o *storage.S3Options) { o.SecretKey = "" }, "both"},
	} {
		o := good
		tc.edit(&o)
		if _, err := storage.NewS3(ctx, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// Server-side encryption through the store: SSE-S3 and SSE-KMS against
// MinIO's built-in KMS (scripts/with-minio.sh gives it a key); the
// content reads back and the server reports the encryption.
func TestS3ServerSideEncryption(t *testing.T) {
	keyID := os.Getenv("CUSTOS_TEST_S3_KMS_KEY")
	if keyID == "" {
		t.Skip("the S3 test server has no KMS key (CUSTOS_TEST_S3_KMS_KEY)")
	}
	ctx := context.Background()
	for _, tc := range []struct{ sse, want string }{{"sse-s3", "AES256"}, {"sse-kms", "aws:kms"}} {
		t.Run(tc.sse, func(t *testing.T) {
			s, o := newTestS3(t, func(o *storage.S3Options) { o.SSE, o.SSEKMSKeyID, o.PartSize = tc.sse, keyID, 5<<20 })
			for _, n := range []int{100, 6 << 20} {
				body, sum := stream(n, 5)
				key := "enc/" + strconv.Itoa(n)
				if _, err := s.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{SHA256: sum}); err != nil {
					t.Fatal(err)
				}
				mustGet(t, s, key, body)
				c, err := minio.New(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS})
				if err != nil {
					t.Fatal(err)
				}
				oi, err := c.StatObject(ctx, o.Bucket, o.Prefix+key, minio.StatObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := oi.Metadata.Get("X-Amz-Server-Side-Encryption"); got != tc.want {
					t.Fatalf("%s object of %d bytes: server says encryption %q, want %q", tc.sse, n, got, tc.want)
				}
			}
		})
	}
}

// fullChecksum is the full-object server checksum of body as the store
// reports it ("ALGORITHM:base64"), for the algorithm name (""; the default).
func fullChecksum(name string, body []byte) string {
	if name == "" {
		name = storage.DefaultChecksum
	}
	var h hash.Hash
	switch name {
	case "CRC32C":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "CRC64NVME":
		h = crc64nvme.New()
	default:
		panic(name)
	}
	h.Write(body)
	return name + ":" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}
