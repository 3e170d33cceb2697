package capture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// SpoolStore is the local spool: where items are sealed while the evidence
// store cannot be reached (a local store under the data directory).
type SpoolStore interface {
	Store
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	List(ctx context.Context, prefix string) iter.Seq2[*storage.ObjectInfo, error]
	Delete(ctx context.Context, key string) error
}

// probeTimeout bounds the check, before a capture, that the store answers.
const probeTimeout = 5 * time.Second

// StoreUp reports whether the evidence store answers now: a Stat of a key
// that need not exist, with a short deadline.
func (c *Capturer) StoreUp(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := c.Store.Stat(pctx, ".custos-probe/reachable")
	return err == nil || errors.Is(err, storage.ErrNotExist)
}

// Spooled reports whether the spool holds anything to flush.
func (c *Capturer) Spooled(ctx context.Context) (bool, error) {
	if c.Spool == nil {
		return false, nil
	}
	for _, err := range c.Spool.List(ctx, "orders/") {
		return err == nil, err
	}
	return false, nil
}

// Retention gives the retention and legal hold an order's items carry now.
type Retention func(ctx context.Context, order string) (until time.Time, hold bool, err error)

// Turn waits for an order to be free of other steps and returns the func
// that frees it again.
type Turn func(ctx context.Context, order string) (func(), error)

// FlushOptions are the values of one Flush.
type FlushOptions struct {
	// Actor is who flushes, recorded in every item.stored event.
	Actor string
	// Retention gives each item's order's retention and hold now; the
	// store applies them as it takes the item.
	Retention Retention
	// Turn, when set, is taken around each spooled item, for the item's
	// order.
	Turn Turn
}

// FlushReport says what Flush moved from the spool to the store.
type FlushReport struct {
	Stored []string // item keys now in the store, item.stored logged
}

// Flush uploads the items sealed in the spool to the evidence store, each
// with its metadata and attestation, logs item.stored once the WORM copy
// exists, and then removes the spooled copies. It stops at the first
// failure; what is left is flushed next time.
func (c *Capturer) Flush(ctx context.Context, opts FlushOptions) (*FlushReport, error) {
	rep := &FlushReport{}
	if c.Spool == nil {
		return rep, nil
	}
	var manifests, metas []string
	for info, err := range c.Spool.List(ctx, "orders/") {
		if err != nil {
			return rep, fmt.Errorf("flush: %w", err)
		}
		switch {
		case strings.HasSuffix(info.Key, ".jsonl") && strings.Contains(info.Key, "/captures/"):
			manifests = append(manifests, info.Key)
		case strings.HasSuffix(info.Key, ".meta.json"):
			metas = append(metas, info.Key) // an item spooled before batches
		}
	}
	for _, mk := range manifests {
		keys, err := c.flushBatch(ctx, mk, opts)
		if err != nil {
			return rep, err
		}
		rep.Stored = append(rep.Stored, keys...)
	}
	for _, mk := range metas {
		key, err := c.flushOne(ctx, mk, opts)
		if err != nil {
			return rep, err
		}
		rep.Stored = append(rep.Stored, key)
	}
	return rep, nil
}

// flushOne moves the spooled item whose metadata is mk to the store, in
// its order's turn, and returns its key.
func (c *Capturer) flushOne(ctx context.Context, mk string, fo FlushOptions) (string, error) {
	var meta legacyMeta
	if err := c.readSpooled(ctx, mk, &meta); err != nil {
		return "", err
	}
	if fo.Turn != nil {
		done, err := fo.Turn(ctx, meta.Order)
		if err != nil {
			return "", fmt.Errorf("flush %s: %w", meta.Store.Key, err)
		}
		defer done()
	}
	until, hold, err := fo.Retention(ctx, meta.Order)
	if err != nil {
		return "", fmt.Errorf("flush %s: %w", meta.Store.Key, err)
	}
	opts := storage.PutOptions{RetainUntil: until, LegalHold: hold}
	if !until.IsZero() && !until.After(c.now()) {
		opts.RetainUntil = time.Time{} // the order has lapsed meanwhile; keep, unretained
	}
	keys := []string{meta.Store.Key, mk, AttestationKey(meta.Order, meta.Digests.SHA256)}
	var item *storage.ObjectInfo
	for i, k := range keys {
		info, err := c.copyToStore(ctx, k, opts)
		if err != nil {
			return "", fmt.Errorf("flush %s: %w", k, err)
		}
		if i == 0 {
			item = info
		}
	}
	details := map[string]string{"key": meta.Store.Key, "capture": meta.Capture, "from": "spool"}
	if item.VersionID != "" {
		details["version_id"] = item.VersionID
	}
	if item.Checksum != "" {
		details["checksum"] = item.Checksum
	}
	e := chain.Event{Type: chain.ItemStored, Time: c.now(), Order: meta.Order, Actor: fo.Actor, Agent: c.Agent, Host: c.Host,
		Items: []chain.Digest{{SHA256: meta.Digests.SHA256, SHA512: meta.Digests.SHA512}}, Details: details}
	if _, err := c.Log.Append(ctx, e); err != nil {
		return "", fmt.Errorf("flush %s: stored, not logged: %w", meta.Store.Key, err)
	}
	for _, k := range keys {
		if err := c.Spool.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotExist) {
			return "", fmt.Errorf("flush %s: stored and logged, spooled copy not removed: %w", k, err)
		}
	}
	return meta.Store.Key, nil
}

