package chain

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

// Key rotation. A log changes its signing key with a key.rotated event
// naming the old and the new key, and the first checkpoint covering that
// event is signed by both: one signed note with two signature lines.
// Checkpoints before it are signed by the old key alone, checkpoints after
// it by the new key alone. The dual-signed checkpoint is the link: a
// verifier trusting either key checks it with that key, finds in the tree
// it signs the event naming the other, and checks the other signature on
// the same note; from then on it trusts both. An event naming a key that
// no dual-signed checkpoint confirms makes no key trusted (see
// resolveKeys).

// KeyRotatedDetails are the details of key.rotated (and the key of
// log.opened, as KeyDetails).
type KeyRotatedDetails struct {
	Old KeyDetails // "old_verifier", "old_key_id", "old_key_type"
	New KeyDetails // "new_verifier", "new_key_id", "new_key_type"
}

// KeyDetails name one checkpoint signing key.
type KeyDetails struct {
	Verifier string // the note verifier key line
	KeyID    string // the C2SP key id, eight hex digits
	Type     string // "ed25519" or "ecdsa-p256"
}

func keyDetails(k *Key) KeyDetails {
	return KeyDetails{Verifier: k.Verifier, KeyID: k.KeyID(), Type: k.Type}
}

// Put adds d's details to m (a new map if m is nil) and returns m.
func (d KeyRotatedDetails) Put(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m["old_verifier"], m["old_key_id"], m["old_key_type"] = d.Old.Verifier, d.Old.KeyID, d.Old.Type
	m["new_verifier"], m["new_key_id"], m["new_key_type"] = d.New.Verifier, d.New.KeyID, d.New.Type
	return m
}

// ReadKeyRotatedDetails reads the keys a key.rotated event names.
func ReadKeyRotatedDetails(e *Event) KeyRotatedDetails {
	return KeyRotatedDetails{
		Old: KeyDetails{Verifier: e.Details["old_verifier"], KeyID: e.Details["old_key_id"], Type: e.Details["old_key_type"]},
		New: KeyDetails{Verifier: e.Details["new_verifier"], KeyID: e.Details["new_key_id"], Type: e.Details["new_key_type"]},
	}
}

// ErrSameKey is returned by Rotate when the new key is the log's key.
var ErrSameKey = errors.New("the new key is the key that signs the log already")

