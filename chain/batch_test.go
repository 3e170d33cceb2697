package chain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"

	"github.com/transparency-dev/merkle/compact"
	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

const testOrderID = "01JD0A2B3C4D5E6F7G8H9J0K1M"

func testRecord(i int) *chain.ItemRecord {
	mod := time.Date(2026, 11, 19, 8, 30, 0, 0, time.FixedZone("CET", 3600))
	sum := sha256.Sum256([]byte(fmt.Sprint("content ", i)))
	return &chain.ItemRecord{
		Version: chain.RecordVersion, Capture: "01JD0A2B3C4D5E6F7G8H9J0K2N", CapturedAt: time.Date(2026, 11, 20, 10, 0, 1, 5, time.UTC),
		Categories: []string{"content"}, Connector: map[string]any{"path": fmt.Sprintf("/srv/mail/%d.eml", i), "headers": map[string]any{"b": "1", "a": "<x&y>"}},
		Key: "orders/" + testOrderID + "/items/" + hex.EncodeToString(sum[:]), Kind: "dir", MediaType: "message/rfc822",
		Modified: &mod, Name: fmt.Sprintf("mail/%d.eml", i), Order: testOrderID, Salt: strings.Repeat("ab", chain.SaltSize),
		SHA256: hex.EncodeToString(sum[:]), SHA512: strings.Repeat("cd", 64), Size: int64(100 + i), Source: "mailbox",
		Stored: chain.StoredInStore, VersionID: "v1",
	}
}

func TestRecordGolden(t *testing.T) {
	b, err := chain.FormatRecord(testRecord(1))
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/record-v1.json"
	if *update {
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(b, '\n'), want) {
		t.Fatalf("record encoding changed:\n got %s\nwant %s", b, want)
	}
	r, err := chain.ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "mail/1.eml" || r.Modified.Location() != time.UTC || r.Connector["path"] != "/srv/mail/1.eml" {
		t.Errorf("parsed %+v", r)
	}
}

