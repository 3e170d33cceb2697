package chain

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"

	"golang.org/x/mod/sumdb/note"
)

// LogKey is one key that signed a log's checkpoints, as VerifyLog found it.
type LogKey struct {
	Verifier string // the note verifier key line the log names
	KeyID    string
	Index    uint64 // the entry naming it: log.opened or key.rotated
	// Trusted: the key given to VerifyLog, or one linked to it by
	// checkpoints signed by both (see the package's rotation rules).
	Trusted bool
}

// Rotation is one key.rotated event as VerifyLog found it.
type Rotation struct {
	Index    uint64 // the entry
	Old, New KeyDetails
	// Checkpoint is the size of the first checkpoint after the event,
	// which both keys must sign; zero if no checkpoint covers it yet.
	Checkpoint uint64
	Confirmed  bool // that checkpoint carries both signatures
}

// keyHistory gathers, during the tree walk, the keys that log.opened and
// key.rotated name, and afterwards checks each checkpoint's signature
// with the key of its time (checkSignatures).
type keyHistory struct {
	keys      []histKey // keys[i] signs after rotations[i-1]
	rotations []Rotation
}

type histKey struct {
	line  string
	v     note.Verifier // nil if line is not a verifier key
	index uint64
}

func (h *keyHistory) add(rep *LogReport, idx uint64, file string, ev *Event) {
	switch ev.Type {
	case LogOpened:
		if len(h.keys) == 0 {
			h.addKey(rep, idx, file, ev.Details["verifier"])
		}
	case KeyRotated:
		d := ReadKeyRotatedDetails(ev)
		switch {
		case len(h.keys) == 0:
			// A verification resumed past log.opened: the event's old
			// key is the key of the entries before it.
			h.addKey(rep, idx, file, d.Old.Verifier)
		case h.keys[len(h.keys)-1].line != d.Old.Verifier:
			rep.problem(tamper(file, int64(idx), "key.rotated names %q as the old key, but the log's key was %q", d.Old.Verifier, h.keys[len(h.keys)-1].line))
		}
		h.addKey(rep, idx, file, d.New.Verifier)
		h.rotations = append(h.rotations, Rotation{Index: idx, Old: d.Old, New: d.New})
	}
}

func (h *keyHistory) addKey(rep *LogReport, idx uint64, file, line string) {
	v, err := NewNoteVerifier(line)
	if err != nil {
		rep.problem(tamper(file, int64(idx), "the event names a key that is not a note verifier key: %v", err))
		v = nil
	}
	h.keys = append(h.keys, histKey{line: line, v: v, index: idx})
}

// epoch returns which key signs a checkpoint of size entries: the one
// named by the last key.rotated among them.
func (h *keyHistory) epoch(size uint64) int {
	e := 0
	for _, r := range h.rotations {
		if r.Index < size {
			e++
		}
	}
	return e
}

