package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
	"github.com/custos-evidence/custos/storage"
)

// DiscloseOptions are the choices of one disclosure.
type DiscloseOptions struct {
	Out string // the package: a directory, PATH.zip or PATH.tar
	// Items limits the disclosure to these items: full SHA-256 digests or
	// unambiguous prefixes of at least 8 hex digits.
	Items []string
	// Categories limits it to items of sources serving these categories.
	// The order document is disclosed only without a limit, or when Items
	// names it.
	Categories []string
	// Recipients encrypt the package with age to Out+".age";
	// RecipientText is how they were given, for the record.
	Recipients    []age.Recipient
	RecipientText string
	Organization  string // the provider, bag-info's Source-Organization
	Actor         string
	// Identity is who discloses as the four-eyes rule of an emergency
	// order compares identities (requester.go): a token's or
	// certificate's name through the API; "" is Actor.
	Identity string
}

// DisclosedItem is one item in a package: its path under data/ and what
// the package's statement says of it.
type DisclosedItem = disclosure.File

// DisclosureReport says what Disclose built.
type DisclosureReport struct {
	Order      *order.Order
	Path       string // where the package is
	SHA256     string // of the .zip, .tar or .age file; of tagmanifest-sha256.txt for a directory
	Items      []DisclosedItem
	Partial    bool
	Checkpoint *chain.Checkpoint
	Events     int    // custody events in the package
	Index      uint64 // of the disclosure.created event
}

// Disclose builds the disclosure package of order id (docs/package.md):
// the chosen items as a BagIt bag with the order's custody events, their
// inclusion proofs against one signed checkpoint, a signed statement about
// the payload and the custody chain in CASE/UCO. Every item is read back
// through the store, which re-hashes it; an item found altered or missing
// is logged as fixity.failed, and the disclosure fails as tampering.
//
// The package is built in a private work directory (Config.WorkDir), then
// opened and verified there by the code an investigator's `custos verify`
// runs, trusting only the log's key; a package that does not verify is
// never let go. Only then is it encrypted (with recipients) and moved to
// opts.Out, and disclosure.created logged and the order moved to
// disclosed; if that cannot be logged, the package is removed, so nothing
// leaves unrecorded. Before any of it, the order must be cleared for
// disclosure (requester.go): its requester confirmed and, for an
// emergency order, an approval by another identity pending; otherwise
// the disclosure is refused (ErrRequesterUnverified, ErrApprovalRequired)
// having written nothing. A process killed on the way leaves its work
// directory, which the next start removes (Recover).
func (r *Registry) Disclose(ctx context.Context, id string, opts DiscloseOptions) (*DisclosureReport, error) {
	if r.Capturer == nil || r.Capturer.Signer == nil {
		return nil, errors.New("disclose: no signer for the package's statement")
	}
	final, err := packagePath(opts)
	if err != nil {
		return nil, err
	}
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := v.Order.CheckProduce(r.now()); err != nil {
		return nil, err
	}
	var cleared chain.Clearance
	if v.Order.Status.CanDisclose() {
		identity := opts.Identity
		if identity == "" {
			identity = opts.Actor
		}
		if cleared, err = clearance(v, identity); err != nil {
			return nil, fmt.Errorf("disclose: %w", err)
		}
	}
	watch := &tamperWatch{}
	c, err := r.disclosureContents(ctx, v, opts, watch)
	if err != nil {
		return nil, err
	}
	w, err := r.newWork(id)
	if err != nil {
		return nil, fmt.Errorf("disclose order %s: %w", id, err)
	}
	defer w.remove()
	b, err := r.buildPackage(ctx, w, opts.Out, c, opts.Recipients)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("disclose order %s: %w", id, err), r.recordTampered(ctx, v.Order, watch))
	}
	if err := w.publish(ctx, b, final); err != nil {
		return nil, fmt.Errorf("disclose order %s: %w", id, err)
	}
	rep := &DisclosureReport{Order: v.Order, Path: final, SHA256: b.sha256, Items: b.files, Partial: c.Partial, Checkpoint: c.Checkpoint, Events: len(c.Events)}
	if err := r.recordDisclosure(ctx, v.Order, rep, opts, cleared, c.Time); err != nil {
		_ = os.RemoveAll(final)
		return nil, fmt.Errorf("disclose: the package was built but its disclosure could not be logged, so it was removed: %w", err)
	}
	r.produced(ctx, v.Order, v.State, c.Time, opts.Actor)
	return rep, nil
}

