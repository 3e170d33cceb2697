package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"

	"github.com/custos-evidence/custos/agent/source"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// Store is what a capture needs of the evidence store.
type Store interface {
	Lister
	Stage(ctx context.Context, r io.Reader) (*storage.Staged, error)
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error)
	Stat(ctx context.Context, key string) (*storage.ObjectInfo, error)
	// Sync makes every deferred put done before it durable.
	Sync(ctx context.Context) error
}

// EventLog is what a capture needs of the custody log.
type EventLog interface {
	Append(ctx context.Context, e chain.Event) (*chain.Record, error)
}

// Capturer preserves what an order's sources yield: each item is hashed
// (SHA-256, SHA-512, and MD5/SHA-1 on request) as it is read once, stored
// write-once under orders/<order>/items/<sha256> with the order's
// retention and hold, and sealed in a batch: the batch's records
// (ManifestKey), its signed statement (StatementKey) and one items.sealed
// event carrying the Merkle root over the records, between
// capture.started and capture.completed or capture.failed. An item is
// preserved once its batch's event is durable.
//
// A Capturer holds what stays the same from one capture to the next; what
// changes per call (the order, the actor, the progress) is in the Spec of
// Capture and the FlushOptions of Flush. One Capturer serves concurrent
// calls and is never copied.
type Capturer struct {
	Store  Store
	Log    EventLog
	Signer signature.Signer // signs the attestations
	// Spool, when set, seals items locally while Store cannot be reached:
	// they are hashed, stored in the spool and logged as preserved, and
	// Flush moves them to Store later (item.stored). Without it a capture
	// against an unreachable store fails.
	Spool SpoolStore

	Agent, Host string
	Now         func() time.Time // nil: time.Now
	// Concurrency bounds the sources captured at once; 0 means 2.
	Concurrency int
	// Workers hash and store items at once, from all sources;
	// 0 means DefaultWorkers.
	Workers int
	// BatchItems and BatchWait bound a batch: sealed when it holds
	// BatchItems items or BatchWait after its first; 0 means
	// DefaultBatchItems and DefaultBatchWait.
	BatchItems int
	BatchWait  time.Duration
	// PartSize is the largest item buffered and put straight under its
	// key; larger ones are staged as they stream. 0 means
	// storage.DefaultPartSize.
	PartSize int64
	// Manifests, when set, keeps each sealed batch's manifest (the data
	// directory's index).
	Manifests Manifests
}

// progressReader tells progress of the bytes read through it.
type progressReader struct {
	r        io.Reader
	progress func(n int)
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress(n)
	}
	return n, err
}

// NamedSource is a connector with the name the configuration gives it.
type NamedSource struct {
	Name   string
	Source source.Source
	// Categories are the data categories the source serves (subscriber,
	// traffic, content), recorded with each of its items so that a
	// disclosure can be limited to some of them.
	Categories []string
}

// Spec is one capture of one order.
type Spec struct {
	Order       string
	RetainUntil time.Time // the order's expiry: the items' retention
	LegalHold   bool      // the order is held: items get a legal hold
	Legacy      bool      // MD5 and SHA-1 too
	Authority   string    // the legal basis, recorded in every event
	Request     source.Request
	Sources     []NamedSource
	// Preserved holds the SHA-256 of the items the order already holds,
	// as its custody events say: they are neither stored nor logged again,
	// which makes a re-run capture idempotent.
	Preserved map[string]bool
	// Actor is who runs the capture, recorded in every event and in each
	// item's metadata and attestation.
	Actor string
	// Progress, when set, is told of every n bytes read from the
	// sources, from several goroutines at once (a progress bar).
	Progress func(n int)
	// Sealed, when set, is told of the items of each batch once it is
	// sealed (they are preserved then), from the sealing goroutine.
	Sealed func(items int)
	// Interrupted are the captures of the order that never ended (their
	// process died): what they stored and never sealed is sealed first,
	// in a recovery batch.
	Interrupted []string
}

// ItemResult is what became of one item a source yielded.
type ItemResult struct {
	Source    string
	Name      string
	Digests   Digests
	Size      int64
	Key       string
	Duplicate bool  // already preserved for this order
	Spooled   bool  // sealed in the local spool, to be flushed to the store
	Err       error // not preserved, and why
	// Batch is the number of the batch that sealed the item in its
	// capture, and Index the log index of its items.sealed event.
	Batch int
	Index uint64

	seq int64 // the order its source yielded it in, for the report
}

