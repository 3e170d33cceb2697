package disclosure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"filippo.io/age"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/custos-evidence/custos/chain"
)

// Contents are what Write makes a package of: the order's record and
// events, the log's checkpoint and key, the items, and who discloses them
// to whom and when. Write reads nothing else.
type Contents struct {
	// Order is the order's canonical record, custody/order.json byte for
	// byte. Its id, reference, authority, requesting state, profile,
	// legal basis, receipt and expiry fill bag-info.txt, README.txt and
	// case.jsonld.
	Order []byte
	// Events are every event of the order that Checkpoint covers, in log
	// order, each as logged (its Encoded bytes are the log's entry).
	Events []*chain.Record
	// Checkpoint is the signed checkpoint every proof is against.
	Checkpoint *chain.Checkpoint
	// Key is the log's key, copied into custody/keys for information.
	Key *chain.Key
	// Rotations are the certificates (chain.RotationCertificate) of the
	// log's key rotations that Checkpoint covers, in log order: with them
	// a verifier holding any of the log's keys trusts the one that signed
	// the package (custody/keys/rotations, version 3).
	Rotations [][]byte
	// Prove returns the inclusion proof of the log's entry at index against
	// Checkpoint.
	Prove func(ctx context.Context, index uint64) (*chain.Proof, error)
	// Items are the items disclosed; they are named under data/ in this
	// order (a name already taken gets ~2, ~3, ...).
	Items []Item
	// Partial says the order holds items left out of this package.
	Partial bool

	Organization string    // the provider, bag-info's Source-Organization; "" writes "unknown"
	Agent        string    // the agent that discloses, in the statement
	Actor        string    // who discloses, in the statement
	Time         time.Time // when: Custos-Disclosed-At, Bagging-Date, the statement's disclosed_at, archive times

	// Recipients, if any, encrypt the package (a zip or a tar) with age to
	// the output path + ".age". Recipient is how they were given (their
	// public keys), for the record; "" writes "none".
	Recipients []age.Recipient
	Recipient  string

	// Signer signs the statement with the log's key.
	Signer chain.Signer

	// Timestamps are the tokens over the checkpoints that first included
	// the order's receipt, its first sealed items and an earlier
	// disclosure among Events, where the log holds such tokens; each Size
	// is at most Checkpoint's.
	Timestamps []Timestamp
	// StampStatement, when set, is given the package's signed statement
	// (custody/attestation.dsse.json, byte for byte) once it is made and
	// returns the RFC 3161 tokens over it that the package carries as
	// custody/timestamps/attestation.<tsa>.tsr: they prove when the
	// package was disclosed at the latest, which no token over a
	// checkpoint can (its disclosure.created is logged after it is
	// built). An authority that gave none is simply not among them; an
	// error fails the build. Each token must cover the statement.
	StampStatement func(ctx context.Context, statement []byte) ([]StatementToken, error)
}

// StatementToken is an authority's RFC 3161 token over a package's
// signed statement.
type StatementToken struct {
	TSA   string // the authority's configured name (chain.CheckTSAName)
	Token []byte // the DER TimeStampResp
}

// Item is one item to disclose, as its item.preserved event, or its record
// in a sealed batch, describes it.
type Item struct {
	SHA256, SHA512 string // lower-case hex
	Size           int64
	Source         string   // the name of the source that captured it
	Name           string   // its name in that source
	Categories     []string // the source's data categories
	MediaType      string
	// PreservedIndex is the log index of the event that preserved the
	// item: its item.preserved event, or for an item sealed in a batch
	// (Record set) its batch's items.sealed event.
	PreservedIndex uint64
	// Open returns the item's bytes. Write copies exactly Size bytes and
	// fails on fewer or more; Open's reader should check the content's
	// digest as it reads (the agent's store does).
	Open func(ctx context.Context) (io.ReadCloser, error)

	// Record and Proof prove an item sealed in a batch: Record is its
	// record's canonical bytes, exactly its line of the batch's manifest
	// without the newline, and Proof the record's inclusion proof in the
	// batch's tree. The package carries both under custody/records, and
	// Write checks them against the root of the items.sealed event at
	// PreservedIndex. Both are nil for an item that an item.preserved
	// event preserved (logs written before batches).
	Record []byte
	Proof  *chain.RecordProof
}

