package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/custos-evidence/custos/agent/order"

	"github.com/custos-evidence/custos/agent/datadir"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// RecordKey is where one version of an order's record lives, in the store
// and in the order book's directory: the record is named by its SHA-256,
// so each version is written once and never replaced.
func RecordKey(order, sha256 string) string {
	return "orders/" + order + "/order-" + sha256 + ".json"
}

// ErrRecordGone reports a record that is neither in the data directory nor
// in the store. For any order but a purged one that is tampering (it comes
// with a *chain.TamperError).
var ErrRecordGone = errors.New("order record gone")

// RecordStore is what the order book needs of the evidence store.
type RecordStore interface {
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
}

// recordPutTimeout bounds the copy of a record to the store: a store that
// does not answer must not hold up an order's receipt, which the log
// records at once; the copy is retried by SyncPending.
const recordPutTimeout = 15 * time.Second

// OrderBook keeps every version of every order record: a working copy in
// Dir (<data-dir>/orders, read by `order list` and `order show`), and a
// write-once copy in the evidence store with the order's retention. The
// custody log names the current version of each (order_sha256): a record
// is only ever read back through that digest, so a working copy altered or
// swapped on disk is reported as tampering, and a lost one is fetched again
// from the store.
type OrderBook struct {
	Dir   string
	Store RecordStore
	// ReadOnly keeps Load from writing the working copy of a record it
	// fetched from the store (a reader holds only a shared lock).
	ReadOnly bool
	// Offline says the store is known not to answer now: Save keeps
	// records for SyncPending without trying it.
	Offline bool
	Now     func() time.Time

	// verified keeps, by order, the newest version Load has checked
	// against its digest (a version never changes), up to maxVerified
	// bytes: a daemon that lists its orders every minute reads each
	// version once.
	mu       sync.Mutex
	verified map[string]checkedRecord
	size     int
}

type checkedRecord struct {
	sum string
	rec []byte
}

// maxVerified bounds the records OrderBook keeps in memory.
const maxVerified = 16 << 20

// pendingDir holds one marker per record not yet copied to the store.
func (b *OrderBook) pendingDir() string { return filepath.Join(b.Dir, ".pending") }

func (b *OrderBook) path(order, sum string) string {
	return filepath.Join(b.Dir, filepath.FromSlash(strings.TrimPrefix(RecordKey(order, sum), "orders/")))
}

func (b *OrderBook) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

// Save writes o's canonical record: the store's copy, then the working
// copy durably. It returns the record's SHA-256, which the order's event
// must carry, and whether the store holds it yet: a store that cannot be
// reached leaves a marker, and SyncPending copies the record later.
//
// The store's copy goes first so that a record the store took needs no
// marker: a crash between the two leaves a record no event names yet (the
// caller appends the event after Save), which nothing reads; and a record
// lost from the working copy is fetched back from the store (Load).
func (b *OrderBook) Save(ctx context.Context, o *order.Order) (sum string, stored bool, err error) {
	rec, err := order.Format(o)
	if err != nil {
		return "", false, err
	}
	h := sha256.Sum256(rec)
	sum = hex.EncodeToString(h[:])
	stored, err = b.copyToStore(ctx, o, sum, rec)
	if err != nil {
		return "", false, err
	}
	if err := writeOnceFile(b.path(o.ID, sum), rec); err != nil {
		return "", false, fmt.Errorf("order %s: record: %w", o.ID, err)
	}
	if !stored {
		// After the working copy, which SyncPending reads.
		marker := filepath.Join(b.pendingDir(), o.ID+"-"+sum)
		if err := writeOnceFile(marker, nil); err != nil {
			return "", false, fmt.Errorf("order %s: record: %w", o.ID, err)
		}
	}
	return sum, stored, nil
}

// SaveLocal writes o's record to the working copy only (the last record
// of a purged order, which the store must not keep).
func (b *OrderBook) SaveLocal(_ context.Context, o *order.Order) (sum string, stored bool, err error) {
	sum, _, err = b.writeLocal(o)
	return sum, false, err
}

// writeLocal writes o's canonical record to the working copy and returns
// its SHA-256 and bytes.
func (b *OrderBook) writeLocal(o *order.Order) (string, []byte, error) {
	rec, err := order.Format(o)
	if err != nil {
		return "", nil, err
	}
	h := sha256.Sum256(rec)
	sum := hex.EncodeToString(h[:])
	if err := writeOnceFile(b.path(o.ID, sum), rec); err != nil {
		return "", nil, fmt.Errorf("order %s: record: %w", o.ID, err)
	}
	return sum, rec, nil
}

// copyToStore puts one record into the store with the order's retention
// and hold. It reports false, with no error, when the store does not
// answer in time.
func (b *OrderBook) copyToStore(ctx context.Context, o *order.Order, sum string, rec []byte) (bool, error) {
	opts := storage.PutOptions{SHA256: sum, LegalHold: o.Status == order.StatusHeld}
	if o.ExpiresAt.After(b.now()) && o.Status != order.StatusPurged {
		opts.RetainUntil = o.ExpiresAt
	}
	if b.Offline {
		return false, nil
	}
	pctx, cancel := context.WithTimeout(ctx, recordPutTimeout)
	defer cancel()
	_, err := b.Store.Put(pctx, RecordKey(o.ID, sum), bytes.NewReader(rec), opts)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrExist):
		return false, &chain.TamperError{File: RecordKey(o.ID, sum), Index: -1,
			What: "the store holds other bytes under this order record's digest"}
	case ctx.Err() == nil && (errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)):
		return false, nil
	}
	return false, fmt.Errorf("order %s: store the record: %w", o.ID, err)
}

