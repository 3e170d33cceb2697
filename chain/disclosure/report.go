package disclosure

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/custos-evidence/custos/chain"
)

// The checks of Verify, in the order the report lists them. Their
// names are part of the report's stable form.
const (
	CheckFiles                = "files"                 // exactly the format's files, each a regular file
	CheckBagIt                = "bagit"                 // bagit.txt is the BagIt 1.0 declaration
	CheckBagInfo              = "bag-info"              // bag-info.txt's labels, and values that agree with the signed evidence
	CheckPayloadOxum          = "payload-oxum"          // Payload-Oxum is the payload's bytes and files
	CheckManifestSHA256       = "manifest-sha256"       // every payload file listed, with its SHA-256
	CheckManifestSHA512       = "manifest-sha512"       // every payload file listed, with its SHA-512
	CheckTagManifest          = "tagmanifest-sha256"    // every tag file listed, with its SHA-256
	CheckTagManifest512       = "tagmanifest-sha512"    // every tag file listed, with its SHA-512
	CheckSHA256SUMS           = "sha256sums"            // every file but SHA256SUMS listed, with its SHA-256
	CheckKeys                 = "keys"                  // custody/keys names the trusted key
	CheckCheckpoint           = "checkpoint"            // the checkpoint is signed by the trusted key
	CheckWitnesses            = "witnesses"             // its cosignatures meet the trusted witness policy, if one is given
	CheckEvents               = "events"                // events.jsonl: canonical events of the order, in log order
	CheckProofs               = "proofs"                // one tlog-proof per event, each leading to the checkpoint
	CheckChain                = "chain"                 // each event links to the one before it
	CheckOrderRecord          = "order-record"          // order.json is the record the newest order event names
	CheckAttestationSignature = "attestation-signature" // the DSSE envelope is signed by the trusted key
	CheckAttestationStatement = "attestation-statement" // the statement is about this order, checkpoint and items
	CheckAttestationSubjects  = "attestation-subjects"  // its subjects are exactly the payload files and digests
	CheckRecords              = "records"               // each record of an item sealed in a batch leads to its items.sealed event's root
	CheckItemsPreserved       = "items-preserved"       // every payload file is a preserved, unpurged item
	CheckCaptureWindow        = "capture-window"        // items preserved inside captures begun before expiry
	CheckEventTimes           = "event-times"           // times never go back, and none is after the disclosure
	CheckOrderStatus          = "order-status"          // the order's status allows disclosure
	CheckTimestamps           = "timestamps"            // each RFC 3161 token covers a checkpoint signed by the key and consistent with the package's
)

var checkOrder = []string{
	CheckFiles, CheckBagIt, CheckBagInfo, CheckPayloadOxum, CheckManifestSHA256, CheckManifestSHA512,
	CheckTagManifest, CheckTagManifest512, CheckSHA256SUMS, CheckKeys, CheckCheckpoint, CheckWitnesses, CheckEvents, CheckProofs, CheckChain,
	CheckOrderRecord, CheckAttestationSignature, CheckAttestationStatement, CheckAttestationSubjects,
	CheckRecords, CheckItemsPreserved, CheckCaptureWindow, CheckEventTimes, CheckOrderStatus, CheckTimestamps,
}

// ReportVersion is the version of the JSON form of Report.
const ReportVersion = 1

// Result is the outcome of a check or of a whole verification.
type Result string

// The results.
const (
	ResultOK     Result = "ok"
	ResultFailed Result = "failed"
)

// maxCheckProblems bounds the problems one check lists; the rest are
// counted in MoreProblems.
const maxCheckProblems = 100

// Report is what Verify checked and found. Its JSON form is
// stable (ReportVersion): `custos verify --json` prints it.
type Report struct {
	ReportVersion int    `json:"report_version"`
	Result        Result `json:"result"` // ok only if every check is ok
	// Order is the order the package discloses; Key the trusted key as a
	// note verifier line; Origin, CheckpointSize and CheckpointHash
	// (base64) the signed checkpoint, when it verified.
	Order          string `json:"order,omitempty"`
	Key            string `json:"key,omitempty"`
	Origin         string `json:"origin,omitempty"`
	CheckpointSize uint64 `json:"checkpoint_size,omitempty"`
	CheckpointHash []byte `json:"checkpoint_hash,omitempty"`
	// Witnesses is what the checkpoint's cosignatures showed, when the
	// checkpoint verified.
	Witnesses *WitnessReport `json:"witnesses,omitempty"`
	// Recipient is the recipient the signed statement names ("none" for
	// a package not encrypted), when the statement could be read.
	Recipient string `json:"recipient,omitempty"`
	// BagInfo holds bag-info.txt's fields as read. BagInfoUnsigned lists,
	// in the file's order, the labels whose values no signed evidence was
	// compared with (Source-Organization always): they are what
	// bag-info.txt alone says, and anyone can change them.
	BagInfo         map[string]string `json:"bag_info,omitempty"`
	BagInfoUnsigned []string          `json:"bag_info_unsigned,omitempty"`
	// Files counts the package's files; PayloadBytes the bytes of data/,
	// every one read and hashed with SHA-256 and SHA-512.
	Files        int           `json:"files"`
	PayloadBytes int64         `json:"payload_bytes"`
	Items        []ReportItem  `json:"items"`
	Events       []ReportEvent `json:"events"`
	// AdverseEvents are the events among Events that tell of something
	// gone wrong (capture.failed, fixity.failed, log.recovered,
	// disclosure.abandoned, item.purged), whether or not the package
	// verifies.
	AdverseEvents []AdverseEvent `json:"adverse_events"`
	// ExtraFiles are the files (and the __MACOSX/ directory) of the copy
	// that an operating system or archiver adds, .DS_Store, ._NAME: set
	// aside, not part of the package, not tampering. A package that
	// verifies with extra files has result ok and this list non-empty.
	ExtraFiles []string `json:"extra_files"`
	// Timestamps are the package's RFC 3161 tokens as checked, and Time
	// what the trusted ones prove about when (Time.Checked is false when
	// the verifier gave no TSA roots).
	Timestamps []ReportTimestamp `json:"timestamps"`
	Time       *ReportTime       `json:"time"`
	Checks     []*Check          `json:"checks"`
}

