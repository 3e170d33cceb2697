package disclosure

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custos-evidence/custos/chain"
)

// checkAttestation checks the DSSE envelope's signature with the trusted
// key, then the statement it carries and its subjects.
func (v *pkgVerifier) checkAttestation() {
	sigC, stC, subC := v.c[CheckAttestationSignature], v.c[CheckAttestationStatement], v.c[CheckAttestationSubjects]
	defer func() {
		if v.stmt == nil {
			subC.fail(pkgAttestation, noIndex, "not checked: the statement cannot be read")
		}
	}()
	b, ok := v.content(sigC, pkgAttestation)
	if !ok {
		stC.fail(pkgAttestation, noIndex, "not checked: no envelope")
		return
	}
	env, err := chain.ParseEnvelope(b)
	if err != nil {
		sigC.fail(pkgAttestation, noIndex, "%v", err)
		stC.fail(pkgAttestation, noIndex, "not checked: no envelope")
		return
	}
	if env.PayloadType != chain.InTotoPayloadType {
		sigC.fail(pkgAttestation, noIndex, "payload type %q, not %q", env.PayloadType, chain.InTotoPayloadType)
	}
	payload, err := env.DecodePayload()
	if err != nil {
		sigC.fail(pkgAttestation, noIndex, "%v", err)
		stC.fail(pkgAttestation, noIndex, "not checked: the payload is not base64")
		return
	}
	if err := v.verifyEnvelope(env); err != nil {
		sigC.fail(pkgAttestation, noIndex, "%v", err)
	}
	v.checkStatement(stC, payload)
	if v.stmt != nil {
		v.checkSubjects(subC)
	}
}

// checkStatement checks that the statement is an in-toto v1 disclosure
// statement about this order, this checkpoint and these items.
func (v *pkgVerifier) checkStatement(c *Check, payload []byte) {
	st, err := chain.ParseStatement(payload)
	if err != nil {
		c.fail(pkgAttestation, noIndex, "%v", err)
		return
	}
	v.stmt = st
	if st.Type != chain.InTotoStatementType {
		c.fail(pkgAttestation, noIndex, "statement type %q, not %q", st.Type, chain.InTotoStatementType)
	}
	if st.PredicateType != PredicateType {
		c.fail(pkgAttestation, noIndex, "predicate type %q, not %q", st.PredicateType, PredicateType)
	}
	var p predicate
	if err := chain.CheckJSONKeys(st.Predicate, &p); err != nil {
		c.fail(pkgAttestation, noIndex, "the predicate is not a disclosure predicate: %v", err)
		return
	}
	if err := json.Unmarshal(st.Predicate, &p); err != nil {
		c.fail(pkgAttestation, noIndex, "the predicate is not a disclosure predicate: %v", err)
		return
	}
	v.pred = &p
	v.rep.Recipient = p.Recipient
	if p.Order != v.order {
		c.fail(pkgAttestation, noIndex, "the statement is about order %q, the package's is %s", p.Order, v.order)
	}
	if v.cp != nil && (p.Checkpoint.Size != v.cp.Size || !bytes.Equal(p.Checkpoint.Hash, v.cp.Hash)) {
		c.fail(pkgAttestation, noIndex, "the statement names the checkpoint of size %d, root %s; the package's is size %d, root %s",
			p.Checkpoint.Size, base64.StdEncoding.EncodeToString(p.Checkpoint.Hash), v.cp.Size, base64.StdEncoding.EncodeToString(v.cp.Hash))
	}
	preserved := map[uint64]string{}
	for _, l := range v.lines {
		if l.ev != nil && l.ev.Type == chain.ItemPreserved && len(l.ev.Items) > 0 {
			preserved[l.index] = l.ev.Items[0].SHA256
		}
	}
	seen := map[string]bool{}
	for _, it := range p.Items {
		f, ok := v.payload[it.Path]
		switch {
		case seen[it.Path]:
			c.fail(it.Path, noIndex, "the statement's items list the file twice")
		case !ok:
			c.fail(it.Path, noIndex, "an item of the statement but not a payload file")
		case it.SHA256 != f.sha256 || it.SHA512 != f.sha512 || it.Size != f.size:
			c.fail(it.Path, noIndex, "the statement's item has %d bytes, SHA-256 %s, SHA-512 %s; the file %d bytes, %s, %s",
				it.Size, it.SHA256, it.SHA512, f.size, f.sha256, f.sha512)
		case preserved[it.PreservedIndex] != it.SHA256 && !v.sealedAt(it.SHA256, it.PreservedIndex):
			c.fail(it.Path, int64(it.PreservedIndex), "the statement says event %d preserved the item; it is neither an item.preserved of the package with its digest nor the items.sealed of its proven record", it.PreservedIndex)
		}
		seen[it.Path] = true
	}
	for _, path := range v.payloadPaths {
		if !seen[path] {
			c.fail(path, noIndex, "a payload file the statement's items do not list")
		}
	}
	v.checkStatementBinds(c, &p)
	if !c.failed() {
		c.Summary = fmt.Sprintf("in-toto v1 disclosure statement about order %s, checkpoint %d and its %d items", p.Order, p.Checkpoint.Size, len(p.Items))
	}
}

