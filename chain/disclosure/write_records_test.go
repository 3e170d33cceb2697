package disclosure_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/disclosure"
)

// Write checks every record and proof it is given against the batch's
// items.sealed event before it writes anything: a package it would make
// of them would not verify. A record that does not lead to the root the
// log sealed is tampering (the manifest it came from is not the one
// sealed); the rest are mistakes of the caller.
func TestWriteRecordRefusals(t *testing.T) {
	// resalted changes the salt of the last item's record.
	resalted := func(c *disclosure.Contents) {
		it := &c.Items[len(c.Items)-1]
		r, err := chain.ParseRecord(it.Record)
		if err != nil {
			t.Fatal(err)
		}
		r.Salt = strings.Repeat("0", 2*chain.SaltSize)
		if it.Record, err = chain.FormatRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		change func(c *disclosure.Contents)
		want   string
		tamper bool
	}{
		{"a record that is not its batch's", resalted, "does not lead to the root 94fb934c", true},
		{"another item's record", func(c *disclosure.Contents) { c.Items[0].Record = c.Items[1].Record }, "its record says 44 bytes", false},
		{"a record that is not canonical", func(c *disclosure.Contents) { c.Items[0].Record = append(c.Items[0].Record, ' ') }, "item record", false},
		{"a record without its proof", func(c *disclosure.Contents) { c.Items[0].Proof = nil }, "a record without its proof", false},
		{"a proof of another batch", func(c *disclosure.Contents) { c.Items[0].Proof.Batch = 2 }, "its proof is of batch 2", false},
		{"a proof in a batch of another size", func(c *disclosure.Contents) { c.Items[0].Proof.Size = 5 }, "in a batch of 5 records; event 6 seals 4", false},
		{"a preserved index that is no items.sealed event", func(c *disclosure.Contents) { c.Items[0].PreservedIndex = 3 }, "event 3, where it was preserved, is not an items.sealed event", false},
		{"two records of one content", func(c *disclosure.Contents) {
			c.Items = append(c.Items, c.Items[2])
			resalted(c)
		}, "two items of this content with different records", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goldenBatchContents(t)
			tc.change(c)
			dir := t.TempDir()
			_, err := disclosure.Write(context.Background(), filepath.Join(dir, "p.zip"), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if tc.tamper != errors.Is(err, chain.ErrTamper) {
				t.Errorf("error %v: tampering %v, want %v", err, errors.Is(err, chain.ErrTamper), tc.tamper)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Errorf("left %d entries in the output's directory (%v)", len(entries), err)
			}
		})
	}
}
