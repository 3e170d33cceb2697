package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/order"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// DisclosurePredicateType names the predicate of the statement a
// disclosure package carries about its payload (docs/package.md).
const DisclosurePredicateType = "https://custos-evidence.org/attestation/disclosure/v1"

// PackageVersion is the version of the package format (docs/package.md).
const PackageVersion = 1

// ProvingLog is what a disclosure needs of the custody log beyond an
// OrderLog: a checkpoint covering every entry, and the log's key.
type ProvingLog interface {
	OrderLog
	Checkpoint(ctx context.Context) (*chain.Checkpoint, error)
	Key() *chain.Key
}

// ParseRecipients reads the recipients of an encrypted package: age X25519
// public keys (age1...) and SSH public keys (ssh-ed25519, ssh-rsa).
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		k = strings.TrimSpace(k)
		var (
			r   age.Recipient
			err error
		)
		if strings.HasPrefix(k, "ssh-") {
			r, err = agessh.ParseRecipient(k)
		} else {
			r, err = age.ParseX25519Recipient(k)
		}
		if err != nil {
			return nil, fmt.Errorf("recipient %q: not an age (age1...) or SSH public key: %v", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

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
}

// DisclosedItem is one item in a package.
type DisclosedItem struct {
	Path           string   `json:"path"`
	SHA256         string   `json:"sha256"`
	SHA512         string   `json:"sha512"`
	Size           int64    `json:"size"`
	Source         string   `json:"source"`
	Name           string   `json:"name"`
	Categories     []string `json:"categories,omitempty"`
	MediaType      string   `json:"media_type,omitempty"`
	PreservedIndex uint64   `json:"preserved_index"`
	key            string
	spooled        bool
}

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

// loggedEvent is one entry of the log, as the package carries it.
type loggedEvent struct {
	index   uint64
	encoded []byte
	event   *chain.Event
}

// Disclose builds the disclosure package of order id (docs/package.md):
// the chosen items as a BagIt bag with the order's custody events, their
// inclusion proofs against one signed checkpoint, a signed statement about
// the payload and the custody chain in CASE/UCO. Every item is read back
// through the store, which re-hashes it. Only when the package is complete
// and in place is disclosure.created logged and the order moved to
// disclosed; if that cannot be logged, the package is removed, so nothing
// leaves unrecorded.
func (r *Registry) Disclose(ctx context.Context, id string, opts DiscloseOptions) (*DisclosureReport, error) {
	pl, ok := r.Log.(ProvingLog)
	if !ok {
		return nil, errors.New("disclose: the log is open for reading only")
	}
	if r.Capturer == nil || r.Capturer.Signer == nil {
		return nil, errors.New("disclose: no signer for the package's statement")
	}
	v, unlock, err := r.begin(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	o, st := v.Order, v.State
	if !o.Status.CanDisclose() {
		return nil, fmt.Errorf("order %s is %s: it cannot be disclosed: %w", id, o.Status, order.ErrIllegalTransition)
	}
	cp, err := pl.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("disclose: checkpoint: %w", err)
	}
	events, err := orderEvents(ctx, pl.FS(), cp.Size, id)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 || events[len(events)-1].index != st.LastIndex {
		return nil, fmt.Errorf("disclose: checkpoint of size %d does not cover the order's newest event %d", cp.Size, st.LastIndex)
	}
	all := preservedItems(st, events)
	items, err := selectItems(all, opts)
	if err != nil {
		return nil, fmt.Errorf("disclose order %s: %w", id, err)
	}
	rec, err := order.Format(o)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(rec); hex.EncodeToString(sum[:]) != st.Record {
		return nil, &chain.TamperError{File: RecordKey(id, st.Record), Index: -1, What: "the order record does not hash to the digest the log holds"}
	}
	now := r.now()
	rep := &DisclosureReport{Order: o, Items: items, Partial: len(items) < len(all), Checkpoint: cp, Events: len(events)}
	w, err := newPackageWriter(opts.Out, FormatFor(opts.Out), opts.Recipients, now)
	if err != nil {
		return nil, fmt.Errorf("disclose: %w", err)
	}
	b := &bagBuilder{w: w}
	if err := r.writePackage(ctx, b, pl, o, rec, events, rep, opts, now); err != nil {
		w.abort()
		return nil, err
	}
	out, sum, err := w.close()
	if err != nil {
		return nil, fmt.Errorf("disclose: %w", err)
	}
	if sum == "" {
		sum = b.tagManifestSHA256
	}
	rep.Path, rep.SHA256 = out, sum
	if err := r.recordDisclosure(ctx, o, rep, opts, now); err != nil {
		_ = os.RemoveAll(out)
		return nil, fmt.Errorf("disclose: the package was built but its disclosure could not be logged, so it was removed: %w", err)
	}
	return rep, nil
}

// recordDisclosure logs disclosure.created and moves the order to
// disclosed.
func (r *Registry) recordDisclosure(ctx context.Context, o *order.Order, rep *DisclosureReport, opts DiscloseOptions, now time.Time) error {
	digests := make([]chain.Digest, len(rep.Items))
	for i, it := range rep.Items {
		digests[i] = chain.Digest{SHA256: it.SHA256, SHA512: it.SHA512}
	}
	recipient := opts.RecipientText
	if recipient == "" {
		recipient = "none"
	}
	e := chain.Event{
		Type: chain.DisclosureCreated, Time: now, Order: o.ID, Items: digests, Actor: opts.Actor, Agent: r.Agent, Host: r.Host,
		Authority: o.LegalBasis,
		Details: map[string]string{
			"recipient": recipient, "package_sha256": rep.SHA256, "package": path.Base(rep.Path),
			"format": string(FormatFor(strings.TrimSuffix(rep.Path, ".age"))), "encrypted": strconv.FormatBool(len(opts.Recipients) > 0),
			"items": strconv.Itoa(len(rep.Items)), "partial": strconv.FormatBool(rep.Partial),
			"checkpoint_size": strconv.FormatUint(rep.Checkpoint.Size, 10), "events": strconv.Itoa(rep.Events),
		},
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

// orderEvents reads the events of order id among the first size entries.
func orderEvents(ctx context.Context, fsys fs.FS, size uint64, id string) ([]loggedEvent, error) {
	var out []loggedEvent
	for rec, err := range chain.Entries(ctx, fsys, 0, size) {
		if err != nil {
			return nil, err
		}
		if rec.Event.Order == id {
			out = append(out, loggedEvent{index: rec.Index, encoded: rec.Encoded, event: rec.Event})
		}
	}
	return out, nil
}

// preservedItems lists the order's items (preserved, not purged) as their
// item.preserved events describe them, in log order.
func preservedItems(st *OrderState, events []loggedEvent) []DisclosedItem {
	first := map[string]loggedEvent{}
	for _, e := range events {
		if e.event.Type != chain.ItemPreserved || len(e.event.Items) != 1 {
			continue
		}
		if _, ok := first[e.event.Items[0].SHA256]; !ok {
			first[e.event.Items[0].SHA256] = e
		}
	}
	var out []DisclosedItem
	for _, sum := range st.ItemOrder {
		e, ok := first[sum]
		if !ok {
			continue
		}
		d := e.event.Details
		size, _ := strconv.ParseInt(d["size"], 10, 64)
		var cats []string
		if d["categories"] != "" {
			cats = strings.Split(d["categories"], ",")
		}
		out = append(out, DisclosedItem{
			SHA256: sum, SHA512: e.event.Items[0].SHA512, Size: size, Source: d["source"], Name: d["name"],
			Categories: cats, MediaType: d["media_type"], PreservedIndex: e.index,
			key: capture.ItemKey(st.ID, sum), spooled: st.Spooled[sum],
		})
	}
	return out
}

// documentSourceName is the source name of the order document item. It
// serves no data category: a disclosure limited to categories leaves it
// out unless --items names it.
const documentSourceName = "order-document"

// selectItems applies the disclosure's limits.
func selectItems(all []DisclosedItem, opts DiscloseOptions) ([]DisclosedItem, error) {
	want := map[string]bool{}
	for _, p := range opts.Items {
		p = strings.ToLower(strings.TrimSpace(p))
		if len(p) < 8 || !isHex(p) {
			return nil, fmt.Errorf("--items %q: not a SHA-256 digest or a prefix of at least 8 hex digits", p)
		}
		var match []string
		for _, it := range all {
			if strings.HasPrefix(it.SHA256, p) {
				match = append(match, it.SHA256)
			}
		}
		switch len(match) {
		case 0:
			return nil, fmt.Errorf("--items %s: the order holds no such item", p)
		case 1:
			want[match[0]] = true
		default:
			return nil, fmt.Errorf("--items %s: ambiguous, %d items start with it", p, len(match))
		}
	}
	for _, c := range opts.Categories {
		switch order.Category(c) {
		case order.CategorySubscriber, order.CategoryTraffic, order.CategoryContent:
		default:
			return nil, fmt.Errorf("--categories %q: not subscriber, traffic or content", c)
		}
	}
	var out []DisclosedItem
	for _, it := range all {
		if len(want) > 0 && !want[it.SHA256] {
			continue
		}
		if len(opts.Categories) > 0 && !want[it.SHA256] && !overlaps(it.Categories, opts.Categories) {
			continue
		}
		out = append(out, it)
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to disclose: the order holds no item the limits select")
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

// bagBuilder writes files and remembers their digests for the manifests.
type bagBuilder struct {
	w                 packageWriter
	tags              []fileSum // tag files written, for tagmanifest and SHA256SUMS
	tagManifestSHA256 string
}

type fileSum struct {
	path, sha256, sha512 string
}

// put writes a small tag file.
func (b *bagBuilder) put(name string, data []byte) error {
	f, err := b.w.create(name, int64(len(data)))
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	sum, sum512 := sha256.Sum256(data), sha512.Sum512(data)
	b.tags = append(b.tags, fileSum{path: name, sha256: hex.EncodeToString(sum[:]), sha512: hex.EncodeToString(sum512[:])})
	return nil
}

// writePackage writes every file of the package.
func (r *Registry) writePackage(ctx context.Context, b *bagBuilder, pl ProvingLog, o *order.Order, rec []byte,
	events []loggedEvent, rep *DisclosureReport, opts DiscloseOptions, now time.Time,
) error {
	names := newPayloadNamer()
	var oxumBytes int64
	for i := range rep.Items {
		it := &rep.Items[i]
		it.Path = names.name(it.Source, it.Name)
		if err := r.copyItem(ctx, b.w, it); err != nil {
			return err
		}
		oxumBytes += it.Size
	}
	sorted := append([]DisclosedItem(nil), rep.Items...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })

	var m256, m512 bytes.Buffer
	for _, it := range sorted {
		fmt.Fprintf(&m256, "%s  %s\n", it.SHA256, it.Path)
		fmt.Fprintf(&m512, "%s  %s\n", it.SHA512, it.Path)
	}
	key := pl.Key()
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(key.Public)
	if err != nil {
		return fmt.Errorf("disclose: public key: %w", err)
	}
	var evs bytes.Buffer
	for _, e := range events {
		fmt.Fprintf(&evs, "{\"index\":%d,\"event\":%s}\n", e.index, e.encoded)
	}
	caseDoc, err := caseJSONLD(o, events, sorted, opts, rep, now)
	if err != nil {
		return err
	}
	readme := readmeText(o, rep, key)
	last := events[len(events)-1]
	signed := map[string]string{}
	for name, data := range map[string][]byte{"case.jsonld": caseDoc, "README.txt": readme, "custody/events.jsonl": evs.Bytes(), "custody/order.json": rec} {
		sum := sha256.Sum256(data)
		signed[name] = hex.EncodeToString(sum[:])
	}
	statement, err := r.packageStatement(sorted, o, rep, opts, now,
		eventsRef{Count: len(events), LastIndex: last.index, LastHash: chain.EventHash(last.encoded)}, signed)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"bagit.txt", []byte("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")},
		{"bag-info.txt", bagInfo(o, opts, rep, oxumBytes, now)},
		{"manifest-sha256.txt", m256.Bytes()},
		{"manifest-sha512.txt", m512.Bytes()},
		{"custody/order.json", rec},
		{"custody/events.jsonl", evs.Bytes()},
		{"custody/checkpoint", rep.Checkpoint.Raw},
		{"custody/keys/custos.vkey", []byte(key.Verifier + "\n")},
		{"custody/keys/custos.pub", pubPEM},
		{"custody/attestation.dsse.json", statement},
		{"case.jsonld", caseDoc},
		{"README.txt", readme},
	}
	for _, f := range files {
		if err := b.put(f.name, f.data); err != nil {
			return err
		}
	}
	for _, e := range events {
		p, err := chain.BuildInclusionProof(ctx, pl.FS(), rep.Checkpoint.Raw, rep.Checkpoint.Size, e.index)
		if err != nil {
			return fmt.Errorf("disclose: proof of entry %d: %w", e.index, err)
		}
		text, err := chain.FormatProof(p)
		if err != nil {
			return err
		}
		if err := b.put(fmt.Sprintf("custody/proofs/%d.tlog-proof", e.index), text); err != nil {
			return err
		}
	}
	tags := append([]fileSum(nil), b.tags...)
	sort.Slice(tags, func(i, j int) bool { return tags[i].path < tags[j].path })
	var tm, tm512 bytes.Buffer
	for _, t := range tags {
		fmt.Fprintf(&tm, "%s  %s\n", t.sha256, t.path)
		fmt.Fprintf(&tm512, "%s  %s\n", t.sha512, t.path)
	}
	// RFC 8493 2.2.1: tag manifests use the payload manifests' algorithms.
	if err := b.put("tagmanifest-sha256.txt", tm.Bytes()); err != nil {
		return err
	}
	b.tagManifestSHA256 = b.tags[len(b.tags)-1].sha256
	if err := b.put("tagmanifest-sha512.txt", tm512.Bytes()); err != nil {
		return err
	}
	all := append([]fileSum(nil), b.tags...)
	for _, it := range sorted {
		all = append(all, fileSum{path: it.Path, sha256: it.SHA256})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].path < all[j].path })
	var sums bytes.Buffer
	for _, f := range all {
		fmt.Fprintf(&sums, "%s  %s\n", f.sha256, f.path)
	}
	return b.put("SHA256SUMS", sums.Bytes())
}