// legacyMeta is what Flush reads of the metadata of an item spooled
// before items were sealed in batches.
type legacyMeta struct {
	Order   string  `json:"order"`
	Capture string  `json:"capture"`
	Digests Digests `json:"digests"`
	Store   struct {
		Key string `json:"key"`
	} `json:"store"`
}

// flushBatch moves a batch sealed in the spool to the store, in its
// order's turn: every item the spool holds, then the manifest and the
// statement, then item.stored for the batch, then the spooled copies go.
// It returns the keys of the items moved.
func (c *Capturer) flushBatch(ctx context.Context, mk string, fo FlushOptions) ([]string, error) {
	order, capture, n, ok := parseManifestKey(mk)
	if !ok {
		return nil, fmt.Errorf("flush %s: not a batch manifest's key", mk)
	}
	if fo.Turn != nil {
		done, err := fo.Turn(ctx, order)
		if err != nil {
			return nil, fmt.Errorf("flush %s: %w", mk, err)
		}
		defer done()
	}
	until, hold, err := fo.Retention(ctx, order)
	if err != nil {
		return nil, fmt.Errorf("flush %s: %w", mk, err)
	}
	opts := storage.PutOptions{RetainUntil: until, LegalHold: hold}
	if !until.IsZero() && !until.After(c.now()) {
		opts.RetainUntil = time.Time{} // the order has lapsed meanwhile; keep, unretained
	}
	raw, err := c.readSpooledBytes(ctx, mk)
	if err != nil {
		return nil, err
	}
	_, recs, err := chain.ParseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("flush %s: %w", mk, err)
	}
	var items, keys []string
	for _, r := range recs {
		if r.Stored == chain.StoredInSpool {
			items = append(items, r.Key)
		}
	}
	keys = append(append(keys, items...), mk, StatementKey(order, capture, n))
	for _, k := range keys {
		if _, err := c.copyToStore(ctx, k, opts); err != nil && !errors.Is(err, storage.ErrNotExist) {
			return nil, fmt.Errorf("flush %s: %w", k, err)
		}
	}
	sum := sha256.Sum256(raw)
	e := chain.Event{Type: chain.ItemStored, Time: c.now(), Order: order, Actor: fo.Actor, Agent: c.Agent, Host: c.Host,
		Details: map[string]string{"capture": capture, "batch": strconv.Itoa(n), "count": strconv.Itoa(len(items)),
			"manifest_sha256": hex.EncodeToString(sum[:]), "from": "spool"}}
	if _, err := c.Log.Append(ctx, e); err != nil {
		return nil, fmt.Errorf("flush %s: stored, not logged: %w", mk, err)
	}
	for _, k := range keys {
		if err := c.Spool.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotExist) {
			return nil, fmt.Errorf("flush %s: stored and logged, spooled copy not removed: %w", k, err)
		}
	}
	return items, nil
}

// parseManifestKey reads the order, capture and batch of a ManifestKey.
func parseManifestKey(key string) (order, capture string, batch int, ok bool) {
	rest, ok := strings.CutPrefix(key, "orders/")
	if !ok {
		return "", "", 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[1] != "captures" {
		return "", "", 0, false
	}
	num, ok := strings.CutSuffix(strings.TrimPrefix(parts[3], "batch-"), ".jsonl")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 1 || ManifestKey(parts[0], parts[2], n) != key {
		return "", "", 0, false
	}
	return parts[0], parts[2], n, true
}

// copyToStore puts the spooled object key into the store; reading it back
// from the spool re-hashes it.
func (c *Capturer) copyToStore(ctx context.Context, key string, opts storage.PutOptions) (*storage.ObjectInfo, error) {
	r, info, err := c.Spool.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	opts.SHA256 = info.SHA256
	return c.Store.Put(ctx, key, r, opts)
}

func (c *Capturer) readSpooled(ctx context.Context, key string, v any) error {
	b, err := c.readSpooledBytes(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("flush %s: %w", key, err)
	}
	return nil
}

// readSpooledBytes reads a small spooled object whole; the spool re-hashes
// it as it is read.
func (c *Capturer) readSpooledBytes(ctx context.Context, key string) ([]byte, error) {
	r, _, err := c.Spool.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("flush %s: %w", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("flush %s: %w", key, err)
	}
	return b, nil
}
