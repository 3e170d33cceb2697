package disclosure_test

import (
	"bytes"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// Packages of items sealed in batches verify, whole or partial: every
// payload file proven by its record, every record leading to the root of
// its batch's items.sealed event.
func TestVerifyBatchPackages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fx      func(t *testing.T) *pkgFixture
		items   int
		partial string
		records string
	}{
		{"the golden batch package", func(t *testing.T) *pkgFixture { return newBatchPackage(t, goldenBatchOptions) }, 6, "false", "6 records"},
		{"one item of a batch of five", func(t *testing.T) *pkgFixture {
			return buildPackage(t, goldenSigner(t), partialOptions, partialPayload)
		}, 1, "true", "1 record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := tc.fx(t)
			rep := verifyPackage(t, fx.dir, fx.trust)
			if rep.Result != disclosure.ResultOK {
				t.Fatalf("does not verify:\n%s", reportText(rep))
			}
			if len(rep.Items) != tc.items || rep.BagInfo["Custos-Partial"] != tc.partial {
				t.Errorf("%d items, partial %q", len(rep.Items), rep.BagInfo["Custos-Partial"])
			}
			sealed := map[uint64]bool{}
			for _, e := range rep.Events {
				sealed[e.Index] = e.Event.Type == chain.ItemsSealed
			}
			for _, it := range rep.Items {
				if it.PreservedIndex == nil || !sealed[*it.PreservedIndex] {
					t.Errorf("%s: preserved at %v, not at an items.sealed event", it.Path, it.PreservedIndex)
				}
			}
			if c := rep.Check(disclosure.CheckRecords); !strings.HasPrefix(c.Summary, tc.records+",") {
				t.Errorf("records: %s", c.Summary)
			}
		})
	}
}

// The report's text form for a batch package is pinned too.
func TestBatchPackageReport(t *testing.T) {
	fx := newBatchPackage(t, goldenBatchOptions)
	golden(t, "package-report-batch.txt", []byte(reportText(verifyPackage(t, fx.dir, fx.trust))))
}

// recordOf returns the name under custody/records of the record (or, with
// ext ".proof", the proof) of the payload file p.
func (fx *pkgFixture) recordOf(t *testing.T, p, ext string) string {
	t.Helper()
	return "custody/records/" + chain.EventHash(fx.read(t, p)) + ext
}

// rewriteRecord rewrites the record of the payload file p, changed by
// change, in canonical form.
func (fx *pkgFixture) rewriteRecord(t *testing.T, p string, change func(*chain.ItemRecord)) {
	t.Helper()
	name := fx.recordOf(t, p, ".json")
	r, err := chain.ParseRecord(fx.read(t, name))
	if err != nil {
		t.Fatal(err)
	}
	change(r)
	b, err := chain.FormatRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	fx.write(t, name, b)
}

// editProof rewrites the record proof of the payload file p.
func (fx *pkgFixture) editProof(t *testing.T, p string, change func(*chain.RecordProof)) {
	t.Helper()
	name := fx.recordOf(t, p, ".proof")
	rp, err := chain.ParseRecordProof(fx.read(t, name))
	if err != nil {
		t.Fatal(err)
	}
	change(rp)
	b, err := chain.FormatRecordProof(rp)
	if err != nil {
		t.Fatal(err)
	}
	fx.write(t, name, b)
}