// copyItem streams one item from the store (or the spool) into the
// package. The store re-hashes what it reads: an item that does not match
// its digest fails the disclosure as tampering.
func (r *Registry) copyItem(ctx context.Context, w packageWriter, it *DisclosedItem) error {
	var src interface {
		Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error)
	} = r.Store
	if it.spooled && r.Capturer.Spool != nil {
		src = r.Capturer.Spool
	}
	rc, info, err := src.Get(ctx, it.key)
	if errors.Is(err, storage.ErrNotExist) {
		return fmt.Errorf("disclose: item %s is missing from the store: %w", it.key, storage.ErrTamper)
	}
	if err != nil {
		return fmt.Errorf("disclose: item %s: %w", it.key, err)
	}
	defer rc.Close()
	if info.SHA256 != it.SHA256 || info.Size != it.Size {
		return fmt.Errorf("disclose: item %s is stored as %s (%d bytes), logged as %s (%d bytes): %w",
			it.key, info.SHA256, info.Size, it.SHA256, it.Size, storage.ErrTamper)
	}
	f, err := w.create(it.Path, it.Size)
	if err != nil {
		return fmt.Errorf("disclose: %s: %w", it.Path, err)
	}
	n, err := io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disclose: item %s: %w", it.key, err)
	}
	if n != it.Size {
		return fmt.Errorf("disclose: item %s: read %d bytes of %d: %w", it.key, n, it.Size, storage.ErrTamper)
	}
	return nil
}

