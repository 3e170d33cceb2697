package disclosure

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
)

// eventLine is one line of custody/events.jsonl: {"index":N,"event":E}.
type eventLine struct {
	line    int // 1-based line number
	index   uint64
	encoded []byte       // E, byte for byte: the log entry
	ev      *chain.Event // nil when E is not a canonical event

	// The details the checks read, when ev is set.
	order      chain.OrderDetails
	orderErr   error
	capture    chain.CaptureDetails
	captureErr error
}

// what returns the finding of err without TamperError's prefix.
func what(err error) string {
	var te *chain.TamperError
	if errors.As(err, &te) {
		return te.What
	}
	return err.Error()
}

// noteVerifier returns the verifier of the key that signed the package's
// checkpoint: once checkCheckpoint found it, that key; before, the
// trusted key.
func (v *pkgVerifier) noteVerifier() (note.Verifier, *chain.Key, error) {
	if v.cpVerifier != nil {
		return v.cpVerifier, v.cpKey, nil
	}
	return v.trust.NoteVerifier(v.origin())
}

func (v *pkgVerifier) origin() string {
	origin := ""
	if t := v.tags[pkgCheckpoint]; t != nil {
		origin, _, _ = strings.Cut(string(t.data), "\n")
	}
	return origin
}

// checkCheckpoint checks the checkpoint's signature with the trusted key,
// or with a key a rotation certificate links to it (chain.LinkRotation).
func (v *pkgVerifier) checkCheckpoint() {
	c := v.c[CheckCheckpoint]
	nv, k, err := v.noteVerifier()
	if k != nil {
		v.rep.Key = k.Verifier
	}
	raw, ok := v.content(c, pkgCheckpoint)
	if !ok {
		return
	}
	if err != nil {
		c.fail(pkgCheckpoint, noIndex, "%v", err)
		return
	}
	cp, err := chain.ParseCheckpoint(raw, nv)
	linked := ""
	for _, t := range v.trust.Linked {
		if err == nil {
			break
		}
		lnv, lk, lerr := t.NoteVerifier(v.origin())
		if lerr != nil {
			continue
		}
		if lcp, perr := chain.ParseCheckpoint(raw, lnv); perr == nil {
			cp, err, nv, k, linked = lcp, nil, lnv, lk, ", linked to the trusted key by a key rotation"
		}
	}
	if err != nil {
		c.fail(pkgCheckpoint, noIndex, "%s", what(err))
		return
	}
	v.cp, v.cpVerifier, v.cpKey = cp, nv, k
	v.rep.Origin, v.rep.CheckpointSize, v.rep.CheckpointHash = cp.Origin, cp.Size, cp.Hash
	c.Summary = fmt.Sprintf("log %s, size %d, signed by the trusted %s key %s%s", cp.Origin, cp.Size, k.Type, k.KeyID(), linked)
}

// holdsRotations reports whether anything is under custody/keys/rotations.
func (v *pkgVerifier) holdsRotations() bool {
	return slices.ContainsFunc(v.tagPaths, func(p string) bool { return path.Dir(p) == pkgRotationsDir })
}