// checkSubjects checks that the statement's subjects are exactly the
// payload files: names, and digests of exactly SHA-256 and SHA-512.
func (v *pkgVerifier) checkSubjects(c *Check) {
	seen := map[string]bool{}
	for _, s := range v.stmt.Subject {
		f, ok := v.payload[s.Name]
		algs := slices.Sorted(maps.Keys(s.Digest))
		switch {
		case seen[s.Name]:
			c.fail(s.Name, noIndex, "a subject twice")
		case !ok:
			c.fail(s.Name, noIndex, "a subject of the signed statement but not a payload file")
		case !slices.Equal(algs, []string{"sha256", "sha512"}):
			c.fail(s.Name, noIndex, "the subject's digests are %v, not exactly sha256 and sha512", algs)
		case s.Digest["sha256"] != f.sha256:
			c.fail(s.Name, noIndex, "the signed statement says SHA-256 %s, the file's is %s", s.Digest["sha256"], f.sha256)
		case s.Digest["sha512"] != f.sha512:
			c.fail(s.Name, noIndex, "the signed statement says SHA-512 %s, the file's is %s", s.Digest["sha512"], f.sha512)
		}
		seen[s.Name] = true
	}
	for _, p := range v.payloadPaths {
		if !seen[p] {
			c.fail(p, noIndex, "a payload file that is not a subject of the signed statement")
		}
	}
	if !c.failed() {
		c.Summary = fmt.Sprintf("the %d subjects are exactly the payload files with their SHA-256 and SHA-512", len(v.stmt.Subject))
	}
}

// parseBagInfo reads bag-info.txt: "Label: value" lines, exactly the
// format's labels in its order.
func (v *pkgVerifier) parseBagInfo() {
	c := v.c[CheckBagInfo]
	b, ok := v.content(c, pkgBagInfo)
	if !ok {
		return
	}
	v.bagInfo = map[string]string{}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		c.fail(pkgBagInfo, noIndex, "the last line does not end with a line feed")
	}
	var labels []string
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		label, value, ok := strings.Cut(line, ": ")
		if !ok {
			c.fail(pkgBagInfo, noIndex, "line %d is not \"Label: value\": %.80q", i+1, line)
			continue
		}
		if _, dup := v.bagInfo[label]; dup {
			c.fail(pkgBagInfo, noIndex, "line %d: %s repeated", i+1, label)
		}
		v.bagInfo[label] = value
		labels = append(labels, label)
	}
	if !slices.Equal(labels, bagInfoLabels) {
		c.fail(pkgBagInfo, noIndex, "labels %s, not the format's %s in that order", strings.Join(labels, ", "), strings.Join(bagInfoLabels, ", "))
	}
	v.rep.BagInfo = v.bagInfo
}

