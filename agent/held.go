package agent

import (
	"context"
	"fmt"
	"iter"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/chain"
)

// HeldItem is an item an order holds: preserved and not purged.
type HeldItem struct {
	Digest  chain.Digest
	Key     string
	Size    int64 // -1 when the log does not say (an item preserved before batches)
	Spooled bool  // in the spool, not yet in the store
	// Index is the log index of the event that preserved it: its batch's
	// items.sealed, or its item.preserved before batches.
	Index uint64
	// Batch is the batch that sealed it, Record and Line its record there
	// (decoded, and its canonical bytes) and Leaf its place in the batch's
	// manifest; all zero for an item preserved before batches.
	Batch  *capture.LoggedBatch
	Record *chain.ItemRecord
	Line   []byte
	Leaf   uint64
}

// manifests is where the registry reads the records of sealed batches:
// its index, or the store.
func (r *Registry) manifests() capture.ManifestSource {
	if r.Manifests != nil {
		return r.Manifests
	}
	src := capture.StoreManifests{Store: r.Store}
	if r.Capturer != nil && r.Capturer.Spool != nil {
		src.Spool = r.Capturer.Spool
	}
	return src
}

// held yields the items order st holds: those preserved before batches,
// then each batch's, read from its manifest one batch at a time.
func (r *Registry) held(ctx context.Context, st *OrderState) iter.Seq2[HeldItem, error] {
	return func(yield func(HeldItem, error) bool) {
		for _, sum := range st.ItemOrder {
			it := HeldItem{Digest: st.Items[sum], Key: capture.ItemKey(st.ID, sum), Size: -1, Spooled: st.Spooled[sum], Index: st.ItemIndex[sum]}
			if !yield(it, nil) {
				return
			}
		}
		src := r.manifests()
		for _, b := range st.Batches {
			lines, recs, err := src.Manifest(ctx, b)
			if err != nil {
				yield(HeldItem{}, err)
				return
			}
			for i, rec := range recs {
				it := HeldItem{Digest: rec.Digest(), Key: rec.Key, Size: rec.Size, Index: b.Index,
					Spooled: b.Spooled && rec.Stored == chain.StoredInSpool,
					Batch:   b, Record: rec, Line: lines[i], Leaf: uint64(i)}
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// preserved is the SHA-256 of every item order st holds: what a capture
// of it must not store again.
func (r *Registry) preserved(ctx context.Context, st *OrderState) (map[string]bool, error) {
	out := make(map[string]bool, st.ItemCount())
	for it, err := range r.held(ctx, st) {
		if err != nil {
			return nil, err
		}
		out[it.Digest.SHA256] = true
	}
	return out, nil
}

// LoggedItems lists what order id holds (every order, in the order the
// log received them, for id ""), as capture.Fixity checks it.
func (r *Registry) LoggedItems(ctx context.Context, id string) ([]capture.LoggedItem, error) {
	if id != "" {
		st, err := r.state(ctx, id)
		if err != nil {
			return nil, err
		}
		return r.FixityItems(ctx, st)
	}
	states, ids, err := r.states(ctx)
	if err != nil {
		return nil, err
	}
	var out []capture.LoggedItem
	for _, id := range ids {
		items, err := r.FixityItems(ctx, states[id])
		if err != nil {
			return nil, fmt.Errorf("order %s: %w", id, err)
		}
		out = append(out, items...)
	}
	return out, nil
}

// FixityItems lists what order st holds as capture.Fixity checks it: the
// items preserved before batches, then each batch's, consecutive.
func (r *Registry) FixityItems(ctx context.Context, st *OrderState) ([]capture.LoggedItem, error) {
	var out []capture.LoggedItem
	for it, err := range r.held(ctx, st) {
		if err != nil {
			return nil, err
		}
		out = append(out, capture.LoggedItem{Order: st.ID, Key: it.Key, Digest: it.Digest, Index: it.Index, Size: it.Size,
			Spooled: it.Spooled, Batch: it.Batch})
	}
	return out, nil
}

// Items lists what order st holds (see HeldItem), items preserved before
// batches first, then each batch's.
func (r *Registry) Items(ctx context.Context, st *OrderState) ([]HeldItem, error) {
	out := make([]HeldItem, 0, st.ItemCount())
	for it, err := range r.held(ctx, st) {
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// Item returns the item of order st whose SHA-256 is sum, or nil when the
// order holds none.
func (r *Registry) Item(ctx context.Context, st *OrderState, sum string) (*HeldItem, error) {
	for it, err := range r.held(ctx, st) {
		if err != nil {
			return nil, err
		}
		if it.Digest.SHA256 == sum {
			return &it, nil
		}
	}
	return nil, nil
}