// File is an item as a package holds it: its path under data/ and what
// the package's statement says of it.
type File struct {
	Path           string   `json:"path"`
	SHA256         string   `json:"sha256"`
	SHA512         string   `json:"sha512"`
	Size           int64    `json:"size"`
	Source         string   `json:"source"`
	Name           string   `json:"name"`
	Categories     []string `json:"categories,omitempty"`
	MediaType      string   `json:"media_type,omitempty"`
	PreservedIndex uint64   `json:"preserved_index"`
}

// Written says what Write wrote.
type Written struct {
	Path string // the package: out, or out+".age" when encrypted
	// SHA256 is the package's digest as disclosure.created records it: of
	// the .zip, .tar or .age file, or of a directory's
	// tagmanifest-sha256.txt.
	SHA256 string
	Files  []File // the items, in the order of Contents.Items
}

// Write writes the package of c to out (docs/package.md): a directory, or
// a zip or tar when out ends in .zip or .tar, encrypted with age to
// out+".age" when c has recipients. out must not exist. Nothing is
// visible at the output path until the package is complete: on error
// everything written is removed.
func Write(ctx context.Context, out string, c *Contents) (*Written, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	rec, err := parseOrderRecord(c.Order)
	if err != nil {
		return nil, fmt.Errorf("the order record: %w", err)
	}
	if err := c.checkRecords(rec.ID); err != nil {
		return nil, err
	}
	w, err := newPackageWriter(out, FormatFor(out), c.Recipients, c.Time)
	if err != nil {
		return nil, err
	}
	b := &bagBuilder{w: w}
	files, err := b.write(ctx, c, rec)
	if err != nil {
		w.abort()
		return nil, err
	}
	path, sum, err := w.close()
	if err != nil {
		return nil, err
	}
	if sum == "" {
		sum = b.tagManifestSHA256
	}
	return &Written{Path: path, SHA256: sum, Files: files}, nil
}

func (c *Contents) check() error {
	switch {
	case len(c.Events) == 0:
		return errors.New("no custody events to disclose")
	case len(c.Items) == 0:
		return errors.New("no items to disclose")
	case c.Checkpoint == nil || c.Key == nil || c.Prove == nil:
		return errors.New("no checkpoint, key or proofs of the log")
	case c.Signer == nil:
		return errors.New("no signer for the package's statement")
	}
	for _, r := range c.Events {
		if r.Index >= c.Checkpoint.Size {
			return fmt.Errorf("the checkpoint of size %d does not cover event %d", c.Checkpoint.Size, r.Index)
		}
	}
	return nil
}

