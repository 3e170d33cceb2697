package storage

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
	"golang.org/x/sync/errgroup"
)

type s3Part struct {
	num int
	bp  *[]byte
	n   int
	crc string // the part's server checksum, base64
}

// putMultipart uploads first (a full part already read) and the rest of r
// as a multipart upload. The caller's goroutine reads and hashes part n+1
// while up to Concurrency parts upload, in an errgroup of that limit; the
// first failure, of the read or of an upload, cancels the others and is
// the put's error. The upload is aborted on any failure, including a
// digest that does not match at the end.
func (s *S3) putMultipart(ctx context.Context, key string, first *[]byte, r io.Reader, opts PutOptions) (info *ObjectInfo, err error) {
	bufs := newPartBufs(s.partSize, s.concurrency+1)
	po := s.putOptions(opts, s.partSize)
	po.UserMetadata[hdrChecksumAlgo] = s.checksum.name
	po.UserMetadata[hdrChecksumType] = "FULL_OBJECT"
	up, err := s.startUpload(ctx, key, po)
	if err != nil {
		bufs.put(first)
		return nil, err
	}
	defer up.end(ctx)
	uploadID := up.id
	// A failed read cancels the uploads through uctx; a failed upload
	// cancels the read and the other uploads through the group's gctx.
	// Either way the cause is the first failure.
	uctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g, gctx := errgroup.WithContext(uctx)
	g.SetLimit(s.concurrency)

	var (
		mu      sync.Mutex
		parts   []minio.CompletePart
		sseCopy = s.sse
	)
	if sseCopy != nil && sseCopy.Type() != encrypt.SSEC {
		sseCopy = nil // only SSE-C is repeated on parts
	}
	// send uploads p once fewer than Concurrency parts upload: until then
	// the reader waits in g.Go, before it takes its next buffer, so at most
	// Concurrency+1 part buffers are ever in use (one filling, Concurrency
	// uploading). A part's buffer is free again before its slot is.
	send := func(p *s3Part) {
		g.Go(func() error {
			defer bufs.put(p.bp)
			if gctx.Err() != nil {
				return context.Cause(gctx) // the put failed while the part waited
			}
			data := (*p.bp)[:p.n]
			op, err := retry(gctx, s, fmt.Sprintf("put %s part %d", key, p.num), func() (minio.ObjectPart, error) {
				return s.core.PutObjectPart(gctx, s.bucket, s.key(key), uploadID, p.num, bytes.NewReader(data), int64(p.n), minio.PutObjectPartOptions{
					SSE:                  sseCopy,
					CustomHeader:         http.Header{s.checksum.header: {p.crc}},
					DisableContentSha256: true,
				})
			})
			if err != nil {
				return err
			}
			mu.Lock()
			// Ours when the server echoes none, for completion to check.
			parts = append(parts, s.checksum.completePart(p.num, op.ETag, cmp.Or(s.checksum.ofPart(op), p.crc)))
			mu.Unlock()
			return nil
		})
	}

	h := sha256.New()
	pc := s.checksum.hasher() // the part's checksum
	h.Write(*first)           // read by upload, before there were hashes
	pc.Write(*first)
	var crcs []minio.ObjectPart // each part's checksum, combined into the object's at the end
	var size int64
	readErr := func() error {
		bp, n := first, len(*first)
		for num := 1; ; num++ {
			if num > 10000 {
				bufs.put(bp)
				return fmt.Errorf("more than 10,000 parts of %d bytes: raise the part size", s.partSize)
			}
			size += int64(n)
			partCRC := base64.StdEncoding.EncodeToString(pc.Sum(nil))
			crcs = append(crcs, s.checksum.part(num, int64(n), partCRC))
			if gctx.Err() != nil {
				bufs.put(bp)
				return context.Cause(gctx)
			}
			send(&s3Part{num: num, bp: bp, n: n, crc: partCRC})
			if n < len(*bp) {
				return nil // a short part is the last
			}
			bp = bufs.get()
			pc.Reset()
			var err error
			n, err = readHashed(ctxReader{gctx, r}, *bp, h, pc)
			if n == 0 && endOfContent(err) {
				bufs.put(bp)
				return nil
			}
			if err != nil && !endOfContent(err) {
				bufs.put(bp)
				return err
			}
		}
	}()
	if readErr != nil {
		cancel(readErr)
	}
	upErr := g.Wait()
	if readErr != nil || upErr != nil {
		// The first failure cancelled the rest (a failed read the uploads,
		// a failed upload the read), whose errors only say so.
		return nil, fmt.Errorf("put %s: %w", key, cmp.Or(context.Cause(gctx), readErr, upErr))
	}
	if err := checkDigest(key, hex.EncodeToString(h.Sum(nil)), &opts); err != nil {
		return nil, err
	}
	slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	fullCRC, err := s.checksum.typ.FullObjectChecksum(crcs)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	crcB64 := fullCRC.Encoded()
	co := minio.PutObjectOptions{
		UserMetadata:         map[string]string{s.checksum.header: crcB64, hdrChecksumType: "FULL_OBJECT"},
		ServerSideEncryption: sseCopy,
	}
	done, found, err := up.complete(ctx, parts, co, opts.SHA256, size)
	if err != nil || found != nil {
		return found, err
	}
	return s.uploaded(key, done, opts, size, s.partSize, crcB64), nil
}

