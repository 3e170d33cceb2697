package chain

import (
	"errors"
	"fmt"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpointSize bounds a signed checkpoint. The log's own are a few
// hundred bytes; each witness's cosignature adds about 100 bytes
// (Ed25519) or 3.3 KB (ML-DSA-44), which ParseWitnessPolicy keeps within
// this bound.
const MaxCheckpointSize = 64 << 10

// Checkpoint is a C2SP tlog-checkpoint whose signature has been verified.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte // RFC 6962 root hash of the first Size entries
	Raw    []byte // the whole signed note as published
}

// ParseCheckpoint verifies the signed note raw with v and parses its body.
// A malformed note, a signature that does not verify, a note not signed by
// v's key and a body that is not a checkpoint of v's log are all reported as
// *TamperError, since each means the checkpoint is not one the key signed.
func ParseCheckpoint(raw []byte, v note.Verifier) (*Checkpoint, error) {
	if len(raw) > MaxCheckpointSize {
		return nil, tamper("", NoIndex, "checkpoint is %d bytes, more than %d", len(raw), MaxCheckpointSize)
	}
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, tamper("", NoIndex, "checkpoint carries no signature by key %s+%08x (signed by %s)", v.Name(), v.KeyHash(), signerList(unverified.Note))
		case errors.As(err, &invalid):
			return nil, tamper("", NoIndex, "checkpoint signature by %s+%08x does not verify", invalid.Name, invalid.Hash)
		default:
			return nil, tamper("", NoIndex, "checkpoint is not a valid signed note: %v", err)
		}
	}
	return checkpointBody(n.Text, v.Name(), raw)
}

// checkpointBody parses the body of a checkpoint of the log named origin.
func checkpointBody(text, origin string, raw []byte) (*Checkpoint, error) {
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal([]byte(text)); err != nil {
		return nil, tamper("", NoIndex, "checkpoint body: %v", err)
	}
	if cp.Origin != origin {
		return nil, tamper("", NoIndex, "checkpoint origin %q is not the key's log %q", cp.Origin, origin)
	}
	if len(cp.Hash) != 32 {
		return nil, tamper("", NoIndex, "checkpoint root hash is %d bytes, not 32", len(cp.Hash))
	}
	return &Checkpoint{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash, Raw: raw}, nil
}

// parseUnverified parses the signed note raw as a checkpoint of the log
// named origin without checking any signature: the caller checks them
// once it knows which keys must have signed (see keyHistory).
func parseUnverified(raw []byte, origin string) (*Checkpoint, error) {
	if len(raw) > MaxCheckpointSize {
		return nil, tamper("", NoIndex, "checkpoint is %d bytes, more than %d", len(raw), MaxCheckpointSize)
	}
	_, err := note.Open(raw, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, tamper("", NoIndex, "checkpoint is not a valid signed note: %v", err)
	}
	return checkpointBody(unverified.Note.Text, origin, raw)
}

func signerList(n *note.Note) string {
	if n == nil || len(n.UnverifiedSigs) == 0 {
		return "no one"
	}
	s := ""
	for i, sig := range n.UnverifiedSigs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s+%08x", sig.Name, sig.Hash)
	}
	return s
}

// withFile returns err with its TamperError, if any, naming file.
func withFile(err error, file string) error {
	var te *TamperError
	if errors.As(err, &te) && te.File == "" {
		c := *te
		c.File = file
		return &c
	}
	return err
}
