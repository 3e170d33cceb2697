package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	Stage(ctx context.Context, r io.Reader) (*storage.Staged, error)
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectInfo, error)
	Stat(ctx context.Context, key string) (*storage.ObjectInfo, error)
}

// EventLog is what a capture needs of the custody log.
type EventLog interface {
	Append(ctx context.Context, e chain.Event) (*chain.Record, error)
}

// Capturer preserves what an order's sources yield: each item is hashed
// (SHA-256, SHA-512, and MD5/SHA-1 on request) in the one pass that
// streams it into the store, committed write-once under
// orders/<order>/items/<sha256> with the order's retention and hold,
// described (…/items/<sha256>.meta.json), attested (a signed in-toto
// statement, …/attestations/<sha256>.dsse.json) and logged
// (item.preserved), between capture.started and capture.completed or
// capture.failed.
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
	// Concurrency bounds the sources captured at once (items of one
	// source come one after another); 0 means 2.
	Concurrency int
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
}

// Report is the outcome of a capture.
type Report struct {
	ID        string
	CutOff    time.Time
	Items     []ItemResult
	Summaries map[string]source.Summary
	// SourceErrs holds, by source name, a source that failed outside any
	// one item (it could not be reached, or stopped between items).
	SourceErrs map[string]error
	// Index is the log index of the capture.completed or capture.failed
	// event, durable when Capture returns.
	Index uint64
}

// Preserved counts the items stored and logged by this capture.
func (r *Report) Preserved() int {
	n := 0
	for _, it := range r.Items {
		if it.Err == nil && !it.Duplicate {
			n++
		}
	}
	return n
}

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
func (r *Report) Failed() bool {
	if len(r.SourceErrs) > 0 {
		return true
	}
	for _, it := range r.Items {
		if it.Err != nil {
			return true
		}
	}
	return false
}

// itemMeta is the item metadata stored beside its content.
type itemMeta struct {
	Order      string         `json:"order"`
	Capture    string         `json:"capture"`
	Digests    Digests        `json:"digests"`
	Size       int64          `json:"size"`
	MediaType  string         `json:"media_type,omitempty"`
	Name       string         `json:"name"`
	Source     string         `json:"source"`
	Kind       string         `json:"kind"`
	Categories []string       `json:"categories,omitempty"`
	Record     map[string]any `json:"record"`
	Modified   *time.Time     `json:"modified,omitempty"`
	CapturedAt time.Time      `json:"captured_at"`
	CutOff     time.Time      `json:"cut_off"`
	Agent      string         `json:"agent"`
	Actor      string         `json:"actor"`
	Store      storeRecord    `json:"store"`
}

// storeRecord is what the store said when it took the content.
type storeRecord struct {
	Key         string    `json:"key"`
	VersionID   string    `json:"version_id,omitempty"`
	ETag        string    `json:"etag,omitempty"`
	Checksum    string    `json:"checksum,omitempty"`
	PartSize    int64     `json:"part_size,omitempty"`
	RetainUntil time.Time `json:"retain_until,omitzero"`
	LegalHold   bool      `json:"legal_hold"`
}

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

	var (
		mu        sync.Mutex
		preserved = map[string]bool{}
		down      atomic.Bool // the store stopped answering: spool from now on
	)
	if c.Spool != nil && !c.StoreUp(ctx) {
		down.Store(true)
	}
	for k, v := range spec.Preserved {
		preserved[k] = v
	}
	// A source's failure is in the report and stops no other source: every
	// function of the group returns nil, and the group only bounds how
	// many sources run at once.
	var g errgroup.Group
	g.SetLimit(c.concurrency())
	for _, ns := range spec.Sources {
		g.Go(func() error {
			// An item that fails (its content broke off, the store refused
			// it) is reported and the source goes on to the next: one
			// changed file must not leave the rest of a tree unpreserved.
			// Only an ended context, a log that does not take an
			// item.preserved, or a store that does not answer when there
			// is no spool to seal items into stops the source.
			emit := func(it *source.Item, content io.Reader) error {
				res := c.preserve(ctx, spec, rep.ID, ns, it, content, &mu, preserved, &down)
				mu.Lock()
				rep.Items = append(rep.Items, res)
				mu.Unlock()
				if res.Err != nil && (ctx.Err() != nil || errors.Is(res.Err, errNotLogged) ||
					(c.Spool == nil && errors.Is(res.Err, storage.ErrUnavailable))) {
					return res.Err
				}
				return nil
			}
			sum, err := ns.Source.Capture(ctx, spec.Request, emit)
			mu.Lock()
			defer mu.Unlock()
			rep.Summaries[ns.Name] = sum
			if err != nil && !itemFailed(rep.Items, ns.Name, err) {
				rep.SourceErrs[ns.Name] = err
			}
			return nil
		})
	}
	_ = g.Wait() // nil: see above
	sort.SliceStable(rep.Items, func(i, j int) bool { return rep.Items[i].Source < rep.Items[j].Source })

	details := map[string]string{"capture": rep.ID, "preserved": strconv.Itoa(rep.Preserved())}
	dups := 0
	for _, it := range rep.Items {
		if it.Duplicate {
			dups++
		}
	}
	details["already_preserved"] = strconv.Itoa(dups)
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