// partBufs is one put's part buffers; putMultipart keeps at most
// Concurrency+1 in use, so at most that many are ever allocated.
type partBufs struct {
	size int64
	free chan *[]byte
}

func newPartBufs(size int64, n int) *partBufs {
	return &partBufs{size: size, free: make(chan *[]byte, n)}
}

func (p *partBufs) get() *[]byte {
	select {
	case b := <-p.free:
		return b
	default:
		b := make([]byte, p.size)
		return &b
	}
}

func (p *partBufs) put(b *[]byte) {
	select {
	case p.free <- b:
	default:
	}
}

// abort removes an unfinished multipart upload and reports whether it is
// gone; if the server cannot be reached, Sweep removes it on a later start.
func (s *S3) abort(ctx context.Context, key, uploadID string) bool {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err := retry(actx, s, "abort "+key, func() (struct{}, error) {
		err := s.core.AbortMultipartUpload(actx, s.bucket, s.key(key), uploadID)
		if s3Code(err) == "NoSuchUpload" {
			err = nil
		}
		return struct{}{}, err
	})
	return err == nil
}

// upload is a multipart upload in progress, with its marker.
type upload struct {
	s         *S3
	key, id   string
	marker    uploadMarker
	completed bool
}

// startUpload writes the marker of a multipart upload to key, then
// starts the upload. A marker names the key before the upload starts:
// some servers (MinIO) list unfinished uploads only by exact key, so
// Sweep finds the leftovers of a killed writer through the markers.
func (s *S3) startUpload(ctx context.Context, key string, po minio.PutObjectOptions) (*upload, error) {
	marker, err := s.putUploadMarker(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	id, err := retry(ctx, s, "put "+key, func() (string, error) {
		return s.core.NewMultipartUpload(ctx, s.bucket, s.key(key), po)
	})
	if err != nil {
		s.removeVersion(ctx, marker.key, marker.version)
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	return &upload{s: s, key: key, id: id, marker: marker}, nil
}

// complete completes the upload with parts, write-once (If-None-Match:
// *). When an object was there first (412), or an
// earlier attempt completed before its answer was lost (NoSuchUpload on
// a retry), the object under the key decides: found is it if it has
// the digest sha and size, and err is ErrExist otherwise.
func (u *upload) complete(ctx context.Context, parts []minio.CompletePart, co minio.PutObjectOptions, sha string, size int64,
) (done minio.UploadInfo, found *ObjectInfo, err error) {
	s := u.s
	co.SetMatchETagExcept("*")
	tries := 0
	done, err = retry(ctx, s, "put "+u.key, func() (minio.UploadInfo, error) {
		tries++
		return s.core.CompleteMultipartUpload(ctx, s.bucket, s.key(u.key), u.id, parts, co)
	})
	if err == nil {
		u.completed = true
		return done, nil, nil
	}
	if isPrecondition(err) || (tries > 1 && s3Code(err) == "NoSuchUpload") {
		found, err = s.existing(ctx, u.key, sha, size)
		return done, found, err
	}
	return done, nil, fmt.Errorf("put %s: %w", u.key, err)
}

// end aborts the upload unless it completed (a refused completion leaves
// its parts on the server), then removes the marker; if the abort fails,
// the marker stays for the next Sweep.
func (u *upload) end(ctx context.Context) {
	if u.completed || u.s.abort(ctx, u.key, u.id) {
		u.s.removeVersion(ctx, u.marker.key, u.marker.version)
	}
}

// uploadsPrefix holds one small marker per multipart upload in progress,
// naming its key.
const uploadsPrefix = ".custos-uploads/"

type uploadMarker struct{ key, version string }

func (s *S3) putUploadMarker(ctx context.Context, key string) (uploadMarker, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return uploadMarker{}, err
	}
	m := uploadMarker{key: uploadsPrefix + hex.EncodeToString(b)}
	body := []byte(key)
	sum := sha256.Sum256(body)
	up, err := retry(ctx, s, "put "+m.key, func() (minio.UploadInfo, error) {
		return s.core.PutObject(ctx, s.bucket, s.key(m.key), bytes.NewReader(body), int64(len(body)), "", hex.EncodeToString(sum[:]),
			minio.PutObjectOptions{ContentType: "text/plain", ServerSideEncryption: s.sse})
	})
	m.version = up.VersionID
	return m, err
}

// removeVersion deletes one version of a bookkeeping object (marker or
// staging copy), best effort: Sweep removes what is left.
func (s *S3) removeVersion(ctx context.Context, key, version string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = retry(dctx, s, "remove "+key, func() (struct{}, error) {
		return struct{}{}, s.core.RemoveObject(dctx, s.bucket, s.key(key), minio.RemoveObjectOptions{VersionID: version})
	})
}

// Sweep aborts every unfinished multipart upload under the store's prefix
// and removes staged content never committed. Only the one writer of the
// store calls it, before it writes: what it finds then is left over from a
// put that was killed or lost its server. It returns how many it removed.
func (s *S3) Sweep(ctx context.Context) (int, error) {
	var swept int
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(stagingPrefix), Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			return swept, fmt.Errorf("sweep %s: %w", s, classify(oi.Err))
		}
		_, err := retry(ctx, s, "sweep "+oi.Key, func() (struct{}, error) {
			return struct{}{}, s.core.RemoveObject(ctx, s.bucket, oi.Key, minio.RemoveObjectOptions{VersionID: oi.VersionID})
		})
		if err != nil {
			return swept, fmt.Errorf("sweep %s: %w", s, err)
		}
		swept++
	}
	// The markers first: each names a key whose uploads to abort (MinIO
	// lists uploads only by exact key), then the marker's versions go.
	type version struct{ key, id string }
	var markers []version
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(uploadsPrefix), Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			return swept, fmt.Errorf("sweep %s: %w", s, classify(oi.Err))
		}
		markers = append(markers, version{oi.Key, oi.VersionID})
	}
	for _, m := range markers {
		obj, _, _, err := s.core.GetObject(ctx, s.bucket, m.key, minio.GetObjectOptions{VersionID: m.id, ServerSideEncryption: s.statOptions().ServerSideEncryption})
		var key []byte
		if err == nil {
			key, err = io.ReadAll(io.LimitReader(obj, 4096))
			obj.Close()
		}
		if err != nil && s3Code(err) != "NoSuchKey" && s3Code(err) != "NoSuchVersion" && s3Code(err) != "MethodNotAllowed" {
			return swept, fmt.Errorf("sweep %s: read %s: %w", s, m.key, classify(err))
		}
		if len(key) > 0 {
			n, err := s.abortAll(ctx, s.key(string(key)))
			swept += n
			if err != nil {
				return swept, err
			}
		}
		if _, err := retry(ctx, s, "sweep "+m.key, func() (struct{}, error) {
			return struct{}{}, s.core.RemoveObject(ctx, s.bucket, m.key, minio.RemoveObjectOptions{VersionID: m.id})
		}); err != nil {
			return swept, fmt.Errorf("sweep %s: %w", s, err)
		}
	}
	n, err := s.abortAll(ctx, s.prefix)
	return swept + n, err
}

// abortAll aborts the unfinished uploads the server lists under prefix
// (a full key, for servers that list by key only).
func (s *S3) abortAll(ctx context.Context, prefix string) (int, error) {
	swept := 0
	for up := range s.core.ListIncompleteUploads(ctx, s.bucket, prefix, true) {
		if up.Err != nil {
			return swept, fmt.Errorf("sweep %s: %w", s, up.Err)
		}
		_, err := retry(ctx, s, "abort "+up.Key, func() (struct{}, error) {
			err := s.core.AbortMultipartUpload(ctx, s.bucket, up.Key, up.UploadID)
			if s3Code(err) == "NoSuchUpload" {
				err = nil
			}
			return struct{}{}, err
		})
		if err != nil {
			return swept, fmt.Errorf("sweep %s: %w", s, err)
		}
		swept++
	}
	return swept, nil
}