// Each tampering with a record, its proof or its batch's event fails the
// records check naming the file and what, though every manifest is
// rewritten to match (an attacker who knows the format but not the key).
func TestVerifyRecordsTamper(t *testing.T) {
	const (
		inbox  = "data/mail/inbox.mbox"          // record 0 of batch 1 (of 4)
		pdf    = "data/order-document/order.pdf" // record 2 of batch 1
		csv    = "data/traffic/records.csv"      // record 1 of batch 2 (of 2)
		stray  = "custody/records/" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.json"
		batch1 = "event 6"
	)
	base := newBatchPackage(t, goldenBatchOptions)
	for _, tc := range []tamperCase{
		{name: "a record byte altered", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.rewriteRecord(t, pdf, func(r *chain.ItemRecord) { r.Salt = "0" + r.Salt[1:] })
		}, fail: map[string]string{disclosure.CheckRecords: "do not lead to the root"}},
		{name: "a record no longer canonical", tamper: func(t *testing.T, fx *pkgFixture) {
			mutate(t, fx.path(fx.recordOf(t, pdf, ".json")), func(b []byte) []byte { return bytes.Replace(b, []byte(`"v":1`), []byte(`"v": 1`), 1) })
		}, fail: map[string]string{disclosure.CheckRecords: "not a canonical item record"}},
		{name: "a record naming another size", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.rewriteRecord(t, csv, func(r *chain.ItemRecord) { r.Size++ })
		}, fail: map[string]string{disclosure.CheckRecords: "the record is of 45 bytes"}},
		{name: "a proof hash altered", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editProof(t, inbox, func(p *chain.RecordProof) { p.Hashes[1][0] ^= 1 })
		}, fail: map[string]string{disclosure.CheckRecords: batch1}},
		{name: "a proof claiming another batch", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editProof(t, pdf, func(p *chain.RecordProof) { p.Batch = 2 })
		}, fail: map[string]string{disclosure.CheckRecords: "seals 2 records in batch 2"}},
		{name: "a proof claiming a batch never sealed", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editProof(t, pdf, func(p *chain.RecordProof) { p.Batch = 7 })
		}, fail: map[string]string{disclosure.CheckRecords: "no items.sealed event of the order seals batch 7"}},
		{name: "a proof that is not one", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, fx.recordOf(t, pdf, ".proof"), []byte("custos.record-proof/v2\n"))
		}, fail: map[string]string{disclosure.CheckRecords: "not a record proof"}},
		{name: "a record of another order", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.rewriteRecord(t, pdf, func(r *chain.ItemRecord) { r.Order = pkgOtherID })
		}, fail: map[string]string{disclosure.CheckRecords: "a record of order " + pkgOtherID}},
		{name: "another item's record in its place", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, fx.recordOf(t, pdf, ".json"), fx.read(t, fx.recordOf(t, inbox, ".json")))
			fx.write(t, fx.recordOf(t, pdf, ".proof"), fx.read(t, fx.recordOf(t, inbox, ".proof")))
		}, fail: map[string]string{disclosure.CheckRecords: "SHA-256 8756d67d"}},
		{name: "the items.sealed event's root altered", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.editLines(t, "custody/events.jsonl", func(l []string) []string {
				i := slices.IndexFunc(l, func(s string) bool { return strings.Contains(s, `"batch":"1"`) })
				l[i] = regexp.MustCompile(`"root":"[0-9a-f]`).ReplaceAllString(l[i], `"root":"f`)
				return l
			})
		}, fail: map[string]string{disclosure.CheckRecords: batch1, disclosure.CheckProofs: batch1, disclosure.CheckChain: "event 7"}},
		{name: "a record file removed", tamper: func(t *testing.T, fx *pkgFixture) {
			os.Remove(fx.path(fx.recordOf(t, pdf, ".json")))
		}, fail: map[string]string{disclosure.CheckRecords: "is the proof of a record the package does not hold", disclosure.CheckItemsPreserved: pdf}},
		{name: "a record and its proof removed", tamper: func(t *testing.T, fx *pkgFixture) {
			os.Remove(fx.path(fx.recordOf(t, pdf, ".json")))
			os.Remove(fx.path(fx.recordOf(t, pdf, ".proof")))
		}, fail: map[string]string{disclosure.CheckRecords: "only its record can prove it", disclosure.CheckItemsPreserved: pdf}},
		{name: "a proof removed", tamper: func(t *testing.T, fx *pkgFixture) {
			os.Remove(fx.path(fx.recordOf(t, csv, ".proof")))
		}, fail: map[string]string{disclosure.CheckRecords: "has no proof in its batch"}},
		{name: "a stray record file added", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, stray, fx.read(t, fx.recordOf(t, inbox, ".json")))
		}, fail: map[string]string{disclosure.CheckRecords: stray}},
		{name: "a file under custody/records that is no record", tamper: func(t *testing.T, fx *pkgFixture) {
			fx.write(t, "custody/records/notes.txt", []byte("hello\n"))
		}, fail: map[string]string{disclosure.CheckFiles: "custody/records/notes.txt"}},
		{name: "a data file and its record removed", tamper: func(t *testing.T, fx *pkgFixture) {
			for _, p := range []string{fx.recordOf(t, csv, ".json"), fx.recordOf(t, csv, ".proof"), csv} {
				os.Remove(fx.path(p))
			}
			fx.sealPayload(t)
		}, fail: map[string]string{disclosure.CheckAttestationSubjects: csv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := base.copy(t)
			tc.tamper(t, fx)
			fx.sealTags(t)
			rep := verifyPackage(t, fx.dir, fx.trust)
			if rep.Result == disclosure.ResultOK {
				t.Fatalf("tampered package verifies:\n%s", reportText(rep))
			}
			for name, where := range tc.fail {
				if !hasProblem(rep.Check(name), where) {
					t.Errorf("check %s does not fail naming %q:\n%s", name, where, reportText(rep))
				}
			}
		})
	}
}

