package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
)

// ReadLog is what reading orders needs of the custody log: what it holds.
type ReadLog interface {
	FS() fs.FS
	Size(ctx context.Context) (uint64, error)
}

// ReaderConfig is what NewReader builds a Reader from. Every field is
// required.
type ReaderConfig struct {
	Log      ReadLog
	Book     *OrderBook
	Profiles *order.Profiles
	// Manifests gives the records of sealed batches: the data
	// directory's index (capture.Index), or the store.
	Manifests capture.ManifestSource
}

// Reader reads orders as the custody log says them: each order's state
// from its events, its record through the digest the log holds for it, its
// items through its batches' records. It changes nothing; a Registry, which
// does, reads through one. Safe for concurrent use: it reads the log
// incrementally, each entry once.
type Reader struct {
	cfg   ReaderConfig
	index StateIndex
}

// NewReader returns a Reader of what cfg names.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	switch {
	case cfg.Log == nil:
		return nil, errors.New("order reader: no custody log")
	case cfg.Book == nil:
		return nil, errors.New("order reader: no order book")
	case cfg.Profiles == nil:
		return nil, errors.New("order reader: no profiles")
	case cfg.Manifests == nil:
		return nil, errors.New("order reader: nowhere to read batches' records from")
	}
	return &Reader{cfg: cfg}, nil
}

// Deadline is how long order o has left at now, under its profile's
// reminders (none if its profile is no longer configured).
func (r *Reader) Deadline(o *order.Order, now time.Time) order.Deadline {
	p, err := r.cfg.Profiles.Lookup(o.Profile)
	if err != nil {
		p = nil // a profile since removed from the config: no reminders
	}
	return o.Deadline(now, p)
}

// states reads the state of every order from the log.
func (r *Reader) states(ctx context.Context) (map[string]*OrderState, []string, error) {
	if err := r.updateIndex(ctx); err != nil {
		return nil, nil, err
	}
	states, ids := r.index.All()
	return states, ids, nil
}

// updateIndex brings the order states up to the log's durable size.
func (r *Reader) updateIndex(ctx context.Context) error {
	size, err := r.cfg.Log.Size(ctx)
	if err != nil {
		return err
	}
	return r.index.Update(ctx, r.cfg.Log.FS(), size)
}

// state returns the state of order id as the log says it now.
func (r *Reader) state(ctx context.Context, id string) (*OrderState, error) {
	if err := r.updateIndex(ctx); err != nil {
		return nil, err
	}
	st := r.index.Get(id)
	if st == nil {
		return nil, fmt.Errorf("order %s: %w", id, ErrNoOrder)
	}
	return st, nil
}

// Get returns order id as it stands now.
func (r *Reader) Get(ctx context.Context, id string) (*OrderView, error) {
	if err := chain.ValidateOrderID(id); err != nil {
		return nil, err
	}
	st, err := r.state(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.view(ctx, st)
}

// view loads the current record of the order st describes. A purged
// order whose record is gone everywhere is shown as the log describes it
// (PurgedOrder): nothing is kept of it by design.
func (r *Reader) view(ctx context.Context, st *OrderState) (*OrderView, error) {
	o, err := r.cfg.Book.Load(ctx, st.ID, st.Record)
	if err != nil && st.Status == order.StatusPurged && errors.Is(err, ErrRecordGone) {
		return &OrderView{Order: st.PurgedOrder(), State: st}, nil
	}
	if err != nil {
		return nil, err
	}
	return &OrderView{Order: o, State: st}, nil
}

// ListReadable returns every order whose record can be read, in the order
// the log received them, and by id the error of each that cannot (a
// tampered or lost record): one bad record does not hide the others.
func (r *Reader) ListReadable(ctx context.Context) ([]*OrderView, map[string]error, error) {
	states, ids, err := r.states(ctx)
	if err != nil {
		return nil, nil, err
	}
	views := make([]*OrderView, 0, len(ids))
	problems := map[string]error{}
	for _, id := range ids {
		v, err := r.view(ctx, states[id])
		if err := ctx.Err(); err != nil {
			return nil, nil, err // not a problem of the record
		}
		if err != nil {
			problems[id] = err
			continue
		}
		views = append(views, v)
	}
	return views, problems, nil
}

// ReceivedConfidential reports whether order id was received confidential,
// as its order.received event says: what hides it when its record cannot
// be read.
func (r *Reader) ReceivedConfidential(ctx context.Context, id string) bool {
	st, err := r.state(ctx, id)
	return err != nil || st.Received["confidential"] != "false"
}

// held yields the items order st holds: those preserved before batches,
// then each batch's, read from its manifest one batch at a time.
func (r *Reader) held(ctx context.Context, st *OrderState) iter.Seq2[HeldItem, error] {
	return func(yield func(HeldItem, error) bool) {
		for _, sum := range st.ItemOrder {
			it := HeldItem{Digest: st.Items[sum], Key: capture.ItemKey(st.ID, sum), Size: -1, Spooled: st.Spooled[sum], Index: st.ItemIndex[sum]}
			if !yield(it, nil) {
				return
			}
		}
		src := r.cfg.Manifests
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
func (r *Reader) preserved(ctx context.Context, st *OrderState) (map[string]bool, error) {
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
func (r *Reader) LoggedItems(ctx context.Context, id string) ([]capture.LoggedItem, error) {
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
func (r *Reader) FixityItems(ctx context.Context, st *OrderState) ([]capture.LoggedItem, error) {
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
func (r *Reader) Items(ctx context.Context, st *OrderState) ([]HeldItem, error) {
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
func (r *Reader) Item(ctx context.Context, st *OrderState, sum string) (*HeldItem, error) {
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
