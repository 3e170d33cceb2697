package capture

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

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
	// (chain.ErrTamper): the item is missing or its bytes differ.
	Err error
	// Unchecked, when set, is why the item could not be read (a permission
	// refused, an error of the store other than its being down): it was
	// not judged, and nothing was logged for it.
	Unchecked error
	// FromSpool: the item was read from the local spool, not the store.
	FromSpool bool
}

// Run checks every item, logging the results, and yields them as it
// goes. An item of a batch is checked with its batch: first the batch's
// manifest as the store holds it (its SHA-256, and the Merkle root
// re-derived from its records, against the items.sealed event), then each
// item; one fixity.verified records a batch that holds, one fixity.failed
// each item (or manifest) missing or altered. An item preserved before
// batches gets its own fixity.verified or fixity.failed. fixity.failed
// means missing or altered, and nothing else: an item that cannot be read
// for another reason is yielded Unchecked, with nothing logged, and the run
// goes on. A store that does not answer (storage.ErrUnavailable) stops the
// run with an error naming the item, as does a result that cannot be
// logged.
func (f *Fixity) Run(ctx context.Context, items []LoggedItem) iter.Seq2[FixityResult, error] {
	return func(yield func(FixityResult, error) bool) {
		for i := 0; i < len(items); {
			j := i + 1
			if b := items[i].Batch; b != nil {
				for j < len(items) && items[j].Batch == b {
					j++
				}
				if !f.runBatch(ctx, b, items[i:j], yield) {
					return
				}
			} else if !f.runItem(ctx, items[i], yield) {
				return
			}
			i = j
		}
	}
}

// runItem checks an item preserved before batches.
func (f *Fixity) runItem(ctx context.Context, it LoggedItem, yield func(FixityResult, error) bool) bool {
	res, judged, ok := f.checkOne(ctx, it, yield)
	if !ok || !judged {
		return ok
	}
	e := f.event(it.Order, map[string]string{"key": it.Key, "bytes": strconv.FormatInt(res.Bytes, 10)})
	e.Items = []chain.Digest{it.Digest}
	if res.FromSpool {
		e.Details["read_from"] = "spool"
	}
	e.Type = chain.FixityVerified
	if res.Err != nil {
		e.Type, e.Reason = chain.FixityFailed, res.Err.Error()
	}
	return f.logged(ctx, e, res, yield)
}

// runBatch checks a batch: its manifest, then its items.
func (f *Fixity) runBatch(ctx context.Context, b *LoggedBatch, items []LoggedItem, yield func(FixityResult, error) bool) bool {
	sb := b.Sealed
	details := func() map[string]string {
		return map[string]string{"capture": sb.Capture, "batch": strconv.Itoa(sb.Batch), "manifest": b.Key()}
	}
	lines, err := f.manifest(ctx, b)
	failed, unchecked, bytes := 0, 0, int64(0)
	switch {
	case err == nil:
	case IsTamper(err):
		failed++
		e := f.event(b.Order, details())
		e.Type, e.Reason = chain.FixityFailed, err.Error()
		if !f.logged(ctx, e, FixityResult{Item: LoggedItem{Order: b.Order, Key: b.Key(), Index: b.Index, Batch: b}, Err: err}, yield) {
			return false
		}
	case errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil:
		yield(FixityResult{Item: LoggedItem{Order: b.Order, Key: b.Key(), Batch: b}}, fmt.Errorf("fixity of %s: not checked: %w", b.Key(), err))
		return false
	default:
		unchecked++
		if !yield(FixityResult{Item: LoggedItem{Order: b.Order, Key: b.Key(), Index: b.Index, Batch: b}, Unchecked: err}, nil) {
			return false
		}
	}
	for _, it := range items {
		res, judged, ok := f.checkOne(ctx, it, yield)
		if !ok {
			return false
		}
		switch {
		case !judged:
			unchecked++
			continue
		case res.Err == nil:
			bytes += res.Bytes
			if !yield(res, nil) {
				return false
			}
			continue
		}
		failed++
		d := details()
		d["key"], d["bytes"] = it.Key, strconv.FormatInt(res.Bytes, 10)
		e := f.event(it.Order, d)
		e.Type, e.Reason, e.Items = chain.FixityFailed, res.Err.Error(), []chain.Digest{it.Digest}
		if !f.logged(ctx, e, res, yield) {
			return false
		}
	}
	if failed > 0 || lines == nil || unchecked == len(items) {
		return true // nothing of the batch verified, or not all of it held
	}
	d := details()
	d["count"], d["bytes"] = strconv.Itoa(len(items)-unchecked), strconv.FormatInt(bytes, 10)
	d["root"] = hex.EncodeToString(chain.NewRecordTree(lines).Root())
	if unchecked > 0 {
		d["unchecked"] = strconv.Itoa(unchecked)
	}
	if b.Spooled {
		d["read_from"] = "spool"
	}
	e := f.event(b.Order, d)
	e.Type = chain.FixityVerified
	if _, err := f.Log.Append(ctx, e); err != nil {
		yield(FixityResult{Item: LoggedItem{Order: b.Order, Key: b.Key(), Batch: b}}, fmt.Errorf("fixity of batch %s: record the result: %w", b.ID(), err))
		return false
	}
	return true
}