// Report is the outcome of a capture. Its memory does not grow with the
// items preserved: Items holds every item that failed and the first
// ReportItems of the others; Counts counts them all, and Omitted the
// items left out of Items. The sealed batches' manifests list every item
// (custos order show, the order's items in the API).
type Report struct {
	ID        string
	CutOff    time.Time
	Items     []ItemResult
	Counts    ItemCounts
	Omitted   int
	Summaries map[string]source.Summary
	// SourceErrs holds, by source name, a source that failed outside any
	// one item (it could not be reached, or stopped between items).
	SourceErrs map[string]error
	// Batches is how many batches the capture sealed.
	Batches int
	// Index is the log index of the capture.completed or capture.failed
	// event, durable when Capture returns.
	Index uint64
}

// ReportItems is how many items preserved (or already preserved) a
// Report lists one by one; failed items are always listed.
const ReportItems = 1000

// ItemCounts count the items of a capture by outcome. Bytes are those of
// the items this capture preserved, SpooledBytes those of them sealed in
// the local spool.
type ItemCounts struct {
	Preserved    int
	Spooled      int
	Duplicates   int
	Failed       int
	Bytes        int64
	SpooledBytes int64
}

// add counts res and lists it, if it failed or there is room.
func (r *Report) add(res ItemResult) {
	switch {
	case res.Err != nil:
		r.Counts.Failed++
	case res.Duplicate:
		r.Counts.Duplicates++
	default:
		r.Counts.Preserved++
		r.Counts.Bytes += res.Size
		if res.Spooled {
			r.Counts.Spooled++
			r.Counts.SpooledBytes += res.Size
		}
	}
	if res.Err == nil && len(r.Items)-r.Counts.Failed >= ReportItems {
		r.Omitted++
		return
	}
	r.Items = append(r.Items, res)
}

// Preserved counts the items stored and logged by this capture.
func (r *Report) Preserved() int { return r.Counts.Preserved }

// Failures names, sorted, each item and source not preserved and why:
// "source/name: error" or "source: error".
func (r *Report) Failures() []string {
	var out []string
	for _, it := range r.Items {
		if it.Err != nil {
			out = append(out, it.Source+"/"+it.Name+": "+it.Err.Error())
		}
	}
	for name, err := range r.SourceErrs {
		out = append(out, name+": "+err.Error())
	}
	sort.Strings(out)
	return out
}

// Failed reports whether anything was not preserved.
func (r *Report) Failed() bool { return len(r.SourceErrs) > 0 || r.Counts.Failed > 0 }

// ItemKey is where an order's item lives in the store.
func ItemKey(order, sha256 string) string { return "orders/" + order + "/items/" + sha256 }

// AttestationKey is where an item's signed statement lives in the store.
func AttestationKey(order, sha256 string) string {
	return "orders/" + order + "/attestations/" + sha256 + ".dsse.json"
}