// bagBuilder writes files and remembers their digests for the manifests.
type bagBuilder struct {
	w                 packageWriter
	tags              []fileSum // tag files written, for the tag manifests and SHA256SUMS
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

// write writes every file of the package: the payload, then the tag
// files, the proofs, the tag manifests and last SHA256SUMS.
func (b *bagBuilder) write(ctx context.Context, c *Contents, rec *orderRecord) ([]File, error) {
	files, err := b.payload(ctx, c.Items)
	if err != nil {
		return nil, err
	}
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	tags, err := tagFiles(ctx, c, rec, sorted)
	if err != nil {
		return nil, err
	}
	for _, f := range tags {
		if err := b.put(f.name, f.data); err != nil {
			return nil, err
		}
	}
	for _, e := range c.Events {
		p, err := c.Prove(ctx, e.Index)
		if err != nil {
			return nil, fmt.Errorf("proof of entry %d: %w", e.Index, err)
		}
		text, err := chain.FormatProof(p)
		if err != nil {
			return nil, err
		}
		if err := b.put(proofPath(e.Index), text); err != nil {
			return nil, err
		}
	}
	if err := b.records(c.Items); err != nil {
		return nil, err
	}
	if err := b.timestamps(c.Timestamps); err != nil {
		return nil, err
	}
	return files, b.seal(sorted)
}

// payload names the items and copies each into data/.
func (b *bagBuilder) payload(ctx context.Context, items []Item) ([]File, error) {
	names := newPayloadNamer()
	files := make([]File, len(items))
	for i, it := range items {
		f := File{
			Path: names.name(it.Source, it.Name), SHA256: it.SHA256, SHA512: it.SHA512, Size: it.Size,
			Source: it.Source, Name: it.Name, Categories: it.Categories, MediaType: it.MediaType, PreservedIndex: it.PreservedIndex,
		}
		if err := b.copyItem(ctx, it, f.Path); err != nil {
			return nil, err
		}
		files[i] = f
	}
	return files, nil
}

// copyItem streams one item into the package at path: exactly its size,
// then on to the end of Open's reader, where a reader that checks the
// content's digest says whether it holds. An item that reads short or long
// is tampering.
func (b *bagBuilder) copyItem(ctx context.Context, it Item, path string) error {
	rc, err := it.Open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := b.w.create(path, it.Size)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	n, err := io.CopyN(f, rc, it.Size)
	if err == nil {
		var more int64
		more, err = io.Copy(io.Discard, io.LimitReader(rc, 1))
		n += more
	}
	if errors.Is(err, io.EOF) {
		err = nil // short: said below
	}
	cerr := f.Close()
	switch {
	case err != nil:
		return fmt.Errorf("item %s: %w", it.SHA256, err)
	case n != it.Size:
		says := "its item.preserved event records"
		if it.Record != nil {
			says = "its record says"
		}
		return &chain.TamperError{File: path, Index: int64(it.PreservedIndex),
			What: fmt.Sprintf("item %s: read %d bytes of the %d %s", it.SHA256, n, it.Size, says)}
	case cerr != nil:
		return fmt.Errorf("%s: %w", path, cerr)
	}
	return nil
}

type tagData struct {
	name string
	data []byte
}

// tagFiles makes the tag files that describe the payload and the custody
// chain, in the order they are written.
func tagFiles(ctx context.Context, c *Contents, rec *orderRecord, sorted []File) ([]tagData, error) {
	var m256, m512, evs bytes.Buffer
	var oxumBytes int64
	for _, f := range sorted {
		fmt.Fprintf(&m256, "%s  %s\n", f.SHA256, f.Path)
		fmt.Fprintf(&m512, "%s  %s\n", f.SHA512, f.Path)
		oxumBytes += f.Size
	}
	for _, e := range c.Events {
		fmt.Fprintf(&evs, "{\"index\":%d,\"event\":%s}\n", e.Index, e.Encoded)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(c.Key.Public)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	caseDoc, err := caseJSONLD(c, rec, sorted)
	if err != nil {
		return nil, err
	}
	readme := readmeText(c, rec)
	statement, err := signStatement(c, rec, sorted, map[string][]byte{
		pkgCase: caseDoc, pkgReadme: readme, pkgEvents: evs.Bytes(), pkgOrder: c.Order,
	})
	if err != nil {
		return nil, err
	}
	stamps, err := c.stampStatement(ctx, statement)
	if err != nil {
		return nil, err
	}
	tags := []tagData{
		{pkgBagIt, []byte(bagItDeclared)},
		{pkgBagInfo, bagInfo(c, rec, oxumBytes, len(sorted), len(stamps) > 0)},
		{pkgManifest256, m256.Bytes()},
		{pkgManifest512, m512.Bytes()},
		{pkgOrder, c.Order},
		{pkgEvents, evs.Bytes()},
		{pkgCheckpoint, c.Checkpoint.Raw},
		{pkgVKey, []byte(c.Key.Verifier + "\n")},
		{pkgPubKey, pubPEM},
		{pkgAttestation, statement},
		{pkgCase, caseDoc},
		{pkgReadme, readme},
	}
	for i, cert := range c.Rotations {
		tags = append(tags, tagData{rotationPath(i), cert})
	}
	return append(tags, stamps...), nil
}

// stampStatement asks StampStatement for the tokens over statement and
// returns them as the package's files. A token that does not cover the
// statement never leaves: it fails the build as tampering.
func (c *Contents) stampStatement(ctx context.Context, statement []byte) ([]tagData, error) {
	if c.StampStatement == nil {
		return nil, nil
	}
	toks, err := c.StampStatement(ctx, statement)
	if err != nil {
		return nil, fmt.Errorf("timestamp the statement: %w", err)
	}
	var out []tagData
	seen := map[string]bool{}
	for _, t := range toks {
		if err := chain.CheckTSAName(t.TSA); err != nil {
			return nil, err
		}
		if seen[t.TSA] {
			return nil, fmt.Errorf("timestamp the statement: two tokens of %s", t.TSA)
		}
		seen[t.TSA] = true
		name := StatementTokenFile(t.TSA)
		if _, err := chain.ParseTimestamp(name, t.Token, statement); err != nil {
			return nil, err
		}
		out = append(out, tagData{name, t.Token})
	}
	return out, nil
}

// seal writes the tag manifests over the tag files written so far, then
// SHA256SUMS over every file.
func (b *bagBuilder) seal(sorted []File) error {
	tags := append([]fileSum(nil), b.tags...)
	sort.Slice(tags, func(i, j int) bool { return tags[i].path < tags[j].path })
	var tm, tm512 bytes.Buffer
	for _, t := range tags {
		fmt.Fprintf(&tm, "%s  %s\n", t.sha256, t.path)
		fmt.Fprintf(&tm512, "%s  %s\n", t.sha512, t.path)
	}
	// RFC 8493 2.2.1: tag manifests use the payload manifests' algorithms.
	if err := b.put(pkgTagManifest, tm.Bytes()); err != nil {
		return err
	}
	b.tagManifestSHA256 = b.tags[len(b.tags)-1].sha256
	if err := b.put(pkgTagManifest512, tm512.Bytes()); err != nil {
		return err
	}
	all := append([]fileSum(nil), b.tags...)
	for _, f := range sorted {
		all = append(all, fileSum{path: f.Path, sha256: f.SHA256})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].path < all[j].path })
	var sums bytes.Buffer
	for _, f := range all {
		fmt.Fprintf(&sums, "%s  %s\n", f.sha256, f.path)
	}
	return b.put(pkgSHA256SUMS, sums.Bytes())
}