// checkSignatures checks the signature of every signed root. Without key
// events (a log older than log.opened, or a verification resumed past
// them) every checkpoint must be signed by v. Otherwise a checkpoint is
// checked with the key of its time; the first checkpoint after each
// key.rotated must be signed by the old and the new key, and only such a
// checkpoint links the two: v's key is trusted, and trust passes along
// each confirmed rotation, forwards and backwards. A checkpoint signed by
// a key that no confirmed rotation links to v's is reported, so an event
// naming a key that no dual-signed checkpoint confirms trusts nothing.
func (h *keyHistory) checkSignatures(rep *LogReport, roots map[uint64][]checkedRoot, v note.Verifier) {
	sizes := make([]uint64, 0, len(roots))
	for s, rs := range roots {
		if slices.ContainsFunc(rs, func(r checkedRoot) bool { return r.raw != nil }) {
			sizes = append(sizes, s)
		}
	}
	slices.Sort(sizes)
	each := func(s uint64, f func(r checkedRoot)) {
		for _, r := range roots[s] {
			if r.raw != nil {
				f(r)
			}
		}
	}
	t := slices.IndexFunc(h.keys, func(k histKey) bool {
		return k.v != nil && k.v.Name() == v.Name() && k.v.KeyHash() == v.KeyHash()
	})
	if t < 0 {
		// No key events read, or v is none of the keys they name: v
		// must have signed every checkpoint, and what it did not sign
		// is reported checkpoint by checkpoint.
		for _, s := range sizes {
			each(s, func(r checkedRoot) { checkSigned(rep, r, v) })
		}
		return
	}
	h.confirm(rep, sizes, each)
	trusted := make([]bool, len(h.keys))
	trusted[t] = true
	for j := t; j < len(h.rotations) && h.rotations[j].Confirmed; j++ {
		trusted[j+1] = true
	}
	for j := t - 1; j >= 0 && h.rotations[j].Confirmed; j-- {
		trusted[j] = true
	}
	for _, s := range sizes {
		e := h.epoch(s)
		if e > 0 && h.rotations[e-1].Checkpoint == s {
			continue // dual-signed: checked by confirm
		}
		k := h.keys[e]
		each(s, func(r checkedRoot) {
			switch {
			case k.v == nil:
				// reported where the key is named
			case !trusted[e]:
				rep.problem(tamper(r.file, NoIndex, "checkpoint of size %d is signed for key %s, named at entry %d, which no checkpoint signed by both keys links to the trusted key", s, k.line, k.index))
			default:
				checkSigned(rep, r, k.v)
			}
		})
	}
	for i, k := range h.keys {
		rep.Keys = append(rep.Keys, LogKey{Verifier: k.line, KeyID: keyIDOf(k.v), Index: k.index, Trusted: trusted[i]})
	}
	rep.Rotations = h.rotations
}

// confirm finds the first checkpoint after each rotation and checks that
// both keys signed it.
func (h *keyHistory) confirm(rep *LogReport, sizes []uint64, each func(uint64, func(checkedRoot))) {
	for j := range h.rotations {
		r := &h.rotations[j]
		i, _ := slices.BinarySearch(sizes, r.Index+1)
		if i == len(sizes) {
			continue // no checkpoint covers the event yet
		}
		r.Checkpoint = sizes[i]
		r.Confirmed = true
		each(r.Checkpoint, func(c checkedRoot) {
			for _, k := range h.keys[j : j+2] {
				if k.v == nil {
					r.Confirmed = false
					continue
				}
				if _, err := ParseCheckpoint(c.raw, k.v); err != nil {
					r.Confirmed = false
					rep.problem(tamper(c.file, NoIndex, "the first checkpoint after the key.rotated event at entry %d (size %d) must be signed by the old and the new key, and is not signed by %s: the rotation is not confirmed (%v)", r.Index, r.Checkpoint, k.line, err))
				}
			}
		})
	}
}

func checkSigned(rep *LogReport, r checkedRoot, v note.Verifier) {
	if _, err := ParseCheckpoint(r.raw, v); err != nil {
		rep.problem(asTamper(withFile(err, r.file)))
	}
}

func keyIDOf(v note.Verifier) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%08x", v.KeyHash())
}

// readKeptUnverified reads checkpoints/<size> without checking its
// signature (see parseUnverified). A checkpoint of another size is
// returned with the *TamperError saying so.
func readKeptUnverified(fsys fs.FS, origin string, size uint64) (*Checkpoint, error) {
	file := CheckpointsDir + "/" + strconv.FormatUint(size, 10)
	raw, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, err
	}
	cp, err := parseUnverified(raw, origin)
	if err != nil {
		return nil, withFile(err, file)
	}
	if cp.Size != size {
		// Returned with the error: its signature is checked all the same.
		return cp, tamper(file, NoIndex, "kept under size %d but signs size %d", size, cp.Size)
	}
	return cp, nil
}
