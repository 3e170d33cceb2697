package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"
)

// Document is an order document to preserve with a new order: the PDF,
// email or scan that carried it.
type Document struct {
	Path string // a regular file
	// SHA256, when set, is what the file must hash to (the bytes read
	// before, as an imported form's): a file that changed since is
	// refused before anything is recorded.
	SHA256 string
}

// AddResult is what Add did.
type AddResult struct {
	Order *order.Order
	// Document is the capture that preserved the order document, if any.
	Document *capture.Report
}

// Add receives an order: it makes the order from draft (NewOrder), with
// doc as its document item, saves its record and logs order.received;
// then it preserves the document as an item of the order. An order whose
// document could not be preserved is received all the same (the deadline
// runs from receipt); the error says so, and capture.failed names why.
func (r *Registry) Add(ctx context.Context, draft *order.Order, doc *Document, actor string) (*AddResult, error) {
	now := r.now()
	entropy := r.Entropy
	var docSrc source.Source
	var ref *order.DocumentRef
	if doc != nil {
		var err error
		ref, docSrc, err = doc.source()
		if err != nil {
			return nil, err
		}
	}
	o, err := order.NewOrder(draft, r.Profiles, now, entropy)
	if err != nil {
		return nil, err
	}
	if ref != nil {
		o.Document = ref
		if err := o.Validate(); err != nil {
			return nil, err
		}
	}
	e, err := o.ReceivedEvent(r.change(actor, ""))
	if err != nil {
		return nil, err
	}
	// The order's turn from its first event to its document's capture, so
	// that no other step sees the document's capture half-done.
	unlock, err := r.lock(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := r.record(ctx, o, e); err != nil {
		return nil, err
	}
	res := &AddResult{Order: o}
	// A production order's deadline runs from its receipt: logged at once.
	// Should that fail, the order is received all the same and the
	// scheduler logs the deadline at its next step.
	dlErr := r.logDeadlineSet(ctx, o, order.Change{Actor: actor, Agent: r.Agent, Host: r.Host, At: now})
	if dlErr != nil {
		dlErr = fmt.Errorf("order %s received, its production deadline not logged yet (the scheduler logs it): %w", o.ID, dlErr)
	}
	if ref == nil {
		return res, dlErr
	}
	rep, err := r.capture(ctx, o, []capture.NamedSource{{Name: documentSourceName, Source: docSrc}}, now, nil, actor, nil, nil)
	res.Document = rep
	if err != nil {
		return res, errors.Join(fmt.Errorf("order %s received, its document not preserved: %w", o.ID, err), dlErr)
	}
	if rep.Failed() {
		return res, errors.Join(fmt.Errorf("order %s received, its document not preserved: %s", o.ID, strings.Join(rep.Failures(), "; ")), dlErr)
	}
	for _, it := range rep.Items {
		if it.Digests.SHA256 != ref.SHA256 {
			return res, errors.Join(fmt.Errorf("order %s received: the document %s changed while it was read (%s at receipt, %s preserved)",
				o.ID, doc.Path, ref.SHA256, it.Digests.SHA256), dlErr)
		}
	}
	return res, dlErr
}

// CaptureOptions are the choices of one capture.
type CaptureOptions struct {
	Sources []capture.NamedSource
	// CutOff is the newest data preserved; zero means the order's receipt
	// (by default only data that existed when the order was received).
	CutOff time.Time
	Actor  string
	// Progress is told of the bytes read (see capture.Spec.Progress), and
	// Sealed of the items of each batch sealed (capture.Spec.Sealed).
	Progress func(n int)
	Sealed   func(items int)
}

// Capture preserves what the sources yield for order id. It first records
// as failed any earlier capture of the order that never ended (its process
// died), flushes the spool when the store answers, and moves a received
// order to preserving; a capture that preserves everything then makes it
// preserved. Items the order already holds are not stored or logged again.
func (r *Registry) Capture(ctx context.Context, id string, opts CaptureOptions) (*capture.Report, error) {
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o := v.Order
	if !o.Status.CanCapture() {
		return nil, fmt.Errorf("order %s is %s: no capture can run for it: %w", id, o.Status, order.ErrIllegalTransition)
	}
	if len(opts.Sources) == 0 {
		return nil, fmt.Errorf("order %s: no sources to capture", id)
	}
	cutOff := opts.CutOff
	if cutOff.IsZero() {
		cutOff = o.ReceivedAt
	}
	if o.Status == order.StatusReceived {
		n, e, err := o.Transition(order.StatusPreserving, r.change(opts.Actor, ""))
		if err != nil {
			return nil, err
		}
		if _, err := r.record(ctx, n, e); err != nil {
			return nil, err
		}
		o = n
	}
	rep, err := r.capture(ctx, o, opts.Sources, cutOff, v.State, opts.Actor, opts.Progress, opts.Sealed)
	if err != nil {
		return rep, err
	}
	if !rep.Failed() && o.Status == order.StatusPreserving {
		n, e, err := o.Transition(order.StatusPreserved, r.change(opts.Actor, ""))
		if err != nil {
			return rep, err
		}
		if _, err := r.record(ctx, n, e); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// capture runs the capturer for o. st, when given, is the order's state:
// its open captures are closed as interrupted and its items not preserved
// again.
func (r *Registry) capture(ctx context.Context, o *order.Order, srcs []capture.NamedSource, cutOff time.Time, st *OrderState, actor string, progress, sealed func(int)) (*capture.Report, error) {
	c := r.Capturer
	spec := capture.NewSpec(o, srcs, cutOff)
	spec.Actor, spec.Progress, spec.Sealed = actor, progress, sealed
	if st != nil {
		held, err := r.preserved(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("order %s: %w", o.ID, err)
		}
		spec.Preserved = held
		// A writer's start records the captures a dead process left
		// open (Recover); one it did not is recorded here.
		for _, cid := range st.OpenCaptures {
			if _, err := r.Log.Append(ctx, interruptedEvent(o.ID, o.LegalBasis, cid, actor, r.Agent, r.Host, r.now(), "capture")); err != nil {
				return nil, fmt.Errorf("order %s: record interrupted capture %s: %w", o.ID, cid, err)
			}
			st.Interrupted = appendNew(st.Interrupted, cid)
		}
		spec.Interrupted = st.Interrupted
	}
	if c.Spool != nil && c.StoreUp(ctx) && r.flushMu.TryLock() {
		// Another step flushing now is flushing for this one too. The
		// agent, not this capture's actor, stores what it flushes: the
		// spool may hold items of orders the actor never acted on.
		_, err := c.Flush(ctx, capture.FlushOptions{Actor: r.Agent, Retention: r.retention, Turn: r.turn(o.ID)})
		r.flushMu.Unlock()
		if err != nil {
			// The spool keeps what it holds and the next capture tries
			// again; this one goes on.
			r.Logger.Warn("spooled items not flushed to the store yet", "order", o.ID, "error", err)
		}
	}
	return c.Capture(ctx, spec)
}

// turn is the Turn of a flush run by a step that holds order own already.
func (r *Registry) turn(own string) capture.Turn {
	return func(ctx context.Context, id string) (func(), error) {
		if id == own {
			return func() {}, nil
		}
		return r.lock(ctx, id)
	}
}

// retention is the Retention of a Flush: an order's expiry and hold now.
func (r *Registry) retention(ctx context.Context, id string) (time.Time, bool, error) {
	st, err := r.state(ctx, id)
	if err != nil {
		return time.Time{}, false, err
	}
	v, err := r.view(ctx, st)
	if err != nil {
		return time.Time{}, false, err
	}
	return v.Order.ExpiresAt, v.Order.Status == order.StatusHeld, nil
}

// FlushWhenReachable flushes the spool if it holds anything and the store
// answers now; otherwise it does nothing and returns an empty report. The
// daemon calls it periodically, so that items sealed during an outage
// reach the store soon after it returns, whether or not a capture runs.
func (r *Registry) FlushWhenReachable(ctx context.Context, actor string) (*capture.FlushReport, error) {
	pending, err := r.Capturer.Spooled(ctx)
	if err != nil || !pending || !r.Capturer.StoreUp(ctx) {
		return &capture.FlushReport{}, err
	}
	return r.FlushSpool(ctx, actor)
}

// FlushSpool uploads what the spool holds (see capture.Capturer.Flush).
func (r *Registry) FlushSpool(ctx context.Context, actor string) (*capture.FlushReport, error) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	return r.Capturer.Flush(ctx, capture.FlushOptions{Actor: actor, Retention: r.retention, Turn: r.turn("")})
}

// source is documentSource, checked against d.SHA256 when set.
func (d *Document) source() (*order.DocumentRef, source.Source, error) {
	ref, src, err := documentSource(d.Path)
	if err == nil && d.SHA256 != "" && ref.SHA256 != d.SHA256 {
		return nil, nil, fmt.Errorf("order document %s changed since it was read: sha256 %s, read as %s", d.Path, ref.SHA256, d.SHA256)
	}
	return ref, src, err
}

// documentSource reads the order document at path once to name it (its
// SHA-256, size and media type, which the order's record binds) and returns
// the file source that preserves it.
func documentSource(path string) (*order.DocumentRef, source.Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("order document: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, nil, fmt.Errorf("order document: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("order document: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("order document %s: not a regular file", path)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("order document: %w", err)
	}
	h := sha256.New()
	h.Write(head[:n])
	rest, err := io.Copy(h, f)
	if err != nil {
		return nil, nil, fmt.Errorf("order document: %w", err)
	}
	mt := mime.TypeByExtension(strings.ToLower(filepath.Ext(abs)))
	if mt == "" {
		mt = http.DetectContentType(head[:n])
	}
	if base, _, err := mime.ParseMediaType(mt); err == nil {
		mt = base
	}
	ref := &order.DocumentRef{SHA256: hex.EncodeToString(h.Sum(nil)), Name: filepath.Base(abs), MediaType: mt, Size: int64(n) + rest}
	// The document is what the order is; it is preserved whatever its
	// modification time.
	src, err := source.New(source.Config{Name: documentSourceName, Type: "file", Params: map[string]any{"path": abs, "include_newer": true}})
	if err != nil {
		return nil, nil, err
	}
	return ref, src, nil
}