// manifest reads b's manifest as stored, and checks it against its event.
func (f *Fixity) manifest(ctx context.Context, b *LoggedBatch) ([][]byte, error) {
	if b.Spooled && f.Spool == nil {
		return nil, fmt.Errorf("%s: spooled, not yet in the store, and no spool to read it from", b.Key())
	}
	lines, _, err := StoreManifests{Store: f.Store, Spool: f.Spool}.Manifest(ctx, b)
	return lines, err
}

// checkOne checks one item. judged is false for an item that could not be
// read (yielded Unchecked already); ok is false when the run must stop.
func (f *Fixity) checkOne(ctx context.Context, it LoggedItem, yield func(FixityResult, error) bool) (res FixityResult, judged, ok bool) {
	res = FixityResult{Item: it}
	res.Bytes, res.FromSpool, res.Err = f.check(ctx, it)
	if ctx.Err() != nil {
		yield(res, ctx.Err())
		return res, false, false
	}
	if res.Err != nil && !IsTamper(res.Err) {
		if errors.Is(res.Err, storage.ErrUnavailable) {
			yield(res, fmt.Errorf("fixity of %s: not checked: %w", it.Key, res.Err))
			return res, false, false
		}
		res.Unchecked, res.Err = res.Err, nil
		return res, false, yield(res, nil)
	}
	return res, true, true
}

// logged appends e and yields res.
func (f *Fixity) logged(ctx context.Context, e chain.Event, res FixityResult, yield func(FixityResult, error) bool) bool {
	if _, err := f.Log.Append(ctx, e); err != nil {
		yield(res, fmt.Errorf("fixity of %s: record the result: %w", res.Item.Key, err))
		return false
	}
	return yield(res, nil)
}

func (f *Fixity) event(order string, details map[string]string) chain.Event {
	return chain.Event{Time: f.now(), Order: order, Actor: f.Actor, Agent: f.Agent, Host: f.Host, Details: details}
}

// IsTamper reports whether err says stored content is missing or differs
// from its digest, as opposed to failing to read it.
func IsTamper(err error) bool {
	return errors.Is(err, chain.ErrTamper)
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
			return 0, fromSpool, fmt.Errorf("%s: missing from %s: %w", it.Key, where, chain.ErrTamper)
		}
		return 0, fromSpool, err
	}
	defer r.Close()
	n, err = f.hash(r, info, it)
	return n, fromSpool, err
}

func (f *Fixity) hash(r io.Reader, info *storage.ObjectInfo, it LoggedItem) (int64, error) {
	if info.SHA256 != it.Digest.SHA256 {
		return 0, fmt.Errorf("%s: stored with sha256 %s, logged as %s: %w", it.Key, info.SHA256, it.Digest.SHA256, chain.ErrTamper)
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
			return n, fmt.Errorf("%s: sha512 %s, logged as %s: %w", it.Key, got, it.Digest.SHA512, chain.ErrTamper)
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
