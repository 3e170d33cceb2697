package capture

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
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
	Index  uint64 // of its item.preserved event
	Size   int64  // as its item.preserved event gives it; -1 if it does not
	// Spooled: the log says the item was sealed into the local spool
	// and not yet that it reached the store (item.stored).
	Spooled bool
}

// LoggedItems reads the log (the first size entries of fsys) and returns
// the items preserved and not purged, of one order or of every order
// (order ""), in log order.
func LoggedItems(ctx context.Context, fsys fs.FS, size uint64, order string) ([]LoggedItem, error) {
	var items []LoggedItem
	at := map[string]int{} // order/sha256 -> position in items
	for rec, err := range chain.Entries(ctx, fsys, 0, size) {
		if err != nil {
			return nil, err
		}
		e := rec.Event
		if (order != "" && e.Order != order) || len(e.Items) == 0 {
			continue
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
	return out, nil
}

// FixityStore is what a fixity run needs of the store.
type FixityStore interface {
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
}

// Fixity re-reads stored items and checks them against the digests the
// custody log holds for them.
type Fixity struct {
	Store FixityStore
	// Spool, when set, is where an item the log gives as spooled is read
	// from if the store does not hold it yet. Without it such an item is
	// yielded Unchecked rather than called missing.
	Spool              FixityStore
	Log                EventLog
	Agent, Actor, Host string
	Now                func() time.Time
	// Progress, when set, is told of every n bytes read back.
	Progress func(n int)
}

// FixityResult is the outcome for one item.
type FixityResult struct {
	Item  LoggedItem
	Bytes int64
	// Err is nil when the item verified; otherwise it is a tamper error
	// (storage.ErrTamper): the item is missing or its bytes differ.
	Err error
	// Unchecked, when set, is why the item could not be read (a permission
	// refused, an error of the store other than its being down): it was
	// not judged, and nothing was logged for it.
	Unchecked error
	// FromSpool: the item was read from the local spool, not the store.
	FromSpool bool
}

// Run checks every item, logging fixity.verified or fixity.failed for
// each, and yields the results as it goes. fixity.failed means missing or
// altered, and nothing else: an item that cannot be read for another
// reason is yielded Unchecked, with nothing logged, and the run goes on.
// A store that does not answer (storage.ErrUnavailable) stops the run
// with an error naming the item, as does a result that cannot be logged.
func (f *Fixity) Run(ctx context.Context, items []LoggedItem) iter.Seq2[FixityResult, error] {
	return func(yield func(FixityResult, error) bool) {
		for _, it := range items {
			res := FixityResult{Item: it}
			res.Bytes, res.FromSpool, res.Err = f.check(ctx, it)
			if ctx.Err() != nil {
				yield(res, ctx.Err())
				return
			}
			if res.Err != nil && !IsTamper(res.Err) {
				if errors.Is(res.Err, storage.ErrUnavailable) {
					yield(res, fmt.Errorf("fixity of %s: not checked: %w", it.Key, res.Err))
					return
				}
				res.Unchecked, res.Err = res.Err, nil
				if !yield(res, nil) {
					return
				}
				continue
			}
			e := chain.Event{Time: f.now(), Order: it.Order, Actor: f.Actor, Agent: f.Agent, Host: f.Host,
				Items: []chain.Digest{it.Digest}, Details: map[string]string{"key": it.Key, "bytes": strconv.FormatInt(res.Bytes, 10)}}
			if res.FromSpool {
				e.Details["read_from"] = "spool"
			}
			e.Type = chain.FixityVerified
			if res.Err != nil {
				e.Type, e.Reason = chain.FixityFailed, res.Err.Error()
			}
			if _, err := f.Log.Append(ctx, e); err != nil {
				yield(res, fmt.Errorf("fixity of %s: record the result: %w", it.Key, err))
				return
			}
			if !yield(res, nil) {
				return
			}
		}
	}
}

// IsTamper reports whether err says stored content is missing or differs
// from its digest, as opposed to failing to read it.
func IsTamper(err error) bool {
	return errors.Is(err, storage.ErrTamper) || errors.Is(err, chain.ErrTamper)
}

// check reads the item through the store (which re-hashes SHA-256 against
// its custody digest) and hashes SHA-512 beside it, comparing both with
// the log. An item the log gives as spooled, and the store does not hold
// yet, is read from the spool.
func (f *Fixity) check(ctx context.Context, it LoggedItem) (n int64, fromSpool bool, err error) {
	r, info, err := f.Store.Get(ctx, it.Key)
	if errors.Is(err, storage.ErrNotExist) && it.Spooled {
		if f.Spool == nil {
			return 0, false, fmt.Errorf("%s: spooled, not yet in the store, and no spool to read it from", it.Key)
		}
		fromSpool = true
		r, info, err = f.Spool.Get(ctx, it.Key)
		if err != nil {
			// A flush may have moved it meanwhile: stored, then logged,
			// then removed from the spool. The store has the last word,
			// unless it holds nothing: then the spool's answer stands.
			if sr, sinfo, serr := f.Store.Get(ctx, it.Key); !errors.Is(serr, storage.ErrNotExist) {
				r, info, err, fromSpool = sr, sinfo, serr, false
			}
		}
	}
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			where := "the store"
			if fromSpool {
				where = "the store and from the spool"
			}
			return 0, fromSpool, fmt.Errorf("%s: missing from %s: %w", it.Key, where, storage.ErrTamper)
		}
		return 0, fromSpool, err
	}
	defer r.Close()
	n, err = f.hash(r, info, it)
	return n, fromSpool, err
}

func (f *Fixity) hash(r io.Reader, info *storage.ObjectInfo, it LoggedItem) (int64, error) {
	if info.SHA256 != it.Digest.SHA256 {
		return 0, fmt.Errorf("%s: stored with sha256 %s, logged as %s: %w", it.Key, info.SHA256, it.Digest.SHA256, storage.ErrTamper)
	}
	h := sha512.New()
	src := r
	if f.Progress != nil {
		src = progressReader{r: r, progress: f.Progress}
	}
	n, err := io.Copy(h, src)
	if err != nil {
		return n, err
	}
	if it.Digest.SHA512 != "" {
		if got := hex.EncodeToString(h.Sum(nil)); got != it.Digest.SHA512 {
			return n, fmt.Errorf("%s: sha512 %s, logged as %s: %w", it.Key, got, it.Digest.SHA512, storage.ErrTamper)
		}
	}
	return n, nil
}

func (f *Fixity) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}