// packagePath is where the package of opts goes: Out, or Out+".age" when
// encrypted. It must not exist.
func packagePath(opts DiscloseOptions) (string, error) {
	final := opts.Out
	if len(opts.Recipients) > 0 {
		if disclosure.FormatFor(opts.Out) == disclosure.FormatDir {
			return "", errors.New("an encrypted package is a .zip or a .tar: give --out PATH.zip or PATH.tar")
		}
		final += ".age"
	}
	if _, err := os.Lstat(final); err == nil {
		return "", fmt.Errorf("%s exists: a package is never written over", final)
	}
	return final, nil
}

// disclosureContents gathers what the package of order v is made of: its
// record, its events to the newest checkpoint with their proofs, and the
// items opts selects, each read through watch.
func (r *Registry) disclosureContents(ctx context.Context, v *OrderView, opts DiscloseOptions, watch *tamperWatch) (*disclosure.Contents, error) {
	pl := r.Log
	o, st, id := v.Order, v.State, v.Order.ID
	if !o.Status.CanDisclose() {
		return nil, fmt.Errorf("order %s is %s: it cannot be disclosed: %w", id, o.Status, order.ErrIllegalTransition)
	}
	cp, err := pl.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("disclose: checkpoint: %w", err)
	}
	events, rotations, err := orderEvents(ctx, pl.FS(), cp.Size, id)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 || events[len(events)-1].Index != st.LastIndex {
		return nil, fmt.Errorf("disclose: checkpoint of size %d does not cover the order's newest event %d", cp.Size, st.LastIndex)
	}
	all, sealed, err := r.preservedItems(ctx, st, events, watch)
	if err != nil {
		return nil, fmt.Errorf("disclose order %s: %w", id, err)
	}
	items, err := selectItems(all, opts)
	if err != nil {
		return nil, fmt.Errorf("disclose order %s: %w", id, err)
	}
	if err := r.proveRecords(ctx, items, sealed); err != nil {
		return nil, fmt.Errorf("disclose order %s: %w", id, err)
	}
	rec, err := order.Format(o)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(rec); hex.EncodeToString(sum[:]) != st.Record {
		return nil, &chain.TamperError{File: RecordKey(id, st.Record), Index: -1, What: "the order record does not hash to the digest the log holds"}
	}
	stamps, err := packageTimestamps(ctx, pl.FS(), events, cp)
	if err != nil {
		return nil, fmt.Errorf("disclose order %s: %w", id, err)
	}
	return &disclosure.Contents{
		Order: rec, Events: events, Checkpoint: cp, Key: pl.Key(), Timestamps: stamps,
		Prove: func(ctx context.Context, index uint64) (*chain.Proof, error) {
			return chain.BuildInclusionProof(ctx, pl.FS(), cp.Raw, cp.Size, index)
		},
		Rotations: rotations,
		Items:     items, Partial: len(items) < len(all),
		Organization: opts.Organization, Agent: r.Agent, Actor: opts.Actor, Time: r.now(),
		Recipient: opts.RecipientText, Signer: r.Capturer.Signer, StampStatement: r.stampStatement(),
	}, nil
}

// stampStatement is the package's StampStatement: each configured
// authority's token over the signed statement, or nil without
// authorities. One that gives none is logged and left out (tsa.StampBytes).
func (r *Registry) stampStatement() func(context.Context, []byte) ([]disclosure.StatementToken, error) {
	if r.Timestamps == nil {
		return nil
	}
	return func(ctx context.Context, statement []byte) ([]disclosure.StatementToken, error) {
		var out []disclosure.StatementToken
		for _, t := range r.Timestamps.StampBytes(ctx, "disclosure statement", statement, disclosure.StatementTokenFile) {
			out = append(out, disclosure.StatementToken{TSA: t.TSA, Token: t.Response})
		}
		return out, ctx.Err()
	}
}