func TestParseRecordRefuses(t *testing.T) {
	good, err := chain.FormatRecord(testRecord(1))
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	for name, tc := range map[string]struct{ in, want string }{
		"space":          {strings.Replace(s, `"v":1`, `"v": 1`, 1), "not in canonical form"},
		"duplicate key":  {strings.Replace(s, `{"capture"`, `{"name":"other","capture"`, 1), "not in canonical form"},
		"unknown field":  {strings.Replace(s, `{"capture"`, `{"agent":"x","capture"`, 1), "unknown field"},
		"version 2":      {strings.Replace(s, `"v":1`, `"v":2`, 1), "version 2"},
		"short salt":     {strings.Replace(s, `"salt":"abab`, `"salt":"`, 1), "salt"},
		"another order":  {strings.Replace(s, `"order":"01J`, `"order":"x1J`, 1), "order id"},
		"local time":     {strings.Replace(s, `2026-11-20T10:00:01.000000005Z`, `2026-11-20T11:00:01.000000005+01:00`, 1), "not in canonical form"},
		"html escaped":   {strings.Replace(s, `<x&y>`, `\u003cx\u0026y\u003e`, 1), "not in canonical form"},
		"stored":         {strings.Replace(s, `"stored":"store"`, `"stored":"disk"`, 1), "stored"},
		"upper-case hex": {strings.Replace(s, `"sha512":"cdcd`, `"sha512":"CDcd`, 1), "sha512"},
		"trailing value": {s + "{}", ""},
		"not JSON":       {"record", "item record"},
	} {
		if _, err := chain.ParseRecord([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
}

// TestRecordTreeIsRFC6962 compares the tree's root with transparency-dev's
// compact range over the same leaves, and checks every proof with its
// verifier, for every size up to 70.
func TestRecordTreeIsRFC6962(t *testing.T) {
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	var records [][]byte
	for n := 0; n <= 70; n++ {
		tree := chain.NewRecordTree(records)
		rng := f.NewEmptyRange(0)
		for _, r := range records {
			if err := rng.Append(chain.RecordLeafHash(r), nil); err != nil {
				t.Fatal(err)
			}
		}
		want, err := rng.GetRootHash(nil)
		if n == 0 {
			want, err = rfc6962.DefaultHasher.EmptyRoot(), nil
		}
		if err != nil || !bytes.Equal(tree.Root(), want) {
			t.Fatalf("size %d: root %x, want %x (%v)", n, tree.Root(), want, err)
		}
		for i := range records {
			hashes, err := tree.Prove(uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(n), chain.RecordLeafHash(records[i]), hashes, want); err != nil {
				t.Fatalf("size %d, record %d: %v", n, i, err)
			}
			p := &chain.RecordProof{Capture: "C", Batch: 1, Index: uint64(i), Size: uint64(n), Hashes: hashes}
			if err := chain.VerifyRecord(records[(i+1)%n], p, want); n > 1 && err == nil {
				t.Fatalf("size %d: record %d verified as record %d", n, (i+1)%n, i)
			}
		}
		if _, err := tree.Prove(uint64(n)); err == nil {
			t.Fatalf("size %d: a proof of a record past the end", n)
		}
		b, err := chain.FormatRecord(testRecord(n))
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, b)
	}
}

func TestManifest(t *testing.T) {
	var records [][]byte
	for i := range 3 {
		b, err := chain.FormatRecord(testRecord(i))
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, b)
	}
	m := chain.FormatManifest(records)
	lines, recs, err := chain.ParseManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 || !bytes.Equal(lines[2], records[2]) || recs[1].Name != "mail/1.eml" {
		t.Fatalf("parsed %d lines, %+v", len(lines), recs)
	}
	for name, bad := range map[string][]byte{
		"empty":           nil,
		"no last newline": m[:len(m)-1],
		"empty line":      append(append([]byte{}, m...), '\n'),
		"altered line":    bytes.Replace(m, []byte(`"size":101`), []byte(`"size":102 `), 1),
	} {
		if _, _, err := chain.ParseManifest(bad); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestRecordProofFormat(t *testing.T) {
	tree := chain.NewRecordTree([][]byte{[]byte("a"), []byte("b"), []byte("c")})
	hashes, err := tree.Prove(2)
	if err != nil {
		t.Fatal(err)
	}
	p := &chain.RecordProof{Capture: "01JD0A2B3C4D5E6F7G8H9J0K2N", Batch: 4, Index: 2, Size: 3, Hashes: hashes}
	b, err := chain.FormatRecordProof(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "custos.record-proof/v1\ncapture 01JD0A2B3C4D5E6F7G8H9J0K2N\nbatch 4\nindex 2\nsize 3\n"
	if !strings.HasPrefix(string(b), want) || strings.Count(string(b), "\n") != 6 {
		t.Fatalf("proof text:\n%s", b)
	}
	q, err := chain.ParseRecordProof(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.VerifyRecord([]byte("c"), q, tree.Root()); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"header":      strings.Replace(string(b), "/v1", "/v2", 1),
		"batch 0":     strings.Replace(string(b), "batch 4", "batch 0", 1),
		"index":       strings.Replace(string(b), "index 2", "index 3", 1),
		"leading 0":   strings.Replace(string(b), "index 2", "index 02", 1),
		"short hash":  strings.Replace(string(b), want, want+"AAAA\n", 1),
		"no newline":  strings.TrimSuffix(string(b), "\n"),
		"field order": strings.Replace(strings.Replace(string(b), "batch 4\n", "", 1), "size 3\n", "size 3\nbatch 4\n", 1),
	} {
		if _, err := chain.ParseRecordProof([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestSealedBatchDetails(t *testing.T) {
	b := &chain.SealedBatch{Capture: "01JD0A2B3C4D5E6F7G8H9J0K2N", Batch: 2, Count: 1024, Bytes: 1 << 20,
		ManifestSHA256: strings.Repeat("a", 64), Root: bytes.Repeat([]byte{7}, 32), StatementSHA256: strings.Repeat("b", 64),
		Stored: chain.StoredInStore, Recovery: true}
	e := &chain.Event{Type: chain.ItemsSealed, Details: b.Details()}
	got, err := chain.ParseSealedBatch(e)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(b) {
		t.Fatalf("round trip: %+v, want %+v", got, b)
	}
	for key, bad := range map[string]string{
		"batch": "0", "count": "0", "bytes": "-1", "root": "xyz", "manifest_sha256": "", "stored": "disk", "recovery": "yes",
	} {
		d := b.Details()
		d[key] = bad
		if _, err := chain.ParseSealedBatch(&chain.Event{Type: chain.ItemsSealed, Details: d}); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: got %v", key, bad, err)
		}
	}
	if _, err := chain.ParseSealedBatch(&chain.Event{Type: chain.CaptureStarted}); err == nil {
		t.Error("a capture.started event read as a batch")
	}
}

func FuzzParseRecord(f *testing.F) {
	b, err := chain.FormatRecord(testRecord(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := chain.ParseRecord(in)
		if err != nil {
			return
		}
		again, err := chain.FormatRecord(r)
		if err != nil || !bytes.Equal(again, in) {
			t.Fatalf("parsed record does not format back: %v\n%s\n%s", err, in, again)
		}
	})
}

func FuzzParseRecordProof(f *testing.F) {
	tree := chain.NewRecordTree([][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")})
	hashes, _ := tree.Prove(4)
	b, err := chain.FormatRecordProof(&chain.RecordProof{Capture: "C", Batch: 1, Index: 4, Size: 5, Hashes: hashes})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := chain.ParseRecordProof(in)
		if err != nil {
			return
		}
		again, err := chain.FormatRecordProof(p)
		if err != nil || !bytes.Equal(again, in) {
			t.Fatalf("parsed proof does not format back: %v", err)
		}
	})
}
