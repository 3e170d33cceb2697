package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// ReplyPredicateType is the in-toto predicate type of a reply's signed
// statement: its subjects are the reply's XML and HTML.
const ReplyPredicateType = "https://custos-evidence.org/attestation/reply/v1"

// ReplyOptions are what one reply says.
type ReplyOptions struct {
	Kind chain.ReplyKind
	// Ground and Explanation are a cannot-comply reply's: an Annex III
	// ground's token (order.ParseGround) and the provider's explanation.
	Ground      string
	Explanation string
	Actor       string
}

// ReplyResult is a reply written, signed, stored and logged.
type ReplyResult struct {
	Order  *order.Order
	Number int
	Kind   chain.ReplyKind
	Ground string
	Index  uint64    // of its order.replied event
	At     time.Time // its event's time, when it was written
	// Files are the XML, the HTML page and the DSSE envelope, in that
	// order, where the store holds them.
	Files []ReplyFile
}

// ReplyFile is one file of a reply in the store.
type ReplyFile struct {
	Key       string
	SHA256    string
	Size      int64
	MediaType string
}

// replyPredicate is the signed statement's predicate.
type replyPredicate struct {
	Order   string    `json:"order"`
	Kind    string    `json:"kind"`
	Reply   int       `json:"reply"`
	Ground  string    `json:"ground,omitempty"`
	Agent   string    `json:"agent"`
	Actor   string    `json:"actor"`
	Written time.Time `json:"written_at"`
}

// Reply writes a reply to order id's authority (docs/orders.md,
// "Replies"): a confirmation that its data was preserved, or Annex III
// that the provider cannot comply on a ground. The reply's XML and HTML
// page are signed together in an in-toto statement (a DSSE envelope,
// with the log's key, as a batch's), the three are stored write-once
// under chain.ReplyKey (named by the XML's SHA-256) with the order's
// retention and hold, and then order.replied names their digests and
// the reply's number (nextReplyNumber). A reply that cannot be written (an
// unknown ground, nothing sealed to confirm, a released or purged order
// where it makes no sense) is refused before anything is stored.
func (r *Registry) Reply(ctx context.Context, id string, opts ReplyOptions) (*ReplyResult, error) {
	rp := &order.Reply{Kind: opts.Kind, Agent: r.Agent, Actor: opts.Actor, Ground: order.Ground(opts.Ground), Explanation: opts.Explanation}
	if err := rp.CheckRequest(); err != nil {
		return nil, fmt.Errorf("order %s: reply: %w: %w", id, ErrInvalid, err)
	}
	if strings.TrimSpace(opts.Actor) == "" {
		// Checked before anything is stored: the event would refuse it.
		return nil, fmt.Errorf("order %s: reply: no actor: %w", id, ErrInvalid)
	}
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o, st := v.Order, v.State
	switch {
	case o.Status == order.StatusPurged:
		return nil, fmt.Errorf("order %s is purged: the store keeps nothing of it, a reply included: %w", id, ErrConflict)
	case o.Status == order.StatusReleased && opts.Kind == chain.ReplyPreserved:
		return nil, fmt.Errorf("order %s is released: its data is no longer preserved, so there is no preservation to confirm: %w", id, ErrConflict)
	}
	rp.Order, rp.At, rp.Preserved = o, r.now(), preservation(o, st)
	if opts.Kind == chain.ReplyPreserved && rp.Preserved.FirstSealed.IsZero() {
		return nil, fmt.Errorf("order %s: nothing of its data is sealed yet (capture it first): there is no preservation to confirm: %w", id, ErrConflict)
	}
	rp.Number = nextReplyNumber(st)
	files, err := r.storeReply(ctx, rp)
	if err != nil {
		return nil, fmt.Errorf("order %s: reply %d: %w", id, rp.Number, err)
	}
	e := chain.Event{
		Type: chain.OrderReplied, Time: rp.At, Order: id, Actor: opts.Actor, Agent: r.Agent, Host: r.Host,
		Reason: replyReason(rp), Authority: o.LegalBasis,
		Details: chain.ReplyDetails{Kind: rp.Kind, Number: rp.Number, Ground: opts.Ground,
			XMLSHA256: files[0].SHA256, HTMLSHA256: files[1].SHA256, EnvelopeSHA256: files[2].SHA256}.Put(nil),
	}
	rec, err := r.Log.Append(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("order %s: reply %d stored, not logged: %w", id, rp.Number, err)
	}
	return &ReplyResult{Order: o, Number: rp.Number, Kind: rp.Kind, Ground: opts.Ground, Index: rec.Index, At: rp.At, Files: files}, nil
}

