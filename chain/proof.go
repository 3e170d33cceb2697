package chain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/transparency-dev/formats/proof"
	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// MaxProofSize bounds a tlog-proof file: 64 hashes and a checkpoint.
const MaxProofSize = MaxCheckpointSize + 16<<10

// Proof is a C2SP tlog-proof (c2sp.org/tlog-proof@v1): the index of one
// entry, its inclusion proof and the signed checkpoint it proves against.
type Proof struct {
	Index      uint64
	Hashes     [][]byte
	Checkpoint []byte
}

// FormatProof returns the tlog-proof text of p.
func FormatProof(p *Proof) ([]byte, error) {
	t := proof.TLogProof{Index: p.Index, Checkpoint: p.Checkpoint}
	for i, h := range p.Hashes {
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("proof hash %d is %d bytes, not 32", i, len(h))
		}
		t.Hashes = append(t.Hashes, [sha256.Size]byte(h))
	}
	return t.Marshal(), nil
}

// ParseProof reads a tlog-proof. Only the exact form FormatProof writes is
// accepted; the checkpoint inside is not verified here.
func ParseProof(b []byte) (*Proof, error) {
	if len(b) > MaxProofSize {
		return nil, fmt.Errorf("tlog-proof is %d bytes, more than %d", len(b), MaxProofSize)
	}
	var t proof.TLogProof
	if err := t.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("tlog-proof: %w", err)
	}
	if t.ExtraData != nil {
		return nil, errors.New("tlog-proof: unexpected extra data")
	}
	if len(t.Hashes) > 64 {
		return nil, fmt.Errorf("tlog-proof: %d hashes, a proof never needs more than 64", len(t.Hashes))
	}
	if !bytes.Equal(t.Marshal(), b) {
		return nil, errors.New("tlog-proof: not in canonical form")
	}
	p := &Proof{Index: t.Index, Checkpoint: t.Checkpoint}
	for _, h := range t.Hashes {
		p.Hashes = append(p.Hashes, bytes.Clone(h[:]))
	}
	return p, nil
}

// LeafHash is the RFC 6962 leaf hash of an encoded event.
func LeafHash(encoded []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(encoded)
}

// VerifyEventProof checks, offline, that the encoded event is the entry at
// the proof's index in the log whose checkpoint the proof carries, and that
// the checkpoint is signed by v. It returns the parsed event and checkpoint.
// Every failure is a *TamperError.
func VerifyEventProof(encoded, proofText []byte, v note.Verifier) (*Event, *Proof, *Checkpoint, error) {
	ev, err := ParseEvent(encoded)
	if err != nil {
		return nil, nil, nil, tamper("", NoIndex, "event: %v", err)
	}
	p, err := ParseProof(proofText)
	if err != nil {
		return nil, nil, nil, tamper("", NoIndex, "%v", err)
	}
	cp, err := ParseCheckpoint(p.Checkpoint, v)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := VerifyInclusion(cp, p.Index, encoded, p.Hashes); err != nil {
		return nil, nil, nil, err
	}
	return ev, p, cp, nil
}

// VerifyEvent is VerifyEventProof against a checkpoint given apart from
// the proof, as a disclosure package carries one checkpoint for all its
// events: the proof must be against that very tree (same size and root).
func VerifyEvent(encoded, proofText, checkpoint []byte, v note.Verifier) (*Event, *Proof, error) {
	cp, err := ParseCheckpoint(checkpoint, v)
	if err != nil {
		return nil, nil, err
	}
	ev, p, pcp, err := VerifyEventProof(encoded, proofText, v)
	if err != nil {
		return nil, nil, err
	}
	if pcp.Size != cp.Size || !bytes.Equal(pcp.Hash, cp.Hash) {
		return nil, nil, tamper("", int64(p.Index), "proof is against the tree of size %d, not the checkpoint's tree of size %d", pcp.Size, cp.Size)
	}
	return ev, p, nil
}

// VerifyInclusion checks that encoded is entry index of the tree cp signs.
func VerifyInclusion(cp *Checkpoint, index uint64, encoded []byte, hashes [][]byte) error {
	if index >= cp.Size {
		return tamper("", int64(index), "index is outside the checkpoint's tree of size %d", cp.Size)
	}
	if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, LeafHash(encoded), hashes, cp.Hash); err != nil {
		return tamper("", int64(index), "inclusion proof does not lead to the root of checkpoint %d: %v", cp.Size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of newer extends the tree of older.
func VerifyConsistency(older, newer *Checkpoint, hashes [][]byte) error {
	if older.Size > newer.Size {
		return tamper("", NoIndex, "checkpoint of size %d is newer than the one of size %d", older.Size, newer.Size)
	}
	if err := mproof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, hashes, older.Hash, newer.Hash); err != nil {
		return tamper("", NoIndex, "log of size %d does not extend the log of size %d: %v", newer.Size, older.Size, err)
	}
	return nil
}

// BuildInclusionProof proves entry index against the signed checkpoint
// cpRaw, reading tiles from a log directory fsys (tlog-tiles layout).
func BuildInclusionProof(ctx context.Context, fsys fs.FS, cpRaw []byte, size, index uint64) (*Proof, error) {
	if index >= size {
		return nil, fmt.Errorf("entry %d is not covered by the checkpoint of size %d", index, size)
	}
	pb, err := client.NewProofBuilder(ctx, size, TileFetcher(fsys))
	if err != nil {
		return nil, err
	}
	hashes, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof for entry %d: %w", index, err)
	}
	return &Proof{Index: index, Hashes: hashes, Checkpoint: cpRaw}, nil
}

// BuildConsistencyProof proves that the tree of size larger extends the tree
// of size smaller, reading tiles from fsys.
func BuildConsistencyProof(ctx context.Context, fsys fs.FS, smaller, larger uint64) ([][]byte, error) {
	pb, err := client.NewProofBuilder(ctx, larger, TileFetcher(fsys))
	if err != nil {
		return nil, err
	}
	hashes, err := pb.ConsistencyProof(ctx, smaller, larger)
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d to %d: %w", smaller, larger, err)
	}
	return hashes, nil
}

// TileFetcher reads hash tiles from a log directory, falling back to the full
// tile when a partial one has been replaced by it.
func TileFetcher(fsys fs.FS) client.TileFetcherFunc {
	return func(_ context.Context, level, index uint64, p uint8) ([]byte, error) {
		b, _, _, err := readExact(fsys, p, func(p uint8) string { return layout.TilePath(level, index, p) })
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", layout.TilePath(level, index, p), os.ErrNotExist)
		}
		return b, err
	}
}