// recordDisclosure logs disclosure.created and moves the order to
// disclosed.
func (r *Registry) recordDisclosure(ctx context.Context, o *order.Order, rep *DisclosureReport, opts DiscloseOptions, cleared chain.Clearance, now time.Time) error {
	sums := make([]string, len(rep.Items))
	for i, it := range rep.Items {
		sums[i] = it.SHA256
	}
	root, err := chain.DisclosedItemsRoot(sums)
	if err != nil {
		return err
	}
	recipient := opts.RecipientText
	if recipient == "" {
		recipient = "none"
	}
	e := chain.Event{
		Type: chain.DisclosureCreated, Time: now, Order: o.ID, Actor: opts.Actor, Agent: r.Agent, Host: r.Host,
		Authority: o.LegalBasis,
		Details: chain.DisclosureDetails{
			Recipient: recipient, PackageSHA256: rep.SHA256, Package: path.Base(rep.Path),
			Format: string(disclosure.FormatFor(strings.TrimSuffix(rep.Path, ".age"))), Encrypted: len(opts.Recipients) > 0,
			Items: len(rep.Items), Partial: rep.Partial, CheckpointSize: rep.Checkpoint.Size, Events: rep.Events, ItemsRoot: root,
			Clearance: cleared,
		}.Put(nil),
	}
	rec, err := r.Log.Append(ctx, e)
	if err != nil {
		return err
	}
	rep.Index = rec.Index
	if o.Status == order.StatusDisclosed {
		return nil
	}
	n, te, err := o.Transition(order.StatusDisclosed, r.change(opts.Actor, ""))
	if err != nil {
		return err
	}
	if _, err := r.record(ctx, n, te); err != nil {
		return err
	}
	rep.Order = n
	return nil
}

// orderEvents reads the events of order id among the first size entries,
// and the rotation certificate of each key rotation among them.
func orderEvents(ctx context.Context, fsys fs.FS, size uint64, id string) (events []*chain.Record, rotations [][]byte, err error) {
	for rec, err := range chain.Entries(ctx, fsys, 0, size) {
		if err != nil {
			return nil, nil, err
		}
		switch {
		case rec.Event.Order == id:
			events = append(events, rec)
		case rec.Event.Type == chain.KeyRotated:
			// Each key rotation the checkpoint covers goes with the
			// package, so a verifier holding any of the log's keys
			// trusts the one that signed it.
			cert, err := chain.RotationCertificate(ctx, fsys, rec)
			if err != nil {
				return nil, nil, fmt.Errorf("disclose: %w", err)
			}
			rotations = append(rotations, cert)
		}
	}
	return events, rotations, nil
}

// preservedItems lists the order's items (preserved, not purged), in log
// order: those preserved before batches as their item.preserved events
// describe them, then each batch's as its records do, with the record's
// bytes (sealed says where each sits in its batch, for its proof). Each is
// read back through the store (or the spool while it waits there), which
// re-hashes it: an item that does not match its digest fails the
// disclosure as tampering, and watch notes it.
func (r *Registry) preservedItems(ctx context.Context, st *OrderState, events []*chain.Record, watch *tamperWatch) ([]disclosure.Item, map[string]HeldItem, error) {
	first := map[string]*chain.Record{}
	for _, e := range events {
		if e.Event.Type != chain.ItemPreserved || len(e.Event.Items) != 1 {
			continue
		}
		if _, ok := first[e.Event.Items[0].SHA256]; !ok {
			first[e.Event.Items[0].SHA256] = e
		}
	}
	var out []disclosure.Item
	sealed := map[string]HeldItem{}
	for it, err := range r.held(ctx, st) {
		if err != nil {
			return nil, nil, err
		}
		sum, key, spooled := it.Digest.SHA256, it.Key, it.Spooled
		if rec := it.Record; rec != nil {
			size := rec.Size
			out = append(out, disclosure.Item{
				SHA256: sum, SHA512: rec.SHA512, Size: size, Source: rec.Source, Name: rec.Name,
				Categories: rec.Categories, MediaType: rec.MediaType, PreservedIndex: it.Index, Record: it.Line,
				Open: watch.open(chain.Digest{SHA256: sum, SHA512: rec.SHA512}, key, func(ctx context.Context) (io.ReadCloser, error) {
					return r.openItem(ctx, key, spooled, sum, size)
				}),
			})
			it.Line, it.Record = nil, nil // proveRecords reads the batch again
			sealed[sum] = it
			continue
		}
		e, ok := first[sum]
		if !ok {
			continue
		}
		d, err := chain.ReadItemDetails(e.Event)
		if err != nil {
			return nil, nil, fmt.Errorf("custody event %d: %w", e.Index, err)
		}
		out = append(out, disclosure.Item{
			SHA256: sum, SHA512: e.Event.Items[0].SHA512, Size: d.Size, Source: d.Source, Name: d.Name,
			Categories: d.Categories, MediaType: d.MediaType, PreservedIndex: e.Index,
			Open: watch.open(e.Event.Items[0], key, func(ctx context.Context) (io.ReadCloser, error) {
				return r.openItem(ctx, key, spooled, sum, d.Size)
			}),
		})
	}
	return out, sealed, nil
}

