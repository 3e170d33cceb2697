package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// MaxBatchItems bounds the records of one batch, so a manifest and a
// record proof stay small enough to read whole.
const MaxBatchItems = 1 << 16

// RecordLeafHash is the leaf hash of a record in its batch's tree: the
// RFC 6962 leaf hash SHA-256(0x00 || record), over the record's canonical
// bytes (a manifest line without its newline).
func RecordLeafHash(record []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(record) }

// RecordTree is the RFC 6962 Merkle tree over a batch's records, in
// manifest order. Its root is what the batch's items.sealed event carries.
type RecordTree struct {
	// levels[0] are the leaf hashes; each level above pairs the one below,
	// an odd last node rising unchanged, which gives RFC 6962's tree.
	levels [][][]byte
}

// NewRecordTree builds the tree over records (canonical record bytes).
func NewRecordTree(records [][]byte) *RecordTree {
	leaves := make([][]byte, len(records))
	for i, r := range records {
		leaves[i] = RecordLeafHash(r)
	}
	t := &RecordTree{levels: [][][]byte{leaves}}
	for cur := leaves; len(cur) > 1; {
		next := make([][]byte, 0, (len(cur)+1)/2)
		for i := 0; i+1 < len(cur); i += 2 {
			next = append(next, rfc6962.DefaultHasher.HashChildren(cur[i], cur[i+1]))
		}
		if len(cur)%2 == 1 {
			next = append(next, cur[len(cur)-1])
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	return t
}

// Size is the number of records.
func (t *RecordTree) Size() uint64 { return uint64(len(t.levels[0])) }

// Root is the tree's root hash; the empty tree's is SHA-256 of nothing.
func (t *RecordTree) Root() []byte {
	top := t.levels[len(t.levels)-1]
	if len(top) == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	return top[0]
}

// Prove returns the inclusion proof (RFC 6962 audit path) of record index.
func (t *RecordTree) Prove(index uint64) ([][]byte, error) {
	if index >= t.Size() {
		return nil, fmt.Errorf("record %d of a batch of %d", index, t.Size())
	}
	var hashes [][]byte
	i := index
	for _, level := range t.levels[:len(t.levels)-1] {
		sib := i ^ 1
		if sib < uint64(len(level)) {
			hashes = append(hashes, level[sib])
		}
		i /= 2
	}
	return hashes, nil
}

// VerifyRecord checks that record is record p.Index of the batch tree of
// p.Size records whose root is root.
func VerifyRecord(record []byte, p *RecordProof, root []byte) error {
	err := mproof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, p.Size, RecordLeafHash(record), p.Hashes, root)
	if err != nil {
		return fmt.Errorf("record %d of batch %d of capture %s: %w", p.Index, p.Batch, p.Capture, err)
	}
	return nil
}

// FormatManifest returns a batch's manifest: its records, one per line,
// each ending in a newline.
func FormatManifest(records [][]byte) []byte {
	var b bytes.Buffer
	for _, r := range records {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ParseManifest reads a manifest: canonical records, one per line, every
// line ending in a newline, none empty. It returns the records' bytes and
// their decoded form.
func ParseManifest(b []byte) ([][]byte, []*ItemRecord, error) {
	if len(b) == 0 {
		return nil, nil, errors.New("manifest: empty")
	}
	if b[len(b)-1] != '\n' {
		return nil, nil, errors.New("manifest: the last line does not end in a newline")
	}
	lines := bytes.Split(b[:len(b)-1], []byte("\n"))
	if len(lines) > MaxBatchItems {
		return nil, nil, fmt.Errorf("manifest: %d records, more than %d", len(lines), MaxBatchItems)
	}
	recs := make([]*ItemRecord, len(lines))
	for i, l := range lines {
		r, err := ParseRecord(l)
		if err != nil {
			return nil, nil, fmt.Errorf("manifest line %d: %w", i+1, err)
		}
		recs[i] = r
	}
	return lines, recs, nil
}

// recordProofHeader starts every record proof: the format, versioned.
const recordProofHeader = "custos.record-proof/v1"

// RecordProof proves one record is in its batch: the batch (its capture
// and number, which name its items.sealed event), the record's index in
// the manifest, the batch's size and the audit path.
type RecordProof struct {
	Capture string
	Batch   int
	Index   uint64
	Size    uint64
	Hashes  [][]byte
}

// FormatRecordProof returns the text of p:
//
//	custos.record-proof/v1
//	capture 01JCAPTURE...
//	batch 3
//	index 17
//	size 1024
//	<base64 hash>   (one line each, leaf to root)
func FormatRecordProof(p *RecordProof) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\ncapture %s\nbatch %d\nindex %d\nsize %d\n", recordProofHeader, p.Capture, p.Batch, p.Index, p.Size)
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func (p *RecordProof) validate() error {
	switch {
	case p.Capture == "" || strings.ContainsAny(p.Capture, " \n"):
		return fmt.Errorf("record proof: capture %q", p.Capture)
	case p.Batch < 1:
		return fmt.Errorf("record proof: batch %d, batches count from 1", p.Batch)
	case p.Size == 0 || p.Size > MaxBatchItems || p.Index >= p.Size:
		return fmt.Errorf("record proof: record %d of a batch of %d", p.Index, p.Size)
	case len(p.Hashes) > 64:
		return fmt.Errorf("record proof: %d hashes", len(p.Hashes))
	}
	for i, h := range p.Hashes {
		if len(h) != sha256.Size {
			return fmt.Errorf("record proof: hash %d is %d bytes, not 32", i, len(h))
		}
	}
	return nil
}

// ParseRecordProof reads a record proof. Only the exact form
// FormatRecordProof writes is accepted.
func ParseRecordProof(b []byte) (*RecordProof, error) {
	if len(b) > 8<<10 {
		return nil, fmt.Errorf("record proof is %d bytes, more than %d", len(b), 8<<10)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 6 || lines[len(lines)-1] != "" || lines[0] != recordProofHeader {
		return nil, fmt.Errorf("record proof: not a %s", recordProofHeader)
	}
	p := &RecordProof{}
	fields := []struct {
		name string
		set  func(string) error
	}{
		{"capture", func(v string) error { p.Capture = v; return nil }},
		{"batch", func(v string) (err error) { p.Batch, err = strconv.Atoi(v); return err }},
		{"index", func(v string) (err error) { p.Index, err = strconv.ParseUint(v, 10, 64); return err }},
		{"size", func(v string) (err error) { p.Size, err = strconv.ParseUint(v, 10, 64); return err }},
	}
	for i, f := range fields {
		v, ok := strings.CutPrefix(lines[1+i], f.name+" ")
		if !ok {
			return nil, fmt.Errorf("record proof: line %d is not %q", i+2, f.name+" ...")
		}
		if err := f.set(v); err != nil {
			return nil, fmt.Errorf("record proof: %s: %w", f.name, err)
		}
	}
	for _, l := range lines[5 : len(lines)-1] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil {
			return nil, fmt.Errorf("record proof: hash %q: %w", l, err)
		}
		p.Hashes = append(p.Hashes, h)
	}
	again, err := FormatRecordProof(p)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, errors.New("record proof: not in canonical form")
	}
	return p, nil
}

// SealedBatch is what an items.sealed event says of its batch: the capture
// and the batch's number in it (from 1), how many items and bytes it
// holds, the SHA-256 of its manifest, the Merkle root over its records
// and the SHA-256 of its signed statement. A recovery batch seals items a
// capture stored and never sealed (its process died).
type SealedBatch struct {
	Capture         string
	Batch           int
	Count           int
	Bytes           int64
	ManifestSHA256  string
	Root            []byte
	StatementSHA256 string
	Stored          string // StoredInStore, or StoredInSpool when the batch waits in the spool
	Recovery        bool
}

// Details returns the event details that record b.
func (b *SealedBatch) Details() map[string]string {
	d := map[string]string{
		"capture": b.Capture, "batch": strconv.Itoa(b.Batch), "count": strconv.Itoa(b.Count),
		"bytes": strconv.FormatInt(b.Bytes, 10), "manifest_sha256": b.ManifestSHA256,
		"root": hex.EncodeToString(b.Root), "statement_sha256": b.StatementSHA256, "stored": b.Stored,
	}
	if b.Recovery {
		d["recovery"] = "true"
	}
	return d
}

// ParseSealedBatch reads the batch an items.sealed event records.
func ParseSealedBatch(e *Event) (*SealedBatch, error) {
	if e.Type != ItemsSealed {
		return nil, fmt.Errorf("%s event is not %s", e.Type, ItemsSealed)
	}
	d := e.Details
	b := &SealedBatch{Capture: d["capture"], ManifestSHA256: d["manifest_sha256"], StatementSHA256: d["statement_sha256"], Stored: d["stored"]}
	var err error
	bad := func(what string) (*SealedBatch, error) {
		return nil, fmt.Errorf("items.sealed event: %s %q", what, d[what])
	}
	if b.Capture == "" {
		return bad("capture")
	}
	if b.Batch, err = strconv.Atoi(d["batch"]); err != nil || b.Batch < 1 || strconv.Itoa(b.Batch) != d["batch"] {
		return bad("batch")
	}
	if b.Count, err = strconv.Atoi(d["count"]); err != nil || b.Count < 1 || b.Count > MaxBatchItems {
		return bad("count")
	}
	if b.Bytes, err = strconv.ParseInt(d["bytes"], 10, 64); err != nil || b.Bytes < 0 {
		return bad("bytes")
	}
	if !isHex(b.ManifestSHA256, 64) {
		return bad("manifest_sha256")
	}
	if !isHex(b.StatementSHA256, 64) {
		return bad("statement_sha256")
	}
	if !isHex(d["root"], 64) {
		return bad("root")
	}
	b.Root, _ = hex.DecodeString(d["root"])
	if b.Stored != StoredInStore && b.Stored != StoredInSpool {
		return bad("stored")
	}
	switch d["recovery"] {
	case "":
	case "true":
		b.Recovery = true
	default:
		return bad("recovery")
	}
	return b, nil
}
