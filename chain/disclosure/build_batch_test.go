package disclosure_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// Stories told the way captures log since issue 15: items sealed in
// batches, each a manifest of records (not in the package) and one
// items.sealed event carrying the RFC 6962 root over them. The golden
// batch package, testdata/golden-batch, is the small payload in two
// batches (of 4 and 2: the odd sizes exercise the lone right-hand nodes
// of RFC 6962 trees).

// goldenBatchOptions is the story of the golden batch package.
var goldenBatchOptions = pkgOptions{batch: 4}

// sealBatches logs payload as a capture seals it: in batches of o.batch
// records, each an items.sealed event with the root over its records (item
// i captured at at(i), its batch sealed after its last item), and returns
// the items to disclose, each with its record and proof, and the first
// one's digest. Salts are fixed so that the golden package is; the agent
// draws them at random.
func sealBatches(t testing.TB, add func(chain.Event) *chain.Record, o pkgOptions, payload []payloadItem, at func(int) time.Time) ([]disclosure.Item, chain.Digest) {
	t.Helper()
	capture := cmp.Or(o.itemCapture, pkgCapture)
	var items []disclosure.Item
	for n, from := 1, 0; from < len(payload); n, from = n+1, from+o.batch {
		batch := payload[from:min(from+o.batch, len(payload))]
		lines := make([][]byte, len(batch))
		var total int64
		for j, p := range batch {
			sum, sum512, size := p.digests(t)
			rec := &chain.ItemRecord{
				Version: chain.RecordVersion, Order: pkgOrderID, Capture: capture, CapturedAt: at(from + j),
				Name: p.name, Source: p.source, Kind: "file", Size: size, SHA256: sum, SHA512: sum512,
				Key: "orders/" + pkgOrderID + "/items/" + sum, Salt: testSalt(from + j), Stored: chain.StoredInStore,
			}
			line, err := chain.FormatRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			lines[j], total = line, total+size
		}
		tree := chain.NewRecordTree(lines)
		sb := &chain.SealedBatch{
			Capture: capture, Batch: n, Count: len(batch), Bytes: total, ManifestSHA256: chain.EventHash(chain.FormatManifest(lines)),
			Root: tree.Root(), StatementSHA256: chain.EventHash([]byte(fmt.Sprintf("statement of batch %d", n))),
			Stored: chain.StoredInStore, Recovery: o.recovery,
		}
		e := add(chain.Event{Type: chain.ItemsSealed, Time: at(from + len(batch) - 1).Add(500 * time.Millisecond), Order: pkgOrderID, Details: sb.Details()})
		for j, p := range batch {
			r, err := chain.ParseRecord(lines[j])
			if err != nil {
				t.Fatal(err)
			}
			hashes, err := tree.Prove(uint64(j))
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, disclosure.Item{
				SHA256: r.SHA256, SHA512: r.SHA512, Size: r.Size, Source: p.source, Name: p.name, PreservedIndex: e.Index,
				Open:   func(context.Context) (io.ReadCloser, error) { return p.open() },
				Record: lines[j], Proof: &chain.RecordProof{Capture: capture, Batch: n, Index: uint64(j), Size: uint64(len(batch)), Hashes: hashes},
			})
		}
	}
	return items, chain.Digest{SHA256: items[0].SHA256, SHA512: items[0].SHA512}
}

// testSalt is the salt of record i: 16 bytes, fixed.
func testSalt(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint("salt ", i)))
	return hex.EncodeToString(h[:chain.SaltSize])
}

// goldenBatchContents are the inputs of the golden batch package.
func goldenBatchContents(t testing.TB) *disclosure.Contents {
	t.Helper()
	c, disclosed := story(t, goldenSigner(t), goldenBatchOptions, smallPayload)
	c.Time = disclosed
	return c
}

// newBatchPackage returns a package of the story o tells about the small
// payload in batches, signed by the golden key: a copy of the golden batch
// package for its story, a new package for another.
func newBatchPackage(t testing.TB, o pkgOptions) *pkgFixture {
	t.Helper()
	if o != goldenBatchOptions {
		return buildPackage(t, goldenSigner(t), o, smallPayload)
	}
	dir := filepath.Join(t.TempDir(), "package")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "golden-batch"))); err != nil {
		t.Fatal(err)
	}
	return loadPackage(t, dir, goldenSigner(t))
}

// undisclosed are the items of a partial package's batch that it leaves
// out: names and sizes that nothing else in a package would hold.
var undisclosed = []payloadItem{
	{source: "mail", name: "undisclosed-alpha.eml", content: sized("alpha", 12345)},
	{source: "mail", name: "undisclosed-bravo.eml", content: sized("bravo", 23456)},
	{source: "mail", name: "undisclosed-charlie.eml", content: sized("charlie", 34567)},
	{source: "mail", name: "undisclosed-delta.eml", content: sized("delta", 45678)},
}

// partialPayload is a batch of five items of which a partial package
// discloses the third (partialOptions): its proof then has siblings on
// both sides.
var partialPayload = []payloadItem{
	undisclosed[0], undisclosed[1],
	{source: "mail", name: "disclosed.eml", content: "From: alice@example.net\nSubject: the one disclosed\n\nhello\n"},
	undisclosed[2], undisclosed[3],
}

var partialOptions = pkgOptions{batch: 5, only: 3}

// sized is n bytes of lines naming word.
func sized(word string, n int) string {
	line := "Subject: " + word + "\n"
	return strings.Repeat(line, n/len(line)+1)[:n]
}
