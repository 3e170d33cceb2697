package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// LoggedItem is an item the custody log says an order holds.
type LoggedItem struct {
	Order  string
	Key    string
	Digest chain.Digest
	// Index is the log index of the event that preserved it: its batch's
	// items.sealed, or (before batches) its item.preserved.
	Index uint64
	Size  int64 // as its record or event gives it; -1 if it does not
	// Spooled: the log says the item was sealed into the local spool
	// and not yet that it reached the store (item.stored).
	Spooled bool
	// Batch is the batch that sealed the item; nil for an item preserved
	// before batches.
	Batch *LoggedBatch
}

// LoggedBatch is a batch the custody log says an order holds: what its
// items.sealed event says of it, and where it is now.
type LoggedBatch struct {
	Order  string
	Index  uint64    // of its items.sealed event
	Time   time.Time // its items.sealed event's time
	Sealed *chain.SealedBatch
	// Spooled: sealed into the spool, and no item.stored of it yet.
	Spooled bool
}

// Key is the batch's manifest's key in the store.
func (b *LoggedBatch) Key() string { return ManifestKey(b.Order, b.Sealed.Capture, b.Sealed.Batch) }

// ID names the batch within its order: capture/batch.
func (b *LoggedBatch) ID() string { return b.Sealed.Capture + "/" + strconv.Itoa(b.Sealed.Batch) }

// Getter reads an object whole, re-hashing it: the store, the spool, or
// an index of manifests in front of them.
type Getter interface {
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
}

// MaxManifestSize bounds a manifest read whole.
const MaxManifestSize = chain.MaxBatchItems * 4 << 10

