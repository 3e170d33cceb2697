package chain_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// Every entry proves against the newest checkpoint, and every kept
// checkpoint is consistent with every later one.
func TestProofsRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir, key := buildLog(t, 300)
	v, _ := key.NoteVerifier()
	fsys := os.DirFS(dir)
	cpRaw, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := chain.ParseCheckpoint(cpRaw, v)
	if err != nil {
		t.Fatal(err)
	}
	var events [][]byte
	for r, err := range chain.Entries(ctx, fsys, 0, cp.Size) {
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, r.Encoded)
	}
	for i, enc := range events {
		p, err := chain.BuildInclusionProof(ctx, fsys, cpRaw, cp.Size, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		text, err := chain.FormatProof(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := chain.VerifyEventProof(enc, text, v); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if i > 0 {
			if _, _, _, err := chain.VerifyEventProof(events[i-1], text, v); !errors.Is(err, chain.ErrTamper) {
				t.Fatalf("entry %d's proof verified entry %d: %v", i, i-1, err)
			}
		}
	}
	sizes, err := chain.KeptCheckpointSizes(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var kept []*chain.Checkpoint
	for _, s := range sizes {
		raw, err := os.ReadFile(filepath.Join(dir, "checkpoints", fmt.Sprint(s)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := chain.ParseCheckpoint(raw, v)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, c)
	}
	// A proof against the newest tree does not pass for an older checkpoint.
	p0, _ := chain.BuildInclusionProof(ctx, fsys, cpRaw, cp.Size, 0)
	text0, _ := chain.FormatProof(p0)
	if _, _, err := chain.VerifyEvent(events[0], text0, cpRaw, v); err != nil {
		t.Fatal(err)
	}
	if _, _, err := chain.VerifyEvent(events[0], text0, kept[0].Raw, v); !errors.Is(err, chain.ErrTamper) {
		t.Fatalf("proof against size %d accepted for checkpoint %d: %v", cp.Size, kept[0].Size, err)
	}
	for i, older := range kept {
		for _, newer := range kept[i:] {
			hashes, err := chain.BuildConsistencyProof(ctx, fsys, older.Size, newer.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := chain.VerifyConsistency(older, newer, hashes); err != nil {
				t.Fatalf("%d -> %d: %v", older.Size, newer.Size, err)
			}
			if len(hashes) > 0 {
				hashes[0][0] ^= 1
				if err := chain.VerifyConsistency(older, newer, hashes); !errors.Is(err, chain.ErrTamper) {
					t.Fatalf("altered consistency proof %d -> %d accepted: %v", older.Size, newer.Size, err)
				}
			}
		}
	}
	if len(kept) < 3 {
		t.Fatalf("only %d kept checkpoints", len(kept))
	}
}

// Bad input to the parsers is refused with an error, never accepted.
func TestParseRefusals(t *testing.T) {
	good := `{"actor":"a","agent":"b","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`
	if _, err := chain.ParseEvent([]byte(good)); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"unknown version":    `{"actor":"a","agent":"b","new":1,"time":"2026-01-01T00:00:00Z","type":"custody.note","v":2}`,
		"no version":         `{"actor":"a","agent":"b","time":"2026-01-01T00:00:00Z","type":"custody.note"}`,
		"white space":        `{"actor": "a","agent":"b","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
		"key order":          `{"agent":"b","actor":"a","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
		"duplicate key":      `{"actor":"a","actor":"a","agent":"b","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
		"unknown field":      `{"actor":"a","agent":"b","color":"red","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
		"non-UTC time":       `{"actor":"a","agent":"b","time":"2026-01-01T01:00:00+01:00","type":"custody.note","v":1}`,
		"unknown type":       `{"actor":"a","agent":"b","time":"2026-01-01T00:00:00Z","type":"custody.nope","v":1}`,
		"bad order id":       `{"actor":"a","agent":"b","order":"01J9Z3K4M5N6P7Q8R9S0T1V2WU","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
		"needless escape":    `{"actor":"\u0061","agent":"b","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
		"trailing data":      good + " ",
		"empty details":      `{"actor":"a","agent":"b","details":{},"time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
		"prev without index": `{"actor":"a","agent":"b","order":"01J9Z3K4M5N6P7Q8R9S0T1V2W3","prev":"` + fmt.Sprintf("%064d", 0) + `","time":"2026-01-01T00:00:00Z","type":"custody.note","v":1}`,
	}
	for name, in := range cases {
		if _, err := chain.ParseEvent([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
	if _, err := chain.ParseEvent([]byte(cases["unknown version"])); !errors.Is(err, chain.ErrUnknownVersion) {
		t.Errorf("unknown version: %v", err)
	}
	for _, bad := range []string{"", "c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v1\nindex x\n\n", "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\n"} {
		if _, err := chain.ParseProof([]byte(bad)); err == nil {
			t.Errorf("proof %q accepted", bad)
		}
	}
	for _, id := range []string{"", "01J9Z3K4M5N6P7Q8R9S0T1V2W", "81J9Z3K4M5N6P7Q8R9S0T1V2W3", "01j9z3k4m5n6p7q8r9s0t1v2w3", "../../etc/passwd"} {
		if err := chain.ValidateOrderID(id); err == nil {
			t.Errorf("order id %q accepted", id)
		}
	}
}