// nextReplyNumber is the number the next reply of order st takes: one
// past the highest its log names. The store keys do not carry it, so the
// log alone decides, read under the order's lock (Registry.begin) by the
// one process that writes the log (the data directory's lock); and
// OrderState refuses a log whose order.replied takes a number already
// taken. A reply stored and never logged (a crash between the two) is no
// reply: its number is given again, to a reply with other content, so
// under other keys, and its files stay as they are.
func nextReplyNumber(st *OrderState) int {
	n := 1
	for _, prev := range st.Replies {
		n = max(n, prev.Number+1)
	}
	return n
}

// replyReason is the order.replied event's reason: the ground and the
// explanation of a cannot-comply reply.
func replyReason(rp *order.Reply) string {
	if rp.Kind != chain.ReplyCannotComply {
		return "the data the order names is preserved"
	}
	if rp.Explanation == "" {
		return rp.Ground.Text()
	}
	return rp.Ground.Text() + ": " + rp.Explanation
}

// storeReply writes reply rp's XML and HTML, signs them, and stores the
// three write-once under the XML's SHA-256, durable before it returns.
// The same bytes stored again are accepted; other bytes under the key of
// this XML are storage.ErrExist, and nothing is replaced.
func (r *Registry) storeReply(ctx context.Context, rp *order.Reply) ([]ReplyFile, error) {
	x, err := rp.XML()
	if err != nil {
		return nil, err
	}
	h, err := rp.HTML()
	if err != nil {
		return nil, err
	}
	xs := sha256.Sum256(x)
	id, sum := rp.Order.ID, hex.EncodeToString(xs[:])
	files := []ReplyFile{newReplyFile(chain.ReplyKey(id, sum, "xml"), x, "application/xml"),
		newReplyFile(chain.ReplyKey(id, sum, "html"), h, "text/html; charset=utf-8")}
	subjects := make([]chain.Subject, len(files))
	for i, f := range files {
		subjects[i] = chain.Subject{Name: f.Key, Digest: map[string]string{"sha256": f.SHA256}, MediaType: f.MediaType}
	}
	env, err := chain.SignStatement(r.Capturer.Signer, subjects, ReplyPredicateType, replyPredicate{
		Order: id, Kind: string(rp.Kind), Reply: rp.Number, Ground: string(rp.Ground), Agent: rp.Agent, Actor: rp.Actor, Written: rp.At,
	})
	if err != nil {
		return nil, err
	}
	files = append(files, newReplyFile(chain.ReplyKey(id, sum, "dsse.json"), env, "application/vnd.dsse.envelope.v1+json"))
	opts := storage.PutOptions{LegalHold: rp.Order.CurrentHold != nil, Deferred: true}
	if rp.Order.ExpiresAt.After(rp.At) {
		// A released order past its expiry keeps nothing retained; a
		// store refuses a retention that has already ended.
		opts.RetainUntil = rp.Order.ExpiresAt
	}
	for i, content := range [][]byte{x, h, env} {
		f := files[i]
		opts.SHA256 = f.SHA256
		if _, err := r.Store.Put(ctx, f.Key, bytes.NewReader(content), opts); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Key, err)
		}
	}
	if err := r.Store.Sync(ctx); err != nil {
		return nil, err
	}
	return files, nil
}