// disclosurePredicate is the predicate of the package's statement.
type disclosurePredicate struct {
	Order       string            `json:"order"`
	Reference   string            `json:"reference"`
	Recipient   string            `json:"recipient"`
	DisclosedAt time.Time         `json:"disclosed_at"`
	Agent       string            `json:"agent"`
	Actor       string            `json:"actor"`
	Partial     bool              `json:"partial"`
	Checkpoint  checkpointRef     `json:"checkpoint"`
	Events      eventsRef         `json:"events"`
	Files       map[string]string `json:"files"`
	Items       []DisclosedItem   `json:"items"`
}

// eventsRef binds the events a package carries: dropping any, even the
// newest, breaks the signed statement.
type eventsRef struct {
	Count     int    `json:"count"`
	LastIndex uint64 `json:"last_index"`
	LastHash  string `json:"last_sha256"`
}

type checkpointRef struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Hash   []byte `json:"hash"`
}

// packageStatement signs the statement whose subjects are the payload.
func (r *Registry) packageStatement(items []DisclosedItem, o *order.Order, rep *DisclosureReport, opts DiscloseOptions, now time.Time,
	events eventsRef, files map[string]string,
) ([]byte, error) {
	subjects := make([]chain.Subject, len(items))
	for i, it := range items {
		subjects[i] = chain.Subject{Name: it.Path, Digest: map[string]string{"sha256": it.SHA256, "sha512": it.SHA512}}
	}
	recipient := opts.RecipientText
	if recipient == "" {
		recipient = "none"
	}
	return chain.SignStatement(r.Capturer.Signer, subjects, DisclosurePredicateType, disclosurePredicate{
		Order: o.ID, Reference: o.Reference, Recipient: recipient, DisclosedAt: now, Agent: r.Agent, Actor: opts.Actor,
		Partial: rep.Partial, Checkpoint: checkpointRef{Origin: rep.Checkpoint.Origin, Size: rep.Checkpoint.Size, Hash: rep.Checkpoint.Hash},
		Events: events, Files: files, Items: items,
	})
}