// signStatement signs the statement whose subjects are the payload and
// whose predicate binds the events and the tag files nothing else signs.
func signStatement(c *Contents, rec *orderRecord, sorted []File, signed map[string][]byte) ([]byte, error) {
	subjects := make([]chain.Subject, len(sorted))
	for i, f := range sorted {
		subjects[i] = chain.Subject{Name: f.Path, Digest: map[string]string{"sha256": f.SHA256, "sha512": f.SHA512}}
	}
	files := map[string]string{}
	for name, data := range signed {
		sum := sha256.Sum256(data)
		files[name] = hex.EncodeToString(sum[:])
	}
	last := c.Events[len(c.Events)-1]
	cp := c.Checkpoint
	return chain.SignStatement(c.Signer, subjects, PredicateType, predicate{
		Order: rec.ID, Reference: rec.Reference, Recipient: c.recipient(), DisclosedAt: c.Time, Agent: c.Agent, Actor: c.Actor,
		Partial: c.Partial, Checkpoint: checkpointRef{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash},
		Events: eventsRef{Count: len(c.Events), LastIndex: last.Index, LastHash: chain.EventHash(last.Encoded)},
		Files:  files, Items: sorted,
	})
}

func (c *Contents) recipient() string {
	if c.Recipient == "" {
		return "none"
	}
	return c.Recipient
}

func (c *Contents) organization() string {
	if c.Organization == "" {
		return "unknown"
	}
	return c.Organization
}
