package chain_test

import (
	"bytes"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// FuzzParseEvent: whatever parses re-encodes to exactly the same bytes.
func FuzzParseEvent(f *testing.F) {
	for _, l := range splitLines(readTestdataF(f, "events.jsonl")) {
		f.Add(l)
	}
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"actor":"a","agent":"b","time":"2026-01-01T00:00:00+01:00","type":"log.opened","v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := chain.ParseEvent(b)
		if err != nil {
			return
		}
		again, err := chain.FormatEvent(e)
		if err != nil {
			t.Fatalf("parsed event does not format: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("parse/format changed\n%q\nto\n%q", b, again)
		}
	})
}

// FuzzParseCheckpoint: a checkpoint that verifies is the one signed; any
// other input is refused as tampering, never with a panic.
func FuzzParseCheckpoint(f *testing.F) {
	cp := readTestdataF(f, "log10.checkpoint")
	v, err := chain.NewNoteVerifier(string(trimNL(readTestdataF(f, "log10.vkey"))))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cp)
	f.Add(cp[:len(cp)-5])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := chain.ParseCheckpoint(b, v)
		if err != nil {
			return
		}
		if c.Size != 11 || c.Origin != v.Name() {
			t.Fatalf("accepted a checkpoint the key never signed: %+v", c)
		}
	})
}

// FuzzParseProof: whatever parses formats back to the same bytes.
func FuzzParseProof(f *testing.F) {
	f.Add(readTestdataF(f, "log10.proof3.tlog-proof"))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := chain.ParseProof(b)
		if err != nil {
			return
		}
		again, err := chain.FormatProof(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("parse/format changed\n%q\nto\n%q", b, again)
		}
	})
}

func readTestdataF(f *testing.F, name string) []byte {
	f.Helper()
	b, err := readFile(name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
