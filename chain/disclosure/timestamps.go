package disclosure

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
)

// Timestamp is an RFC 3161 token over one of the log's kept checkpoints,
// with what ties that checkpoint to the package's: the package carries
// custody/timestamps/<size>.<tsa>.tsr (the token, a DER TimeStampResp
// over the exact bytes of the checkpoint of that size), <size>.checkpoint
// (that checkpoint, signed by the log's key) and <size>.consistency (the
// consistency proof from it to custody/checkpoint). An event that the
// package proves in custody/checkpoint, with an index below Size, was in
// the log no later than the token's genTime.
type Timestamp struct {
	TSA         string   // the authority's configured name
	Size        uint64   // the checkpoint it covers
	Token       []byte   // the DER TimeStampResp
	Checkpoint  []byte   // the kept checkpoint of Size, as signed
	Consistency [][]byte // from Size to the package's checkpoint; none when equal
}

// The time roles a package proves, in ReportTime.
const (
	roleReceived = "received"
	roleSealed   = "sealed"
	roleDisclose = "disclosed"
)

const (
	tsSuffix          = ".tsr"
	tsCheckpointSufx  = ".checkpoint"
	tsConsistencySufx = ".consistency"
)

// statementPrefix starts the name of a token over the package's signed
// statement: custody/timestamps/attestation.<tsa>.tsr.
const statementPrefix = "attestation."

// StatementTokenFile is where a package carries the token of authority
// tsa over its signed statement, relative to the package's root.
func StatementTokenFile(tsa string) string {
	return pkgTimestampsDir + "/" + statementPrefix + tsa + tsSuffix
}

// statementTokenName reads attestation.<tsa>.tsr, a name under
// custody/timestamps.
func statementTokenName(name string) (tsa string, ok bool) {
	base, ok1 := strings.CutSuffix(name, tsSuffix)
	tsa, ok2 := strings.CutPrefix(base, statementPrefix)
	return tsa, ok1 && ok2 && chain.CheckTSAName(tsa) == nil
}

func timestampTokenPath(size uint64, tsa string) string {
	return pkgTimestampsDir + "/" + strconv.FormatUint(size, 10) + "." + tsa + tsSuffix
}

func timestampCheckpointPath(size uint64) string {
	return pkgTimestampsDir + "/" + strconv.FormatUint(size, 10) + tsCheckpointSufx
}

func timestampConsistencyPath(size uint64) string {
	return pkgTimestampsDir + "/" + strconv.FormatUint(size, 10) + tsConsistencySufx
}

