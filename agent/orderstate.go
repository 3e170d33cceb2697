package agent

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"

	"github.com/custos-evidence/custos/chain"
)

// OrderState is what the custody log says of one order: which version of
// its record is current, which items it holds, and which of its captures
// never ended. The log is the authority; the records and items it names
// live in the order book and the store.
type OrderState struct {
	ID string
	// Record is the SHA-256 of the order's current canonical record (the
	// order_sha256 of its newest order event); Records lists every version
	// the log names, oldest first.
	Record  string
	Records []string
	// Items are the items preserved and not purged, by SHA-256, in log
	// order (ItemOrder).
	Items     map[string]chain.Digest
	ItemOrder []string
	ItemIndex map[string]uint64 // the log index of each one's item.preserved
	// Spooled are items sealed in the local spool and not yet stored
	// (item.preserved with stored=spool, no item.stored yet).
	Spooled map[string]bool
	// Purged are the items purged, by SHA-256: their digests stay in the
	// log as proof of what existed.
	Purged map[string]chain.Digest
	// Batches are the batches sealed for the order and not purged, in log
	// order: their items are named by their manifests (Registry.Held);
	// PurgedBatches those purged, whose roots stay in the log.
	Batches       []*capture.LoggedBatch
	PurgedBatches []*capture.LoggedBatch
	// OpenCaptures are the ids of captures started and never ended
	// (capture.started with no capture.completed or capture.failed): the
	// process running them died.
	OpenCaptures []string
	// Interrupted are the captures recorded as interrupted (capture.failed
	// with interrupted: true) since the order's last completed capture:
	// what they stored and never sealed waits for the next capture of the
	// order, which seals it in a recovery batch.
	Interrupted []string
	Events      int
	LastIndex   uint64
	// Status is the order's status after its newest order event.
	Status order.Status
	// Received holds the details of its order.received event (reference,
	// authority, requesting state, profile, receipt, expiry, ...), and
	// ExpiresAt the newest expiry its events name: what the log alone says
	// of an order whose record is gone (a purged one).
	Received  map[string]string
	ExpiresAt string
	// Produced is the time of the order's first disclosure.created: a
	// production order's data produced. Deadline is what its deadline
	// events say (deadline.go).
	Produced time.Time
	Deadline order.DeadlineLogged
	// DocumentCaptures are the captures of the order's own document
	// (chain.IsDocumentCapture): their items are the order, not the data
	// it names. FirstSealed is the time of the first items.sealed (or,
	// before batches, item.preserved) of any other capture: when the
	// order's data was first preserved; zero until then.
	DocumentCaptures map[string]bool
	FirstSealed      time.Time
	// Replies are the replies to the order's authority, in log order
	// (order.replied).
	Replies []LoggedReply
	// Requester is the newest check of the order's requester
	// (requester.verified or requester.failed), nil before any; Approvals
	// are the disclosure.approved events since its newest
	// disclosure.created (requester.go).
	Requester *RequesterCheck
	Approvals []Approval
}

// LoggedReply is a reply to an order's authority as its order.replied
// event records it.
type LoggedReply struct {
	chain.ReplyDetails
	Index uint64 // of its order.replied event
	Time  time.Time
}

// ReadOrderStates reads the first size entries of the log in fsys and
// returns the state of every order, by id, and the ids in the order the log
// received them. An entry that cannot be read or fails its checks stops it
// with that error (a *chain.TamperError for tampering).
func ReadOrderStates(ctx context.Context, fsys fs.FS, size uint64) (map[string]*OrderState, []string, error) {
	var x StateIndex
	if err := x.Update(ctx, fsys, size); err != nil {
		return nil, nil, err
	}
	states, ids := x.All()
	return states, ids, nil
}

// StateIndex keeps the state of every order as the log says it, read
// incrementally: Update applies only the entries it has not seen yet, so a
// long-running agent reads each entry once. It is safe for concurrent use;
// what it returns are copies.
type StateIndex struct {
	mu     sync.Mutex
	next   uint64
	states map[string]*OrderState
	ids    []string
}

// Update applies the entries [next, size) of the log in fsys. An entry that
// cannot be read or fails its checks stops it with that error, and the
// index stays where it was before that entry.
func (x *StateIndex) Update(ctx context.Context, fsys fs.FS, size uint64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.states == nil {
		x.states = map[string]*OrderState{}
	}
	if size <= x.next {
		return nil
	}
	for rec, err := range chain.Entries(ctx, fsys, x.next, size) {
		if err != nil {
			return err
		}
		if err := x.apply(rec); err != nil {
			return err
		}
		x.next = rec.Index + 1
	}
	return nil
}