// CheckRotation checks, writing nothing, that the log can rotate to next:
// that next is a key of a kind that signs checkpoints, is not the log's
// key, and signs now (a KMS that cannot be reached fails here), and that
// the log's own key signs now. It returns next as a Key of this log.
func (l *Log) CheckRotation(ctx context.Context, next Signer) (*Key, note.Signer, error) {
	if err := l.Failed(); err != nil {
		return nil, nil, err
	}
	ns, key, err := NewNoteSigner(l.key.Name, next)
	if err != nil {
		return nil, nil, fmt.Errorf("new key: %w", err)
	}
	if key.Verifier == l.key.Verifier {
		return nil, nil, ErrSameKey
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	probe := []byte("custos key rotation probe " + key.KeyID() + "\n")
	if _, err := ns.Sign(probe); err != nil {
		return nil, nil, fmt.Errorf("new key %s: %w", key.KeyID(), err)
	}
	if _, err := l.signer.current().Sign(probe); err != nil {
		return nil, nil, fmt.Errorf("log key %s: %w", l.key.KeyID(), err)
	}
	return key, ns, nil
}

// Rotate makes next the log's signing key. It checks next as
// CheckRotation does, publishes a checkpoint covering every entry with
// the old key (so nothing is left for the log's own publication to sign
// meanwhile), appends e as the key.rotated event (its type and the keys'
// details are set here; e's own details, such as a KMS key's version,
// are kept), and publishes the first checkpoint covering it, signed by the
// old and the new key and sent to the log's witnesses as every checkpoint
// is (see Publish). Every later checkpoint is signed by next alone.
// While it runs the log's own publication signs nothing. Key and
// Verifier return the new key once it returns; call it where nothing
// else uses the log meanwhile (custos keys rotate holds the data
// directory's write lock).
//
// Once the event is durable the old key never signs alone again: if the
// dual-signed checkpoint is not published (the witnesses' quorum unmet,
// fail-closed, or the process killed), Rotate returns the event with the
// error, the log signs nothing more, and the next Open finishes the
// rotation given the new key as Config.Next (see ErrRotationUnfinished).
func (l *Log) Rotate(ctx context.Context, next Signer, e Event) (*Record, *Checkpoint, error) {
	key, ns, err := l.CheckRotation(ctx, next)
	if err != nil {
		return nil, nil, fmt.Errorf("rotate key: %w", err)
	}
	if _, err := l.Publish(ctx); err != nil {
		return nil, nil, fmt.Errorf("rotate key: %w", err)
	}
	l.verifyMu.Lock()
	defer l.verifyMu.Unlock()
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	old := l.signer.hold()
	e.Type = KeyRotated
	e.Details = KeyRotatedDetails{Old: keyDetails(l.key), New: keyDetails(key)}.Put(e.Details)
	rec, err := l.Append(ctx, e)
	if err != nil {
		l.signer.release()
		return nil, nil, fmt.Errorf("rotate key: %w", err)
	}
	cp, err := l.finishRotation(ctx, old, ns, key)
	if err != nil {
		return rec, nil, fmt.Errorf("rotate key: %w", err)
	}
	return rec, cp, nil
}

// ErrRotationUnfinished is a log whose newest key.rotated event no
// checkpoint covers yet: the rotation stopped before the checkpoint
// signed by both keys was published. The old key no longer signs the log
// alone, and the new key does not yet; Open finishes the rotation when
// Config.Next is the new key the event names.
var ErrRotationUnfinished = errors.New("the log's key rotation is unfinished")

// finishRotation publishes the first checkpoint after a key.rotated
// event, signed by old and the new key ns, and makes ns the log's key. The
// caller holds the signer (archivingSigner.hold), and pubMu where the log
// runs; a failure leaves it held, so that the old key signs nothing alone.
func (l *Log) finishRotation(ctx context.Context, old, ns note.Signer, key *Key) (*Checkpoint, error) {
	size, root, ok, err := IntegratedSize(l.fsys)
	if err != nil || !ok {
		return nil, fmt.Errorf("read log size: %v", cmpErr(err, "no tree state"))
	}
	v, err := key.NoteVerifier()
	if err != nil {
		return nil, err
	}
	published, err := l.publishDual(ctx, old, ns, size, root)
	if err != nil {
		return nil, err
	}
	cp, err := ParseCheckpoint(published, v)
	if err != nil {
		return nil, err
	}
	l.signer.use(ns)
	l.key, l.verifier = key, v
	l.signer.release()
	return cp, nil
}

// publishDual signs the checkpoint of size entries with old and next, in
// that order, has the witnesses cosign it through tessera's publisher as
// Publish does (fail-open or fail-closed alike), keeps the note as the
// two keys signed it under checkpoints/<size> and its cosignatures under
// cosignatures/<size>, and publishes it. It returns the published note.
func (l *Log) publishDual(ctx context.Context, old, next note.Signer, size uint64, root []byte) ([]byte, error) {
	if size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	opts, err := withWitnesses(tessera.NewAppendOptions().WithCheckpointSigner(old, next), l.cfg.Witnesses)
	if err != nil {
		return nil, err
	}
	published, err := opts.CheckpointPublisher(l.reader, l.client)(ctx, size, root)
	if err != nil {
		if w := l.cfg.Witnesses; w != nil && w.Policy != nil && !w.FailOpen {
			return nil, fmt.Errorf("the checkpoint signed by both keys: %w", quorumError(size, w.Policy, err))
		}
		return nil, fmt.Errorf("sign checkpoint of %d entries with both keys: %w", size, err)
	}
	// The two keys' lines come first; witnesses append theirs.
	body, sigs, ok := bytes.Cut(published, []byte("\n\n"))
	lines := bytes.SplitAfterN(sigs, []byte("\n"), 3)
	if !ok || len(lines) < 2 {
		return nil, fmt.Errorf("sign checkpoint of %d entries with both keys: a note without two signatures", size)
	}
	signed := slices.Concat(body, []byte("\n\n"), lines[0], lines[1])
	if err := l.keepCosigned(published); err != nil {
		return nil, err
	}
	if err := writeOnce(filepath.Join(l.cfg.Dir, CheckpointsDir, strconv.FormatUint(size, 10)), signed); err != nil {
		return nil, fmt.Errorf("keep checkpoint %d: %w", size, err)
	}
	if err := replaceFile(filepath.Join(l.cfg.Dir, CheckpointPath), published); err != nil {
		return nil, fmt.Errorf("publish checkpoint %d: %w", size, err)
	}
	return published, nil
}

// PendingRotation returns the key.rotated entry of the log in fsys that no
// kept checkpoint covers yet, or nil if there is none: a rotation that
// stopped before its checkpoint signed by both keys was published. It
// checks no signature (Open does, before it finishes the rotation).
func PendingRotation(ctx context.Context, fsys fs.FS) (*Record, error) {
	size, _, ok, err := IntegratedSize(fsys)
	if err != nil || !ok {
		return nil, err
	}
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		return nil, err
	}
	var sealed uint64
	if len(sizes) > 0 {
		sealed = sizes[len(sizes)-1]
	}
	return pendingRotation(ctx, fsys, sealed, size)
}

