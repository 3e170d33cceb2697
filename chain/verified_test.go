package chain

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

func testHash(b byte) []byte { return bytes.Repeat([]byte{b}, sha256.Size) }

func TestVerifiedRecordRoundTrip(t *testing.T) {
	for _, st := range []*verifiedState{
		{walk: &walkState{size: 0}, stamps: testHash(9)},
		{walk: &walkState{size: 66048, rng: [][]byte{testHash(1), testHash(2)}, tiles: [][][]byte{nil, {testHash(3), testHash(5)}, {testHash(6)}}},
			stamps: testHash(4), full: time.Date(2026, 12, 7, 19, 0, 0, 5, time.UTC)},
	} {
		raw := formatVerified(st)
		got, err := parseVerified(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if again := formatVerified(got); !bytes.Equal(again, raw) {
			t.Fatalf("round trip changed\n%s\nto\n%s", raw, again)
		}
		raw[len(raw)/2] ^= 1
		if _, err := parseVerified(raw); err == nil {
			t.Fatalf("a damaged record parsed:\n%s", raw)
		}
	}
}

// FuzzParseVerified: whatever parses formats to exactly the same bytes.
// The fuzzer writes the body; the checksum line is added to it, so that
// what follows the checksum check is reached.
func FuzzParseVerified(f *testing.F) {
	st := &verifiedState{walk: &walkState{size: 512, rng: [][]byte{testHash(1)}, tiles: [][][]byte{nil, {testHash(2), testHash(3)}}},
		stamps: testHash(4), full: time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)}
	raw := formatVerified(st)
	body, _, _ := cutLastLine(raw)
	f.Add(body)
	f.Add([]byte("custos log verified v1\nsize 256\nfull -\nstamps 00\nrange\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		raw := fmt.Appendf(bytes.Clone(body), "sum %x\n", sum)
		st, err := parseVerified(raw)
		if err != nil {
			return
		}
		if again := formatVerified(st); !bytes.Equal(again, raw) {
			t.Fatalf("parse/format changed\n%q\nto\n%q", raw, again)
		}
	})
}