// SyncPending copies to the store the records saved while it could not be
// reached, each with the retention and hold its order has now (current);
// those of an order purged meanwhile are not copied. It returns how many it
// copied; a store still unreachable is not an error.
func (b *OrderBook) SyncPending(ctx context.Context, current func(order string) (*order.Order, error)) (int, error) {
	entries, err := os.ReadDir(b.pendingDir())
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ent := range entries {
		id, sum, ok := strings.Cut(ent.Name(), "-")
		if !ok || chain.ValidateOrderID(id) != nil || !isHexSHA256(sum) {
			return n, fmt.Errorf("order book: %s: not a pending record marker", filepath.Join(b.pendingDir(), ent.Name()))
		}
		o, err := current(id)
		if err != nil {
			return n, err
		}
		if o.Status == order.StatusPurged {
			// The store keeps nothing of a purged order: a record that
			// never reached it stays in the data directory only.
			if err := os.Remove(filepath.Join(b.pendingDir(), ent.Name())); err != nil {
				return n, err
			}
			continue
		}
		rec, err := b.readLocal(id, sum)
		if err != nil {
			return n, err
		}
		stored, err := b.copyToStore(ctx, o, sum, rec)
		if err != nil || !stored {
			return n, err
		}
		if err := os.Remove(filepath.Join(b.pendingDir(), ent.Name())); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Load returns the version sum of order id's record: the working copy,
// or, when that is gone, the store's, which then becomes the working copy.
// Bytes that do not hash to sum are tampering.
func (b *OrderBook) Load(ctx context.Context, id, sum string) (*order.Order, error) {
	rec, ok := b.known(id, sum)
	var err error
	if !ok {
		rec, err = b.readLocal(id, sum)
		if errors.Is(err, os.ErrNotExist) {
			rec, err = b.fetch(ctx, id, sum)
		}
		if err != nil {
			return nil, err
		}
		b.remember(id, sum, rec)
	}
	o, err := order.Parse(rec)
	if err != nil {
		return nil, &chain.TamperError{File: RecordKey(id, sum), Index: -1, What: "order record: " + err.Error()}
	}
	if o.ID != id {
		return nil, &chain.TamperError{File: RecordKey(id, sum), Index: -1, What: fmt.Sprintf("order record of %s filed under %s", o.ID, id)}
	}
	return o, nil
}

// known returns version sum of order id's record if Load has checked it.
func (b *OrderBook) known(id, sum string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.verified[id]
	return c.rec, ok && c.sum == sum
}

// remember keeps rec, version sum of order id's record, checked against
// its digest, in place of the version kept before, while there is room.
func (b *OrderBook) remember(id, sum string, rec []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.verified[id]
	if b.size-len(old.rec)+len(rec) > maxVerified {
		return
	}
	if b.verified == nil {
		b.verified = map[string]checkedRecord{}
	}
	b.verified[id] = checkedRecord{sum: sum, rec: rec}
	b.size += len(rec) - len(old.rec)
}

// readLocal reads the working copy and checks its digest.
func (b *OrderBook) readLocal(id, sum string) ([]byte, error) {
	path := b.path(id, sum)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rec, err := io.ReadAll(io.LimitReader(f, order.MaxSize+1))
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(rec); hex.EncodeToString(got[:]) != sum {
		return nil, &chain.TamperError{File: path, Index: -1, What: "order record does not match the digest the custody log holds for it"}
	}
	return rec, nil
}

// fetch reads a record from the store (which re-hashes it) and keeps it as
// the working copy.
func (b *OrderBook) fetch(ctx context.Context, id, sum string) ([]byte, error) {
	key := RecordKey(id, sum)
	r, info, err := b.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, errors.Join(ErrRecordGone, &chain.TamperError{File: key, Index: -1,
			What: "the order record the custody log names is neither in the data directory nor in the store"})
	}
	if err != nil {
		return nil, fmt.Errorf("order %s: fetch the record: %w", id, err)
	}
	defer r.Close()
	rec, err := io.ReadAll(io.LimitReader(r, order.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("order %s: fetch the record: %w", id, err)
	}
	if got := sha256.Sum256(rec); hex.EncodeToString(got[:]) != sum || info.SHA256 != sum {
		return nil, &chain.TamperError{File: key, Index: -1, What: "order record does not match the digest the custody log holds for it"}
	}
	if !b.ReadOnly {
		if err := writeOnceFile(b.path(id, sum), rec); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// writeOnceFile writes data to path durably (datadir.WriteFile), read-only.
// A file already there with the same bytes is success; other bytes are
// tampering.
func writeOnceFile(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Equal(old, data) {
			return nil
		}
		return &chain.TamperError{File: path, Index: -1, What: "a different file is in the way of a write-once record"}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return datadir.WriteFile(path, data, 0o400)
}
