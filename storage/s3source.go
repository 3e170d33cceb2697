package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/minio/minio-go/v7"
)

// S3Source reads a bucket that is not an evidence store: a provider's own
// bucket whose objects an order names. It lists and reads, and never
// writes; the bucket needs neither Object Lock nor versioning. It is the
// s3 connector's only way to S3 (package agent/source), so that the S3
// client stays in this package.
type S3Source struct {
	s *S3
}

// SourceObject is one version of an object, or a delete marker, as a
// source bucket lists it; Open adds what only a read tells.
type SourceObject struct {
	Key          string
	VersionID    string // "null" for an object written while versioning was off
	ETag         string // without quotes
	Size         int64
	LastModified time.Time
	IsLatest     bool
	DeleteMarker bool
	StorageClass string

	// Set by Open: the content type and the checksums the server keeps
	// for the object ("CRC64NVME", "SHA256"... to the base64 value), with
	// their type ("FULL_OBJECT" or "COMPOSITE") in ChecksumType.
	ContentType  string
	Checksums    map[string]string
	ChecksumType string
}

// NewS3Source connects to the bucket o names and checks that it exists.
// Of o, the endpoint, bucket, region, credentials, TLS, CA file, path
// style, retry budget and transport are used; o.Prefix must be empty (the
// prefix is Versions' argument), and the settings that only writes use
// (retention, encryption, part size) must be unset.
func NewS3Source(ctx context.Context, o S3Options) (*S3Source, error) {
	switch {
	case o.Prefix != "":
		return nil, errors.New("s3 source: give the prefix to Versions, not in the options")
	case o.RetentionMode != "" || o.SSE != "" || o.PartSize != 0 || o.Concurrency != 0:
		return nil, errors.New("s3 source: retention, encryption, part size and concurrency are settings of an evidence store, not of a source")
	}
	s, err := newS3(o)
	if err != nil {
		return nil, err
	}
	ok, err := retry(ctx, s, "bucket "+s.bucket, func() (bool, error) { return s.core.BucketExists(ctx, s.bucket) })
	if err != nil {
		return nil, s.describe(err)
	}
	if !ok {
		return nil, fmt.Errorf("s3: bucket %q does not exist at %s: %w", s.bucket, s.endpoint, ErrNotExist)
	}
	return &S3Source{s: s}, nil
}

func (b *S3Source) String() string { return fmt.Sprintf("s3://%s/%s", b.s.endpoint, b.s.bucket) }

// Versions yields every version and delete marker whose key starts with
// prefix: keys in lexical order, the versions of one key newest first.
// A bucket that never had versioning lists one version per key. An error
// ends the listing.
func (b *S3Source) Versions(ctx context.Context, prefix string) iter.Seq2[*SourceObject, error] {
	return func(yield func(*SourceObject, error) bool) {
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		opts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}
		for oi := range b.s.core.Client.ListObjects(lctx, b.s.bucket, opts) {
			if oi.Err != nil {
				yield(nil, fmt.Errorf("list %s under %q: %w", b, prefix, b.s.describe(classify(oi.Err))))
				return
			}
			if !yield(sourceObject(oi), nil) {
				return
			}
		}
	}
}

func sourceObject(oi minio.ObjectInfo) *SourceObject {
	return &SourceObject{
		Key: oi.Key, VersionID: oi.VersionID, ETag: oi.ETag, Size: oi.Size, LastModified: oi.LastModified.UTC(),
		IsLatest: oi.IsLatest, DeleteMarker: oi.IsDeleteMarker, StorageClass: oi.StorageClass,
	}
}

// Open reads one version of key (the latest when versionID is ""), and
// only while its ETag is still etag (when etag is not ""): an object
// replaced since it was listed fails with ErrPrecondition rather than
// yield other bytes. A full-object checksum the server keeps is verified
// as the content is read, and a body shorter than the server announced
// fails; both fail the final Read.
func (b *S3Source) Open(ctx context.Context, key, versionID, etag string) (io.ReadCloser, *SourceObject, error) {
	opts := minio.GetObjectOptions{VersionID: versionID, Checksum: true}
	if etag != "" {
		if err := opts.SetMatchETag(etag); err != nil {
			return nil, nil, fmt.Errorf("get %s: %w", key, err)
		}
	}
	var (
		body io.ReadCloser
		oi   minio.ObjectInfo
	)
	_, err := retry(ctx, b.s, "get "+key, func() (struct{}, error) {
		var err error
		body, oi, _, err = b.s.core.GetObject(ctx, b.s.bucket, key, opts)
		return struct{}{}, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("get %s from %s: %w", key, b, err)
	}
	obj := sourceObject(oi)
	obj.Key, obj.ContentType = key, oi.ContentType
	obj.ChecksumType = oi.ChecksumMode
	for _, c := range objectChecksums(oi) {
		if obj.Checksums == nil {
			obj.Checksums = map[string]string{}
		}
		obj.Checksums[c.name] = c.value
	}
	return &sourceBody{key: key, r: body, c: body, size: oi.Size}, obj, nil
}

// sourceBody fails a body that ends before or runs past the size the
// server announced, naming the key.
type sourceBody struct {
	key  string
	r    io.Reader
	c    io.Closer
	size int64
	n    int64
}

func (sb *sourceBody) Read(p []byte) (int, error) {
	n, err := sb.r.Read(p)
	sb.n += int64(n)
	switch {
	case sb.n > sb.size:
		return n, fmt.Errorf("get %s: the body runs past the %d bytes the server announced", sb.key, sb.size)
	case errors.Is(err, io.EOF) && sb.n < sb.size:
		return n, fmt.Errorf("get %s: the body ended after %d of %d bytes: %w", sb.key, sb.n, sb.size, io.ErrUnexpectedEOF)
	case err != nil && !errors.Is(err, io.EOF):
		return n, fmt.Errorf("get %s: %w", sb.key, classify(err))
	}
	return n, err
}

func (sb *sourceBody) Close() error { return sb.c.Close() }
