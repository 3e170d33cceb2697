package agent

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
					items = append(items, LoggedItem{Order: e.Order, Key: ItemKey(e.Order, d.SHA256), Digest: d, Index: rec.Index, Size: size})
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
	Store              FixityStore
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
	Err   error // nil: verified
}

// Run checks every item, logging fixity.verified or fixity.failed for
// each, and yields the results as it goes. A failure to log stops it.
func (f *Fixity) Run(ctx context.Context, items []LoggedItem) iter.Seq2[FixityResult, error] {
	return func(yield func(FixityResult, error) bool) {
		for _, it := range items {
			res := FixityResult{Item: it}
			res.Bytes, res.Err = f.check(ctx, it)
			if ctx.Err() != nil {
				yield(res, ctx.Err())
				return
			}
			e := chain.Event{Time: f.now(), Order: it.Order, Actor: f.Actor, Agent: f.Agent, Host: f.Host,
				Items: []chain.Digest{it.Digest}, Details: map[string]string{"key": it.Key, "bytes": strconv.FormatInt(res.Bytes, 10)}}
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

// check reads the item through the store (which re-hashes SHA-256 against
// its custody digest) and hashes SHA-512 beside it, comparing both with
// the log.
func (f *Fixity) check(ctx context.Context, it LoggedItem) (int64, error) {
	r, info, err := f.Store.Get(ctx, it.Key)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			return 0, fmt.Errorf("%s: missing from the store: %w", it.Key, storage.ErrTamper)
		}
		return 0, err
	}
	defer r.Close()
	if info.SHA256 != it.Digest.SHA256 {
		return 0, fmt.Errorf("%s: stored with sha256 %s, logged as %s: %w", it.Key, info.SHA256, it.Digest.SHA256, storage.ErrTamper)
	}
	h := sha512.New()
	var src io.Reader = r
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