// pendingRotation returns the last key.rotated entry among [sealed, size).
func pendingRotation(ctx context.Context, fsys fs.FS, sealed, size uint64) (*Record, error) {
	var pending *Record
	for r, err := range Entries(ctx, fsys, sealed, size) {
		if err != nil {
			return nil, err
		}
		if r.Event.Type == KeyRotated {
			pending = r
		}
	}
	return pending, nil
}

// unfinishedRotation checks the rotation of the key.rotated entry
// pending against next, the key Config.Next gives (nil if none): it
// returns an error wrapping ErrRotationUnfinished unless next is the new
// key the event names.
func unfinishedRotation(pending *Record, next *Key) error {
	d := ReadKeyRotatedDetails(pending.Event)
	what := fmt.Errorf("%w: entry %d rotated the log's key %s to %s, and no checkpoint signed by both keys follows it", ErrRotationUnfinished, pending.Index, d.Old.KeyID, d.New.KeyID)
	switch {
	case next == nil:
		return fmt.Errorf("%w: open the log with the new key %s beside the old one to finish the rotation", what, d.New.KeyID)
	case next.Verifier != d.New.Verifier:
		return fmt.Errorf("%w: the new key given is %s, not %s", what, next.KeyID(), d.New.KeyID)
	}
	return nil
}

func cmpErr(err error, otherwise string) error {
	if err != nil {
		return err
	}
	return errors.New(otherwise)
}

// Rotation certificates. A certificate carries what links the two keys of
// one rotation, for a verifier that has only the log's package and one of
// the keys: the key.rotated event, and its tlog-proof against the
// checkpoint both keys signed. `custos keys rotate` writes one; an
// investigator given it with either key trusts the other (LinkRotation).
//
//	custos key rotation v1
//	event <base64 of the key.rotated entry>
//	<the tlog-proof of the event against the dual-signed checkpoint>

// rotationHeader is the first line, and version, of a rotation certificate.
const rotationHeader = "custos key rotation v1"

// MaxRotationSize bounds a rotation certificate.
const MaxRotationSize = MaxProofSize + 2*MaxEventSize

// FormatRotation returns the certificate of the key.rotated entry
// encoded, proven by p against the checkpoint both keys signed.
func FormatRotation(encoded []byte, p *Proof) ([]byte, error) {
	proofText, err := FormatProof(p)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(rotationHeader + "\n")
	b.WriteString("event " + base64.StdEncoding.EncodeToString(encoded) + "\n")
	b.Write(proofText)
	return b.Bytes(), nil
}