// ReportItem is one payload file as hashed.
type ReportItem struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	SHA512 string `json:"sha512"`
	// PreservedIndex is the log index of the event that preserved the
	// file, if one did: its item.preserved event, or the items.sealed
	// event of the batch its record is proven in.
	PreservedIndex *uint64 `json:"preserved_index,omitempty"`
	// Source and Name are what that event (item.preserved) or the item's
	// proven record says the item was when it was preserved: the source
	// that captured it, and its name there.
	Source string `json:"source,omitempty"`
	Name   string `json:"name,omitempty"`
}

// ReportEvent is one line of custody/events.jsonl that parsed; Proven
// says that its tlog-proof led to the trusted checkpoint. Raw is the
// event's bytes exactly as logged (base64 in JSON), so that a reader of
// the report can check it again: the log's entry Index is those bytes,
// the leaf hash SHA-256(0x00 || Raw), and the next event's prev is
// SHA-256(Raw); Event is what they decode to.
type ReportEvent struct {
	Index  uint64       `json:"index"`
	Event  *chain.Event `json:"event"`
	Raw    []byte       `json:"raw"`
	Proven bool         `json:"proven"`
}

// Check is the outcome of one check.
type Check struct {
	Name         string    `json:"name"`
	Result       Result    `json:"result"`
	Summary      string    `json:"summary"` // what was checked, or why it failed
	Problems     []Problem `json:"problems,omitempty"`
	MoreProblems int       `json:"more_problems,omitempty"` // problems found beyond those listed
}

// Problem is one finding of a check: what does not hold, and where.
type Problem struct {
	File  string  `json:"file,omitempty"`  // path in the package
	Index *uint64 `json:"index,omitempty"` // log index of the event concerned
	What  string  `json:"what"`
}

func (c *Check) fail(file string, index int64, format string, args ...any) {
	c.Result = ResultFailed
	if len(c.Problems) >= maxCheckProblems {
		c.MoreProblems++
		return
	}
	p := Problem{File: file, What: fmt.Sprintf(format, args...)}
	if index >= 0 {
		i := uint64(index)
		p.Index = &i
	}
	c.Problems = append(c.Problems, p)
}

// failed reports whether the check found a problem.
func (c *Check) failed() bool { return c.Result == ResultFailed }

// Check returns the named check, or nil.
func (r *Report) Check(name string) *Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Failed lists the names of the checks that failed.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.failed() {
			out = append(out, c.Name)
		}
	}
	return out
}

// Err returns every problem found as a *chain.TamperError (joined), naming its
// check, or nil when the package verified.
func (r *Report) Err() error {
	var errs []error
	for _, c := range r.Checks {
		for _, p := range c.Problems {
			idx := int64(noIndex)
			if p.Index != nil {
				idx = int64(*p.Index)
			}
			errs = append(errs, &chain.TamperError{File: p.File, Index: idx, What: c.Name + ": " + p.What})
		}
		if c.failed() && len(c.Problems) == 0 {
			errs = append(errs, &chain.TamperError{Index: noIndex, What: c.Name + ": " + c.Summary})
		}
	}
	return errors.Join(errs...)
}

// WriteText writes the report for people: one line per check (its result,
// name and summary), each problem indented below a failed check, the
// adverse events of the order's story if any, and a last line with the
// verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Checks {
		res := "ok    "
		if c.failed() {
			res = "FAILED"
		}
		fmt.Fprintf(&b, "%s  %-21s  %s\n", res, c.Name, c.Summary)
		for _, p := range c.Problems {
			b.WriteString("        ")
			if p.File != "" {
				b.WriteString(p.File)
				b.WriteString(": ")
			}
			if p.Index != nil {
				fmt.Fprintf(&b, "event %d: ", *p.Index)
			}
			b.WriteString(p.What)
			b.WriteByte('\n')
		}
		if c.MoreProblems > 0 {
			fmt.Fprintf(&b, "        ... and %d more problems\n", c.MoreProblems)
		}
	}
	r.writeAdverse(&b)
	r.writeTime(&b)
	for _, f := range r.ExtraFiles {
		fmt.Fprintf(&b, "EXTRA   %s: not part of the package (added by an operating system or archiver to the copy), set aside\n", f)
	}
	if r.Result == ResultOK {
		adverse := ""
		if n := len(r.AdverseEvents); n > 0 {
			adverse = fmt.Sprintf("; %s in the order's story, listed above", plural(n, "adverse event"))
		}
		if n := len(r.ExtraFiles); n > 0 {
			adverse += fmt.Sprintf("; %s not part of the package set aside", plural(n, "extra file"))
		}
		fmt.Fprintf(&b, "verified: order %s, %d files (%d payload bytes hashed with SHA-256 and SHA-512), %d events proven against checkpoint %d of %s%s\n",
			r.Order, r.Files, r.PayloadBytes, len(r.Events), r.CheckpointSize, r.Origin, adverse)
	} else {
		fmt.Fprintf(&b, "NOT VERIFIED: %d of %d checks failed: %s\n", len(r.Failed()), len(r.Checks), strings.Join(r.Failed(), ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