func (x *StateIndex) apply(rec *chain.Record) error {
	e := rec.Event
	if e.Order == "" {
		return nil
	}
	st := x.states[e.Order]
	if st == nil {
		st = &OrderState{ID: e.Order, Items: map[string]chain.Digest{}, ItemIndex: map[string]uint64{}, Spooled: map[string]bool{}, Purged: map[string]chain.Digest{},
			DocumentCaptures: map[string]bool{}}
		x.states[e.Order] = st
		x.ids = append(x.ids, e.Order)
	}
	st.Events++
	st.LastIndex = rec.Index
	if sum := e.Details["order_sha256"]; sum != "" {
		if !isHexSHA256(sum) {
			return &chain.TamperError{Index: int64(rec.Index), What: fmt.Sprintf("%s event: order_sha256 %q is not a SHA-256", e.Type, sum)}
		}
		st.Record = sum
		st.Records = appendNew(st.Records, sum)
		st.Status = order.Status(e.Details["status"])
		if exp := e.Details["expires_at"]; exp != "" {
			st.ExpiresAt = exp
		}
		if e.Type == chain.OrderReceived {
			st.Received = e.Details
		}
	}
	if err := st.applyDeadline(rec); err != nil {
		return err
	}
	if err := st.applyReply(rec); err != nil {
		return err
	}
	if err := st.applyClearance(rec); err != nil {
		return err
	}
	return st.applyItems(rec)
}

// applyReply follows an order.replied event. The reply's number is not in
// its store keys (chain.ReplyKey), so a number an earlier reply of the
// order took would make two replies one: a log that says so has been
// tampered with, and is refused.
func (st *OrderState) applyReply(rec *chain.Record) error {
	e := rec.Event
	if e.Type != chain.OrderReplied {
		return nil
	}
	d, err := chain.ReadReplyDetails(e)
	if err != nil {
		return &chain.TamperError{Index: int64(rec.Index), What: err.Error()}
	}
	for _, prev := range st.Replies {
		if prev.Number == d.Number {
			return &chain.TamperError{Index: int64(rec.Index), What: fmt.Sprintf("%s event: order %s's reply %d is the event's at log index %d already", e.Type, st.ID, d.Number, prev.Index)}
		}
	}
	st.Replies = append(st.Replies, LoggedReply{ReplyDetails: d, Index: rec.Index, Time: e.Time})
	return nil
}

// applyItems follows the captures, batches and items an event of the
// order names.
func (st *OrderState) applyItems(rec *chain.Record) error {
	e := rec.Event
	if b := st.batch(e); b != nil {
		switch e.Type {
		case chain.ItemStored:
			b.Spooled = false
		case chain.ItemPurged:
			st.Batches = slices.DeleteFunc(st.Batches, func(x *capture.LoggedBatch) bool { return x == b })
			st.PurgedBatches = append(st.PurgedBatches, b)
		}
		return nil
	}
	switch e.Type {
	case chain.ItemsSealed:
		sb, err := chain.ParseSealedBatch(e)
		if err != nil {
			return &chain.TamperError{Index: int64(rec.Index), What: err.Error()}
		}
		st.Batches = append(st.Batches, &capture.LoggedBatch{Order: e.Order, Index: rec.Index, Time: e.Time, Sealed: sb, Spooled: sb.Stored == chain.StoredInSpool})
		st.sealed(e)
	case chain.CaptureStarted:
		st.OpenCaptures = appendNew(st.OpenCaptures, e.Details["capture"])
		if chain.IsDocumentCapture(e.Details["sources"]) {
			st.DocumentCaptures[e.Details["capture"]] = true
		}
	case chain.CaptureCompleted:
		// It ran the recovery of every capture interrupted before it
		// (captures of one order take turns).
		st.OpenCaptures = remove(st.OpenCaptures, e.Details["capture"])
		st.Interrupted = nil
	case chain.CaptureFailed:
		st.OpenCaptures = remove(st.OpenCaptures, e.Details["capture"])
		if e.Details["interrupted"] == "true" {
			st.Interrupted = appendNew(st.Interrupted, e.Details["capture"])
		}
	case chain.ItemPreserved:
		st.sealed(e)
		for _, d := range e.Items {
			if _, ok := st.Items[d.SHA256]; !ok {
				st.Items[d.SHA256] = d
				st.ItemOrder = append(st.ItemOrder, d.SHA256)
				st.ItemIndex[d.SHA256] = rec.Index
			}
			delete(st.Purged, d.SHA256)
			if e.Details["stored"] == "spool" {
				st.Spooled[d.SHA256] = true
			}
		}
	case chain.ItemStored:
		for _, d := range e.Items {
			delete(st.Spooled, d.SHA256)
		}
	case chain.ItemPurged:
		for _, d := range e.Items {
			if _, ok := st.Items[d.SHA256]; ok {
				st.Purged[d.SHA256] = st.Items[d.SHA256]
				delete(st.Items, d.SHA256)
				delete(st.ItemIndex, d.SHA256)
				delete(st.Spooled, d.SHA256)
				st.ItemOrder = remove(st.ItemOrder, d.SHA256)
			}
		}
	}
	return nil
}