// LinkRotation checks the rotation certificate cert against t and returns
// t with the other key of the rotation trusted too. The certificate's
// checkpoint must be signed by a key t trusts and by the other key the
// event names, for the same log, and must include the event, which must
// be a key.rotated event naming a key t trusts. Every failure is a
// *TamperError: a certificate that does not link the keys links nothing.
func LinkRotation(t *Trust, cert []byte) (*Trust, error) {
	if len(cert) > MaxRotationSize {
		return nil, tamper("", NoIndex, "rotation certificate is %d bytes, more than %d", len(cert), MaxRotationSize)
	}
	head, rest, ok1 := bytes.Cut(cert, []byte("\n"))
	evLine, proofText, ok2 := bytes.Cut(rest, []byte("\n"))
	enc, ok3 := bytes.CutPrefix(evLine, []byte("event "))
	if !ok1 || !ok2 || !ok3 || string(head) != rotationHeader {
		return nil, tamper("", NoIndex, "not a %q certificate", rotationHeader)
	}
	encoded, err := base64.StdEncoding.Strict().DecodeString(string(enc))
	if err != nil {
		return nil, tamper("", NoIndex, "rotation certificate: event is not base64")
	}
	ev, err := ParseEvent(encoded)
	if err != nil || ev.Type != KeyRotated {
		return nil, tamper("", NoIndex, "rotation certificate: not a key.rotated event (%v)", err)
	}
	d := ReadKeyRotatedDetails(ev)
	var keys [2]*Trust
	for i, line := range []string{d.Old.Verifier, d.New.Verifier} {
		if keys[i], err = ParseTrustLine(line); err != nil {
			return nil, tamper("", NoIndex, "rotation certificate: %v", err)
		}
	}
	if !t.Trusts(keys[0].Public) && !t.Trusts(keys[1].Public) {
		return nil, tamper("", NoIndex, "rotation certificate: the rotation from %s to %s involves no trusted key", d.Old.KeyID, d.New.KeyID)
	}
	for _, k := range keys {
		if _, _, _, err := VerifyEventProof(encoded, proofText, k.Note); err != nil {
			return nil, tamper("", NoIndex, "rotation certificate: the checkpoint is not signed by both keys, or does not include the event: %s", errWhat(err))
		}
	}
	out := *t
	out.Linked = slices.Clone(t.Linked)
	for _, k := range keys {
		if !out.Trusts(k.Public) {
			out.Linked = append(out.Linked, k)
		}
	}
	return &out, nil
}

func errWhat(err error) string {
	var te *TamperError
	if errors.As(err, &te) {
		return te.What
	}
	return err.Error()
}

// RotationCertificate returns the rotation certificate of rec, a
// key.rotated entry of the log in fsys: the entry and its tlog-proof
// against the first kept checkpoint after it, the one both keys signed.
// It checks no signature: LinkRotation does, for whoever relies on it.
func RotationCertificate(ctx context.Context, fsys fs.FS, rec *Record) ([]byte, error) {
	if rec.Event.Type != KeyRotated {
		return nil, fmt.Errorf("rotation certificate: entry %d is %s, not %s", rec.Index, rec.Event.Type, KeyRotated)
	}
	sizes, err := KeptCheckpointSizes(fsys)
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearch(sizes, rec.Index+1)
	if i == len(sizes) {
		return nil, fmt.Errorf("rotation certificate: no checkpoint covers the key.rotated entry %d yet", rec.Index)
	}
	raw, err := fs.ReadFile(fsys, CheckpointsDir+"/"+strconv.FormatUint(sizes[i], 10))
	if err != nil {
		return nil, fmt.Errorf("rotation certificate of entry %d: %w", rec.Index, err)
	}
	p, err := BuildInclusionProof(ctx, fsys, raw, sizes[i], rec.Index)
	if err != nil {
		return nil, fmt.Errorf("rotation certificate of entry %d: %w", rec.Index, err)
	}
	return FormatRotation(rec.Encoded, p)
}
