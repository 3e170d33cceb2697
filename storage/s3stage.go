package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// stagingPrefix holds content whose digest, and so whose key, is not
// known until it has been streamed.
const stagingPrefix = ".custos-staging/"

// maxCopy is the largest object one CopyObject request may copy.
const maxCopy = 5 << 30

// s3Staged is content streamed into the bucket's staging area, hashed on
// the way, waiting to be committed under its key by a server-side copy.
type s3Staged struct {
	s         *S3
	key       string
	versionID string
	Size      int64
	SHA256    string
}

// Stage streams r into the staging area (no retention), hashing it: one
// pass over the source, for captures that learn their key from the digest.
func (s *S3) Stage(ctx context.Context, r io.Reader) (*Staged, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	key := stagingPrefix + hex.EncodeToString(b)
	info, err := s.upload(ctx, key, r, PutOptions{})
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	st := &s3Staged{s: s, key: key, versionID: info.VersionID, Size: info.Size, SHA256: info.SHA256}
	return &Staged{Size: st.Size, SHA256: st.SHA256, commit: st.commit, discard: st.discard}, nil
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
		return nil, fmt.Errorf("put %s: %d bytes staged; server-side copies above 5 GiB (multipart copy) are not supported yet", key, st.Size)
	}
	h := http.Header{}
	po := s.putOptions(opts, 0)
	for k, v := range po.Header() {
		h[k] = v
	}
	h.Set("X-Amz-Metadata-Directive", "REPLACE")
	h.Set(hdrChecksumAlgo, "CRC64NVME")
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
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("put %s: copied, but cannot read it back: %w", key, err)
	}
	if info.SHA256 != st.SHA256 || info.Size != st.Size {
		return nil, fmt.Errorf("put %s: the copy reads back as %d bytes with sha256 %s, staged %d bytes with %s: %w",
			key, info.Size, info.SHA256, st.Size, st.SHA256, ErrTamper)
	}
	return info, nil
}
