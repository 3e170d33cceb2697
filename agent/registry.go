package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/tsa"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// ErrNoOrder is returned for an order id the custody log does not hold.
var ErrNoOrder = errors.New("no such order")

// OrderLog is what the registry needs of the custody log: appending,
// reading back what it holds, and for a disclosure a checkpoint covering
// every entry and the key that signs it.
type OrderLog interface {
	capture.EventLog
	ReadLog
	Checkpoint(ctx context.Context) (*chain.Checkpoint, error)
	Key() *chain.Key
}

// RegistryStore is what the registry needs of the evidence store: captures,
// records, and the order-wide steps on retention, legal hold and deletion.
type RegistryStore interface {
	capture.Store
	Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	ExtendRetention(ctx context.Context, key string, until time.Time) error
	SetLegalHold(ctx context.Context, key string, on bool) error
	Delete(ctx context.Context, key string) error
}

// Config is what New builds a Registry from.
type Config struct {
	Log      OrderLog        // the custody log, open for writing
	Store    RegistryStore   // the evidence store
	Book     *OrderBook      // the order records
	Profiles *order.Profiles // the jurisdiction profiles
	// Capturer preserves captures and order documents; its Store, Log and
	// Signer must be the registry's.
	Capturer *capture.Capturer
	// Manifests is the data directory's index of sealed batches'
	// manifests (also the Capturer's Manifests); nil reads them from the
	// store (and the spool), keeping no copy.
	Manifests *capture.Index
	// WorkDir holds work in progress (a disclosure being built), each in
	// a private directory of its own: the data directory's work/, emptied
	// at each writer's start by Recover. "" uses the system's temporary
	// directory, which nothing sweeps.
	WorkDir string
	Agent   string           // the agent id, in every event
	Host    string           // the host name, in every event
	Now     func() time.Time // nil: time.Now
	Entropy io.Reader        // order ids; nil: crypto/rand
	// Logger reports what does not stop a step (a spool that could not be
	// flushed yet); nil discards.
	Logger *slog.Logger
	// Timestamps, when set, asks its authorities for RFC 3161 tokens over
	// each disclosure package's signed statement while it is built
	// (docs/package.md, custody/timestamps/attestation.<tsa>.tsr); an
	// authority that gives none is logged and left out. nil: packages
	// carry no such token.
	Timestamps *tsa.Stamper
}

// Registry runs the order lifecycle. Each step is checked against the
// order's profile and status, applied to every object of the order in the
// store (retention, legal hold, deletion), written as a new version of the
// order's record, and then recorded in the custody log, whose event names
// that version. A step that fails before its event is appended has changed
// nothing the log relies on: retention only ever grows, and a record no
// event names is never read. It reads orders through its Reader.
//
// A registry is safe for concurrent use (the daemon runs many steps at
// once): steps on one order take turns.
type Registry struct {
	Config
	*Reader

	mu      sync.Mutex
	locks   map[string]*orderLock
	flushMu sync.Mutex
	// importMu makes imports of EU forms take turns: each checks the
	// form against every order before it records one.
	importMu sync.Mutex
}