// bagInfo writes bag-info.txt.
func bagInfo(o *order.Order, opts DiscloseOptions, rep *DisclosureReport, oxumBytes int64, now time.Time) []byte {
	recipient := opts.RecipientText
	if recipient == "" {
		recipient = "none"
	}
	org := opts.Organization
	if org == "" {
		org = "unknown"
	}
	fields := [][2]string{
		{"Source-Organization", org},
		{"Bagging-Date", now.UTC().Format("2006-01-02")},
		{"Payload-Oxum", fmt.Sprintf("%d.%d", oxumBytes, len(rep.Items))},
		{"External-Identifier", o.Reference},
		{"Internal-Sender-Identifier", o.ID},
		{"Custos-Package-Version", strconv.Itoa(PackageVersion)},
		{"Custos-Order-Id", o.ID},
		{"Custos-Issuing-Authority", o.Authority},
		{"Custos-Requesting-State", o.RequestingState},
		{"Custos-Profile", o.Profile},
		{"Custos-Legal-Basis", o.LegalBasis},
		{"Custos-Disclosed-At", now.UTC().Format(time.RFC3339)},
		{"Custos-Recipient", recipient},
		{"Custos-Partial", strconv.FormatBool(rep.Partial)},
	}
	var buf bytes.Buffer
	for _, f := range fields {
		fmt.Fprintf(&buf, "%s: %s\n", f[0], strings.Join(strings.Fields(f[1]), " "))
	}
	return buf.Bytes()
}