// The events of a batch must tell a lawful story too: each case is a
// package built from a log that tells another, every signature and proof
// genuine.
func TestVerifyBatchStory(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    pkgOptions
		fail map[string]string // as in tamperCase; none: the package verifies
	}{
		{name: "a recovery batch sealed inside the capture that recovered it", o: pkgOptions{batch: 4, recovery: true}},
		{name: "a batch sealed by a capture never started", o: pkgOptions{batch: 4, itemCapture: "01J9Z3K4M5N6P7Q8R9S0T1V2X9"},
			fail: map[string]string{disclosure.CheckCaptureWindow: "batch 1 sealed by capture \"01J9Z3K4M5N6P7Q8R9S0T1V2X9\", which no earlier capture.started began"}},
		{name: "a capture begun after the order expired", o: pkgOptions{batch: 4, expiresIn: 30 * time.Second},
			fail: map[string]string{disclosure.CheckCaptureWindow: "when the order had expired"}},
		{name: "an item of a batch purged", o: pkgOptions{batch: 4, purgeFirst: true},
			fail: map[string]string{disclosure.CheckItemsPreserved: "data/mail/inbox.mbox"}},
		{name: "a whole batch purged", o: pkgOptions{batch: 4, purgeBatch: true},
			fail: map[string]string{disclosure.CheckItemsPreserved: "batch 1 of capture " + pkgCapture + ", sealed at event 6 with the item, was purged"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newBatchPackage(t, tc.o)
			rep := verifyPackage(t, fx.dir, fx.trust)
			if len(tc.fail) == 0 {
				if rep.Result != disclosure.ResultOK {
					t.Fatalf("a lawful package fails:\n%s", reportText(rep))
				}
				return
			}
			var want []string
			for name, where := range tc.fail {
				want = append(want, name)
				if !hasProblem(rep.Check(name), where) {
					t.Errorf("check %s does not fail naming %q:\n%s", name, where, reportText(rep))
				}
			}
			if got := rep.Failed(); !slices.Equal(got, want) {
				t.Errorf("failed checks %v, want only %v:\n%s", got, want, reportText(rep))
			}
		})
	}
	// A whole batch purged leaves the other batch's items disclosable.
	fx := newBatchPackage(t, pkgOptions{batch: 4, purgeBatch: true})
	rep := verifyPackage(t, fx.dir, fx.trust)
	for _, p := range rep.Check(disclosure.CheckItemsPreserved).Problems {
		if p.File == "data/traffic/records.csv" || p.File == "data/traffic/empty-but-preserved.db" {
			t.Errorf("an item of batch 2 reported purged: %s", p.What)
		}
	}
}

