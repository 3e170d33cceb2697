package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"path/filepath"
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
}

// storeDir is where the local store keeps its objects.
func (c *Config) storeDir() string { return filepath.Join(c.DataDir, "store") }

// openStore opens the configured evidence store.
func openStore(_ context.Context, cfg *Config) (evidenceStore, error) {
	switch cfg.Store.Type {
	case "local":
		return storage.NewLocal(cfg.storeDir(), time.Now)
	default:
		return nil, fmt.Errorf("store.type %q: not supported yet (use local)", cfg.Store.Type)
	}
}
