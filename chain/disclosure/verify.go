package disclosure

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-evidence/custos/chain"
)

// maxKeptTagFile bounds a tag file the verifier parses (events.jsonl,
// the manifests, order.json, the envelope): it holds it in memory.
const maxKeptTagFile = 256 << 20

// Verify checks the disclosure package in root (a directory, or an
// archive already extracted) against trust alone, as docs/package.md
// says: the bag (every byte of every payload file read once and hashed
// with SHA-256 and SHA-512), SHA256SUMS, the signed checkpoint, every
// event's inclusion proof, the chain of the order's events, the signed
// statement about the payload, every record of an item sealed in a batch
// against the root of its batch's items.sealed event, that every payload
// file is a preserved item (by its item.preserved event or by its proven
// record), and that the events tell a lawful story. Nothing in the package is
// trusted, executed or fetched.
//
// The report lists every check with its result; a package that does not
// verify has failed checks naming each problem (file, event index, what)
// and the returned error joins them as *chain.TamperError, so
// errors.Is(err, chain.ErrTamper) holds. Any other error (a file that cannot be read, the
// context's end) says nothing about the package, and the report is
// incomplete.
func Verify(ctx context.Context, root fs.FS, trust *chain.Trust) (*Report, error) {
	return VerifyWith(ctx, root, trust, VerifyOptions{})
}

// VerifyWith is Verify with the verifier's own trust in timestamp
// authorities (opts.TSARoots): each token of custody/timestamps is then
// checked to chain to them at its own time, and the report's Time says
// when the order was received, first sealed and disclosed at the latest.
// Without roots, tokens are checked for integrity only (a token altered
// or over another checkpoint is tampering all the same) and Time says
// that time was not checked.
func VerifyWith(ctx context.Context, root fs.FS, trust *chain.Trust, opts VerifyOptions) (*Report, error) {
	if trust == nil || trust.Public == nil {
		return nil, errors.New("verify package: no trusted key")
	}
	v := &pkgVerifier{fsys: root, trust: trust, opts: opts, c: map[string]*Check{}, proven: map[uint64]bool{}}
	v.rep = &Report{ReportVersion: ReportVersion, Items: []ReportItem{}, Events: []ReportEvent{}, AdverseEvents: []AdverseEvent{},
		ExtraFiles: []string{}}
	for _, name := range checkOrder {
		c := &Check{Name: name, Result: ResultOK}
		v.c[name] = c
		v.rep.Checks = append(v.rep.Checks, c)
	}
	if err := v.walk(); err != nil {
		return v.rep, fmt.Errorf("verify package: %w", err)
	}
	if err := v.read(ctx); err != nil {
		return v.rep, fmt.Errorf("verify package: %w", err)
	}
	v.checkBagIt()
	v.linkRotations()
	v.checkCheckpoint()
	v.checkWitnesses()
	v.checkKeys()
	v.parseOrderRecord()
	v.checkEvents()
	v.checkProofs()
	v.checkChain()
	v.checkOrderRecord()
	v.checkListings()
	v.checkRecords()
	v.checkAttestation()
	v.checkRecordsNeeded()
	v.parseBagInfo()
	v.checkItems()
	v.checkCaptures()
	v.checkTimes()
	v.checkStatus()
	v.checkTimestamps()
	v.checkBagInfo()
	v.rep.collectAdverse()
	v.finish()
	return v.rep, v.rep.Err()
}

// pkgVerifier holds one verification's state: what was read, hashed and
// parsed, and the checks being filled in.
type pkgVerifier struct {
	fsys  fs.FS
	trust *chain.Trust
	opts  VerifyOptions
	rep   *Report
	c     map[string]*Check

	payloadPaths []string            // data/... files, sorted
	tagPaths     []string            // every other regular file, sorted
	proofPaths   map[uint64]string   // custody/proofs/<index>.tlog-proof by index
	payload      map[string]fileSums // by path
	tags         map[string]*tagFile // by path

	cp *chain.Checkpoint
	// cpVerifier and cpKey are the key that signed cp: the trusted key,
	// or one linked to it.
	cpVerifier note.Verifier
	cpKey      *chain.Key
	order      string       // the package's order id
	record     *orderRecord // order.json's fields, when it parsed
	recordErr  error        // why it did not
	lines      []eventLine
	proven     map[uint64]bool
	stmt       *chain.Statement
	pred       *predicate
	bagInfo    map[string]string
	sealed     map[string]*sealedItem // items proven by their record, by SHA-256
}

