package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/custos-evidence/custos/storage"
)

// s3Params are the parameters of an "s3" source: the objects under a
// prefix of a provider's bucket (not the evidence store).
//
//   - endpoint (required): host[:port] of the S3 service, no scheme.
//   - bucket (required): the bucket.
//   - prefix: only keys that start with it; "" for the whole bucket. Each
//     item is named by its key with the prefix cut off (the key's last
//     segment when the prefix is the whole key).
//   - region: the bucket's region, if the service needs one.
//   - access_key, secret_key: the credentials, each literal or "env:NAME"
//     (read from the agent's environment when the capture runs; an unset
//     variable is an error). Both empty: the environment's AWS_/MINIO_
//     variables, AWS files, then IAM. The secret key is never recorded;
//     the record names the access key (or its env: reference) only.
//   - tls: https (default true).
//   - ca_file: PEM certificates trusted in addition to the system's.
//   - path_style: path-style bucket addressing (MinIO and most
//     S3-compatible services want it) instead of automatic.
//   - versions: preserve every version of every object, each item named
//     "<name>@<version-id>"; by default only the version that was current
//     at the cut-off.
//   - include_newer: ignore the cut-off: preserve versions written after
//     it too (with versions false: the latest version).
//
// Only data that existed when the order was received is preserved by
// default: a version written after the capture's cut-off is skipped and
// counted ("skipped_newer"). Without versions, the item for a key is its
// newest version not after the cut-off, so an object overwritten after
// the order arrived is preserved as it was (in a versioned bucket); a key
// whose chosen version is a delete marker (deleted before the cut-off, or
// with include_newer deleted now) yields nothing ("deleted"); the
// versions older than the one chosen are counted ("older_versions"). With
// versions, delete markers are counted ("delete_markers"). Zero-byte keys
// ending in "/" are folder placeholders, counted ("folder_markers").
//
// Each object is read pinned to its listed version and ETag (one replaced
// in between fails its item), a full-object checksum the server keeps is
// verified while it streams, and a body whose length differs from the
// listed size fails its item. The record holds the endpoint, bucket,
// prefix, key, version id, ETag, size, last-modified time, whether it was
// the latest version, storage class, content type and the server's
// checksums. The listing needs ListObjectVersions, which S3, MinIO and
// most compatible services answer also for buckets without versioning.
type s3Params struct {
	Endpoint     string `json:"endpoint"`
	Bucket       string `json:"bucket"`
	Prefix       string `json:"prefix"`
	Region       string `json:"region"`
	AccessKey    string `json:"access_key"`
	SecretKey    string `json:"secret_key"`
	TLS          *bool  `json:"tls"`
	CAFile       string `json:"ca_file"`
	PathStyle    bool   `json:"path_style"`
	Versions     bool   `json:"versions"`
	IncludeNewer bool   `json:"include_newer"`
}

type s3Source struct {
	p      s3Params
	tls    bool
	getenv func(string) (string, bool)
}

func newS3(params map[string]any) (Source, error) {
	var p s3Params
	if err := decodeParams(params, &p); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	switch {
	case p.Endpoint == "":
		return nil, errors.New("s3: no endpoint (host[:port] of the S3 service)")
	case strings.Contains(p.Endpoint, "://") || strings.ContainsAny(p.Endpoint, "/ "):
		return nil, fmt.Errorf("s3: endpoint %q: give host[:port] without a scheme or path (TLS is the tls parameter)", p.Endpoint)
	case p.Bucket == "":
		return nil, errors.New("s3: no bucket")
	case (p.AccessKey == "") != (p.SecretKey == ""):
		return nil, errors.New("s3: give both access_key and secret_key, or neither (environment, AWS files, IAM)")
	}
	for what, v := range map[string]string{"access_key": p.AccessKey, "secret_key": p.SecretKey} {
		if _, err := envRef(v); err != nil {
			return nil, fmt.Errorf("s3: %s: %w", what, err)
		}
	}
	s := &s3Source{p: p, tls: p.TLS == nil || *p.TLS, getenv: os.LookupEnv}
	return s, nil
}

func (s *s3Source) Kind() string { return "s3" }

func (s *s3Source) String() string { return "s3 " + s.p.Endpoint + "/" + s.p.Bucket + "/" + s.p.Prefix }

func (s *s3Source) options() (storage.S3Options, error) {
	o := storage.S3Options{
		Endpoint: s.p.Endpoint, Bucket: s.p.Bucket, Region: s.p.Region,
		TLS: s.tls, CAFile: s.p.CAFile, PathStyle: s.p.PathStyle,
	}
	var err error
	if o.AccessKey, err = resolveValue(s.p.AccessKey, s.getenv); err != nil {
		return o, fmt.Errorf("access_key: %w", err)
	}
	if o.SecretKey, err = resolveValue(s.p.SecretKey, s.getenv); err != nil {
		return o, fmt.Errorf("secret_key: %w", err)
	}
	return o, nil
}