// A partial package of one item of a batch of five says nothing of the
// four it leaves out: no file holds their names, their digests or their
// sizes. The batch's count and total bytes are in its items.sealed event;
// the rest is the salted sibling hashes of the one proof.
func TestPartialPackageLeaksNothing(t *testing.T) {
	fx := buildPackage(t, goldenSigner(t), partialOptions, partialPayload)
	if rep := verifyPackage(t, fx.dir, fx.trust); rep.Result != disclosure.ResultOK {
		t.Fatalf("does not verify:\n%s", reportText(rep))
	}
	files := fileSums(t, fx.dir)
	var secrets []string
	for _, it := range undisclosed {
		sum, sum512, size := it.digests(t)
		secrets = append(secrets, it.name, strings.TrimSuffix(it.name, ".eml"), sum, sum512, sum[:16])
		sizes := regexp.MustCompile(`(^|[^0-9A-Za-z])` + strconv.FormatInt(size, 10) + `([^0-9A-Za-z]|$)`)
		for _, f := range files {
			if loc := sizes.FindIndex(fx.read(t, f.path)); loc != nil {
				t.Errorf("%s holds the size %d of %s: %q", f.path, size, it.name, fx.read(t, f.path)[max(0, loc[0]-40):min(len(fx.read(t, f.path)), loc[1]+40)])
			}
		}
	}
	records := 0
	for _, f := range files {
		b := fx.read(t, f.path)
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q of an item it does not disclose", f.path, s)
			}
		}
		if path.Dir(f.path) == "custody/records" {
			records++
		}
	}
	if records != 2 {
		t.Errorf("%d files under custody/records, want the one item's record and proof", records)
	}
}

// A package says Custos-Package-Version 2 exactly when it holds records:
// version 1 packages are written as before batches, and a verifier from
// then, which reads only version 1, says which version it cannot read.
func TestPackageVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fx      func(t *testing.T) *pkgFixture
		version string
		fail    string // the bag-info problem; "": it verifies
	}{
		{"a package of item.preserved events", func(t *testing.T) *pkgFixture { return newSmallPackage(t, pkgOptions{}) }, "1", ""},
		{"a package of batch items", func(t *testing.T) *pkgFixture { return newBatchPackage(t, goldenBatchOptions) }, "2", ""},
		{"records said to be version 1", func(t *testing.T) *pkgFixture { return newBatchPackage(t, goldenBatchOptions) }, "1", "which version 2 added"},
		{"no records said to be version 2", func(t *testing.T) *pkgFixture { return newSmallPackage(t, pkgOptions{}) }, "2", "holds no custody/records"},
		{"no timestamps or rotations said to be version 3", func(t *testing.T) *pkgFixture { return newBatchPackage(t, goldenBatchOptions) }, "3", "holds no custody/timestamps and no custody/keys/rotations"},
		{"version 4", func(t *testing.T) *pkgFixture { return newBatchPackage(t, goldenBatchOptions) }, "4", "reads versions 1 to 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := tc.fx(t)
			fx.editLines(t, "bag-info.txt", func(l []string) []string { l[5] = "Custos-Package-Version: " + tc.version; return l })
			fx.sealTags(t)
			rep := verifyPackage(t, fx.dir, fx.trust)
			if tc.fail == "" {
				if rep.Result != disclosure.ResultOK {
					t.Fatalf("does not verify:\n%s", reportText(rep))
				}
				return
			}
			if !hasProblem(rep.Check(disclosure.CheckBagInfo), tc.fail) || !slices.Equal(rep.Failed(), []string{disclosure.CheckBagInfo}) {
				t.Errorf("bag-info does not fail alone naming %q:\n%s", tc.fail, reportText(rep))
			}
		})
	}
}