// parseTimestampName reads a name under custody/timestamps: the size, the
// authority (for a token) and which of the three files it is.
func parseTimestampName(name string) (size uint64, tsa, suffix string, ok bool) {
	for _, suf := range []string{tsSuffix, tsCheckpointSufx, tsConsistencySufx} {
		base, found := strings.CutSuffix(name, suf)
		if !found {
			continue
		}
		sz, rest, hasTSA := strings.Cut(base, ".")
		if hasTSA != (suf == tsSuffix) || (hasTSA && chain.CheckTSAName(rest) != nil) {
			return 0, "", "", false
		}
		n, err := strconv.ParseUint(sz, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != sz {
			return 0, "", "", false
		}
		return n, rest, suf, true
	}
	return 0, "", "", false
}

// formatConsistency is a consistency proof as the package holds it: a
// versioned first line, then one base64 hash a line.
func formatConsistency(hashes [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("custos consistency proof v1\n")
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func parseConsistency(b []byte) ([][]byte, error) {
	first, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || string(first) != "custos consistency proof v1" {
		return nil, errors.New("not a consistency proof (custos consistency proof v1)")
	}
	var out [][]byte
	for _, line := range strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n") {
		if line == "" && len(rest) == 0 {
			break
		}
		h, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("line %q is not a base64 SHA-256 hash", line)
		}
		out = append(out, h)
	}
	return out, nil
}

// timestamps writes the tokens and what ties them to the checkpoint.
func (b *bagBuilder) timestamps(ts []Timestamp) error {
	done := map[uint64]bool{}
	for _, t := range ts {
		if err := b.put(timestampTokenPath(t.Size, t.TSA), t.Token); err != nil {
			return err
		}
		if done[t.Size] {
			continue
		}
		done[t.Size] = true
		if err := b.put(timestampCheckpointPath(t.Size), t.Checkpoint); err != nil {
			return err
		}
		if err := b.put(timestampConsistencyPath(t.Size), formatConsistency(t.Consistency)); err != nil {
			return err
		}
	}
	return nil
}

// ReportTimestamp is one token of the package as checked.
type ReportTimestamp struct {
	File      string `json:"file"`
	TSA       string `json:"tsa"`                 // the name the provider gave the authority
	Authority string `json:"authority,omitempty"` // the subject of the certificate that signed the token
	Size      uint64 `json:"size"`                // the checkpoint it covers; 0 for a token over the statement
	// Covers is the file whose exact bytes the token covers: the
	// checkpoint of Size, or custody/attestation.dsse.json.
	Covers  string    `json:"covers"`
	GenTime time.Time `json:"gen_time,omitzero"` // what the token says, once its signature and digest check
	// Trusted says its authority chains to the verifier's TSA roots at
	// GenTime; false without roots, or when it does not (Problem says why).
	Trusted bool   `json:"trusted"`
	Problem string `json:"problem,omitempty"`
}

// ReportTime is what the package proves about time, from trusted tokens
// only. Checked is false when the verifier gave no TSA roots: then no
// time is claimed.
type ReportTime struct {
	Checked     bool       `json:"checked"`
	Received    *TimeClaim `json:"received,omitempty"`     // the order's receipt (order.received)
	FirstSealed *TimeClaim `json:"first_sealed,omitempty"` // its first sealed items (items.sealed or item.preserved)
	// Disclosed is this package's disclosure: its signed statement
	// existed no later than the earliest trusted token over it.
	Disclosed *StatementClaim `json:"disclosed,omitempty"`
	// EarlierDisclosure is the first disclosure.created the package
	// holds: an earlier package of the order, not this one.
	EarlierDisclosure *TimeClaim `json:"earlier_disclosure,omitempty"`
	// SealedAfterSeconds is FirstSealed's time less Received's, when both are known.
	SealedAfterSeconds *int64 `json:"sealed_after_seconds,omitempty"`
}

// TimeClaim is "the event at Index was in the log no later than
// NoLaterThan", by the token of TSA over the checkpoint of Size.
type TimeClaim struct {
	Index       uint64    `json:"index"`
	NoLaterThan time.Time `json:"no_later_than"`
	TSA         string    `json:"tsa"`
	Authority   string    `json:"authority,omitempty"`
	Size        uint64    `json:"size"`
}

// StatementClaim is "the package's signed statement existed no later
// than NoLaterThan", by the token in File of TSA: the package was made
// by then, since the statement names its payload, order, events and
// checkpoint.
type StatementClaim struct {
	File        string    `json:"file"`
	NoLaterThan time.Time `json:"no_later_than"`
	TSA         string    `json:"tsa"`
	Authority   string    `json:"authority,omitempty"`
}

// holdsTimestamps reports whether anything is under custody/timestamps.
func (v *pkgVerifier) holdsTimestamps() bool {
	return slices.ContainsFunc(v.tagPaths, func(p string) bool { return path.Dir(p) == pkgTimestampsDir })
}

// checkTimestamps checks each token: its checkpoint is signed by the
// trusted key, consistent with the package's checkpoint, and the token
// covers its exact bytes with a valid signature (else tampering); with
// TSA roots, that its authority chains to them at its genTime (else it is
// listed as not trusted, which is no tampering). It then states, from the
// trusted tokens only, when the order was received, first sealed and
// disclosed at the latest.
func (v *pkgVerifier) checkTimestamps() {
	c := v.c[CheckTimestamps]
	v.rep.Timestamps = []ReportTimestamp{}
	v.rep.Time = &ReportTime{Checked: v.opts.TSARoots != nil}
	if v.cp == nil {
		return
	}
	nv, _, err := v.noteVerifier()
	if err != nil {
		return
	}
	var trusted []ReportTimestamp
	checked := map[uint64]bool{}
	for _, p := range v.tagPaths {
		if path.Dir(p) != pkgTimestampsDir {
			continue
		}
		var rt ReportTimestamp
		var covered []byte
		ok := false
		if tsa, isStmt := statementTokenName(path.Base(p)); isStmt {
			rt = ReportTimestamp{File: p, TSA: tsa, Covers: pkgAttestation}
			covered, ok = v.content(c, pkgAttestation)
		} else {
			size, tsa, suf, isToken := parseTimestampName(path.Base(p))
			if !isToken || suf != tsSuffix {
				continue
			}
			rt = ReportTimestamp{File: p, TSA: tsa, Size: size, Covers: timestampCheckpointPath(size)}
			covered, ok = v.tiedCheckpoint(c, size, nv, checked)
		}
		if ok {
			v.checkToken(c, &rt, covered)
		}
		v.rep.Timestamps = append(v.rep.Timestamps, rt)
		if rt.Trusted {
			trusted = append(trusted, rt)
		}
	}
	v.claimTimes(trusted)
	if c.failed() {
		return
	}
	stmt := 0
	for _, t := range v.rep.Timestamps {
		if t.Covers == pkgAttestation {
			stmt++
		}
	}
	c.Summary = fmt.Sprintf("%s, each over a checkpoint signed by the trusted key and consistent with the package's", plural(len(v.rep.Timestamps)-stmt, "timestamp token"))
	if stmt > 0 {
		c.Summary += fmt.Sprintf("; %s over the package's signed statement", plural(stmt, "timestamp token"))
	}
}

// tiedCheckpoint returns the bytes of the checkpoint of size the package
// carries, once it verifies with nv and is proven consistent with the
// package's checkpoint.
func (v *pkgVerifier) tiedCheckpoint(c *Check, size uint64, nv note.Verifier, checked map[uint64]bool) ([]byte, bool) {
	cpFile, prFile := timestampCheckpointPath(size), timestampConsistencyPath(size)
	raw, ok1 := v.content(c, cpFile)
	proof, ok2 := v.content(c, prFile)
	if !ok1 || !ok2 {
		return nil, false
	}
	if checked[size] {
		return raw, true
	}
	cp, err := chain.ParseCheckpoint(raw, nv)
	switch {
	case err != nil:
		c.fail(cpFile, noIndex, "%s", what(err))
		return nil, false
	case cp.Size != size:
		c.fail(cpFile, noIndex, "named for size %d but signs size %d", size, cp.Size)
		return nil, false
	case cp.Size > v.cp.Size:
		c.fail(cpFile, noIndex, "size %d is beyond the package's checkpoint (%d)", cp.Size, v.cp.Size)
		return nil, false
	}
	hashes, err := parseConsistency(proof)
	if err == nil {
		err = chain.VerifyConsistency(cp, v.cp, hashes)
	}
	if err != nil {
		c.fail(prFile, noIndex, "the checkpoint of size %d is not proven consistent with the package's: %s", size, what(err))
		return nil, false
	}
	checked[size] = true
	return raw, true
}

// checkToken checks one token over covered (a checkpoint, or the
// statement) and fills rt.
func (v *pkgVerifier) checkToken(c *Check, rt *ReportTimestamp, covered []byte) {
	tok, ok := v.content(c, rt.File)
	if !ok {
		return
	}
	var ts *chain.Timestamp
	var err error
	if v.opts.TSARoots != nil {
		ts, err = chain.VerifyTimestamp(rt.File, tok, covered, v.opts.TSARoots, v.opts.TSAIntermediates)
	} else {
		ts, err = chain.ParseTimestamp(rt.File, tok, covered)
	}
	if ts != nil {
		rt.GenTime = ts.GenTime.UTC()
		if ts.Signer != nil {
			rt.Authority = ts.Signer.Subject.String()
		}
	}
	switch {
	case errors.Is(err, chain.ErrTamper):
		c.fail(rt.File, noIndex, "%s", what(err))
		rt.Problem = what(err)
	case err != nil:
		rt.Problem = "its authority does not chain to the TSA roots given: " + strings.TrimPrefix(err.Error(), rt.File+": "+chain.ErrUntrustedTimestamp.Error()+": ")
	case v.opts.TSARoots != nil:
		rt.Trusted = true
	}
}

// claimTimes fills the report's time claims from the trusted tokens: for
// each role, the earliest genTime of a token over a checkpoint that
// includes the role's first event; for this package's disclosure, the
// earliest of a token over its statement.
func (v *pkgVerifier) claimTimes(trusted []ReportTimestamp) {
	first := map[string]*uint64{}
	for i := range v.lines {
		l := &v.lines[i]
		if l.ev == nil || !v.proven[l.index] {
			continue
		}
		role := ""
		switch l.ev.Type {
		case chain.OrderReceived:
			role = roleReceived
		case chain.ItemsSealed, chain.ItemPreserved:
			role = roleSealed
		case chain.DisclosureCreated:
			role = roleDisclose
		}
		if role != "" && first[role] == nil {
			idx := l.index
			first[role] = &idx
		}
	}
	claim := func(role string) *TimeClaim {
		idx := first[role]
		if idx == nil {
			return nil
		}
		var best *TimeClaim
		for _, t := range trusted {
			if t.Covers == pkgAttestation {
				continue
			}
			if t.Size > *idx && (best == nil || t.GenTime.Before(best.NoLaterThan)) {
				best = &TimeClaim{Index: *idx, NoLaterThan: t.GenTime, TSA: t.TSA, Authority: t.Authority, Size: t.Size}
			}
		}
		return best
	}
	rt := v.rep.Time
	rt.Received, rt.FirstSealed, rt.EarlierDisclosure = claim(roleReceived), claim(roleSealed), claim(roleDisclose)
	for _, t := range trusted {
		if t.Covers == pkgAttestation && (rt.Disclosed == nil || t.GenTime.Before(rt.Disclosed.NoLaterThan)) {
			rt.Disclosed = &StatementClaim{File: t.File, NoLaterThan: t.GenTime, TSA: t.TSA, Authority: t.Authority}
		}
	}
	if rt.Received != nil && rt.FirstSealed != nil {
		d := int64(rt.FirstSealed.NoLaterThan.Sub(rt.Received.NoLaterThan) / time.Second)
		rt.SealedAfterSeconds = &d
	}
}

// VerifyOptions are what a verifier may add to the provider's key.
type VerifyOptions struct {
	// TSARoots are the timestamp authorities' root certificates the
	// verifier trusts; nil: tokens are checked for integrity only, and no
	// time is claimed.
	TSARoots []*x509.Certificate
	// TSAIntermediates are certificates a token's authority may chain
	// through to TSARoots, beside those the token carries.
	TSAIntermediates []*x509.Certificate
}

// writeTime says what the tokens prove about time, from signed data
// only, or plainly that time was not checked.
func (r *Report) writeTime(b *strings.Builder) {
	if r.Time == nil {
		return
	}
	for _, t := range r.Timestamps {
		switch {
		case t.Problem != "" && !t.Trusted:
			fmt.Fprintf(b, "TIME    %s: NOT TRUSTED (%s): %s\n", t.File, t.TSA, t.Problem)
		case t.Trusted:
			fmt.Fprintf(b, "TIME    %s: %s says %s, trusted\n", t.File, t.Authority, t.GenTime.Format(time.RFC3339))
		}
	}
	if !r.Time.Checked {
		fmt.Fprintf(b, "time: not checked (no --tsa-roots): the package's %s were checked for integrity only; no time is claimed\n",
			plural(len(r.Timestamps), "timestamp token"))
		return
	}
	var parts []string
	say := func(what string, c *TimeClaim, extra string) {
		if c == nil {
			parts = append(parts, what+": no trusted token")
			return
		}
		parts = append(parts, fmt.Sprintf("%s no later than %s%s (%s, %s)", what, c.NoLaterThan.Format(time.RFC3339), extra, c.TSA, c.Authority))
	}
	say("order received", r.Time.Received, "")
	later := ""
	if s := r.Time.SealedAfterSeconds; s != nil {
		later = fmt.Sprintf(" (%d seconds later)", *s)
	}
	say("first items sealed", r.Time.FirstSealed, later)
	if d := r.Time.Disclosed; d != nil {
		parts = append(parts, fmt.Sprintf("disclosed no later than %s (%s, %s)", d.NoLaterThan.Format(time.RFC3339), d.TSA, d.Authority))
	} else {
		parts = append(parts, "disclosed: no trusted token")
	}
	if e := r.Time.EarlierDisclosure; e != nil {
		say("an earlier disclosure of the order", e, "")
	}
	fmt.Fprintf(b, "time: %s\n", strings.Join(parts, "; "))
}
