package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	"github.com/custos-evidence/custos/storage"
)

// evidenceStore is what the commands use of the configured store;
// *storage.Local and the S3 store both provide it.
type evidenceStore interface {
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	Stat(ctx context.Context, key string) (*storage.ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error]
	ExtendRetention(ctx context.Context, key string, until time.Time) error
	SetLegalHold(ctx context.Context, key string, on bool) error
	Delete(ctx context.Context, key string) error
	Stage(ctx context.Context, r io.Reader) (*storage.Staged, error)
	Sync(ctx context.Context) error
}

// openStore opens the configured evidence store. An S3 store is checked
// on opening: the bucket exists and has Object Lock.
func openStore(ctx context.Context, cfg *Config) (evidenceStore, error) {
	switch cfg.Store.Type {
	case "local":
		return storage.NewLocal(cfg.dir().Store(), time.Now)
	case "s3":
		o, err := cfg.s3Options()
		if err != nil {
			return nil, err
		}
		s, err := storage.NewS3(ctx, o)
		if errors.Is(err, storage.ErrNoObjectLock) {
			err = fmt.Errorf("%w (create a bucket with Object Lock: custos storage init)", err)
		}
		return s, err
	default:
		return nil, fmt.Errorf("store.type %q is not local or s3", cfg.Store.Type)
	}
}

// s3Options maps the store.s3 keys onto the S3 store's options.
func (c *Config) s3Options() (storage.S3Options, error) {
	s := c.Store.S3
	o := storage.S3Options{
		Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey.Reveal(),
		TLS: s.TLS, CAFile: s.CAFile, PathStyle: s.PathStyle,
		RetentionMode: s.RetentionMode, Checksum: s.Checksum,
		SSE: s.SSE, SSEKMSKeyID: s.SSEKMSKeyID,
		PartSize: s.PartSize, Concurrency: s.UploadConcurrency, RetryFor: s.RetryFor,
	}
	// Files the configuration names and that are not there (or not what
	// they should be) are configuration errors, found before the store is
	// reached.
	if s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			return o, usageErrorf("config: store.s3.ca_file: %v", err)
		}
	}
	if s.SSECKeyFile != "" {
		key, err := os.ReadFile(s.SSECKeyFile)
		if err != nil {
			return o, usageErrorf("config: store.s3.sse_c_key_file: %v", err)
		}
		if len(key) != 32 {
			return o, usageErrorf("config: store.s3.sse_c_key_file: %s holds %d bytes, not the 32 of an SSE-C key", s.SSECKeyFile, len(key))
		}
		o.SSECKey = key
	}
	return o, nil
}