// walk lists the package: each file classified as payload, tag or proof,
// and anything outside the format reported by the files check.
func (v *pkgVerifier) walk() error {
	c := v.c[CheckFiles]
	v.proofPaths = map[uint64]string{}
	fixed := map[string]bool{}
	for _, f := range pkgFixedFiles {
		fixed[f] = true
	}
	dirs := map[string]bool{}
	for _, d := range pkgDirs {
		dirs[d] = true
	}
	err := fs.WalkDir(v.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if extra, skip := copyArtefact(p, d.IsDir()); extra {
			if d.IsDir() {
				p += "/"
			}
			v.rep.ExtraFiles = append(v.rep.ExtraFiles, p)
			return skip
		}
		inData := strings.HasPrefix(p, pkgDataDir+"/")
		switch {
		case d.IsDir():
			if !dirs[p] && !inData {
				c.fail(p+"/", noIndex, "directory is not part of the package format")
			}
			return nil
		case !d.Type().IsRegular():
			kind := "not a regular file (mode " + d.Type().String() + ")"
			if d.Type()&fs.ModeSymlink != 0 {
				kind = "a symbolic link"
			}
			c.fail(p, noIndex, "%s: the format holds regular files only", kind)
			return nil
		}
		v.rep.Files++
		switch {
		case inData:
			v.payloadPaths = append(v.payloadPaths, p)
			return nil
		case fixed[p]:
		case path.Dir(p) == pkgProofsDir:
			if idx, ok := proofIndex(path.Base(p)); ok {
				v.proofPaths[idx] = p
			} else {
				c.fail(p, noIndex, "not a proof name (custody/proofs/<index>.tlog-proof): the file is not part of the package format")
			}
		case path.Dir(p) == pkgRotationsDir:
			if !isRotationName(path.Base(p)) {
				c.fail(p, noIndex, "not a rotation certificate name (custody/keys/rotations/<n>.rotation): the file is not part of the package format")
			}
		case path.Dir(p) == pkgRecordsDir:
			if _, _, ok := recordName(path.Base(p)); !ok {
				c.fail(p, noIndex, "not a record name (custody/records/<sha256>.json or .proof): the file is not part of the package format")
			}
		case path.Dir(p) == pkgTimestampsDir:
			if _, _, _, ok := parseTimestampName(path.Base(p)); !ok {
				if _, ok := statementTokenName(path.Base(p)); !ok {
					c.fail(p, noIndex, "not a timestamp name (custody/timestamps/<size>.<tsa>.tsr, <size>.checkpoint, <size>.consistency or attestation.<tsa>.tsr): the file is not part of the package format")
				}
			}
		default:
			c.fail(p, noIndex, "file is not part of the package format")
		}
		v.tagPaths = append(v.tagPaths, p)
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range pkgFixedFiles {
		if !slices.Contains(v.tagPaths, f) {
			c.fail(f, noIndex, "missing")
		}
	}
	if len(v.payloadPaths) == 0 {
		c.fail(pkgDataDir+"/", noIndex, "the package holds no payload file")
	}
	slices.Sort(v.payloadPaths)
	slices.Sort(v.tagPaths)
	return nil
}

// proofIndex parses "<index>.tlog-proof" with the index in canonical
// decimal.
func proofIndex(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, pkgProofSuffix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && strconv.FormatUint(n, 10) == s
}

// read hashes every payload file (both digests) and reads every tag file.
func (v *pkgVerifier) read(ctx context.Context) error {
	var err error
	if v.payload, err = hashPayload(ctx, v.fsys, v.payloadPaths); err != nil {
		return err
	}
	for _, p := range v.payloadPaths {
		s := v.payload[p]
		v.rep.PayloadBytes += s.size
		v.rep.Items = append(v.rep.Items, ReportItem{Path: p, Size: s.size, SHA256: s.sha256, SHA512: s.sha512})
	}
	v.tags = map[string]*tagFile{}
	for _, p := range v.tagPaths {
		if err := ctx.Err(); err != nil {
			return err
		}
		keep := int64(maxKeptTagFile)
		switch {
		case p == pkgCheckpoint:
			keep = chain.MaxCheckpointSize
		case path.Dir(p) == pkgProofsDir:
			keep = chain.MaxProofSize
		case path.Dir(p) == pkgRotationsDir:
			keep = chain.MaxRotationSize
		case path.Dir(p) == pkgRecordsDir:
			keep = chain.MaxRecordSize
		case path.Dir(p) == pkgTimestampsDir:
			keep = chain.MaxTimestampSize
		case p == pkgCase || p == pkgReadme || !slices.Contains(pkgFixedFiles, p):
			keep = 0 // hashed only
		}
		t, err := readTag(v.fsys, p, keep)
		if err != nil {
			return &pathError{path: p, err: err}
		}
		v.tags[p] = t
	}
	return nil
}

// content returns the bytes of a tag file to parse, or reports to c why
// there are none.
func (v *pkgVerifier) content(c *Check, name string) ([]byte, bool) {
	t := v.tags[name]
	switch {
	case t == nil:
		c.fail(name, noIndex, "missing")
		return nil, false
	case t.tooLarge:
		c.fail(name, noIndex, "%d bytes: larger than a verifier reads", t.size)
		return nil, false
	}
	return t.data, true
}

func (v *pkgVerifier) checkBagIt() {
	c := v.c[CheckBagIt]
	if b, ok := v.content(c, pkgBagIt); ok && string(b) != bagItDeclared {
		c.fail(pkgBagIt, noIndex, "is not exactly %q", bagItDeclared)
	}
}

// manifestLine is one "<hex>  <path>" line of a manifest or SHA256SUMS.
type manifestLine struct {
	sum, path string
}

// parseManifest reads the lines of a manifest: lower-case hex of hexLen
// digits, two spaces, a path; sorted by path, each path once.
func parseManifest(c *Check, file string, b []byte, hexLen int) []manifestLine {
	var out []manifestLine
	if len(b) > 0 && b[len(b)-1] != '\n' {
		c.fail(file, noIndex, "the last line does not end with a line feed")
	}
	for i, line := range strings.SplitAfter(string(b), "\n") {
		line = strings.TrimSuffix(line, "\n")
		if line == "" && i == strings.Count(string(b), "\n") {
			break // after the last line feed
		}
		sum, p, ok := strings.Cut(line, "  ")
		if !ok || !isHex(sum, hexLen) || p == "" {
			c.fail(file, noIndex, "line %d is not %d lower-case hex digits, two spaces and a path: %.80q", i+1, hexLen, line)
			continue
		}
		if n := len(out); n > 0 && p <= out[n-1].path {
			c.fail(file, noIndex, "line %d: %s is out of order or repeated: lines are sorted by path, each path once", i+1, p)
		}
		out = append(out, manifestLine{sum: sum, path: p})
	}
	return out
}

// listing is one of the files that list others with a digest: the
// payload manifests, the tag manifest and SHA256SUMS.
type listing struct {
	check, file string
	hexLen      int
	alg         string
	expected    []string            // the files it must list, sorted
	sum         func(string) string // the digest of a file it lists
	what        string              // the kind of file it lists, for the summary
}

// checkListing checks that a listing names every expected file once, each
// with its digest, and no other.
func (v *pkgVerifier) checkListing(l listing) {
	c := v.c[l.check]
	b, ok := v.content(c, l.file)
	if !ok {
		return
	}
	lines := parseManifest(c, l.file, b, l.hexLen)
	want := map[string]bool{}
	for _, p := range l.expected {
		want[p] = true
	}
	seen := map[string]bool{}
	for _, line := range lines {
		if !want[line.path] {
			c.fail(line.path, noIndex, "listed in %s but not a file it may list (missing, or not of its kind)", l.file)
			continue
		}
		seen[line.path] = true
		if got := l.sum(line.path); got != line.sum {
			c.fail(line.path, noIndex, "%s of the file is %s, %s says %s", l.alg, got, l.file, line.sum)
		}
	}
	for _, p := range l.expected {
		if !seen[p] {
			c.fail(p, noIndex, "not listed in %s", l.file)
		}
	}
	c.Summary = fmt.Sprintf("%d %s listed with their %s", len(lines), l.what, l.alg)
}

func (v *pkgVerifier) checkListings() {
	payload256 := func(p string) string { return v.payload[p].sha256 }
	any256 := func(p string) string {
		if t := v.tags[p]; t != nil {
			return t.sha256
		}
		return payload256(p)
	}
	var tags, all []string
	for _, p := range v.tagPaths {
		if p != pkgSHA256SUMS {
			all = append(all, p)
			if p != pkgTagManifest && p != pkgTagManifest512 {
				tags = append(tags, p)
			}
		}
	}
	all = append(all, v.payloadPaths...)
	slices.Sort(all)
	for _, l := range []listing{
		{CheckManifestSHA256, pkgManifest256, 64, "SHA-256", v.payloadPaths, payload256, "payload files"},
		{CheckManifestSHA512, pkgManifest512, 128, "SHA-512", v.payloadPaths, func(p string) string { return v.payload[p].sha512 }, "payload files"},
		{CheckTagManifest, pkgTagManifest, 64, "SHA-256", tags, any256, "tag files"},
		{CheckTagManifest512, pkgTagManifest512, 128, "SHA-512", tags, func(p string) string {
			if t := v.tags[p]; t != nil {
				return t.sha512
			}
			return v.payload[p].sha512
		}, "tag files"},
		{CheckSHA256SUMS, pkgSHA256SUMS, 64, "SHA-256", all, any256, "files"},
	} {
		v.checkListing(l)
	}
}

// finish sets the summaries of the checks that have none and the verdict.
func (v *pkgVerifier) finish() {
	v.rep.Result = ResultOK
	for _, c := range v.rep.Checks {
		if c.failed() {
			v.rep.Result = ResultFailed
			c.Summary = plural(len(c.Problems)+c.MoreProblems, "problem")
			continue
		}
		if c.Summary == "" {
			c.Summary = okSummaries[c.Name]
		}
	}
}

var okSummaries = map[string]string{
	CheckFiles:                "every file is one the format names, each a regular file",
	CheckBagIt:                "BagIt 1.0, UTF-8 tag files",
	CheckKeys:                 "custody/keys names the trusted key",
	CheckChain:                "each event names the one before it; the first is order.received",
	CheckItemsPreserved:       "every payload file is a preserved item with both digests, not purged",
	CheckCaptureWindow:        "every item preserved inside a capture begun after receipt and before expiry",
	CheckAttestationSignature: "the DSSE envelope is signed by the trusted key",
	CheckAttestationSubjects:  "its subjects are exactly the payload files with both digests",
}