// linkRotations extends the trusted key with the keys the package's
// rotation certificates link to it (chain.LinkRotation), in as many passes
// as the chain of rotations needs. A certificate that links no trusted key
// in the end fails the keys check: the package's key history was altered,
// or names keys the verifier does not trust.
func (v *pkgVerifier) linkRotations() {
	c := v.c[CheckKeys]
	pending := map[string][]byte{}
	for _, p := range v.tagPaths {
		if path.Dir(p) == pkgRotationsDir {
			if b, ok := v.content(c, p); ok {
				pending[p] = b
			}
		}
	}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		for _, p := range slices.Sorted(maps.Keys(pending)) {
			if linked, err := chain.LinkRotation(v.trust, pending[p]); err == nil {
				v.trust, progress = linked, true
				delete(pending, p)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(pending)) {
		_, err := chain.LinkRotation(v.trust, pending[p])
		c.fail(p, noIndex, "links no trusted key: %s", what(err))
	}
}

// checkKeys checks that custody/keys names the trusted key. The verifier
// never uses those files; one naming another key is a package whose
// information was changed.
func (v *pkgVerifier) checkKeys() {
	c := v.c[CheckKeys]
	if b, ok := v.content(c, pkgVKey); ok {
		t, err := chain.ParseTrustLine(string(b))
		switch {
		case err != nil:
			c.fail(pkgVKey, noIndex, "not a note verifier line: %v", err)
		case !v.trust.Trusts(t.Public):
			c.fail(pkgVKey, noIndex, "names another key than the trusted one")
		case v.cp != nil && t.Note.Name() != v.cp.Origin:
			c.fail(pkgVKey, noIndex, "names the log %q, the checkpoint's is %q", t.Note.Name(), v.cp.Origin)
		}
	}
	if b, ok := v.content(c, pkgPubKey); ok {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
		switch {
		case err != nil:
			c.fail(pkgPubKey, noIndex, "read public key PEM: %v", err)
		case !v.trust.Trusts(pub):
			c.fail(pkgPubKey, noIndex, "is another key than the trusted one")
		}
	}
}

// parseOrderRecord reads order.json's fields; checkOrderRecord reports.
func (v *pkgVerifier) parseOrderRecord() {
	t := v.tags[pkgOrder]
	if t == nil || t.data == nil {
		return
	}
	r, err := parseOrderRecord(t.data)
	v.recordErr = err
	if err == nil {
		v.record = r
		if chain.ValidateOrderID(r.ID) == nil {
			v.order = r.ID
		}
	}
}

// parseEventLine splits a line of events.jsonl, exactly as the builder
// writes it: {"index":N,"event":E}.
func parseEventLine(text string) (uint64, []byte, error) {
	const form = `not {"index":N,"event":E}`
	rest, ok := strings.CutPrefix(text, `{"index":`)
	num, ev, ok2 := strings.Cut(rest, `,"event":`)
	ev, ok3 := strings.CutSuffix(ev, "}")
	if !ok || !ok2 || !ok3 {
		return 0, nil, errors.New(form)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != num {
		return 0, nil, fmt.Errorf("%s: index %.30q is not a number", form, num)
	}
	return n, []byte(ev), nil
}

func (v *pkgVerifier) checkEvents() {
	c := v.c[CheckEvents]
	b, ok := v.content(c, pkgEvents)
	if !ok {
		return
	}
	if len(b) == 0 {
		c.fail(pkgEvents, noIndex, "holds no event")
		return
	}
	if b[len(b)-1] != '\n' {
		c.fail(pkgEvents, noIndex, "the last line does not end with a line feed")
	}
	texts := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, text := range texts {
		idx, enc, err := parseEventLine(text)
		if err != nil {
			c.fail(pkgEvents, noIndex, "line %d: %v", i+1, err)
			continue
		}
		l := eventLine{line: i + 1, index: idx, encoded: enc}
		if l.ev, err = chain.ParseEvent(enc); err != nil {
			c.fail(pkgEvents, int64(idx), "line %d: not a canonical custody event: %v", i+1, err)
		} else {
			l.order, l.orderErr = chain.ReadOrderDetails(l.ev)
			l.capture, l.captureErr = chain.ReadCaptureDetails(l.ev)
		}
		v.lines = append(v.lines, l)
	}
	for _, l := range v.lines {
		if v.order == "" && l.ev != nil {
			v.order = l.ev.Order
		}
	}
	v.rep.Order = v.order
	for i, l := range v.lines {
		if l.ev != nil && l.ev.Order != v.order {
			c.fail(pkgEvents, int64(l.index), "line %d: an event of order %q, not of the package's order %s", l.line, l.ev.Order, v.order)
		}
		if i > 0 && l.index <= v.lines[i-1].index {
			c.fail(pkgEvents, int64(l.index), "line %d: index %d does not follow %d: the events are not in log order", l.line, l.index, v.lines[i-1].index)
		}
		if v.cp != nil && l.index >= v.cp.Size {
			c.fail(pkgEvents, int64(l.index), "line %d: beyond the checkpoint's tree of size %d", l.line, v.cp.Size)
		}
	}
	c.Summary = fmt.Sprintf("%d canonical events of order %s, in log order", len(texts), v.order)
}

func (v *pkgVerifier) checkProofs() {
	c := v.c[CheckProofs]
	if v.cp == nil {
		c.fail(pkgCheckpoint, noIndex, "inclusion not checked: the checkpoint does not verify with the trusted key")
	}
	nv, _, _ := v.noteVerifier()
	lineIdx := map[uint64]bool{}
	for _, l := range v.lines {
		lineIdx[l.index] = true
		p, ok := v.proofPaths[l.index]
		if !ok {
			c.fail(proofPath(l.index), int64(l.index), "missing: every event has its proof")
			continue
		}
		if v.cp == nil {
			continue
		}
		raw, ok := v.content(c, p)
		if !ok {
			continue
		}
		if err := v.verifyProof(raw, l, nv); err != nil {
			c.fail(p, int64(l.index), "%s", what(err))
			continue
		}
		v.proven[l.index] = true
	}
	extra := make([]uint64, 0, len(v.proofPaths))
	for idx := range v.proofPaths {
		if !lineIdx[idx] {
			extra = append(extra, idx)
		}
	}
	slices.Sort(extra)
	for _, idx := range extra {
		c.fail(v.proofPaths[idx], int64(idx), "no line of events.jsonl has this index: a proof without its event")
	}
	for _, l := range v.lines {
		if l.ev != nil {
			v.rep.Events = append(v.rep.Events, ReportEvent{Index: l.index, Event: l.ev, Raw: l.encoded, Proven: v.proven[l.index]})
		}
	}
	if v.cp != nil {
		c.Summary = fmt.Sprintf("%d events proven to be entries of the log the checkpoint signs (size %d)", len(v.proven), v.cp.Size)
	}
}

// verifyProof checks that the tlog-proof raw proves l's event against the
// package's checkpoint.
func (v *pkgVerifier) verifyProof(raw []byte, l eventLine, nv note.Verifier) error {
	p, err := chain.ParseProof(raw)
	if err != nil {
		return err
	}
	if p.Index != l.index {
		return fmt.Errorf("the proof is of entry %d, not of event %d: a proof of another event", p.Index, l.index)
	}
	if !bytes.Equal(p.Checkpoint, v.cp.Raw) {
		pcp, err := chain.ParseCheckpoint(p.Checkpoint, nv)
		switch {
		case err != nil:
			return fmt.Errorf("the proof's checkpoint: %s", what(err))
		case pcp.Size != v.cp.Size || !bytes.Equal(pcp.Hash, v.cp.Hash):
			return fmt.Errorf("the proof is against the tree of size %d, not the checkpoint's tree of size %d", pcp.Size, v.cp.Size)
		default:
			return errors.New("the proof embeds another signed note than custody/checkpoint")
		}
	}
	if chain.VerifyInclusion(v.cp, l.index, l.encoded, p.Hashes) != nil {
		return fmt.Errorf("the event is not the log's entry %d: its inclusion proof does not lead to the checkpoint's root", l.index)
	}
	return nil
}

func (v *pkgVerifier) checkChain() {
	c := v.c[CheckChain]
	if len(v.lines) == 0 {
		c.fail(pkgEvents, noIndex, "no events to follow")
		return
	}
	for i, l := range v.lines {
		if l.ev == nil {
			continue // the events check names it
		}
		if i == 0 {
			if l.ev.Type != chain.OrderReceived {
				c.fail(pkgEvents, int64(l.index), "the first event is %s, not order.received", l.ev.Type)
			}
			if l.ev.Prev != "" {
				c.fail(pkgEvents, int64(l.index), "the first event links to an earlier event %d: the order's first events were left out", *l.ev.PrevIndex)
			}
			continue
		}
		prev := v.lines[i-1]
		want := chain.EventHash(prev.encoded)
		switch {
		case l.ev.Prev == "":
			c.fail(pkgEvents, int64(l.index), "does not link to the event before it (%d)", prev.index)
		case l.ev.Prev != want:
			c.fail(pkgEvents, int64(l.index), "links to event %d (%s), but the line before is event %d (%s): events were removed, altered or reordered",
				*l.ev.PrevIndex, l.ev.Prev, prev.index, want)
		case *l.ev.PrevIndex != prev.index:
			c.fail(pkgEvents, int64(l.index), "links to index %d, but the line before is event %d", *l.ev.PrevIndex, prev.index)
		}
	}
	if !c.failed() {
		c.Summary = fmt.Sprintf("%d events, each naming the one before it; the first is order.received", len(v.lines))
	}
}

// newestOrderEvent is the last event naming the order's record and status.
func (v *pkgVerifier) newestOrderEvent() *eventLine {
	for i := len(v.lines) - 1; i >= 0; i-- {
		if l := &v.lines[i]; l.ev != nil && l.order.OrderSHA256 != "" {
			return l
		}
	}
	return nil
}

func (v *pkgVerifier) checkOrderRecord() {
	c := v.c[CheckOrderRecord]
	b, ok := v.content(c, pkgOrder)
	if !ok {
		return
	}
	newest := v.newestOrderEvent()
	if newest == nil {
		c.fail(pkgEvents, noIndex, "no event names the order's record (order_sha256)")
	} else if sum := newest.order.OrderSHA256; chain.EventHash(b) != sum {
		c.fail(pkgOrder, int64(newest.index), "SHA-256 of order.json is %s, the order's newest order event names %s", chain.EventHash(b), sum)
	}
	switch {
	case v.record == nil && v.recordErr != nil:
		c.fail(pkgOrder, noIndex, "not a JSON order record: %v", v.recordErr)
	case v.record == nil:
		c.fail(pkgOrder, noIndex, "not a JSON order record")
	case v.record.ID != v.order:
		c.fail(pkgOrder, noIndex, "the record of order %q, the events are of order %s", v.record.ID, v.order)
	}
	if !c.failed() {
		c.Summary = fmt.Sprintf("order.json is the record of order %s named by event %d", v.order, newest.index)
	}
}