// checkBagInfo checks Payload-Oxum and that bag-info's values agree with
// the evidence that is signed: the order (its id, and order.json, whose
// digest an event names) and the signed statement.
func (v *pkgVerifier) checkBagInfo() {
	c, oxum := v.c[CheckBagInfo], v.c[CheckPayloadOxum]
	if v.bagInfo == nil {
		oxum.fail(pkgBagInfo, noIndex, "not checked: bag-info.txt cannot be read")
		return
	}
	info := v.bagInfo
	compared := map[string]bool{}
	defer func() { v.rep.BagInfoUnsigned = unsignedLabels(info, compared) }()
	want := fmt.Sprintf("%d.%d", v.rep.PayloadBytes, len(v.payloadPaths))
	compared["Payload-Oxum"] = true
	if info["Payload-Oxum"] != want {
		oxum.fail(pkgBagInfo, noIndex, "Payload-Oxum is %q; the payload is %d bytes in %d files (%s)", info["Payload-Oxum"], v.rep.PayloadBytes, len(v.payloadPaths), want)
	} else {
		oxum.Summary = fmt.Sprintf("%s: %d bytes in %d files", want, v.rep.PayloadBytes, len(v.payloadPaths))
	}
	expect := func(label, value, source string) {
		compared[label] = true
		if info[label] != value {
			c.fail(pkgBagInfo, noIndex, "%s is %q, %s says %q", label, info[label], source, value)
		}
	}
	switch version, records, stamps, rotations := info["Custos-Package-Version"], v.holdsRecords(), v.holdsTimestamps(), v.holdsRotations(); {
	case version != strconv.Itoa(versionWithout) && version != strconv.Itoa(versionRecords) && version != strconv.Itoa(Version):
		c.fail(pkgBagInfo, noIndex, "Custos-Package-Version is %q: this verifier reads versions %d to %d", version, versionWithout, Version)
	case version == strconv.Itoa(versionOf(records, stamps || rotations)):
		compared["Custos-Package-Version"] = true // what the package holds says which
	case stamps || rotations:
		c.fail(pkgBagInfo, noIndex, "Custos-Package-Version is %q, but the package holds custody/timestamps or custody/keys/rotations, which version %d added", version, Version)
	case version == strconv.Itoa(Version):
		c.fail(pkgBagInfo, noIndex, "Custos-Package-Version is %q, but the package holds no custody/timestamps and no custody/keys/rotations: a package of version %d has some", version, Version)
	case records:
		c.fail(pkgBagInfo, noIndex, "Custos-Package-Version is %q, but the package holds custody/records, which version %d added", version, versionRecords)
	default:
		c.fail(pkgBagInfo, noIndex, "Custos-Package-Version is %q, but the package holds no custody/records: a package of version %d has some", version, versionRecords)
	}
	expect("Custos-Order-Id", v.order, "the events")
	expect("Internal-Sender-Identifier", v.order, "the events")
	date, errDate := time.Parse(time.DateOnly, info["Bagging-Date"])
	at, errAt := time.Parse(time.RFC3339, info["Custos-Disclosed-At"])
	switch {
	case errDate != nil:
		c.fail(pkgBagInfo, noIndex, "Bagging-Date %q is not YYYY-MM-DD", info["Bagging-Date"])
	case errAt != nil || !strings.HasSuffix(info["Custos-Disclosed-At"], "Z"):
		c.fail(pkgBagInfo, noIndex, "Custos-Disclosed-At %q is not an RFC 3339 UTC time", info["Custos-Disclosed-At"])
	case !date.Equal(at.Truncate(24 * time.Hour)):
		c.fail(pkgBagInfo, noIndex, "Bagging-Date %s is not the day of Custos-Disclosed-At %s", info["Bagging-Date"], info["Custos-Disclosed-At"])
	default:
		compared["Bagging-Date"] = v.pred != nil // the day of the signed disclosed_at
	}
	if p := info["Custos-Partial"]; p != "true" && p != "false" {
		c.fail(pkgBagInfo, noIndex, "Custos-Partial is %q, not true or false", p)
	}
	if r := v.record; r != nil {
		expect("External-Identifier", oneLine(r.Reference), "order.json")
		expect("Custos-Issuing-Authority", oneLine(r.Authority), "order.json")
		expect("Custos-Requesting-State", oneLine(r.RequestingState), "order.json")
		expect("Custos-Profile", oneLine(r.Profile), "order.json")
		expect("Custos-Legal-Basis", oneLine(r.LegalBasis), "order.json")
	}
	if p := v.pred; p != nil {
		expect("External-Identifier", oneLine(p.Reference), "the signed statement")
		expect("Custos-Recipient", oneLine(p.Recipient), "the signed statement")
		expect("Custos-Partial", strconv.FormatBool(p.Partial), "the signed statement")
		expect("Custos-Disclosed-At", p.DisclosedAt.UTC().Truncate(time.Second).Format(time.RFC3339), "the signed statement")
	}
	if !c.failed() {
		c.Summary = fmt.Sprintf("the format's fields; order %s, reference %q, disclosed %s, partial %s: as the signed evidence says",
			v.order, info["External-Identifier"], info["Custos-Disclosed-At"], info["Custos-Partial"])
		if u := unsignedLabels(info, compared); len(u) > 0 {
			c.Summary += "; unsigned, as bag-info.txt alone says: " + strings.Join(u, ", ")
		}
	}
}