// s3Summary counts what a capture of a bucket did beyond its items.
type s3Summary struct {
	listed, emitted                         int
	bytes                                   int64
	newer, older, deleted, markers, folders int
	includeNewer, versions                  bool
}

// summary: "listed" (versions and delete markers listed), "emitted",
// "bytes", "skipped_newer", "older_versions", "deleted",
// "delete_markers" (with versions), "folder_markers", "versions",
// "include_newer".
func (c *s3Summary) summary() Summary {
	return Summary{
		"listed": c.listed, "emitted": c.emitted, "bytes": c.bytes, "skipped_newer": c.newer,
		"older_versions": c.older, "deleted": c.deleted, "delete_markers": c.markers,
		"folder_markers": c.folders, "versions": c.versions, "include_newer": c.includeNewer,
	}
}

// Capture lists the prefix and preserves the versions it selects, in
// listing order; it stops at the first item that fails.
func (s *s3Source) Capture(ctx context.Context, req Request, emit Emit) (Summary, error) {
	c := &s3Summary{includeNewer: s.p.IncludeNewer, versions: s.p.Versions}
	if req.CutOff.IsZero() && !s.p.IncludeNewer {
		return c.summary(), fmt.Errorf("%s: the request has no cut-off time", s)
	}
	o, err := s.options()
	if err != nil {
		return c.summary(), fmt.Errorf("%s: %w", s, err)
	}
	b, err := storage.NewS3Source(ctx, o)
	if err != nil {
		return c.summary(), fmt.Errorf("%s: %w", s, err)
	}
	key, taken := "", false // the key being listed; whether its version is chosen
	for obj, err := range b.Versions(ctx, s.p.Prefix) {
		if err != nil {
			return c.summary(), fmt.Errorf("%s: %w", s, err)
		}
		c.listed++
		if obj.Key != key {
			key, taken = obj.Key, false
		}
		switch {
		case !s.p.IncludeNewer && obj.LastModified.After(req.CutOff):
			c.newer++
			continue
		case !s.p.Versions && taken:
			c.older++
			continue
		}
		taken = true
		switch {
		case obj.DeleteMarker && s.p.Versions:
			c.markers++
		case obj.DeleteMarker:
			c.deleted++
		case obj.Size == 0 && strings.HasSuffix(obj.Key, "/"):
			c.folders++
		default:
			if err := s.preserve(ctx, b, obj, emit, c); err != nil {
				return c.summary(), err
			}
		}
	}
	return c.summary(), nil
}

// preserve opens one listed version and passes it to emit.
func (s *s3Source) preserve(ctx context.Context, b *storage.S3Source, obj *storage.SourceObject, emit Emit, c *s3Summary) error {
	body, got, err := b.Open(ctx, obj.Key, obj.VersionID, obj.ETag)
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	defer body.Close()
	name := strings.TrimPrefix(obj.Key, s.p.Prefix)
	if name == "" {
		name = path.Base(obj.Key)
	}
	if s.p.Versions {
		name += "@" + obj.VersionID
	}
	rec := map[string]any{
		"endpoint": s.p.Endpoint, "bucket": s.p.Bucket, "prefix": s.p.Prefix, "key": obj.Key,
		"version_id": obj.VersionID, "etag": obj.ETag, "size": obj.Size,
		"last_modified": stamp(obj.LastModified), "is_latest": obj.IsLatest,
		"tls": s.tls, "path_style": s.p.PathStyle,
	}
	if s.p.AccessKey != "" {
		rec["access_key"] = s.p.AccessKey // the key id or its env: reference; never the secret
	}
	for k, v := range map[string]string{"region": s.p.Region, "storage_class": obj.StorageClass, "content_type": got.ContentType, "checksum_type": got.ChecksumType} {
		if v != "" {
			rec[k] = v
		}
	}
	if len(got.Checksums) > 0 {
		rec["checksums"] = got.Checksums
	}
	it := &Item{Name: name, MediaType: got.ContentType, Modified: obj.LastModified, Record: rec}
	r := &sizedBody{r: body, what: fmt.Sprintf("s3://%s/%s (version %s)", s.p.Bucket, obj.Key, obj.VersionID), want: obj.Size}
	if err := emit(it, r); err != nil {
		return err
	}
	if !r.done {
		return fmt.Errorf("%s: its content was not read to the end", r.what)
	}
	c.emitted++
	c.bytes += r.n
	return nil
}

// sizedBody fails the read of an object whose length differs from the
// size the listing gave.
type sizedBody struct {
	r    io.Reader
	what string
	want int64
	n    int64
	done bool
}

func (b *sizedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.want {
		return n, fmt.Errorf("%s: more than the %d bytes listed", b.what, b.want)
	}
	if err == io.EOF {
		if b.n != b.want {
			return n, fmt.Errorf("%s: %d bytes read, %d listed", b.what, b.n, b.want)
		}
		b.done = true
	}
	return n, err
}