// ReadManifest reads the manifest of b from src and checks it is the one
// b's event names: its SHA-256, the Merkle root over its records, its
// count, and that every record is of b's order and capture, under its own
// item's key. Anything else is a *chain.TamperError naming the manifest.
func ReadManifest(ctx context.Context, src Getter, b *LoggedBatch) ([][]byte, []*chain.ItemRecord, error) {
	key := b.Key()
	r, _, err := src.Get(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, nil, &chain.TamperError{File: key, Index: int64(b.Index), What: "the manifest of a sealed batch is missing"}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	return CheckManifest(raw, b)
}

// CheckManifest checks raw against the batch b's event names (see
// ReadManifest) and returns its records.
func CheckManifest(raw []byte, b *LoggedBatch) ([][]byte, []*chain.ItemRecord, error) {
	key, sb := b.Key(), b.Sealed
	bad := func(format string, args ...any) ([][]byte, []*chain.ItemRecord, error) {
		return nil, nil, &chain.TamperError{File: key, Index: int64(b.Index), What: fmt.Sprintf(format, args...)}
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != sb.ManifestSHA256 {
		return bad("the manifest hashes to %s, its items.sealed event names %s", hex.EncodeToString(sum[:]), sb.ManifestSHA256)
	}
	lines, recs, err := chain.ParseManifest(raw)
	if err != nil {
		return bad("%v", err)
	}
	if len(recs) != sb.Count {
		return bad("the manifest holds %d records, its event counts %d", len(recs), sb.Count)
	}
	if root := chain.NewRecordTree(lines).Root(); !bytes.Equal(root, sb.Root) {
		return bad("the records' Merkle root is %x, its event names %x", root, sb.Root)
	}
	for i, rec := range recs {
		if rec.Order != b.Order || rec.Capture != sb.Capture || rec.Key != ItemKey(b.Order, rec.SHA256) {
			return bad("record %d is of order %s, capture %s, key %s: not this batch's", i+1, rec.Order, rec.Capture, rec.Key)
		}
	}
	return lines, recs, nil
}

// LoggedItems reads the log (the first size entries of fsys) and returns
// the items preserved and not purged, of one order or of every order
// (order ""), in log order, and the batches that sealed them. The records
// of a batch's items come from its manifest, through manifests (an Index,
// or StoreManifests), checked against the event.
func LoggedItems(ctx context.Context, fsys fs.FS, size uint64, order string, manifests ManifestSource) ([]LoggedItem, []*LoggedBatch, error) {
	items, batches, err := LoggedBatches(ctx, fsys, size, order)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range batches {
		_, recs, err := manifests.Manifest(ctx, b)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range recs {
			items = append(items, LoggedItem{Order: b.Order, Key: r.Key, Digest: r.Digest(), Index: b.Index, Size: r.Size,
				Spooled: b.Spooled && r.Stored == chain.StoredInSpool, Batch: b})
		}
	}
	return items, batches, nil
}

// LoggedBatches reads the log as LoggedItems does, without the manifests:
// the items preserved before batches, and the batches sealed and not
// purged.
func LoggedBatches(ctx context.Context, fsys fs.FS, size uint64, order string) ([]LoggedItem, []*LoggedBatch, error) {
	var items []LoggedItem
	var batches []*LoggedBatch
	at := map[string]int{}              // order/sha256 -> position in items, before batches
	sealed := map[string]*LoggedBatch{} // order/capture/batch
	last := map[string]int{}            // order/capture -> its newest batch number
	for rec, err := range chain.Entries(ctx, fsys, 0, size) {
		if err != nil {
			return nil, nil, err
		}
		e := rec.Event
		if e.Order == "" || (order != "" && e.Order != order) {
			continue
		}
		switch e.Type {
		case chain.ItemsSealed:
			sb, err := chain.ParseSealedBatch(e)
			if err != nil {
				return nil, nil, &chain.TamperError{Index: int64(rec.Index), What: err.Error()}
			}
			// A capture numbers its batches 1, 2, ... as it seals them; a
			// failed seal leaves a gap, nothing leaves a repeat.
			if n := last[e.Order+"/"+sb.Capture]; sb.Batch <= n {
				return nil, nil, &chain.TamperError{Index: int64(rec.Index), What: fmt.Sprintf(
					"items.sealed of capture %s says batch %d after its batch %d: batch numbers out of sequence", sb.Capture, sb.Batch, n)}
			}
			last[e.Order+"/"+sb.Capture] = sb.Batch
			b := &LoggedBatch{Order: e.Order, Index: rec.Index, Time: e.Time, Sealed: sb, Spooled: sb.Stored == chain.StoredInSpool}
			sealed[e.Order+"/"+b.ID()] = b
			batches = append(batches, b)
			continue
		case chain.ItemStored, chain.ItemPurged:
			if b := sealed[e.Order+"/"+e.Details["capture"]+"/"+e.Details["batch"]]; b != nil && len(e.Items) == 0 {
				if e.Type == chain.ItemStored {
					b.Spooled = false
				} else {
					delete(sealed, e.Order+"/"+b.ID())
					b.Sealed = nil // purged; filtered below
				}
				continue
			}
		}
		for _, d := range e.Items {
			id := e.Order + "/" + d.SHA256
			switch e.Type {
			case chain.ItemPreserved:
				if _, ok := at[id]; !ok {
					at[id] = len(items)
					size, err := strconv.ParseInt(e.Details["size"], 10, 64)
					if err != nil || len(e.Items) != 1 {
						size = -1
					}
					items = append(items, LoggedItem{Order: e.Order, Key: ItemKey(e.Order, d.SHA256), Digest: d, Index: rec.Index, Size: size,
						Spooled: e.Details["stored"] == "spool"})
				}
			case chain.ItemStored:
				if i, ok := at[id]; ok {
					items[i].Spooled = false
				}
			case chain.ItemPurged:
				if i, ok := at[id]; ok {
					items[i].Key = "" // gone; filtered below
					delete(at, id)
				}
			}
		}
	}
	out := items[:0]
	for _, it := range items {
		if it.Key != "" {
			out = append(out, it)
		}
	}
	live := batches[:0]
	for _, b := range batches {
		if b.Sealed != nil {
			live = append(live, b)
		}
	}
	return out, live, nil
}
