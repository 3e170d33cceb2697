package disclosure

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// bagInfo is bag-info.txt: the format's labels in their order, each value
// on one line.
// stamped says the package carries tokens over its statement (version 3).
func bagInfo(c *Contents, rec *orderRecord, oxumBytes int64, files int, stamped bool) []byte {
	values := []string{
		c.organization(),
		c.Time.UTC().Format(time.DateOnly),
		fmt.Sprintf("%d.%d", oxumBytes, files),
		rec.Reference,
		rec.ID,
		strconv.Itoa(versionOf(c.hasRecords(), stamped || len(c.Timestamps) > 0 || len(c.Rotations) > 0)),
		rec.ID,
		rec.Authority,
		rec.RequestingState,
		rec.Profile,
		rec.LegalBasis,
		c.Time.UTC().Format(time.RFC3339),
		c.recipient(),
		strconv.FormatBool(c.Partial),
	}
	var buf bytes.Buffer
	for i, label := range bagInfoLabels {
		fmt.Fprintf(&buf, "%s: %s\n", label, oneLine(values[i]))
	}
	return buf.Bytes()
}

// oneLine is a value as bag-info holds it: on one line, white space runs
// made single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// readmeText is README.txt: what the package is and how to check it.
func readmeText(c *Contents, rec *orderRecord) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `Disclosure package of preservation order %s (reference %s)
issued by %s, requesting state %s.

This is a BagIt bag (RFC 8493). data/ holds %d disclosed item(s); custody/
holds the order record, the order's %d custody events, one inclusion proof
per event against the signed checkpoint custody/checkpoint (log %s, size %d),
the provider's verifier keys, and a signed in-toto statement naming every
data/ file with its SHA-256 and SHA-512. case.jsonld is the custody chain in
CASE/UCO. The format is described in custos's docs/package.md.

Verify it with custos (offline; trust only a key obtained from the provider
by another channel, not the copy in custody/keys):

    custos verify . --key-line '%s'

With standard tools:

    sha256sum -c SHA256SUMS                 every file's SHA-256
    bagit.py --validate .                   the bag (python3-bagit), or any BagIt validator
    custody/checkpoint                      a C2SP signed note (golang.org/x/mod/sumdb/note)
    custody/proofs/N.tlog-proof             C2SP tlog-proof of the event at log index N: its leaf
                                            is the RFC 6962 hash SHA-256(0x00 || E) of the event's
                                            raw bytes E, the "event" value of its line of
                                            custody/events.jsonl exactly as written (not the
                                            whole line, never re-encoded); an event's "prev" is
                                            SHA-256(E) of the event before it
    custody/attestation.dsse.json           a DSSE envelope (in-toto statement), signed by
                                            the key in custody/keys/custos.pub
`, rec.ID, rec.Reference, rec.Authority, rec.RequestingState, len(c.Items), len(c.Events),
		c.Checkpoint.Origin, c.Checkpoint.Size, c.Key.Verifier)
	if c.hasRecords() {
		b.WriteString(`    custody/records/<sha256>.json           the record of the data/ file of that SHA-256, a line
                                            of its batch's manifest: (printf '\0'; cat FILE) | sha256sum
                                            is its leaf hash in the batch's RFC 6962 tree
    custody/records/<sha256>.proof          its path to the root of the batch's items.sealed
                                            event in custody/events.jsonl (custos.record-proof/v1)
`)
	}
	return b.Bytes()
}