// unsignedLabels lists, in bag-info.txt's order, the labels of info whose
// values nothing signed was compared with: Source-Organization always (no
// signed file names the provider's organisation), and any other label
// whose signed counterpart could not be read. A report shows them as
// unsigned, never as fact.
func unsignedLabels(info map[string]string, compared map[string]bool) []string {
	var out []string
	for _, label := range bagInfoLabels {
		if _, ok := info[label]; ok && !compared[label] {
			out = append(out, label)
		}
	}
	return out
}

// checkStatementBinds checks what the statement says of the events (their
// count and the newest one) and of the tag files it signs.
func (v *pkgVerifier) checkStatementBinds(c *Check, p *predicate) {
	if n := len(v.lines); p.Events.Count != n {
		c.fail(pkgEvents, noIndex, "the statement signs %d events, events.jsonl has %d: events were added or removed", p.Events.Count, n)
	} else if n > 0 {
		last := v.lines[n-1]
		if last.index != p.Events.LastIndex || chain.EventHash(last.encoded) != p.Events.LastHash {
			c.fail(pkgEvents, int64(last.index), "the statement signs event %d (%s) as the newest, events.jsonl ends with event %d (%s)",
				p.Events.LastIndex, p.Events.LastHash, last.index, chain.EventHash(last.encoded))
		}
	}
	for _, name := range signedTagFiles {
		t := v.tags[name]
		switch {
		case p.Files[name] == "":
			c.fail(pkgAttestation, noIndex, "the statement carries no SHA-256 of %s", name)
		case t == nil:
			// missing: the files check names it
		case t.sha256 != p.Files[name]:
			c.fail(name, noIndex, "SHA-256 is %s, the signed statement says %s", t.sha256, p.Files[name])
		}
	}
}

// verifyEnvelope checks the envelope's signature with the trusted key, or
// with a key a rotation certificate links to it.
func (v *pkgVerifier) verifyEnvelope(env *chain.Envelope) error {
	err := env.Verify(v.trust.Public)
	for _, t := range v.trust.Linked {
		if err == nil {
			return nil
		}
		if env.Verify(t.Public) == nil {
			return nil
		}
	}
	return err
}