// proveRecords gives each item sealed in a batch its record's inclusion
// proof in the batch's tree, reading each batch that holds one once.
func (r *Registry) proveRecords(ctx context.Context, items []disclosure.Item, sealed map[string]HeldItem) error {
	trees := map[*capture.LoggedBatch]*chain.RecordTree{}
	for i := range items {
		it, ok := sealed[items[i].SHA256]
		if !ok {
			continue
		}
		b := it.Batch
		tree := trees[b]
		if tree == nil {
			lines, _, err := r.cfg.Manifests.Manifest(ctx, b)
			if err != nil {
				return err
			}
			tree = chain.NewRecordTree(lines)
			trees[b] = tree
		}
		hashes, err := tree.Prove(it.Leaf)
		if err != nil {
			return fmt.Errorf("batch %s: %w", b.ID(), err)
		}
		items[i].Proof = &chain.RecordProof{Capture: b.Sealed.Capture, Batch: b.Sealed.Batch, Index: it.Leaf, Size: tree.Size(), Hashes: hashes}
	}
	return nil
}

// openItem opens an item's content in the store (or the spool), checking
// that it is stored as logged.
func (r *Registry) openItem(ctx context.Context, key string, spooled bool, sum string, size int64) (io.ReadCloser, error) {
	var src interface {
		Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	} = r.Store
	if spooled && r.Capturer.Spool != nil {
		src = r.Capturer.Spool
	}
	rc, info, err := src.Get(ctx, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, fmt.Errorf("item %s is missing from the store: %w", key, chain.ErrTamper)
	}
	if err != nil {
		return nil, fmt.Errorf("item %s: %w", key, err)
	}
	if info.SHA256 != sum || info.Size != size {
		rc.Close()
		return nil, fmt.Errorf("item %s is stored as %s (%d bytes), logged as %s (%d bytes): %w",
			key, info.SHA256, info.Size, sum, size, chain.ErrTamper)
	}
	return rc, nil
}

// documentSourceName is the source name of the order document item. It
// serves no data category: a disclosure limited to categories leaves it
// out unless --items names it.
const documentSourceName = chain.OrderDocumentSource

// selectItems applies the disclosure's limits.
func selectItems(all []disclosure.Item, opts DiscloseOptions) ([]disclosure.Item, error) {
	want := map[string]bool{}
	for _, p := range opts.Items {
		p = strings.ToLower(strings.TrimSpace(p))
		if len(p) < 8 || !isHex(p) {
			return nil, fmt.Errorf("--items %q: not a SHA-256 digest or a prefix of at least 8 hex digits: %w", p, ErrInvalid)
		}
		var match []string
		for _, it := range all {
			if strings.HasPrefix(it.SHA256, p) {
				match = append(match, it.SHA256)
			}
		}
		switch len(match) {
		case 0:
			return nil, fmt.Errorf("--items %s: the order holds no such item: %w", p, ErrNotFound)
		case 1:
			want[match[0]] = true
		default:
			return nil, fmt.Errorf("--items %s: ambiguous, %d items start with it: %w", p, len(match), ErrInvalid)
		}
	}
	for _, c := range opts.Categories {
		switch order.Category(c) {
		case order.CategorySubscriber, order.CategoryTraffic, order.CategoryContent:
		default:
			return nil, fmt.Errorf("--categories %q: not subscriber, traffic or content: %w", c, ErrInvalid)
		}
	}
	var out []disclosure.Item
	for _, it := range all {
		if len(want) > 0 && !want[it.SHA256] {
			continue
		}
		if len(opts.Categories) > 0 && !want[it.SHA256] && !overlaps(it.Categories, opts.Categories) {
			continue
		}
		out = append(out, it)
	}
	switch {
	case len(all) == 0:
		return nil, fmt.Errorf("nothing to disclose: the order holds no preserved item yet: %w", ErrConflict)
	case len(out) == 0:
		return nil, fmt.Errorf("nothing to disclose: the order holds no item the limits select: %w", ErrInvalid)
	}
	return out, nil
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