// Capture runs every source of spec and preserves what they yield. It
// returns the report and an error only when the capture could not be
// recorded at all (capture.started could not be logged); a source or item
// that fails is in the report and in the capture.failed event.
func (c *Capturer) Capture(ctx context.Context, spec Spec) (*Report, error) {
	now := c.now()
	if err := chain.ValidateOrderID(spec.Order); err != nil {
		return nil, err
	}
	if len(spec.Sources) == 0 {
		return nil, errors.New("capture: no sources")
	}
	if spec.Request.CutOff.IsZero() {
		return nil, errors.New("capture: no cut-off time")
	}
	spec.Request.Order = spec.Order
	rep := &Report{
		ID:         ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(),
		CutOff:     spec.Request.CutOff.UTC(),
		Summaries:  map[string]source.Summary{},
		SourceErrs: map[string]error{},
	}
	names := make([]string, len(spec.Sources))
	for i, s := range spec.Sources {
		names[i] = s.Name + " (" + s.Source.Kind() + ")"
	}
	if _, err := c.Log.Append(ctx, c.event(chain.CaptureStarted, spec, "", map[string]string{
		"capture": rep.ID, "sources": strings.Join(names, ", "), "cut_off": rep.CutOff.Format(time.RFC3339Nano),
		"legacy_digests": strconv.FormatBool(spec.Legacy),
	})); err != nil {
		return nil, fmt.Errorf("capture: record its start: %w", err)
	}

	p := newPipeline(ctx, c, spec, rep)
	if c.Spool != nil && !c.StoreUp(ctx) {
		p.down.Store(true)
	}
	// A source's failure is in the report and stops no other source: every
	// function of the group returns nil, and the group only bounds how
	// many sources run at once. An item that fails (its content broke off,
	// the store refused it) is reported and its source goes on to the
	// next: one changed file must not leave the rest of a tree
	// unpreserved. Only an ended context, a log that does not take a
	// batch, or a store that does not answer when there is no spool to
	// seal items into stops a source.
	var g errgroup.Group
	g.SetLimit(c.concurrency())
	for _, ns := range spec.Sources {
		g.Go(func() error {
			emit := func(it *source.Item, content io.Reader) error { return p.emit(ctx, ns, it, content) }
			sum, err := ns.Source.Capture(ctx, spec.Request, emit)
			p.mu.Lock()
			defer p.mu.Unlock()
			rep.Summaries[ns.Name] = sum
			if err != nil && !itemFailed(rep.Items, ns.Name, err) && !errors.Is(err, p.stopped()) {
				rep.SourceErrs[ns.Name] = err
			}
			return nil
		})
	}
	_ = g.Wait() // nil: see above
	p.finish()
	// What captures that died stored and never sealed, and this one's
	// sources did not yield again, is sealed in a recovery batch.
	if err := p.recover(ctx); err != nil {
		rep.SourceErrs["recovery"] = err
	}
	if err := p.stopped(); err != nil && len(rep.SourceErrs) == 0 && !rep.Failed() {
		rep.SourceErrs["capture"] = err
	}
	sort.Slice(rep.Items, func(i, j int) bool {
		a, b := rep.Items[i], rep.Items[j]
		return a.Source < b.Source || a.Source == b.Source && a.seq < b.seq
	})

	details := map[string]string{"capture": rep.ID, "preserved": strconv.Itoa(rep.Preserved()), "batches": strconv.Itoa(rep.Batches)}
	details["already_preserved"] = strconv.Itoa(rep.Counts.Duplicates)
	if b, err := json.Marshal(rep.Summaries); err == nil {
		details["summaries"] = string(b)
	}
	typ, reason := chain.CaptureCompleted, ""
	if rep.Failed() {
		typ = chain.CaptureFailed
		failures := rep.Failures()
		details["failed"] = strconv.Itoa(len(failures))
		reason = strings.Join(failures, "; ")
	}
	// Recorded even if the caller's context has ended: the log must say
	// how the capture ended.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	end, err := c.Log.Append(lctx, c.event(typ, spec, reason, details))
	if err != nil {
		return rep, fmt.Errorf("capture %s: record its end: %w", rep.ID, err)
	}
	rep.Index = end.Index
	return rep, nil
}

// itemFailed reports whether err is the error of an item of src already
// in the report (the source stops at an item's failure and returns it).
func itemFailed(items []ItemResult, src string, err error) bool {
	for _, it := range items {
		if it.Source == src && it.Err != nil && errors.Is(err, it.Err) {
			return true
		}
	}
	return false
}

func (c *Capturer) event(t chain.EventType, spec Spec, reason string, details map[string]string) chain.Event {
	return chain.Event{
		Type: t, Time: c.now(), Order: spec.Order, Actor: spec.Actor, Agent: c.Agent, Host: c.Host,
		Reason: reason, Authority: spec.Authority, Details: details,
	}
}

func (c *Capturer) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *Capturer) concurrency() int {
	if c.Concurrency > 0 {
		return c.Concurrency
	}
	return 2
}

func (c *Capturer) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return DefaultWorkers
}

func (c *Capturer) batchItems() int {
	if c.BatchItems > 0 {
		return min(c.BatchItems, chain.MaxBatchItems)
	}
	return DefaultBatchItems
}

func (c *Capturer) batchWait() time.Duration {
	if c.BatchWait > 0 {
		return c.BatchWait
	}
	return DefaultBatchWait
}

func (c *Capturer) partSize() int64 {
	if c.PartSize > 0 {
		return c.PartSize
	}
	return storage.DefaultPartSize
}
