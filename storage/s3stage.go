package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// stagingPrefix holds content whose digest, and so whose key, is not
// known until it has been streamed.
const stagingPrefix = ".custos-staging/"

// maxCopy is the largest object one CopyObject request may copy; larger
// staged content is copied part by part (UploadPartCopy), copyPartSize
// bytes each (S3 allows 5 MiB to 5 GiB, and 10,000 parts). Variables so
// that a test can exercise the part-by-part copy with small objects.
var (
	maxCopy      int64 = 5 << 30
	copyPartSize int64 = 1 << 30
)

// s3Staged is content streamed into the bucket's staging area, hashed on
// the way, waiting to be committed under its key by a server-side copy.
type s3Staged struct {
	s         *S3
	key       string
	versionID string
	Size      int64
	SHA256    string
	checksum  string // the staged object's full-object server checksum, "ALGORITHM:base64"
}

// Stage streams r into the staging area (no retention), hashing it: one
// pass over the source, for captures that learn their key from the digest.
func (s *S3) Stage(ctx context.Context, r io.Reader) (*Staged, error) {
	st, err := s.stage(ctx, r)
	if err != nil {
		return nil, err
	}
	return &Staged{Size: st.Size, SHA256: st.SHA256, commit: st.commit, discard: st.discard}, nil
}

func (s *S3) stage(ctx context.Context, r io.Reader) (*s3Staged, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	key := stagingPrefix + hex.EncodeToString(b)
	info, err := s.upload(ctx, key, r, PutOptions{})
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	return &s3Staged{s: s, key: key, versionID: info.VersionID, Size: info.Size, SHA256: info.SHA256,
		checksum: info.Checksum}, nil
}

func (st *s3Staged) discard(ctx context.Context) error {
	s := st.s
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err := retry(dctx, s, "discard "+st.key, func() (struct{}, error) {
		return struct{}{}, s.core.RemoveObject(dctx, s.bucket, s.key(st.key), minio.RemoveObjectOptions{VersionID: st.versionID})
	})
	return err
}

// commit copies the staged content, server-side, to key with the custody
// digest, retention and legal hold of opts, write-once (If-None-Match: *).
func (st *s3Staged) commit(ctx context.Context, key string, opts PutOptions) (*ObjectInfo, error) {
	s := st.s
	defer func() { _ = st.discard(ctx) }() // a leftover is swept on the next start
	if opts.SHA256 != "" && opts.SHA256 != st.SHA256 {
		return nil, fmt.Errorf("put %s: received bytes hash to %s, not %s: %w", key, st.SHA256, opts.SHA256, ErrPrecondition)
	}
	opts.SHA256 = st.SHA256
	if err := checkPut(key, opts, s.now()); err != nil {
		return nil, err
	}
	if _, err := s.Stat(ctx, key); err == nil {
		return s.existing(ctx, key, st.SHA256, st.Size)
	} else if !errors.Is(err, ErrNotExist) {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	if st.Size > maxCopy {
		return st.commitParts(ctx, key, opts)
	}
	h := http.Header{}
	po := s.putOptions(opts, 0)
	for k, v := range po.Header() {
		h[k] = v
	}
	h.Set("X-Amz-Metadata-Directive", "REPLACE")
	h.Set(hdrChecksumAlgo, s.checksum.name)
	h.Set("If-None-Match", "*")
	if s.sse != nil && s.sse.Type() == encrypt.SSEC {
		encrypt.SSECopy(s.sse).Marshal(h)
	}
	meta := map[string]string{}
	for k, v := range h {
		meta[k] = v[0]
	}
	_, err := retry(ctx, s, "put "+key, func() (minio.ObjectInfo, error) {
		return s.core.CopyObject(ctx, s.bucket, s.key(st.key), s.bucket, s.key(key), meta,
			minio.CopySrcOptions{VersionID: st.versionID}, minio.PutObjectOptions{})
	})
	if err != nil {
		if isPrecondition(err) {
			return s.existing(ctx, key, st.SHA256, st.Size)
		}
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	return st.readBack(ctx, key)
}

// readBack stats the copy of the staged content under key and checks that
// it is what was staged.
func (st *s3Staged) readBack(ctx context.Context, key string) (*ObjectInfo, error) {
	info, err := st.s.Stat(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("put %s: copied, but cannot read it back: %w", key, err)
	}
	if info.SHA256 != st.SHA256 || info.Size != st.Size {
		return nil, fmt.Errorf("put %s: the copy reads back as %d bytes with sha256 %s, staged %d bytes with %s: %w",
			key, info.Size, info.SHA256, st.Size, st.SHA256, ErrTamper)
	}
	return info, nil
}

// commitParts copies staged content too large for one CopyObject to key as
// a multipart upload whose parts are server-side copies of ranges of it,
// completed write-once (If-None-Match: *). The upload has a marker and is
// aborted on failure, as a put's. It names no checksum algorithm: MinIO
// refuses copied parts into an upload that has one (they carry none), and
// the bytes never leave the server; they were checked against their
// full-object server checksum when staged, and reads re-hash them against
// the custody digest. The object records that staged checksum in its
// metadata (x-amz-meta-custos-staged-checksum).
func (st *s3Staged) commitParts(ctx context.Context, key string, opts PutOptions) (info *ObjectInfo, err error) {
	s := st.s
	partSize := max(copyPartSize, (st.Size+9999)/10000)
	po := s.putOptions(opts, partSize)
	po.UserMetadata[metaStagedChecksum] = st.checksum
	up, err := s.startUpload(ctx, key, po)
	if err != nil {
		return nil, err
	}
	defer up.end(ctx)
	// The source is the staged version, by id: nothing put under the
	// staging key since is copied. (minio-go sets this header without a
	// version; ours is applied after it.)
	hdr := map[string]string{}
	if st.versionID != "" {
		hdr["x-amz-copy-source"] = s3utils.EncodePath(s.bucket+"/"+s.key(st.key)) + "?versionId=" + url.QueryEscape(st.versionID)
	}
	if s.sse != nil && s.sse.Type() == encrypt.SSEC {
		h := http.Header{}
		encrypt.SSECopy(s.sse).Marshal(h) // to read the source
		s.sse.Marshal(h)                  // to write the part
		for k := range h {
			hdr[k] = h.Get(k)
		}
	}
	var parts []minio.CompletePart
	for num, off := 1, int64(0); off < st.Size; num, off = num+1, off+partSize {
		n := min(partSize, st.Size-off)
		p, err := retry(ctx, s, fmt.Sprintf("put %s part %d", key, num), func() (minio.CompletePart, error) {
			p, err := s.core.CopyObjectPart(ctx, s.bucket, s.key(st.key), s.bucket, s.key(key), up.id, num, off, n, hdr)
			if err == nil && p.ETag == "" { // S3 may answer 200 with an error in the body
				err = fmt.Errorf("copy of part %d answered without an ETag", num)
			}
			return p, err
		})
		if err != nil {
			return nil, fmt.Errorf("put %s: copy part %d: %w", key, num, err)
		}
		parts = append(parts, p)
	}
	co := minio.PutObjectOptions{}
	if s.sse != nil && s.sse.Type() == encrypt.SSEC {
		co.ServerSideEncryption = s.sse
	}
	if _, found, err := up.complete(ctx, parts, co, st.SHA256, st.Size); err != nil || found != nil {
		return found, err
	}
	return st.readBack(ctx, key)
}