// New returns the registry cfg describes, its defaults applied.
func New(cfg Config) (*Registry, error) {
	switch {
	case cfg.Log == nil:
		return nil, errors.New("registry: no custody log")
	case cfg.Store == nil:
		return nil, errors.New("registry: no evidence store")
	case cfg.Capturer == nil:
		return nil, errors.New("registry: no capturer")
	case cfg.Agent == "":
		return nil, errors.New("registry: no agent id")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Entropy == nil {
		cfg.Entropy = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var records capture.ManifestSource = capture.StoreManifests{Store: cfg.Store, Spool: cfg.Capturer.Spool}
	if cfg.Manifests != nil {
		records = cfg.Manifests
	}
	rd, err := NewReader(ReaderConfig{Log: cfg.Log, Book: cfg.Book, Profiles: cfg.Profiles, Manifests: records})
	if err != nil {
		return nil, err
	}
	return &Registry{Config: cfg, Reader: rd, locks: map[string]*orderLock{}}, nil
}

// orderLock is a turn on one order: a one-slot channel, so that waiting
// for it ends with the waiter's context.
type orderLock struct {
	turn  chan struct{}
	users int
}

// lock makes the steps on order id take turns: a step reads the order's
// state, changes the store and appends events, and another step on the same
// order must see all of it. The returned func unlocks.
func (r *Registry) lock(ctx context.Context, id string) (func(), error) {
	r.mu.Lock()
	l := r.locks[id]
	if l == nil {
		l = &orderLock{turn: make(chan struct{}, 1)}
		r.locks[id] = l
	}
	l.users++
	r.mu.Unlock()
	release := func() {
		r.mu.Lock()
		if l.users--; l.users == 0 {
			delete(r.locks, id)
		}
		r.mu.Unlock()
	}
	select {
	case l.turn <- struct{}{}:
		return func() { <-l.turn; release() }, nil
	case <-ctx.Done():
		release()
		return nil, fmt.Errorf("order %s: waiting for its turn: %w", id, ctx.Err())
	}
}

// OrderView is an order as it stands now, with what the log says of it.
type OrderView struct {
	Order *order.Order
	State *OrderState
}

func (r *Registry) now() time.Time { return r.Now().UTC() }

func (r *Registry) change(actor, reason string) order.Change {
	return order.Change{Actor: actor, Agent: r.Agent, Host: r.Host, At: r.now(), Reason: reason}
}

// begin starts a step on order id: it waits for the order's turn and
// returns the order as it stands then, and the func that ends the turn.
func (r *Registry) begin(ctx context.Context, id string) (*OrderView, func(), error) {
	if err := chain.ValidateOrderID(id); err != nil {
		return nil, nil, err
	}
	unlock, err := r.lock(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	v, err := r.Get(ctx, id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return v, unlock, nil
}

// SyncRecords copies to the store the order records saved while it could
// not be reached.
func (r *Registry) SyncRecords(ctx context.Context) (int, error) {
	return r.Book.SyncPending(ctx, func(id string) (*order.Order, error) {
		v, err := r.Get(ctx, id)
		if errors.Is(err, ErrNoOrder) {
			// Saved, and the log never took its event: the record is an
			// orphan no one reads. Copy it unretained.
			return &order.Order{ID: id, Status: order.StatusReceived}, nil
		}
		if err != nil {
			return nil, err
		}
		return v.Order, nil
	})
}

// record saves n's record and appends its event.
func (r *Registry) record(ctx context.Context, n *order.Order, e *chain.Event) (*chain.Record, error) {
	save := r.Book.Save
	if n.Status == order.StatusPurged {
		// The store keeps nothing of a purged order: its last record
		// stays in the data directory only.
		save = r.Book.SaveLocal
	}
	sum, _, err := save(ctx, n)
	if err != nil {
		return nil, err
	}
	if e.Details["order_sha256"] != sum {
		return nil, fmt.Errorf("order %s: the event names record %s, the book saved %s", n.ID, e.Details["order_sha256"], sum)
	}
	rec, err := r.Log.Append(ctx, *e)
	if err != nil {
		return nil, fmt.Errorf("order %s: record %s: %w", n.ID, e.Type, err)
	}
	return rec, nil
}

// StoreReport says what an order-wide step did to the order's objects.
type StoreReport struct {
	Objects int // objects changed
	// Pending are objects not in the store yet (sealed in the spool, or a
	// record saved while the store was down): they get the order's
	// retention and hold when they are copied there.
	Pending int
	// Missing are objects the log says the store holds and it does not:
	// evidence lost. The step is recorded all the same (a deadline must
	// not pass because something is already gone), and the caller reports
	// them as tampering.
	Missing []string
}

// objectKeys lists every object of an order in the store: each item (and
// before batches its metadata and statement), each batch's manifest and
// statement, and every version of the record. pending says whether a key
// may legitimately be absent from the store yet.
func (r *Registry) objectKeys(ctx context.Context, st *OrderState) (keys []string, pending map[string]bool, err error) {
	pending = map[string]bool{}
	add := func(spooled bool, ks ...string) {
		keys = append(keys, ks...)
		for _, k := range ks {
			pending[k] = pending[k] || spooled
		}
	}
	for it, err := range r.held(ctx, st) {
		if err != nil {
			return nil, nil, err
		}
		if it.Batch != nil {
			add(it.Spooled, it.Key)
		} else {
			add(it.Spooled, it.Key, it.Key+".meta.json", capture.AttestationKey(st.ID, it.Digest.SHA256))
		}
	}
	for _, b := range st.Batches {
		add(b.Spooled, batchKeys(b)...)
	}
	for _, sum := range st.Records {
		add(true, RecordKey(st.ID, sum)) // a record may wait in the book for the store
	}
	add(false, replyKeys(st)...)
	return keys, pending, nil
}

// batchKeys are the keys of a batch's manifest and statement.
func batchKeys(b *capture.LoggedBatch) []string {
	return []string{b.Key(), capture.StatementKey(b.Order, b.Sealed.Capture, b.Sealed.Batch)}
}

// eachObject applies fn to every object of the order.
func (r *Registry) eachObject(ctx context.Context, st *OrderState, fn func(key string) error) (*StoreReport, error) {
	rep := &StoreReport{}
	keys, pending, err := r.objectKeys(ctx, st)
	if err != nil {
		return rep, fmt.Errorf("order %s: %w", st.ID, err)
	}
	for _, k := range keys {
		err := fn(k)
		switch {
		case err == nil:
			rep.Objects++
		case errors.Is(err, storage.ErrNotExist) && pending[k]:
			rep.Pending++
		case errors.Is(err, storage.ErrNotExist):
			rep.Missing = append(rep.Missing, k)
		default:
			return rep, fmt.Errorf("order %s: %s: %w", st.ID, k, err)
		}
	}
	return rep, nil
}

// Extend extends order id's expiry (to expires, or when that is zero by
// its profile's extension period) on legal basis basis: first the
// retention of every object of the order, then its record and the
// order.extended event.
func (r *Registry) Extend(ctx context.Context, id string, expires time.Time, basis, actor string) (*order.Order, *StoreReport, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	p, err := r.Profiles.Lookup(v.Order.Profile)
	if err != nil {
		return nil, nil, fmt.Errorf("order %s: %w", id, err)
	}
	n, e, err := v.Order.Extend(p, expires, r.change(actor, basis))
	if err != nil {
		return nil, nil, err
	}
	return r.applyExtension(ctx, v.State, n, e)
}

// applyExtension extends the retention of every object of the order to
// n's expiry, then records n and its event.
func (r *Registry) applyExtension(ctx context.Context, st *OrderState, n *order.Order, e *chain.Event) (*order.Order, *StoreReport, error) {
	rep, err := r.eachObject(ctx, st, func(key string) error {
		err := r.Store.ExtendRetention(ctx, key, n.ExpiresAt)
		if errors.Is(err, storage.ErrRetention) {
			// Already retained longer (an extension that stopped before
			// its event): nothing to do.
			if info, serr := r.Store.Stat(ctx, key); serr == nil && !info.RetainUntil.Before(n.ExpiresAt) {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return nil, rep, err
	}
	if _, err := r.record(ctx, n, e); err != nil {
		return nil, rep, err
	}
	return n, rep, nil
}

// Hold keeps order id with no fixed end while its profile's condition
// holds, on basis: a legal hold on every object, then the order.held event.
func (r *Registry) Hold(ctx context.Context, id, basis, actor string) (*order.Order, *StoreReport, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	p, err := r.Profiles.Lookup(v.Order.Profile)
	if err != nil {
		return nil, nil, fmt.Errorf("order %s: %w", id, err)
	}
	n, e, err := v.Order.Hold(p, r.change(actor, basis))
	if err != nil {
		return nil, nil, err
	}
	return r.applyHold(ctx, v.State, n, e, true)
}

// LiftHold ends the hold of order id, for reason: the legal holds are
// cleared and its expiry runs again.
func (r *Registry) LiftHold(ctx context.Context, id, reason, actor string) (*order.Order, *StoreReport, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	n, e, err := v.Order.LiftHold(r.change(actor, reason))
	if err != nil {
		return nil, nil, err
	}
	return r.applyHold(ctx, v.State, n, e, false)
}

func (r *Registry) applyHold(ctx context.Context, st *OrderState, n *order.Order, e *chain.Event, on bool) (*order.Order, *StoreReport, error) {
	rep, err := r.eachObject(ctx, st, func(key string) error { return r.Store.SetLegalHold(ctx, key, on) })
	if err != nil {
		return nil, rep, err
	}
	if _, err := r.record(ctx, n, e); err != nil {
		return nil, rep, err
	}
	return n, rep, nil
}

// Release ends order id's preservation, for reason. Its objects keep their
// retention until the expiry (retention never shortens); purge deletes them
// once it has passed.
func (r *Registry) Release(ctx context.Context, id, reason, actor string) (*order.Order, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, e, err := v.Order.Release(r.change(actor, reason))
	if err != nil {
		return nil, err
	}
	if _, err := r.record(ctx, n, e); err != nil {
		return nil, err
	}
	return n, nil
}

// PurgeReport says what Purge did.
type PurgeReport struct {
	Purged []chain.Digest // items deleted, item.purged logged
	// Kept are items the store still protects (retention not yet passed,
	// or a legal hold), with the date their retention ends.
	Kept  []KeptItem
	Order *order.Order // the order as it stands after the purge
}

// KeptItem is an item Purge could not delete yet.
type KeptItem struct {
	Digest      chain.Digest
	RetainUntil time.Time
}

// Purge deletes the objects of a released order that their retention
// allows: each item with its metadata and statement, logging item.purged
// (the digests stay in the log as proof of what existed). When every item
// is gone, the order's records and replies in the store go too and the order becomes
// purged; otherwise it stays released and Purge can run again later.
func (r *Registry) Purge(ctx context.Context, id, reason, actor string) (*PurgeReport, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o, st := v.Order, v.State
	if o.Status != order.StatusReleased {
		return nil, fmt.Errorf("order %s is %s: only a released order can be purged: %w", id, o.Status, order.ErrIllegalTransition)
	}
	c := r.change(actor, reason)
	if err := c.Check(true, "reason for the purge"); err != nil {
		return nil, fmt.Errorf("order %s: %w", id, err)
	}
	rep := &PurgeReport{Order: o}
	for _, sum := range st.ItemOrder {
		d := st.Items[sum]
		keys := []string{capture.ItemKey(id, sum), capture.ItemKey(id, sum) + ".meta.json", capture.AttestationKey(id, sum)}
		kept, err := r.deleteAll(ctx, keys)
		if err != nil {
			return rep, fmt.Errorf("order %s: purge item %s: %w", id, sum, err)
		}
		if kept != nil {
			rep.Kept = append(rep.Kept, KeptItem{Digest: d, RetainUntil: kept.RetainUntil})
			continue
		}
		e := chain.Event{
			Type: chain.ItemPurged, Time: r.now(), Order: id, Items: []chain.Digest{d},
			Actor: actor, Agent: r.Agent, Host: r.Host, Reason: reason, Authority: o.LegalBasis,
			Details: map[string]string{"key": capture.ItemKey(id, sum)},
		}
		if _, err := r.Log.Append(ctx, e); err != nil {
			return rep, fmt.Errorf("order %s: item %s deleted, not logged: %w", id, sum, err)
		}
		rep.Purged = append(rep.Purged, d)
	}
	if err := r.purgeBatches(ctx, o, st, reason, actor, rep); err != nil {
		return rep, err
	}
	if len(rep.Kept) > 0 {
		return rep, nil
	}
	records := replyKeys(st) // the replies go with the records: the log keeps their digests
	for _, sum := range st.Records {
		records = append(records, RecordKey(id, sum))
	}
	if kept, err := r.deleteAll(ctx, records); err != nil || kept != nil {
		if err == nil {
			err = fmt.Errorf("%s is retained until %s", kept.Key, kept.RetainUntil.UTC().Format(time.RFC3339))
		}
		return rep, fmt.Errorf("order %s: items purged, records not deleted: %w", id, err)
	}
	n, e, err := o.Transition(order.StatusPurged, c)
	if err != nil {
		return rep, err
	}
	if _, err := r.record(ctx, n, e); err != nil {
		return rep, err
	}
	rep.Order = n
	return rep, nil
}

// purgeBatches deletes each batch of the order whose retention allows it:
// its items, manifest and statement, then one item.purged for the batch
// (capture and batch; its root and manifest digest stay in the log as
// proof of what existed), then the index's copy of its manifest.
func (r *Registry) purgeBatches(ctx context.Context, o *order.Order, st *OrderState, reason, actor string, rep *PurgeReport) error {
	src := r.cfg.Manifests
	for _, b := range st.Batches {
		_, recs, err := src.Manifest(ctx, b)
		if err != nil {
			return fmt.Errorf("order %s: purge batch %s: %w", o.ID, b.ID(), err)
		}
		var keys []string
		for _, rec := range recs {
			keys = append(keys, rec.Key)
		}
		kept, err := r.deleteAll(ctx, append(keys, batchKeys(b)...))
		if err != nil {
			return fmt.Errorf("order %s: purge batch %s: %w", o.ID, b.ID(), err)
		}
		if kept != nil {
			for _, rec := range recs {
				rep.Kept = append(rep.Kept, KeptItem{Digest: rec.Digest(), RetainUntil: kept.RetainUntil})
			}
			continue
		}
		sb := b.Sealed
		e := chain.Event{
			Type: chain.ItemPurged, Time: r.now(), Order: o.ID, Actor: actor, Agent: r.Agent, Host: r.Host, Reason: reason,
			Authority: o.LegalBasis,
			Details: map[string]string{"capture": sb.Capture, "batch": strconv.Itoa(sb.Batch), "count": strconv.Itoa(sb.Count),
				"manifest_sha256": sb.ManifestSHA256, "key": b.Key()},
		}
		if _, err := r.Log.Append(ctx, e); err != nil {
			return fmt.Errorf("order %s: batch %s deleted, not logged: %w", o.ID, b.ID(), err)
		}
		for _, rec := range recs {
			rep.Purged = append(rep.Purged, rec.Digest())
		}
		if r.Manifests != nil {
			if err := r.Manifests.Forget(b); err != nil {
				return fmt.Errorf("order %s: batch %s purged, its index copy not removed: %w", o.ID, b.ID(), err)
			}
		}
	}
	return nil
}

// deleteAll deletes keys from the store and from the spool. It stops at
// the first object the store protects and returns what it says of it.
func (r *Registry) deleteAll(ctx context.Context, keys []string) (*storage.ObjectInfo, error) {
	for _, k := range keys {
		err := r.Store.Delete(ctx, k)
		if errors.Is(err, storage.ErrRetention) {
			info, serr := r.Store.Stat(ctx, k)
			if serr != nil {
				return nil, errors.Join(err, serr)
			}
			return info, nil
		}
		if err != nil && !errors.Is(err, storage.ErrNotExist) {
			return nil, err
		}
		if sp := r.Capturer.Spool; sp != nil {
			if err := sp.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotExist) {
				return nil, err
			}
		}
	}
	return nil, nil
}