// preserve stores, describes, attests and logs one item.
func (c *Capturer) preserve(ctx context.Context, spec Spec, capture string, ns NamedSource, it *source.Item,
	content io.Reader, mu *sync.Mutex, preserved map[string]bool, down *atomic.Bool,
) ItemResult {
	res := ItemResult{Source: ns.Name, Name: it.Name}
	target := c.Store
	if down.Load() {
		target, res.Spooled = c.Spool, true
	}
	if spec.Progress != nil {
		content = progressReader{r: content, progress: spec.Progress}
	}
	hr := newHashingReader(content, spec.Legacy)
	st, err := target.Stage(ctx, hr)
	hr.close()
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) && c.Spool != nil {
			down.Store(true) // this item is lost to the outage; the next ones are spooled
		}
		res.Err = err
		return res
	}
	res.Digests.SHA256, res.Size = st.SHA256, st.Size
	hr.sums(&res.Digests)
	if hr.n != st.Size {
		_ = st.Discard(ctx)
		res.Err = fmt.Errorf("the store received %d bytes, the source gave %d", st.Size, hr.n)
		return res
	}
	mu.Lock()
	dup := preserved[st.SHA256]
	preserved[st.SHA256] = true // claimed: a concurrent equal item is a duplicate
	mu.Unlock()
	if dup {
		res.Duplicate = true
		_ = st.Discard(ctx)
		return res
	}
	release := func() { mu.Lock(); delete(preserved, st.SHA256); mu.Unlock() }

	res.Key = ItemKey(spec.Order, st.SHA256)
	opts := storage.PutOptions{SHA256: st.SHA256, RetainUntil: spec.RetainUntil, LegalHold: spec.LegalHold}
	if res.Spooled {
		opts.RetainUntil, opts.LegalHold = time.Time{}, false // the store applies them when the item is flushed
	}
	info, err := st.Commit(ctx, res.Key, opts)
	if err != nil {
		release()
		res.Err = err
		return res
	}
	now := c.now()
	meta := itemMeta{
		Order: spec.Order, Capture: capture, Digests: res.Digests, Size: res.Size, MediaType: it.MediaType,
		Name: it.Name, Source: ns.Name, Kind: ns.Source.Kind(), Categories: ns.Categories, Record: it.Record,
		CapturedAt: now, CutOff: spec.Request.CutOff.UTC(), Agent: c.Agent, Actor: spec.Actor,
		Store: storeRecord{Key: res.Key, VersionID: info.VersionID, ETag: info.ETag, Checksum: info.Checksum,
			PartSize: info.PartSize, RetainUntil: info.RetainUntil, LegalHold: info.LegalHold},
	}
	if !it.Modified.IsZero() {
		m := it.Modified.UTC()
		meta.Modified = &m
	}
	metaBytes, err := marshalJSON(meta)
	if err != nil {
		release()
		res.Err = err
		return res
	}
	metaSum, err := c.putBytes(ctx, target, res.Key+".meta.json", metaBytes, opts)
	if err != nil {
		release()
		res.Err = fmt.Errorf("item metadata: %w", err)
		return res
	}
	env, err := attest(c.Signer, res.Digests, preservation{
		Order: spec.Order, Agent: c.Agent, Actor: spec.Actor, Capture: capture, CapturedAt: now,
		CutOff: spec.Request.CutOff.UTC(), Source: ns.Name, Kind: ns.Source.Kind(), Name: it.Name,
		Size: res.Size, MediaType: it.MediaType, Record: it.Record,
	})
	if err != nil {
		release()
		res.Err = err
		return res
	}
	envSum, err := c.putBytes(ctx, target, AttestationKey(spec.Order, st.SHA256), env, opts)
	if err != nil {
		release()
		res.Err = fmt.Errorf("attestation: %w", err)
		return res
	}
	details := map[string]string{
		"capture": capture, "source": ns.Name, "kind": ns.Source.Kind(), "name": it.Name,
		"size": strconv.FormatInt(res.Size, 10), "key": res.Key,
		"meta_sha256": metaSum, "attestation_sha256": envSum,
	}
	if it.MediaType != "" {
		details["media_type"] = it.MediaType
	}
	if len(ns.Categories) > 0 {
		details["categories"] = strings.Join(ns.Categories, ",")
	}
	if res.Digests.MD5 != "" {
		details["md5"], details["sha1"] = res.Digests.MD5, res.Digests.SHA1
	}
	if info.VersionID != "" {
		details["version_id"] = info.VersionID
	}
	details["stored"] = "store"
	if res.Spooled {
		details["stored"] = "spool" // item.stored follows when the store has it
	}
	e := c.event(chain.ItemPreserved, spec, "", details)
	e.Items = []chain.Digest{{SHA256: res.Digests.SHA256, SHA512: res.Digests.SHA512}}
	if _, err := c.Log.Append(ctx, e); err != nil {
		release()
		res.Err = fmt.Errorf("%w: %w", errNotLogged, err)
		return res
	}
	return res
}

// errNotLogged is an item's failure to be logged once stored: the log
// failing stops the capture, where any other item's failure does not.
var errNotLogged = errors.New("stored, but not logged")

// putBytes stores a small object write-once with the order's retention
// and returns the SHA-256 of what is stored under key.
func (c *Capturer) putBytes(ctx context.Context, target Store, key string, b []byte, opts storage.PutOptions) (string, error) {
	sum := sha256.Sum256(b)
	hexSum := hex.EncodeToString(sum[:])
	opts.SHA256 = hexSum
	_, err := target.Put(ctx, key, bytes.NewReader(b), opts)
	if errors.Is(err, storage.ErrExist) {
		// Written by an earlier run that stopped before logging the item:
		// it describes the same bytes, and it is what the log will name.
		info, serr := target.Stat(ctx, key)
		if serr != nil {
			return "", errors.Join(err, serr)
		}
		return info.SHA256, nil
	}
	return hexSum, err
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

// marshalJSON encodes v as JSON without HTML escaping, with a final newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
