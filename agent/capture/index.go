package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
)

// ManifestSource gives the records of a sealed batch, checked against
// what its items.sealed event says (CheckManifest).
type ManifestSource interface {
	Manifest(ctx context.Context, b *LoggedBatch) ([][]byte, []*chain.ItemRecord, error)
}

// StoreManifests reads manifests from the store, or from the spool for a
// batch sealed there and not yet flushed.
type StoreManifests struct {
	Store Getter
	Spool Getter // may be nil
}

// Manifest reads b's manifest where it is now.
func (s StoreManifests) Manifest(ctx context.Context, b *LoggedBatch) ([][]byte, []*chain.ItemRecord, error) {
	if b.Spooled && s.Spool != nil {
		lines, recs, err := ReadManifest(ctx, s.Spool, b)
		if err == nil {
			return lines, recs, nil
		}
		// Flushed meanwhile: the store has it now, or the spool's answer
		// stands.
		if lines, recs, serr := ReadManifest(ctx, s.Store, b); serr == nil {
			return lines, recs, nil
		}
		return nil, nil, err
	}
	return ReadManifest(ctx, s.Store, b)
}

// Index keeps a copy of every sealed batch's manifest in the data
// directory, under Dir (the data directory) at the manifest's key
// (orders/<order>/captures/<capture>/batch-<n>.jsonl), so that reading an
// order's records costs no trip to the store. It is the index the
// registry reads records through. A copy it lacks is fetched from the
// store (or the spool) and kept; a copy that does not match its event is
// tampering, named by its path, as an altered order record is.
type Index struct {
	Dir string
	// From is where a manifest the index lacks comes from.
	From StoreManifests
	// ReadOnly keeps the index from writing (a reader of the data
	// directory).
	ReadOnly bool
}

func (x *Index) path(key string) string { return filepath.Join(x.Dir, filepath.FromSlash(key)) }

// Keep writes a sealed batch's manifest into the index (Manifests).
func (x *Index) Keep(order, capture string, batch int, manifest []byte) error {
	if x.ReadOnly {
		return nil
	}
	return x.keep(ManifestKey(order, capture, batch), manifest)
}

// keep writes the copy of key once: a copy with the same bytes already
// there is success.
func (x *Index) keep(key string, manifest []byte) error {
	p := x.path(key)
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, manifest) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return datadir.WriteFile(p, manifest, 0o400)
}

// Manifest returns b's records from the index's copy, or from the store
// when the index has none (keeping a copy).
func (x *Index) Manifest(ctx context.Context, b *LoggedBatch) ([][]byte, []*chain.ItemRecord, error) {
	p := x.path(b.Key())
	raw, err := os.ReadFile(p)
	if err == nil {
		lines, recs, err := CheckManifest(raw, b)
		var te *chain.TamperError
		if errors.As(err, &te) {
			te.File = p // the copy in the data directory, not the store's
		}
		return lines, recs, err
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("manifest %s: %w", p, err)
	}
	lines, recs, err := x.From.Manifest(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	if !x.ReadOnly {
		if err := x.keep(b.Key(), chain.FormatManifest(lines)); err != nil {
			return nil, nil, fmt.Errorf("keep manifest %s: %w", p, err)
		}
	}
	return lines, recs, nil
}

// Forget removes the index's copy of a purged batch's manifest: the
// store keeps nothing of it either, and the log keeps its digest and root.
func (x *Index) Forget(b *LoggedBatch) error {
	if x.ReadOnly {
		return nil
	}
	if err := os.Remove(x.path(b.Key())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