// readmeText is README.txt: what the package is and how to check it.
func readmeText(o *order.Order, rep *DisclosureReport, key *chain.Key) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `Disclosure package of preservation order %s (reference %s)
issued by %s, requesting state %s.

This is a BagIt bag (RFC 8493). data/ holds %d disclosed item(s); custody/
holds the order record, the order's %d custody events, one inclusion proof
per event against the signed checkpoint custody/checkpoint (log %s, size %d),
the provider's verifier keys, and a signed in-toto statement naming every
data/ file with its SHA-256 and SHA-512. case.jsonld is the custody chain in
CASE/UCO. The format is described in custos's docs/package.md.

Verify it with custos (offline; trust only a key obtained from the provider
by another channel, not the copy in custody/keys):

    custos verify . --key-line '%s'

With standard tools:

    sha256sum -c SHA256SUMS                 every file's SHA-256
    bagit.py --validate .                   the bag (python3-bagit), or any BagIt validator
    custody/checkpoint                      a C2SP signed note (golang.org/x/mod/sumdb/note)
    custody/proofs/*.tlog-proof             C2SP tlog-proofs of the lines of custody/events.jsonl
    custody/attestation.dsse.json           a DSSE envelope (in-toto statement), signed by
                                            the key in custody/keys/custos.pub
`, o.ID, o.Reference, o.Authority, o.RequestingState, len(rep.Items), rep.Events,
		rep.Checkpoint.Origin, rep.Checkpoint.Size, key.Verifier)
	return b.Bytes()
}

// payloadNamer gives items safe, readable, distinct names under data/
// (docs/package.md, "Payload names").
type payloadNamer struct {
	taken map[string]bool
}

func newPayloadNamer() *payloadNamer { return &payloadNamer{taken: map[string]bool{}} }

func (n *payloadNamer) name(src, name string) string {
	if _, rest, ok := strings.Cut(src, "://"); ok {
		// A source named by its URI (file:///srv/export): the last
		// segment of its place, export.
		rest = strings.Trim(rest, "/")
		src = rest[strings.LastIndex(rest, "/")+1:]
	}
	segs := []string{safeSegment(src)}
	for _, s := range strings.Split(name, "/") {
		if s == "" || s == "." || s == ".." {
			continue
		}
		segs = append(segs, safeSegment(s))
	}
	if len(segs) == 1 {
		segs = append(segs, "item")
	}
	if len(segs) > 9 { // the source and at most 8 segments of the name
		segs = append(segs[:1], segs[len(segs)-8:]...)
	}
	p := "data/" + strings.Join(segs, "/")
	if !n.taken[p] {
		n.taken[p] = true
		return p
	}
	ext := path.Ext(p)
	if strings.Contains(ext, "/") || ext == p {
		ext = ""
	}
	base := strings.TrimSuffix(p, ext)
	for i := 2; ; i++ {
		q := fmt.Sprintf("%s~%d%s", base, i, ext)
		if !n.taken[q] {
			n.taken[q] = true
			return q
		}
	}
}

// safeSegment makes one path segment safe on every file system.
func safeSegment(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] == '.' {
		b[0] = '_'
	}
	if len(b) > 100 {
		b = b[:100]
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// jsonMarshal encodes v without HTML escaping, indented for people.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