// sealed notes when the order's data was first sealed: e seals items of
// a capture that is not of the order's document.
func (st *OrderState) sealed(e *chain.Event) {
	if !st.DocumentCaptures[e.Details["capture"]] && (st.FirstSealed.IsZero() || e.Time.Before(st.FirstSealed)) {
		st.FirstSealed = e.Time
	}
}

// batch is the sealed batch an item.stored or item.purged of a whole
// batch names (capture and batch, no items), or nil.
func (st *OrderState) batch(e *chain.Event) *capture.LoggedBatch {
	if (e.Type != chain.ItemStored && e.Type != chain.ItemPurged) || len(e.Items) > 0 || e.Details["batch"] == "" {
		return nil
	}
	for _, b := range st.Batches {
		if b.Sealed.Capture == e.Details["capture"] && strconv.Itoa(b.Sealed.Batch) == e.Details["batch"] {
			return b
		}
	}
	return nil
}

// ItemCount is how many items the order holds: preserved and not purged.
func (st *OrderState) ItemCount() int {
	n := len(st.Items)
	for _, b := range st.Batches {
		n += b.Sealed.Count
	}
	return n
}

// Get returns a copy of the state of order id, or nil when the log never
// received it. Events naming an id the log never received as an order (a
// note naming it beforehand) do not make it an order of this agent.
func (x *StateIndex) Get(id string) *OrderState {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := x.states[id]
	if st == nil || st.Record == "" {
		return nil
	}
	return st.clone()
}

// All returns a copy of every order's state, by id, and the ids in the
// order the log received them.
func (x *StateIndex) All() (map[string]*OrderState, []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	states := make(map[string]*OrderState, len(x.states))
	ids := make([]string, 0, len(x.ids))
	for _, id := range x.ids {
		if st := x.states[id]; st.Record != "" {
			states[id] = st.clone()
			ids = append(ids, id)
		}
	}
	return states, ids
}

func (st *OrderState) clone() *OrderState {
	c := *st
	c.Records = slices.Clone(st.Records)
	c.Items = maps.Clone(st.Items)
	c.ItemIndex = maps.Clone(st.ItemIndex)
	c.ItemOrder = slices.Clone(st.ItemOrder)
	c.Spooled = maps.Clone(st.Spooled)
	c.Purged = maps.Clone(st.Purged)
	c.OpenCaptures = slices.Clone(st.OpenCaptures)
	c.Interrupted = slices.Clone(st.Interrupted)
	c.Batches = cloneBatches(st.Batches)
	c.PurgedBatches = cloneBatches(st.PurgedBatches)
	c.Received = maps.Clone(st.Received)
	c.DocumentCaptures = maps.Clone(st.DocumentCaptures)
	c.Replies = slices.Clone(st.Replies)
	c.Approvals = slices.Clone(st.Approvals)
	return &c
}

// cloneBatches copies each batch, which the index changes as the log goes
// on (a spooled batch flushed).
func cloneBatches(bs []*capture.LoggedBatch) []*capture.LoggedBatch {
	out := make([]*capture.LoggedBatch, len(bs))
	for i, b := range bs {
		c := *b
		out[i] = &c
	}
	return out
}

// Preserved returns the SHA-256 of the items preserved before batches: a
// re-run capture must not store them again (Registry.preserved adds the
// batches' items).
func (st *OrderState) Preserved() map[string]bool {
	m := make(map[string]bool, len(st.Items))
	for sum := range st.Items {
		m[sum] = true
	}
	return m
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func isHexSHA256(s string) bool { return len(s) == 64 && isHex(s) }

// PurgedOrder is what the log alone says of a purged order whose record is
// no longer anywhere: the store keeps nothing of a purged order, and the
// data directory's copy may be lost with the directory. It carries the
// fields the order.received event names (not the selectors, which the log
// never holds) and the final status.
func (st *OrderState) PurgedOrder() *order.Order {
	o := &order.Order{Version: order.Version, ID: st.ID, Status: st.Status}
	if d := st.Received; d != nil {
		o.Reference, o.Authority, o.RequestingState, o.Profile = d["reference"], d["authority"], d["requesting_state"], d["profile"]
		o.ReceivedAt, _ = time.Parse(time.RFC3339Nano, d["received_at"])
		// Confidential as received, assigned to no one: with the record
		// gone, it stays hidden from every identity (fails closed).
		o.Confidentiality.Confidential = d["confidential"] == "true"
		for _, c := range strings.Split(d["categories"], ",") {
			if c != "" {
				o.Categories = append(o.Categories, order.Category(c))
			}
		}
	}
	o.ExpiresAt, _ = time.Parse(time.RFC3339Nano, st.ExpiresAt)
	return o
}