func newReplyFile(key string, data []byte, mediaType string) ReplyFile {
	sum := sha256.Sum256(data)
	return ReplyFile{Key: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), MediaType: mediaType}
}

// replyKeys are the store keys of every reply of order st.
func replyKeys(st *OrderState) []string {
	var keys []string
	for _, rp := range st.Replies {
		for _, ext := range ReplyExts() {
			keys = append(keys, chain.ReplyKey(st.ID, rp.XMLSHA256, ext))
		}
	}
	return keys
}

// preservation is what order o's log (st) says was preserved of its
// data: its batches and its items from before batches, the order's
// document and the forms applied to it left out.
func preservation(o *order.Order, st *OrderState) order.Preservation {
	documents := map[string]bool{}
	if o.Document != nil {
		documents[o.Document.SHA256] = true
	}
	if o.Form != nil {
		for _, a := range o.Form.Applied {
			documents[a.SHA256] = true
		}
	}
	p := order.Preservation{FirstSealed: st.FirstSealed}
	for _, b := range st.Batches {
		if st.DocumentCaptures[b.Sealed.Capture] {
			continue
		}
		sb := b.Sealed
		p.Batches = append(p.Batches, order.SealedRef{LogIndex: b.Index, SealedAt: b.Time, Capture: sb.Capture, Batch: sb.Batch,
			Count: sb.Count, Bytes: sb.Bytes, ManifestSHA256: sb.ManifestSHA256, Root: hex.EncodeToString(sb.Root)})
		p.Items += sb.Count
		p.Bytes += sb.Bytes
	}
	for _, sum := range st.ItemOrder {
		if !documents[sum] {
			p.Older = append(p.Older, st.Items[sum])
			p.Items++
		}
	}
	return p
}

// MaxReplyFile bounds a reply's file as it is read back, from the store
// or from the daemon (api.Client.ReadReply): a confirmation of a few
// hundred batches is some hundred kilobytes.
const MaxReplyFile = 16 << 20

// ReplyExts are the files of a reply, in the order its results list them.
func ReplyExts() []string { return []string{"xml", "html", "dsse.json"} }

// SHA256s are the digests of the reply's files, in the order of
// ReplyExts.
func (rp LoggedReply) SHA256s() []string {
	return []string{rp.XMLSHA256, rp.HTMLSHA256, rp.EnvelopeSHA256}
}

// ReadReply reads file ext (one of ReplyExts) of reply n of order id back
// through the store, which re-hashes it, and checks it against the
// digest its order.replied event names: a file that differs, or that the
// store lacks, is tampering (chain.ErrTamper). An unknown reply is
// ErrNotFound, an unknown file ErrInvalid.
func (r *Registry) ReadReply(ctx context.Context, id string, n int, ext string) ([]byte, error) {
	v, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var key, want string
	for _, rp := range v.State.Replies {
		if rp.Number == n {
			i := slices.Index(ReplyExts(), ext)
			if i < 0 {
				return nil, fmt.Errorf("order %s: reply %d has no file %q (want xml, html or dsse.json): %w", id, n, ext, ErrInvalid)
			}
			want = rp.SHA256s()[i]
			key = chain.ReplyKey(id, rp.XMLSHA256, ext)
		}
	}
	if want == "" {
		return nil, fmt.Errorf("order %s has no reply %d: %w", id, n, ErrNotFound)
	}
	rc, _, err := r.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, fmt.Errorf("reply %s: the custody log names it and the store does not hold it: %w", key, chain.ErrTamper)
	}
	if err != nil {
		return nil, fmt.Errorf("reply %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxReplyFile+1))
	if err != nil {
		return nil, fmt.Errorf("reply %s: %w", key, err)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
		return nil, fmt.Errorf("reply %s: sha256 %x, its order.replied event names %s: %w", key, got, want, chain.ErrTamper)
	}
	return b, nil
}
